//! Signing access tokens: RFC 9068 JWTs, signed by the current key of a
//! [`KeySet`], in the format `poem_bearer` validates.

use std::sync::Arc;

use jsonwebtoken::Header;
use poem_bearer::{
    keys::KeySet,
    token::{AccessClaims, Confirmation, now_seconds, token_header},
};
use uuid::Uuid;

use crate::error::TokenError;

/// A freshly signed token and what the token response says about it.
#[derive(Debug)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Its `jti`.
    pub jti: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The granted scopes, space-delimited.
    pub scope: String,
}

/// Signs access tokens for one issuer and audience. The keys are parsed once, before.
pub struct TokenIssuer {
    keys: Arc<KeySet>,
    header: Header,
    issuer: String,
    audience: String,
    lifetime: u64,
}

impl TokenIssuer {
    /// Tokens with `iss` = `issuer` and `aud` = `audience`, valid for `lifetime_seconds`,
    /// signed with `keys.current`.
    pub fn new(
        keys: Arc<KeySet>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        lifetime_seconds: u64,
    ) -> Self {
        Self {
            header: token_header(&keys),
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            lifetime: lifetime_seconds,
        }
    }

    /// The keys it signs with (the current one) and that verify its tokens.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// The issuer identifier (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Issues a token for `client_id` carrying `scope`, valid from now for the configured
    /// lifetime. `sub` is the client id: with no resource owner, the subject is the client
    /// itself (RFC 9068 §2.2).
    pub fn issue(&self, client_id: &str, scope: String) -> Result<IssuedToken, TokenError> {
        self.issue_bound(client_id, scope, None)
    }

    /// As [`TokenIssuer::issue`], the token bound to the DPoP key whose RFC 7638
    /// thumbprint is `jkt`, when given (`cnf.jkt`, RFC 9449 §6.1).
    pub fn issue_bound(
        &self,
        client_id: &str,
        scope: String,
        jkt: Option<String>,
    ) -> Result<IssuedToken, TokenError> {
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
            cnf: jkt.map(|jkt| Confirmation { jkt }),
        };
        let access_token = jsonwebtoken::encode(&self.header, &claims, &self.keys.current.key)
            .map_err(|cause| {
                tracing::error!(%cause, "signing an access token failed");
                TokenError::internal()
            })?;
        Ok(IssuedToken {
            access_token,
            jti: claims.jti,
            expires_in: self.lifetime,
            scope: claims.scope,
        })
    }
}
