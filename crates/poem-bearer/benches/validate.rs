//! Validating a token with a local HS256 key: accepted, expired, forged.
//!
//! cargo bench -p poem-bearer

use std::{hint::black_box, sync::Arc};

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use poem_bearer::{
    Validator,
    keys::{KeyConfig, KeyMaterial, KeySet},
    token::{AccessClaims, now_seconds, token_header},
};

const SECRET: &str = "1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM=";

fn sign(header: &Header, exp: u64) -> String {
    let claims = AccessClaims {
        iss: "bench-issuer".into(),
        aud: "bench-audience".into(),
        sub: "client".into(),
        client_id: "client".into(),
        scope: "api:write".into(),
        iat: exp - 3600,
        nbf: exp - 3600,
        exp,
        jti: "x".into(),
        cnf: None,
    };
    jsonwebtoken::encode(
        header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn validate(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let keys = Arc::new(
        KeySet::new(
            &KeyConfig {
                key_id: None,
                material: KeyMaterial::Hmac(SECRET.into()),
            },
            &[],
        )
        .unwrap(),
    );
    let header = token_header(&keys);
    let validator = runtime
        .block_on(
            Validator::builder("bench")
                .local("bench-issuer", "bench-audience", keys)
                .client_check(|id| id == "client")
                .build(),
        )
        .unwrap();
    let token = sign(&header, now_seconds() + 3600);
    let expired = sign(&header, 1_000_000_100);
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let check = |token: &str| runtime.block_on(validator.validate(token));
    assert!(check(&token).is_ok());
    assert!(check(&expired).is_err());
    assert!(check(&forged).is_err());

    let mut group = c.benchmark_group("validate");
    // With local keys only, `validate` never waits; `block_on` adds a small constant.
    for (name, token) in [
        ("good", &token),
        ("expired", &expired),
        ("bad_signature", &forged),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(runtime.block_on(validator.validate(token)).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
