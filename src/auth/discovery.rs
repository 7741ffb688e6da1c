//! `GET /.well-known/oauth-authorization-server`: authorization server metadata
//! (RFC 8414), so a generic OAuth 2.0 client can find the token endpoint and what it
//! accepts from the issuer alone.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::scopes::Scope;
use crate::{
    error::{Error, ProblemJson},
    openapi::ApiTag,
};

/// The detail of the JWKS 404 when tokens are signed with a shared secret.
pub const NO_PUBLISHED_KEYS: &str = "This service signs with HS256 and publishes no keys";

/// Authorization server metadata (RFC 8414 §2).
#[derive(Debug, Clone, Object)]
pub struct ServerMetadata {
    /// The issuer identifier: the tokens' `iss` (`jwt.issuer`).
    pub issuer: String,
    /// Where clients get tokens.
    pub token_endpoint: String,
    /// Always `["client_credentials"]`.
    pub grant_types_supported: Vec<String>,
    /// `client_secret_basic` and `client_secret_post`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Every scope a client may be granted.
    pub scopes_supported: Vec<String>,
    /// Empty: there is no authorization endpoint.
    pub response_types_supported: Vec<String>,
    /// Where the public keys are, when tokens are signed with EdDSA or ES256 (never with
    /// HS256: nothing secret is published).
    #[oai(skip_serializing_if_is_none)]
    pub jwks_uri: Option<String>,
}

/// The JWKS served at `/.well-known/jwks.json`, when there are public keys.
#[derive(Debug, Clone)]
pub struct PublishedKeys(pub Option<serde_json::Value>);

impl ServerMetadata {
    /// The metadata for a server whose clients reach it at `public_url`.
    pub fn new(issuer: &str, public_url: &str, jwks: bool) -> Self {
        Self {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{public_url}{}", super::bearer::TOKEN_URL),
            grant_types_supported: vec![super::endpoint::GRANT_CLIENT_CREDENTIALS.to_owned()],
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic".to_owned(),
                "client_secret_post".to_owned(),
            ],
            scopes_supported: Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            response_types_supported: Vec::new(),
            jwks_uri: jwks.then(|| format!("{public_url}{JWKS_PATH}")),
        }
    }
}

pub const JWKS_PATH: &str = "/.well-known/jwks.json";

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The public keys that verify this service's tokens (RFC 7517), current and previous.
    #[oai(status = 200)]
    Ok(Json<serde_json::Value>),
    /// Tokens are signed with HS256, whose key is secret: there is nothing to publish.
    #[oai(status = 404)]
    NotFound(ProblemJson),
}

#[derive(ApiResponse)]
pub enum MetadataResponse {
    /// The metadata.
    #[oai(status = 200)]
    Ok(Json<ServerMetadata>),
}

pub struct DiscoveryApi;

#[OpenApi]
impl DiscoveryApi {
    /// Get the authorization server metadata
    ///
    /// RFC 8414 metadata: the issuer, the token endpoint, the supported grant type, client
    /// authentication methods and scopes.
    #[oai(
        path = "/.well-known/oauth-authorization-server",
        method = "get",
        operation_id = "getAuthorizationServerMetadata",
        tag = "ApiTag::Auth"
    )]
    async fn metadata(&self, metadata: Data<&Arc<ServerMetadata>>) -> MetadataResponse {
        MetadataResponse::Ok(Json(ServerMetadata::clone(&metadata)))
    }

    /// Get the public signing keys
    ///
    /// A JWK Set with the public keys (current and previous) that verify this service's
    /// tokens, each with `kid`, `alg` and `use`. Only for EdDSA or ES256 signing keys.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks",
        tag = "ApiTag::Auth"
    )]
    async fn jwks(&self, keys: Data<&Arc<PublishedKeys>>) -> Result<JwksResponse, Error> {
        match &keys.0.0 {
            Some(jwks) => Ok(JwksResponse::Ok(Json(jwks.clone()))),
            None => Err(Error::NotFound(NO_PUBLISHED_KEYS)),
        }
    }
}
