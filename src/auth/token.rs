//! The access token: an RFC 9068 JWT, signed by the current key of the [`KeySet`] (HS256
//! by default, or EdDSA/ES256).
//!
//! RFC 9068 §2.1 asks authorization servers to support RS256; this service signs with
//! HS256 by default because the original design shares one symmetric key between issuer
//! and API (the README explains the trade-off), and offers EdDSA and ES256 for verifiers
//! that must not be able to mint. The header carries `typ: at+jwt` so the token cannot be
//! confused with an ID token or any other JWT signed with the same key, and the `kid` of
//! the key that signed it.

use std::sync::Arc;

use jsonwebtoken::Header;
use uuid::Uuid;

pub use poem_bearer::token::{
    AccessClaims, TOKEN_TYPE, now_seconds, own_header_segment, token_header,
};

use super::keys::KeySet;
use crate::{config::JwtConfig, error::Error};

/// A freshly signed token and what the token response says about it.
#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub jti: String,
    pub expires_in: u64,
    pub scope: String,
}

/// Signs access tokens. The key is parsed once, here.
pub struct TokenIssuer {
    keys: Arc<KeySet>,
    header: Header,
    issuer: String,
    audience: String,
    lifetime: u64,
}

impl TokenIssuer {
    pub fn new(config: &JwtConfig) -> Self {
        Self {
            keys: config.keys.clone(),
            header: token_header(&config.keys),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            lifetime: config.expires_in_seconds,
        }
    }

    /// Issues a token for `client_id` carrying `scope`, valid from now for the configured
    /// lifetime.
    pub fn issue(&self, client_id: &str, scope: String) -> Result<IssuedToken, Error> {
        let now = now_seconds();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            scope,
            iat: now,
            nbf: now,
            exp: now + self.lifetime,
            jti: Uuid::new_v4().to_string(),
        };
        let access_token = jsonwebtoken::encode(&self.header, &claims, &self.keys.current.key)
            .map_err(|e| Error::internal("signing an access token failed", e))?;
        Ok(IssuedToken {
            access_token,
            jti: claims.jti,
            expires_in: self.lifetime,
            scope: claims.scope,
        })
    }
}
