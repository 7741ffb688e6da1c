//! `GET /.well-known/oauth-authorization-server` (RFC 8414 metadata, built by
//! `poem_client_credentials::discovery`) and `GET /.well-known/jwks.json`, with this API's
//! tag and its problem+json 404.

use std::sync::Arc;

use poem::web::Data;
use poem_client_credentials::discovery::ServerMetadata;
use poem_openapi::{ApiResponse, OpenApi, payload::Json};

use super::scopes::Scope;
use crate::{
    error::{Error, ProblemJson},
    tags::ApiTag,
};

/// The detail of the JWKS 404 when tokens are signed with a shared secret.
pub const NO_PUBLISHED_KEYS: &str = "This service signs with HS256 and publishes no keys";

/// The JWKS served at `/.well-known/jwks.json`, when there are public keys.
#[derive(Debug, Clone)]
pub struct PublishedKeys(pub Option<serde_json::Value>);

/// This API's metadata: its scopes, its public URL.
pub fn metadata(issuer: &str, public_url: &str, jwks: bool) -> ServerMetadata {
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    ServerMetadata::new(issuer, public_url, &scopes, jwks)
}

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
