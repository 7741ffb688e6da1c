//! DPoP through the guard with a replay cache the app chose: a proof works once, and a
//! full cache answers 503 with `Retry-After: 1` rather than accept a proof unrecorded.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{EndpointExt, Route, http::StatusCode, test::TestClient};
use poem_bearer::{
    Bearer, Requirement, Schemes, Validator,
    dpop::token_hash,
    keys::{KeyConfig, KeyMaterial, KeySet, PublicJwk},
    replay::MemoryReplayCache,
    token::{AccessClaims, Confirmation, now_seconds, token_header},
};
use poem_openapi::{OAuthScopes, OpenApi, OpenApiService, payload::PlainText};

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

#[tokio::test]
async fn a_full_proof_cache_answers_503_and_never_accepts_a_proof_unrecorded() {
    let keys = Arc::new(
        KeySet::new(
            &KeyConfig {
                key_id: None,
                material: KeyMaterial::Hmac("a test HS256 key of at least thirty-two bytes".into()),
            },
            &[],
        )
        .unwrap(),
    );
    let validator = Validator::builder("notes")
        .local("iss", "aud", keys.clone())
        .dpop(PUBLIC_URL, Arc::new(MemoryReplayCache::new(1)))
        .build()
        .await
        .unwrap();
    let client = TestClient::new(
        Route::new()
            .nest("/", OpenApiService::new(Notes, "t", "1"))
            .data(validator),
    );
    use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let proof_key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let jwk = Jwk::from_encoding_key(&proof_key, Algorithm::EdDSA).unwrap();
    let jkt = PublicJwk::parse(&serde_json::to_value(&jwk).unwrap())
        .unwrap()
        .thumbprint()
        .unwrap();
    let now = now_seconds();
    let claims = AccessClaims {
        iss: "iss".into(),
        aud: "aud".into(),
        sub: "c".into(),
        client_id: "c".into(),
        scope: "write".into(),
        iat: now,
        nbf: now,
        exp: now + 60,
        jti: "t".into(),
        cnf: Some(Confirmation { jkt }),
    };
    let token = jsonwebtoken::encode(&token_header(&keys), &claims, &keys.current.key).unwrap();
    let proof = |jti: &str| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(jwk.clone());
        let claims = serde_json::json!({
            "jti": jti, "htm": "POST", "htu": format!("{PUBLIC_URL}/notes"),
            "iat": now_seconds(), "ath": token_hash(&token),
        });
        jsonwebtoken::encode(&header, &claims, &proof_key).unwrap()
    };
    let write = |proof: String| {
        client
            .post("/notes")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
    };
    write(proof("one")).await.assert_status_is_ok();
    let full = write(proof("two")).await;
    full.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    full.assert_header("retry-after", "1");
    // Nothing was recorded for "two", and "one" is still remembered.
    write(proof("one"))
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}
