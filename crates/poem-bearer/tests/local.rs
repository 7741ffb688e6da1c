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
