//! Micro-benchmarks of the auth hot paths: checking a client's secret (plaintext, Argon2id
//! remembered, Argon2id in full), issuing a token and validating one.
//!
//! cargo bench --bench auth

use std::hint::black_box;

use argon2::{
    Argon2, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use criterion::{Criterion, criterion_group, criterion_main};
use players_api::{
    auth::{ClientRegistry, TokenIssuer, TokenValidator, scopes::Scope},
    config::{ClientConfig, ClientSecret, JwtConfig},
};
use secrecy::SecretString;

const SECRET: &str = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";

fn registry() -> ClientRegistry {
    let hash = Argon2::default()
        .hash_password(SECRET.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .serialize();
    ClientRegistry::new(&[
        ClientConfig {
            client_id: "plain".into(),
            secret: ClientSecret::Plain(SecretString::from(SECRET)),
            scopes: vec![Scope::ApiWrite],
        },
        ClientConfig {
            client_id: "hashed".into(),
            secret: ClientSecret::Argon2id(hash),
            scopes: vec![Scope::ApiWrite],
        },
    ])
}

fn client_check(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = registry();
    // Prime the remembered digest of the hashed client.
    runtime
        .block_on(registry.authenticate(&[("hashed", SECRET)]))
        .unwrap();
    let mut group = c.benchmark_group("client_check");
    group.bench_function("plaintext", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(registry.authenticate(&[("plain", SECRET)]).await.is_ok()) })
    });
    group.bench_function("argon2id_remembered", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(registry.authenticate(&[("hashed", SECRET)]).await.is_ok())
        })
    });
    group.sample_size(10);
    group.bench_function("argon2id_wrong_secret", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(registry.authenticate(&[("hashed", "wrong")]).await.is_err())
        })
    });
    group.finish();
}

fn jwt_config() -> JwtConfig {
    JwtConfig {
        key: SecretString::from("1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM="),
        issuer: "bench-issuer".into(),
        audience: "bench-audience".into(),
        expires_in_seconds: 3600,
    }
}

fn tokens(c: &mut Criterion) {
    let issuer = TokenIssuer::new(&jwt_config());
    let validator = TokenValidator::new(&jwt_config());
    let token = issuer
        .issue("client", "api:write".into())
        .unwrap()
        .access_token;
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let mut group = c.benchmark_group("token");
    group.bench_function("issue", |b| {
        b.iter(|| black_box(issuer.issue("client", "api:write".into()).unwrap()))
    });
    group.bench_function("validate_good", |b| {
        b.iter(|| black_box(validator.validate(&token).is_ok()))
    });
    group.bench_function("validate_bad_signature", |b| {
        b.iter(|| black_box(validator.validate(&forged).is_err()))
    });
    group.finish();
}

criterion_group!(benches, client_check, tokens);
criterion_main!(benches);
