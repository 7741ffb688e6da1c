//! The token endpoint's work without HTTP: checking a client's secret (plaintext,
//! Argon2id remembered, Argon2id in full), the whole grant pipeline, and signing.
//!
//! cargo bench -p poem-client-credentials

use std::{hint::black_box, sync::Arc};

use argon2::{
    Argon2, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use criterion::{Criterion, criterion_group, criterion_main};
use poem_bearer::keys::{KeyConfig, KeyMaterial, KeySet};
use poem_client_credentials::{
    AuthMethod, ClientConfig, ClientRegistry, ClientSecret, TokenIssuer,
    endpoint::{TokenParams, TokenResponse, grant_scope},
    throttle::Throttle,
};
use poem_openapi::types::ToJSON;
use secrecy::SecretString;

const SECRET: &str = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";
const SOURCE: Option<std::net::IpAddr> = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

/// A throttle that never refuses: the benchmarks measure the checks, not the brake.
fn throttle() -> Arc<Throttle> {
    Arc::new(Throttle::new(u32::MAX, std::time::Duration::from_secs(60)))
}

fn registry() -> ClientRegistry {
    let hash = Argon2::default()
        .hash_password(SECRET.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .serialize();
    let client = |id: &str, secret: ClientSecret| {
        ClientConfig::with_secrets(id, vec![secret], vec!["write".to_owned()])
    };
    ClientRegistry::new(&[
        client("plain", ClientSecret::Plain(SecretString::from(SECRET))),
        client("hashed", ClientSecret::Argon2id(hash)),
    ])
}

fn client_check(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = registry();
    let throttle = throttle();
    // Prime the remembered digest of the hashed client.
    runtime
        .block_on(registry.authenticate(
            AuthMethod::ClientSecretPost,
            &[("hashed", SECRET)],
            SOURCE,
            &throttle,
        ))
        .unwrap();
    let mut group = c.benchmark_group("client_check");
    group.bench_function("plaintext", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                registry
                    .authenticate(
                        AuthMethod::ClientSecretPost,
                        &[("plain", SECRET)],
                        SOURCE,
                        &throttle,
                    )
                    .await
                    .is_ok(),
            )
        })
    });
    group.bench_function("argon2id_remembered", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                registry
                    .authenticate(
                        AuthMethod::ClientSecretPost,
                        &[("hashed", SECRET)],
                        SOURCE,
                        &throttle,
                    )
                    .await
                    .is_ok(),
            )
        })
    });
    group.sample_size(10);
    group.bench_function("argon2id_wrong_secret", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                registry
                    .authenticate(
                        AuthMethod::ClientSecretPost,
                        &[("hashed", "wrong")],
                        SOURCE,
                        &throttle,
                    )
                    .await
                    .is_err(),
            )
        })
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let keys = KeySet::new(
        &KeyConfig {
            key_id: None,
            material: KeyMaterial::Hmac("1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM=".into()),
        },
        &[],
    )
    .unwrap();
    let issuer = TokenIssuer::new(Arc::new(keys), "bench-issuer", "bench-audience", 3600);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = registry();
    let throttle = throttle();
    let form =
        format!("grant_type=client_credentials&client_id=plain&client_secret={SECRET}&scope=");
    let mut group = c.benchmark_group("token");
    // The token endpoint's own work, without HTTP: parse the form, check the client,
    // grant the scope, sign, serialise the response.
    group.bench_function("grant_pipeline", |b| {
        b.to_async(&runtime).iter(|| async {
            let params = TokenParams::from_form(form.as_bytes()).unwrap();
            let id = params.client_id.as_deref().unwrap();
            let secret = params.client_secret.as_deref().unwrap();
            let client = registry
                .authenticate(
                    AuthMethod::ClientSecretPost,
                    &[(id, secret)],
                    SOURCE,
                    &throttle,
                )
                .await
                .unwrap()
                .client;
            let scope = grant_scope(&client.scopes, params.scope.as_deref()).unwrap();
            let token = issuer.issue(&client.id, scope).unwrap();
            black_box(
                TokenResponse {
                    access_token: token.access_token,
                    token_type: "Bearer".into(),
                    expires_in: token.expires_in,
                    scope: token.scope,
                }
                .to_json_string(),
            )
        })
    });
    group.bench_function("issue", |b| {
        b.iter(|| black_box(issuer.issue("client", "write".into()).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, client_check, tokens);
criterion_main!(benches);
