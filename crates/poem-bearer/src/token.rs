//! The access-token format: an RFC 9068 JWT whose header carries `typ: at+jwt` (so it
//! cannot be taken for an ID token or any other JWT signed with the same key) and the
//! `kid` of the key that signed it.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};

use crate::keys::KeySet;

/// The `typ` header value of access tokens (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token issued by the client-credentials grant (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer identifier of the authorization server.
    pub iss: String,
    /// The resource server the token is for.
    pub aud: String,
    /// The client id: with no resource owner, the subject is the client itself.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited (RFC 8693 §4.2).
    pub scope: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before, seconds since the Unix epoch.
    pub nbf: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
    /// Unique per token.
    pub jti: String,
    /// The key the token is bound to (RFC 9449 §6.1), for DPoP-bound tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A token's `cnf` claim (RFC 7800): the key its holder must prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the DPoP key, base64url.
    pub jkt: String,
}

/// The JOSE header of every token the current key of `keys` signs.
pub fn token_header(keys: &KeySet) -> Header {
    let mut header = Header::new(keys.current.algorithm);
    header.typ = Some(TOKEN_TYPE.to_owned());
    header.kid = Some(keys.current.kid.clone());
    header
}

/// The first segment (the encoded header) of every token the current key signs with
/// [`token_header`]: a token whose first segment is this one names that key's `kid`,
/// which is then known without decoding anything.
pub fn own_header_segment(keys: &KeySet) -> Option<String> {
    let token = jsonwebtoken::encode(
        &token_header(keys),
        &serde_json::Map::new(),
        &keys.current.key,
    )
    .ok()?;
    token.split('.').next().map(str::to_owned)
}

/// Seconds since the Unix epoch; a clock before 1970 counts as the epoch.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
