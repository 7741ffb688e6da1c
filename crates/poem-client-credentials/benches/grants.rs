//! Whole token requests through the endpoint, in process (poem's router and body parsing,
//! no network): a plaintext secret, `private_key_jwt` with EdDSA and with ES256, and a
//! DPoP-bound grant. Assertions and proofs are signed beforehand (the client's cost); each
//! has its own `jti`, so every iteration also records one in a replay cache.
//!
//! cargo bench -p poem-client-credentials --bench grants

use std::{hint::black_box, sync::Arc};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{Endpoint, EndpointExt, Request, Route, http::Method};
use poem_bearer::{
    keys::{KeyConfig, KeyMaterial, KeySet},
    replay::MemoryReplayCache,
    token::now_seconds,
};
use poem_client_credentials::{
    ClientDirectory, ClientRegistry, ClientSettings, TokenApi, TokenEndpoint, TokenIssuer,
};
use poem_openapi::OpenApiService;

const PUBLIC_URL: &str = "https://api.example.com";
const ISSUER: &str = "https://api.example.com";
const SECRET: &str = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";

fn key(algorithm: Algorithm) -> (EncodingKey, Jwk) {
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair},
    };
    let rng = SystemRandom::new();
    let key = match algorithm {
        Algorithm::EdDSA => {
            EncodingKey::from_ed_der(Ed25519KeyPair::generate_pkcs8v1(&rng).unwrap().as_ref())
        }
        _ => EncodingKey::from_ec_der(
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap()
                .as_ref(),
        ),
    };
    let jwk = Jwk::from_encoding_key(&key, algorithm).unwrap();
    (key, jwk)
}

fn grants(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (ed, ed_jwk) = key(Algorithm::EdDSA);
    let (es, es_jwk) = key(Algorithm::ES256);
    let (proof_key, proof_jwk) = key(Algorithm::EdDSA);
    let settings: Vec<ClientSettings> = serde_json::from_value(serde_json::json!([
        { "client_id": "plain", "client_secret": SECRET, "scopes": ["write"] },
        { "client_id": "ed", "jwks": { "keys": [ed_jwk] }, "scopes": ["write"] },
        { "client_id": "es", "jwks": { "keys": [es_jwk] }, "scopes": ["write"] },
    ]))
    .unwrap();
    let clients: Vec<_> = settings.into_iter().map(|s| s.load(&[]).unwrap()).collect();
    let keys = KeySet::new(
        &KeyConfig {
            key_id: None,
            material: KeyMaterial::Hmac("1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM=".into()),
        },
        &[],
    )
    .unwrap();
    let endpoint = TokenEndpoint::builder(
        Arc::new(ClientDirectory::new(ClientRegistry::new(&clients))),
        TokenIssuer::new(Arc::new(keys), ISSUER, "api", 3600),
    )
    .public_url(PUBLIC_URL)
    .throttle(u32::MAX, std::time::Duration::from_secs(60))
    .replay_cache(Arc::new(MemoryReplayCache::new(usize::MAX)))
    .dpop_replay_cache(Arc::new(MemoryReplayCache::new(usize::MAX)))
    .build()
    .unwrap();
    let app = Route::new()
        .nest("/", OpenApiService::new(TokenApi, "bench", "1"))
        .data(endpoint);

    let mut counter = 0u64;
    let mut next = move || {
        counter += 1;
        counter.to_string()
    };
    let form = |body: String, proof: Option<String>| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/auth/token".parse().unwrap())
            .content_type("application/x-www-form-urlencoded");
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.body(body)
    };
    let secret_body =
        format!("grant_type=client_credentials&client_id=plain&client_secret={SECRET}");
    let assertion = |client: &str, key: &EncodingKey, algorithm: Algorithm, jti: String| {
        let now = now_seconds();
        let claims = serde_json::json!({
            "iss": client, "sub": client, "aud": ISSUER, "exp": now + 60, "jti": jti,
        });
        let jwt = jsonwebtoken::encode(&Header::new(algorithm), &claims, key).unwrap();
        format!(
            "grant_type=client_credentials&client_assertion_type=\
             urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={jwt}"
        )
    };
    let proof = |jti: String| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(proof_jwk.clone());
        let claims = serde_json::json!({
            "jti": jti, "htm": "POST", "htu": format!("{PUBLIC_URL}/auth/token"),
            "iat": now_seconds(),
        });
        jsonwebtoken::encode(&header, &claims, &proof_key).unwrap()
    };
    let app = &app;
    let call = |request: Request| async move {
        let status = app.call(request).await.unwrap().status();
        assert!(status.is_success(), "{status}");
        black_box(status)
    };

    let mut group = c.benchmark_group("grant");
    group.bench_function("client_secret_post (plaintext)", |b| {
        b.to_async(&runtime).iter_batched(
            || form(secret_body.clone(), None),
            call,
            BatchSize::SmallInput,
        )
    });
    group.bench_function("private_key_jwt (EdDSA)", |b| {
        b.to_async(&runtime).iter_batched(
            || form(assertion("ed", &ed, Algorithm::EdDSA, next()), None),
            call,
            BatchSize::SmallInput,
        )
    });
    group.bench_function("private_key_jwt (ES256)", |b| {
        b.to_async(&runtime).iter_batched(
            || form(assertion("es", &es, Algorithm::ES256, next()), None),
            call,
            BatchSize::SmallInput,
        )
    });
    group.bench_function("client_secret_post + DPoP proof (EdDSA)", |b| {
        b.to_async(&runtime).iter_batched(
            || form(secret_body.clone(), Some(proof(next()))),
            call,
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, grants);
criterion_main!(benches);
