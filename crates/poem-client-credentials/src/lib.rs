//! An OAuth 2.0 client-credentials authorization server built into a [poem] /
//! [poem-openapi] API: the token endpoint, its clients, and the keys it signs with.
//!
//! | module | holds |
//! |---|---|
//! | [`assertion`] | `private_key_jwt`: client assertions signed with the client's own key (RFC 7523) |
//! | [`endpoint`] | `POST /auth/token` ([`TokenApi`]) and everything it works with ([`TokenEndpoint`]) |
//! | [`revocation`] | `POST /auth/revoke` ([`RevocationApi`], RFC 7009) and where revocations are kept ([`RevocationStore`]) |
//! | [`introspection`] | `POST /auth/introspect` ([`IntrospectionApi`], RFC 7662) |
//! | [`clients`] | the registered clients: plaintext or Argon2id secrets, two per client during a rotation, `enabled`, checked in constant time (RFC 6749 §2.3.1) |
//! | [`issuer`] | signing RFC 9068 access tokens in the format [`poem_bearer`] validates |
//! | [`discovery`] | RFC 8414 authorization server metadata |
//! | [`settings`] | the issuer's and the clients' settings as a file writes them, checked |
//! | [`keys`] | new signing keys, for a `generate-key` command |
//! | [`hashing`] | the Argon2 threads: fair between sources, bounded waiting |
//! | [`throttle`] | the brute-force brake: failed client authentications per source, and where a request comes from |
//! | [`events`] | what the endpoint reports (tokens issued, clients refused, throttling), and the audit log |
//! | [`error`] | RFC 6749 §5.2 error answers |
//! | [`body`] | bounded body reading |
//!
//! [poem]: https://docs.rs/poem
//! [poem-openapi]: https://docs.rs/poem-openapi

#![deny(missing_docs)]

pub mod assertion;
pub mod body;
pub mod clients;
pub mod discovery;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod hashing;
pub mod introspection;
pub mod issuer;
pub mod keys;
pub mod revocation;
pub mod settings;
pub mod throttle;

pub use clients::{
    AuthMethod, AuthMethods, ClientConfig, ClientDirectory, ClientRegistry, ClientSecret,
    ClientStore, Credentials,
};
pub use endpoint::{TOKEN_PATH, TokenApi, TokenEndpoint, TokenEndpointBuilder};
pub use error::TokenError;
pub use events::{Events, TracingAudit};
pub use introspection::IntrospectionApi;
pub use issuer::{TokenIssuer, TokenOptions};
pub use revocation::{MemoryRevocations, RevocationApi, RevocationStore};
pub use settings::{ClientSettings, IssuerConfig, IssuerSettings};

/// The README's examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
