//! Bearer JWT access tokens for [poem] and [poem-openapi] resource servers.
//!
//! - [`Validator`] verifies RFC 9068 access tokens: the API's own (local keys: an HS256
//!   secret, EdDSA or ES256 keys, with rotation) and those of [trusted
//!   issuers](TrustedIssuer) such as Keycloak or Auth0, whose keys are fetched from their
//!   discovery document or JWKS, cached and refreshed. The key named by `kid` dictates
//!   the algorithm; `iss`, `aud`, `exp`/`nbf` (60 s leeway), `typ` and `crit` are checked,
//!   and embedded or referenced keys refused (RFC 8725).
//! - [`Bearer<R>`](Bearer) is a poem-openapi guard: an operation taking it needs a valid
//!   token with one of the scopes of the [`Requirement`] `R`, and is documented with the
//!   API's [`Schemes`]. [`openapi::correct_scopes`] fixes the generated document's scope
//!   lists.
//! - With [`ValidatorBuilder::dpop`], DPoP-bound tokens (RFC 9449) are accepted too, each
//!   request with a fresh proof of the token's key ([`dpop`]); proofs' `jti`s go to a
//!   [`replay::ReplayCache`].
//! - Refusals are [`BearerError`]s carrying their RFC 6750 §3 (and RFC 9449 §7.1)
//!   challenges; an app can re-dress their bodies in its own error format.
//!
//! # Quick start
//!
//! ```
//! use std::sync::Arc;
//! use poem_bearer::{Validator, keys::{KeyConfig, KeyMaterial, KeySet}};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let keys = KeySet::new(
//!     &KeyConfig {
//!         key_id: None,
//!         material: KeyMaterial::Hmac("an HS256 secret of at least 32 bytes!".into()),
//!     },
//!     &[],
//! )?;
//! let validator = Validator::builder("my-api")
//!     .local("https://auth.example.com", "my-api", Arc::new(keys))
//!     .build()
//!     .await?;
//! assert!(validator.validate("not.a.token").await.is_err());
//! // Attach it to the routes: `Route::new().nest("/", service).data(validator)`.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! [poem]: https://docs.rs/poem
//! [poem-openapi]: https://docs.rs/poem-openapi

#![deny(missing_docs)]

pub mod dpop;
mod error;
mod guard;
pub mod jws;
pub mod keys;
pub mod openapi;
mod remote;
pub mod replay;
mod settings;
pub mod token;
mod validator;

pub use error::{BearerError, Challenges, Refusal, Rejection, Scheme, check_realm};
pub use guard::{
    BEARER_SCHEME, Bearer, DPOP_SCHEME, OAUTH2_SCHEME, Requirement, Schemes,
    has_several_authorizations, is_b64token, parse_bearer,
};
pub use remote::TrustedIssuer;
pub use settings::{SettingsError, serialize_masked};
pub use token::TOKEN_TYPE;
pub use validator::{
    Claims, ClientCheck, LEEWAY_SECONDS, RefusalHook, RevocationCheck, Validator, ValidatorBuilder,
};

/// The limits and intervals of trusted issuers' key fetching.
pub mod fetching {
    pub use crate::remote::{
        DEFAULT_REFRESH, FETCH_TIMEOUT, MAX_DOCUMENT_BYTES, MAX_KEY_AGE, MIN_RSA_BITS,
        MIN_TRIGGERED_REFRESH, REFRESH_BOUNDS, RETRY_AFTER_FAILURE,
    };
}

/// The README's examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
