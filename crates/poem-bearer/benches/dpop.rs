//! A protected write through the guard, in process (poem's router, no network): with a
//! Bearer token, and with a DPoP-bound token and its proof (EdDSA). The proofs are signed
//! beforehand (a client's cost, not the server's); each has its own `jti`, so every
//! iteration also records one in the replay cache.
//!
//! cargo bench -p poem-bearer --bench dpop

use std::{hint::black_box, sync::Arc};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{Endpoint, EndpointExt, Request, Route, http::Method};
use poem_bearer::{
    Bearer, Requirement, Schemes, Validator,
    dpop::token_hash,
    keys::{KeyConfig, KeyMaterial, KeySet, PublicJwk},
    replay::MemoryReplayCache,
    token::{AccessClaims, Confirmation, now_seconds, token_header},
};
use poem_openapi::{OAuthScopes, OpenApi, OpenApiService, payload::PlainText};

const SECRET: &str = "1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM=";
const PUBLIC_URL: &str = "https://api.example.com";

#[derive(Clone, Copy, OAuthScopes)]
enum Scope {
    /// Write
    #[oai(rename = "write")]
    Write,
}
struct Api;
impl Schemes for Api {
    type Scope = Scope;
    const TOKEN_URL: Option<&'static str> = None;
}
struct Write;
impl Requirement for Write {
    type Schemes = Api;
    const ANY_OF: &'static [Scope] = &[Scope::Write];
}
struct Notes;
#[OpenApi]
impl Notes {
    #[oai(path = "/notes", method = "post")]
    async fn create(
        &self,
        #[oai(scope = "Scope::Write")] _auth: Bearer<Write>,
    ) -> PlainText<&'static str> {
        PlainText("ok")
    }
}

fn token(keys: &KeySet, jkt: Option<String>) -> String {
    let now = now_seconds();
    let claims = AccessClaims {
        iss: "bench-issuer".into(),
        aud: "bench-audience".into(),
        sub: "client".into(),
        client_id: "client".into(),
        scope: "write".into(),
        iat: now,
        nbf: now,
        exp: now + 3600,
        jti: "t".into(),
        cnf: jkt.map(|jkt| Confirmation { jkt }),
    };
    jsonwebtoken::encode(&token_header(keys), &claims, &keys.current.key).unwrap()
}

fn guard(c: &mut Criterion) {
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
    let validator = runtime
        .block_on(
            Validator::builder("bench")
                .local("bench-issuer", "bench-audience", keys.clone())
                .dpop(PUBLIC_URL, Arc::new(MemoryReplayCache::new(usize::MAX)))
                .build(),
        )
        .unwrap();
    let app = Route::new()
        .nest("/", OpenApiService::new(Notes, "bench", "1"))
        .data(validator);

    use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let proof_key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let jwk = Jwk::from_encoding_key(&proof_key, Algorithm::EdDSA).unwrap();
    let jkt = PublicJwk::parse(&serde_json::to_value(&jwk).unwrap())
        .unwrap()
        .thumbprint()
        .unwrap();
    let bearer = token(&keys, None);
    let bound = token(&keys, Some(jkt));
    let ath = token_hash(&bound);
    let mut counter = 0u64;
    let mut proof = || {
        counter += 1;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(jwk.clone());
        let claims = serde_json::json!({
            "jti": counter.to_string(), "htm": "POST", "htu": format!("{PUBLIC_URL}/notes"),
            "iat": now_seconds(), "ath": ath,
        });
        jsonwebtoken::encode(&header, &claims, &proof_key).unwrap()
    };
    let request = |scheme: &str, token: &str, proof: Option<String>| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/notes".parse().unwrap())
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.finish()
    };

    let app = &app;
    let mut group = c.benchmark_group("protected write");
    group.bench_function("Bearer", |b| {
        b.to_async(&runtime).iter_batched(
            || request("Bearer", &bearer, None),
            |request| async move { black_box(app.call(request).await.unwrap().status()) },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("DPoP (EdDSA proof)", |b| {
        b.to_async(&runtime).iter_batched(
            || request("DPoP", &bound, Some(proof())),
            |request| async move {
                let status = app.call(request).await.unwrap().status();
                assert!(status.is_success(), "{status}");
                black_box(status)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
