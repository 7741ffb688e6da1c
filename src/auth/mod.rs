//! OAuth 2.0 client-credentials issuing and Bearer protection, for any poem-openapi API.
//!
//! | module | holds |
//! |---|---|
//! | [`clients`], [`hashing`], [`throttle`] | `poem_client_credentials`' clients, Argon2 threads and brute-force throttle |
//! | [`address`] | where a token request comes from; 429 for addresses the throttle holds back |
//! | [`scopes`] | the known scopes and which write each allows (RFC 6749 §3.3) |
//! | [`discovery`] | `GET /.well-known/oauth-authorization-server` (RFC 8414) |
//! | [`keys`] | key algorithms, key ids and the key generator (the key set is `poem_bearer::keys`) |
//! | [`token`] | the access-token format (RFC 9068) and the issuer that signs it |
//! | [`bearer`] | the validator (`poem_bearer`) and the realm of its challenges (RFC 6750) |
//! | [`endpoint`] | `POST /auth/token`: the client-credentials grant (RFC 6749 §4.4) |
//!
//! Keys and client digests are built once at start-up by [`Auth::new`]; the request paths
//! only read them.

pub mod address;
pub mod bearer;
pub mod discovery;
pub mod endpoint;
pub mod enrol;
pub mod keys;
pub mod scopes;
pub mod token;

pub use poem_client_credentials::{clients, hashing, throttle};

use std::sync::Arc;

use crate::config::Config;

pub use bearer::{BearerAuth, Validator};
pub use clients::{ClientDirectory, ClientRegistry};
pub use endpoint::TokenApi;
pub use token::TokenIssuer;

/// Everything the auth paths need, built once from the configuration.
#[derive(Clone)]
pub struct Auth {
    pub clients: Arc<ClientDirectory>,
    pub issuer: Arc<TokenIssuer>,
    pub validator: Arc<Validator>,
}

impl Auth {
    pub async fn new(config: &Config) -> Result<Self, poem_bearer::SettingsError> {
        let clients = Arc::new(ClientDirectory::new(ClientRegistry::new(&config.clients)));
        Ok(Self {
            issuer: Arc::new(TokenIssuer::new(&config.jwt)),
            validator: bearer::validator(&config.jwt, &config.trusted_issuers, clients.clone())
                .await?,
            clients,
        })
    }
}
