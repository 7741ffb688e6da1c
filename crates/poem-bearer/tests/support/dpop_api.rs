//! A one-operation API guarded for DPoP, with its tokens and proofs: shared by the DPoP
//! integration test and the DPoP benchmark (`#[path]`), so both drive the same thing.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use poem::{Endpoint, EndpointExt, Route};
use poem_bearer::{
    Bearer, Requirement, Schemes, Validator,
    dpop::token_hash,
    keys::{KeyConfig, KeyMaterial, KeySet, PublicJwk},
    replay::ReplayCache,
    token::{AccessClaims, Confirmation, now_seconds, token_header},
};
use poem_openapi::{OAuthScopes, OpenApi, OpenApiService, payload::PlainText};

pub const PUBLIC_URL: &str = "https://api.example.com";

#[derive(Clone, Copy, OAuthScopes)]
pub enum Scope {
    /// Write
    #[oai(rename = "write")]
    Write,
}
pub struct Api;
impl Schemes for Api {
    type Scope = Scope;
    const TOKEN_URL: Option<&'static str> = None;
}
pub struct Write;
impl Requirement for Write {
    type Schemes = Api;
    const ANY_OF: &'static [Scope] = &[Scope::Write];
}
pub struct Notes;
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

/// The API's HS256 key set.
pub fn keys() -> Arc<KeySet> {
    let key = KeyConfig {
        key_id: None,
        material: KeyMaterial::Hmac("a test HS256 key of at least thirty-two bytes".into()),
    };
    Arc::new(KeySet::new(&key, &[]).unwrap())
}

/// `POST /notes` behind a validator of `keys`' tokens that takes DPoP, its proofs' `jti`s
/// kept in `replay`.
pub async fn app(
    keys: Arc<KeySet>,
    replay: Arc<dyn ReplayCache>,
) -> impl Endpoint<Output = poem::Response> {
    let validator = Validator::builder("notes")
        .local("iss", "aud", keys)
        .dpop(PUBLIC_URL, replay)
        .build()
        .await
        .unwrap();
    Route::new()
        .nest("/", OpenApiService::new(Notes, "t", "1"))
        .data(validator)
        .map_to_response()
}

/// A token with the `write` scope, bound to the key `jkt` when given.
pub fn token(keys: &KeySet, jkt: Option<String>) -> String {
    let now = now_seconds();
    let claims = AccessClaims {
        iss: "iss".into(),
        aud: "aud".into(),
        sub: "c".into(),
        client_id: "c".into(),
        scope: "write".into(),
        iat: now,
        nbf: now,
        exp: now + 3600,
        jti: "t".into(),
        cnf: jkt.map(|jkt| Confirmation { jkt }),
    };
    jsonwebtoken::encode(&token_header(keys), &claims, &keys.current.key).unwrap()
}

/// A client's Ed25519 DPoP key.
pub struct ProofKey {
    key: EncodingKey,
    jwk: Jwk,
    /// Its RFC 7638 thumbprint: a bound token's `cnf.jkt`.
    pub jkt: String,
}

impl ProofKey {
    pub fn new() -> Self {
        use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        let key = EncodingKey::from_ed_der(pkcs8.as_ref());
        let jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
        let jkt = PublicJwk::parse(&serde_json::to_value(&jwk).unwrap())
            .unwrap()
            .thumbprint()
            .unwrap();
        ProofKey { key, jwk, jkt }
    }

    /// A proof for `POST /notes` with `token`, its `jti` given.
    pub fn proof(&self, token: &str, jti: &str) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        let claims = serde_json::json!({
            "jti": jti, "htm": "POST", "htu": format!("{PUBLIC_URL}/notes"),
            "iat": now_seconds(), "ath": token_hash(token),
        });
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}
