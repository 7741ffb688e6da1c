//! The access token: an RFC 9068 JWT, signed by the current key of the [`KeySet`] (HS256
//! by default, or EdDSA/ES256).
//!
//! RFC 9068 §2.1 asks authorization servers to support RS256; this service signs with
//! HS256 by default because the original design shares one symmetric key between issuer
//! and API (the README explains the trade-off), and offers EdDSA and ES256 for verifiers
//! that must not be able to mint. The header carries `typ: at+jwt` so the token cannot be
//! confused with an ID token or any other JWT signed with the same key, and the `kid` of
//! the key that signed it.

use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::KeySet;
use crate::{config::JwtConfig, error::Error};

/// The `typ` header value of access tokens (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The client id: with no resource owner, the subject is the client itself.
    pub sub: String,
    pub client_id: String,
    /// Granted scopes, space-delimited (RFC 8693 §4.2).
    pub scope: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// Unique per token.
    pub jti: String,
}

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

/// The JOSE header of every token the current key signs.
pub fn token_header(keys: &KeySet) -> Header {
    let mut header = Header::new(keys.current.algorithm);
    header.typ = Some(TOKEN_TYPE.to_owned());
    header.kid = Some(keys.current.kid.clone());
    header
}

/// The first segment (the encoded header) of every token the current key signs, as
/// [`TokenIssuer`] writes it: a token whose first segment is this one names our `kid`.
pub fn own_header_segment(keys: &KeySet) -> Option<String> {
    let token = jsonwebtoken::encode(
        &token_header(keys),
        &serde_json::Map::new(),
        &keys.current.key,
    )
    .ok()?;
    token.split('.').next().map(str::to_owned)
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

/// Seconds since the Unix epoch; a clock before 1970 counts as the epoch.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
