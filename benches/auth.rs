//! Micro-benchmarks of the token endpoint's work without HTTP: the grant pipeline and
//! signing a token. Client checks and validation are measured where they live:
//! `cargo bench -p poem-client-credentials`, `cargo bench -p poem-bearer`.
//!
//! cargo bench --bench auth

use std::{hint::black_box, sync::Arc};

use argon2::{
    Argon2, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use criterion::{Criterion, criterion_group, criterion_main};
use players_api::{
    auth::{
        ClientRegistry, TokenIssuer,
        endpoint::{TokenParams, TokenResponse, grant_scope},
        throttle::Throttle,
    },
    config::{ClientConfig, ClientSecret, JwtConfig},
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
    ClientRegistry::new(&[
        ClientConfig {
            client_id: "plain".into(),
            secrets: vec![ClientSecret::Plain(SecretString::from(SECRET))],
            scopes: vec!["api:write".to_owned()],
            enabled: true,
        },
        ClientConfig {
            client_id: "hashed".into(),
            secrets: vec![ClientSecret::Argon2id(hash)],
            scopes: vec!["api:write".to_owned()],
            enabled: true,
        },
    ])
}

fn jwt_config() -> JwtConfig {
    JwtConfig::hs256(
        "1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM=",
        "bench-issuer",
        "bench-audience",
        3600,
    )
    .unwrap()
}

fn tokens(c: &mut Criterion) {
    let issuer = TokenIssuer::new(&jwt_config());
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
                .authenticate(&[(id, secret)], SOURCE, &throttle)
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
        b.iter(|| black_box(issuer.issue("client", "api:write".into()).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
