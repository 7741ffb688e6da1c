//! Signing keys: kid on every token, rotation without downtime, EdDSA/ES256 with a JWKS,
//! and the token's header never choosing the algorithm.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use players_api::auth::keys::{self, generate, hmac_key_id};
use serde_json::{Value, json};

use crate::helpers::*;

const K1: &str = "first-key-first-key-first-key-first-key!";
const K2: &str = "second-key-second-key-second-key-second!";

/// `[default.jwt]` lines: the current HS256 key and previous ones.
fn hs256(current: &str, previous: &[&str]) -> String {
    let previous: Vec<String> = previous
        .iter()
        .map(|k| {
            format!(
                "{{ key_id = \"{}\", key = \"{k}\" }}",
                hmac_key_id(k.as_bytes())
            )
        })
        .collect();
    format!(
        "key = \"{current}\"\nprevious_keys = [{}]",
        previous.join(", ")
    )
}

async fn authenticated(app: &TestApp, token: &str) -> bool {
    let response = app
        .http
        .delete(app.url("/players/squadnumber/99"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        404 => true,
        401 => false,
        other => panic!("unexpected {other}"),
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_on_every_instance() {
    // Two instances on K1.
    let (a, b) = (
        spawn_app_with_keys(&hs256(K1, &[])).await,
        spawn_app_with_keys(&hs256(K1, &[])).await,
    );
    let old = a.token().await;
    assert_eq!(kid_of(&old), hmac_key_id(K1.as_bytes()));
    assert!(authenticated(&b, &old).await);
    // Step 1: every instance learns K2 as a verifying key.
    let (a, b) = (
        spawn_app_with_keys(&hs256(K1, &[K2])).await,
        spawn_app_with_keys(&hs256(K1, &[K2])).await,
    );
    assert!(authenticated(&a, &old).await && authenticated(&b, &old).await);
    // Step 2: one instance at a time signs with K2, keeping K1 to verify.
    let a = spawn_app_with_keys(&hs256(K2, &[K1])).await;
    let new = a.token().await;
    assert_eq!(kid_of(&new), hmac_key_id(K2.as_bytes()));
    assert!(authenticated(&a, &old).await && authenticated(&b, &old).await);
    assert!(
        authenticated(&b, &new).await,
        "B, still signing with K1, verifies K2 tokens"
    );
    let b = spawn_app_with_keys(&hs256(K2, &[K1])).await;
    assert!(authenticated(&b, &old).await && authenticated(&b, &new).await);
    // Step 3, after the longest token lifetime: K1 is dropped, and so are its tokens.
    let a = spawn_app_with_keys(&hs256(K2, &[])).await;
    assert!(!authenticated(&a, &old).await);
    assert!(authenticated(&a, &new).await);
}

fn asymmetric(algorithm: &str) -> (String, keys::GeneratedKey) {
    let generated = generate(keys::parse_algorithm(algorithm).unwrap()).unwrap();
    let pem = generated.secret_or_private_pem.replace('\n', "\\n");
    (
        format!("algorithm = \"{algorithm}\"\nprivate_key = \"{pem}\""),
        generated,
    )
}

#[tokio::test]
async fn eddsa_and_es256_tokens_verify_from_the_published_jwks() {
    for algorithm in ["EdDSA", "ES256"] {
        let (extra, generated) = asymmetric(algorithm);
        let app = spawn_app_with_keys(&extra).await;
        let token = app.token().await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(format!("{:?}", header.alg), algorithm);
        assert_eq!(header.kid.as_deref(), Some(generated.kid.as_str()));
        assert!(authenticated(&app, &token).await);

        let metadata: Value = app
            .get("/.well-known/oauth-authorization-server")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["jwks_uri"],
            format!("{}/.well-known/jwks.json", app.base)
        );
        let response = app.get("/.well-known/jwks.json").await;
        assert_eq!(response.status(), 200);
        let jwks: jsonwebtoken::jwk::JwkSet = response.json().await.unwrap();
        let jwk = jwks
            .find(&generated.kid)
            .expect("the current key is published");
        assert_eq!(
            jwk.common.public_key_use,
            Some(jsonwebtoken::jwk::PublicKeyUse::Signature)
        );
        let text = serde_json::to_string(&jwks).unwrap();
        assert!(!text.contains("\"d\""), "no private key material: {text}");
        // Anyone with the JWKS can verify (here with the same library; e2e uses PyJWT).
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
    }
}

#[tokio::test]
async fn hs256_publishes_nothing() {
    let app = spawn_app().await;
    problem(app.get("/.well-known/jwks.json").await, 404).await;
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert!(metadata.get("jwks_uri").is_none(), "{metadata}");
}

fn claims() -> Value {
    let now = players_api::auth::token::now_seconds();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": CLIENT_ID, "client_id": CLIENT_ID,
           "scope": "api:write", "iat": now, "nbf": now, "exp": now + 600, "jti": "j"})
}

#[tokio::test]
async fn the_token_never_chooses_the_algorithm() {
    // An EdDSA server: an HS256 token naming its kid, signed with its public key as the
    // HMAC secret (the classic confusion), is refused.
    let (extra, generated) = asymmetric("EdDSA");
    let app = spawn_app_with_keys(&extra).await;
    let public = generated.public_pem.unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(generated.kid.clone());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert!(!authenticated(&app, &forged).await);

    // An HS256 server: an EdDSA token naming the HMAC key's kid is refused.
    let app = spawn_app().await;
    let other = generate(Algorithm::EdDSA).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(hmac_key_id(KEY.as_bytes()));
    let key = EncodingKey::from_ed_pem(other.secret_or_private_pem.as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert!(!authenticated(&app, &forged).await);

    // A kid this server does not have, and none at all.
    for kid in [Some("unknown".to_owned()), None] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = kid;
        let token = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(KEY.as_bytes()),
        )
        .unwrap();
        assert!(!authenticated(&app, &token).await);
    }
}
