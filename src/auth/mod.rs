//! OAuth 2.0 client-credentials issuing and Bearer protection: this API's adapter to the
//! `poem_client_credentials` and `poem_bearer` crates.
//!
//! | module | holds |
//! |---|---|
//! | [`clients`], [`endpoint`], [`hashing`], [`throttle`] | `poem_client_credentials`' clients, token endpoint, Argon2 threads and brute-force throttle |
//! | [`scopes`] | (`crate::scopes`) the known scopes and which write each allows |
//! | [`discovery`] | `GET /.well-known/oauth-authorization-server` (RFC 8414) and the JWKS |
//! | [`keys`] | (`crate::config::keys`) key algorithm names, key ids, the key generator |
//! | [`token`] | the access-token format (RFC 9068) and this API's issuer |
//! | [`bearer`] | the validator (`poem_bearer`) and the realm of its challenges (RFC 6750) |
//! | [`enrol`] | `create-client`'s configuration entry |
//!
//! Keys and client digests are built once at start-up by [`Auth::new`]; the request paths
//! only read them.

pub mod bearer;
pub mod discovery;
pub mod enrol;
pub mod token;

pub use crate::{config::keys, scopes};

pub use poem_client_credentials::{clients, endpoint, hashing, throttle};

use std::{sync::Arc, time::Duration};

use poem_bearer::replay::{MemoryReplayCache, ReplayCache};
use poem_client_credentials::{Events, RevocationStore, TokenEndpoint};

use crate::config::Config;

pub use bearer::{BearerAuth, Validator};
pub use clients::{ClientDirectory, ClientRegistry};
pub use endpoint::TokenApi;
pub use poem_client_credentials::{IntrospectionApi, RevocationApi};

/// Everything the auth paths need, built once from the configuration.
#[derive(Clone)]
pub struct Auth {
    pub clients: Arc<ClientDirectory>,
    pub endpoint: Arc<TokenEndpoint>,
    pub validator: Arc<Validator>,
}

impl Auth {
    /// The token endpoint (its events going to `events`, client assertion `jti`s to
    /// `replay`, revocations to `revocations`, reached by clients at `public_url`) and
    /// the validator of writes, which fetches the trusted issuers' keys now.
    pub async fn new(
        config: &Config,
        public_url: &str,
        replay: Arc<dyn ReplayCache>,
        revocations: Arc<dyn RevocationStore>,
        events: Arc<dyn Events>,
    ) -> Result<Self, poem_bearer::SettingsError> {
        let clients = Arc::new(ClientDirectory::new(ClientRegistry::new(&config.clients)));
        // DPoP proofs are kept per instance (their window is a minute); the token endpoint
        // and the writes share one cache.
        let proofs: Arc<dyn ReplayCache> =
            Arc::new(MemoryReplayCache::new(crate::replay::MEMORY_CAPACITY));
        let endpoint = TokenEndpoint::builder(clients.clone(), config.jwt.token_issuer())
            .public_url(public_url)
            .strict_assertion_audience(config.client_assertion.strict_audience)
            .replay_cache(replay)
            .dpop_replay_cache(proofs.clone())
            .revocations(revocations.clone())
            .realm(bearer::REALM)
            .throttle(
                config.throttle.max_failures,
                Duration::from_secs(config.throttle.window_seconds),
            )
            .trusted_proxies(config.trusted_proxies.clone())
            .body_limit(
                config.limits.body_bytes,
                Duration::from_secs(config.limits.body_timeout_seconds),
            )
            .events(events);
        let endpoint = match &config.dpop_nonces {
            Some(nonces) => endpoint.dpop_nonces(nonces.clone()),
            None => endpoint,
        }
        .build()?;
        Ok(Self {
            validator: bearer::validator(
                &config.jwt,
                &config.trusted_issuers,
                clients.clone(),
                public_url,
                proofs,
                config.dpop_nonces.clone(),
                revocations,
            )
            .await?,
            endpoint,
            clients,
        })
    }
}
