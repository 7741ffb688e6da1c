//! Tokens of the API's own keys: the claims checks jsonwebtoken leaves to its caller.

use std::sync::Arc;

use jsonwebtoken::EncodingKey;
use poem_bearer::{
    Rejection, Validator,
    keys::{KeyConfig, KeyMaterial, KeySet},
    token::{AccessClaims, now_seconds, token_header},
};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn iat_beyond_the_clock_skew_is_not_valid_yet() {
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
    let validator = Validator::builder("r")
        .local("i", "a", keys)
        .build()
        .await
        .unwrap();
    let now = now_seconds();
    let sign = |iat: u64| {
        let claims = AccessClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "c".into(),
            client_id: "c".into(),
            scope: "s".into(),
            iat,
            nbf: now,
            exp: now + 7200,
            jti: "j".into(),
            cnf: None,
        };
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    assert_eq!(
        validator.validate(&sign(now + 3600)).await,
        Err(Rejection::NotYetValid)
    );
    let claims = validator.validate(&sign(now + 30)).await.unwrap();
    assert!(claims.local && claims.has_scope("s"));
}

fn keys() -> Arc<KeySet> {
    Arc::new(
        KeySet::new(
            &KeyConfig {
                key_id: None,
                material: KeyMaterial::Hmac(SECRET.into()),
            },
            &[],
        )
        .unwrap(),
    )
}

fn sign(keys: &KeySet, aud: &str, jti: &str, client: &str, exp: u64) -> String {
    let now = now_seconds();
    let claims = AccessClaims {
        iss: "i".into(),
        aud: aud.into(),
        sub: client.into(),
        client_id: client.into(),
        scope: "s".into(),
        iat: now,
        nbf: now,
        exp,
        jti: jti.into(),
        cnf: None,
    };
    jsonwebtoken::encode(
        &token_header(keys),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[test]
fn inspect_checks_everything_but_the_audience_and_the_revocation_check_comes_last() {
    let keys = keys();
    let validator = Validator::builder("r")
        .local("i", "a", keys.clone())
        .client_check(|client| client != "disabled")
        .revocation_check(|jti| jti == "revoked")
        .build_local()
        .unwrap();
    let now = now_seconds();
    let other_audience = sign(&keys, "elsewhere", "j", "c", now + 600);
    let claims = validator.inspect(&other_audience).unwrap();
    assert_eq!(claims.audience, ["elsewhere"]);
    assert_eq!(claims.not_before, Some(claims.issued_at.unwrap()));
    assert_eq!(
        tokio_test_block(validator.validate(&other_audience)),
        Err(Rejection::WrongAudience)
    );
    let revoked = sign(&keys, "a", "revoked", "c", now + 600);
    assert_eq!(validator.inspect(&revoked), Err(Rejection::Revoked));
    assert_eq!(
        tokio_test_block(validator.validate(&revoked)),
        Err(Rejection::Revoked)
    );
    // Expired (past the leeway) or of a disabled client: that reason, not the revocation.
    let expired = sign(&keys, "a", "revoked", "c", now - 61);
    assert_eq!(validator.inspect(&expired), Err(Rejection::Expired));
    let disabled = sign(&keys, "a", "revoked", "disabled", now + 600);
    assert_eq!(validator.inspect(&disabled), Err(Rejection::ClientDisabled));
    // Within the leeway, still active.
    assert!(
        validator
            .inspect(&sign(&keys, "a", "j", "c", now - 30))
            .is_ok()
    );
    // Without local keys nothing is active.
    let none = Validator::builder("r").build_local().unwrap();
    assert_eq!(none.inspect(&other_audience), Err(Rejection::WrongIssuer));
}

fn tokio_test_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}
