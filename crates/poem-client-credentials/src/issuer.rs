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

/// What one token may differ in from the issuer's defaults: everything unset keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenOptions {
    /// Bind the token to the DPoP key whose RFC 7638 thumbprint this is (`cnf.jkt`,
    /// RFC 9449 §6.1).
    pub bound_to: Option<String>,
    /// The `aud`, instead of the issuer's audience: the resource named in the request
    /// (RFC 8707 §2), already checked against what the client may name.
    pub audience: Option<String>,
    /// The lifetime in seconds, instead of the issuer's: the client's own.
    pub lifetime_seconds: Option<u64>,
}

impl TokenOptions {
    /// The issuer's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bound to the DPoP key with this thumbprint (when `Some`).
    pub fn bound_to(mut self, jkt: Option<String>) -> Self {
        self.bound_to = jkt;
        self
    }

    /// For this audience (when `Some`).
    pub fn audience(mut self, audience: Option<String>) -> Self {
        self.audience = audience;
        self
    }

    /// Valid this many seconds (when `Some`).
    pub fn lifetime_seconds(mut self, seconds: Option<u64>) -> Self {
        self.lifetime_seconds = seconds;
        self
    }
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

    /// The default `aud` of its tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The default lifetime of its tokens, in seconds.
    pub fn lifetime_seconds(&self) -> u64 {
        self.lifetime
    }

    /// Issues a token for `client_id` carrying `scope`, valid from now for the configured
    /// lifetime. `sub` is the client id: with no resource owner, the subject is the client
    /// itself (RFC 9068 §2.2).
    pub fn issue(&self, client_id: &str, scope: String) -> Result<IssuedToken, TokenError> {
        self.issue_with(client_id, scope, TokenOptions::new())
    }

    /// As [`TokenIssuer::issue`], with `options` in place of the issuer's defaults.
    pub fn issue_with(
        &self,
        client_id: &str,
        scope: String,
        options: TokenOptions,
    ) -> Result<IssuedToken, TokenError> {
        let now = now_seconds();
        let lifetime = options.lifetime_seconds.unwrap_or(self.lifetime);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: options.audience.unwrap_or_else(|| self.audience.clone()),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            scope,
            iat: now,
            nbf: now,
            exp: now.saturating_add(lifetime),
            jti: Uuid::new_v4().to_string(),
            cnf: options.bound_to.map(|jkt| Confirmation { jkt }),
        };
        let access_token = jsonwebtoken::encode(&self.header, &claims, &self.keys.current.key)
            .map_err(|cause| {
                tracing::error!(%cause, "signing an access token failed");
                TokenError::internal()
            })?;
        Ok(IssuedToken {
            access_token,
            jti: claims.jti,
            expires_in: lifetime,
            scope: claims.scope,
        })
    }
}
