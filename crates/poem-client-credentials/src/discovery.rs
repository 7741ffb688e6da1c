//! Authorization server metadata (RFC 8414), so a generic OAuth 2.0 client can find the
//! token endpoint, and what it accepts, from the issuer alone. Serve it at
//! `/.well-known/oauth-authorization-server` (and the JWKS, when the keys are public, at
//! [`JWKS_PATH`]).

use poem_openapi::Object;

use poem_bearer::keys::PUBLIC_KEY_ALGORITHMS;

use crate::{
    clients::AuthMethod,
    endpoint::{GRANT_CLIENT_CREDENTIALS, TOKEN_PATH},
    introspection::INTROSPECTION_PATH,
    revocation::REVOCATION_PATH,
};

/// The names of the algorithms client assertions (and DPoP proofs) may use.
fn algorithm_names() -> Vec<String> {
    PUBLIC_KEY_ALGORITHMS
        .iter()
        .map(|a| format!("{a:?}"))
        .collect()
}

/// Where RFC 8414 metadata is served.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Where the public keys are served, when there are any.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Authorization server metadata (RFC 8414 §2).
#[derive(Debug, Clone, Object)]
pub struct ServerMetadata {
    /// The issuer identifier: the tokens' `iss`.
    pub issuer: String,
    /// Where clients get tokens.
    pub token_endpoint: String,
    /// Always `["client_credentials"]`.
    pub grant_types_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post` and `private_key_jwt`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// The algorithms a `private_key_jwt` client assertion may be signed with.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Where clients revoke their tokens (RFC 7009).
    pub revocation_endpoint: String,
    /// As `token_endpoint_auth_methods_supported`: clients authenticate alike.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// As `token_endpoint_auth_signing_alg_values_supported`.
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Where clients introspect tokens (RFC 7662).
    pub introspection_endpoint: String,
    /// As `token_endpoint_auth_methods_supported`.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// As `token_endpoint_auth_signing_alg_values_supported`.
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// The algorithms a DPoP proof may be signed with (RFC 9449 §5.1).
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Every scope a client may be granted.
    pub scopes_supported: Vec<String>,
    /// Empty: there is no authorization endpoint.
    pub response_types_supported: Vec<String>,
    /// Where the public keys are, when tokens are signed with EdDSA or ES256 (never with
    /// HS256: nothing secret is published).
    #[oai(skip_serializing_if_is_none)]
    pub jwks_uri: Option<String>,
}

impl ServerMetadata {
    /// The metadata of `issuer`, whose clients reach it at `public_url`, granting
    /// `scopes`; `jwks` says whether the keys are published at [`JWKS_PATH`].
    pub fn new(issuer: &str, public_url: &str, scopes: &[&str], jwks: bool) -> Self {
        let methods: Vec<String> = AuthMethod::ALL
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect();
        Self {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{public_url}{TOKEN_PATH}"),
            grant_types_supported: vec![GRANT_CLIENT_CREDENTIALS.to_owned()],
            token_endpoint_auth_methods_supported: methods.clone(),
            token_endpoint_auth_signing_alg_values_supported: algorithm_names(),
            revocation_endpoint: format!("{public_url}{REVOCATION_PATH}"),
            revocation_endpoint_auth_methods_supported: methods.clone(),
            revocation_endpoint_auth_signing_alg_values_supported: algorithm_names(),
            introspection_endpoint: format!("{public_url}{INTROSPECTION_PATH}"),
            introspection_endpoint_auth_methods_supported: methods,
            introspection_endpoint_auth_signing_alg_values_supported: algorithm_names(),
            dpop_signing_alg_values_supported: algorithm_names(),
            scopes_supported: scopes.iter().map(|s| (*s).to_owned()).collect(),
            response_types_supported: Vec::new(),
            jwks_uri: jwks.then(|| format!("{public_url}{JWKS_PATH}")),
        }
    }
}
