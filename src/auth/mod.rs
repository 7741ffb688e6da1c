//! OAuth 2.0 client-credentials issuing and Bearer protection, for any poem-openapi API.
//!
//! | module | holds |
//! |---|---|
//! | [`clients`] | the registered clients, plaintext or Argon2id secrets (RFC 6749 §2.3.1) |
//! | [`scopes`] | the known scopes and which write each allows (RFC 6749 §3.3) |
//! | [`hashing`] | the Argon2 threads: fair between sources, bounded waiting |
//! | [`throttle`] | 429 for addresses that keep failing client authentication |
//! | [`discovery`] | `GET /.well-known/oauth-authorization-server` (RFC 8414) |
//! | [`keys`] | key algorithms, key ids and the key generator (the key set is `poem_bearer::keys`) |
//! | [`token`] | the access-token format (RFC 9068) and the issuer that signs it |
//! | [`bearer`] | the validator (`poem_bearer`) and the realm of its challenges (RFC 6750) |
//! | [`endpoint`] | `POST /auth/token`: the client-credentials grant (RFC 6749 §4.4) |
//!
//! Keys and client digests are built once at start-up by [`Auth::new`]; the request paths
//! only read them.

pub mod bearer;
pub mod clients;
pub mod discovery;
pub mod endpoint;
pub mod hashing;
pub mod keys;
pub mod scopes;
pub mod throttle;
pub mod token;

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
