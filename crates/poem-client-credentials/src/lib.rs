//! An OAuth 2.0 client-credentials authorization server built into a [poem] API.
//!
//! | module | holds |
//! |---|---|
//! | [`clients`] | the registered clients: plaintext or Argon2id secrets, two per client during a rotation, `enabled`, checked in constant time (RFC 6749 §2.3.1) |
//! | [`hashing`] | the Argon2 threads: fair between sources, bounded waiting |
//! | [`throttle`] | the brute-force brake: failed client authentications per source, and where a request comes from |
//!
//! Tokens are RFC 9068 JWTs in the format [`poem_bearer`] validates, signed with its key
//! sets.
//!
//! [poem]: https://docs.rs/poem

#![deny(missing_docs)]

pub mod clients;
pub mod hashing;
pub mod throttle;

pub use clients::{ClientDirectory, ClientRegistry, ClientSecret, ClientSettings};
