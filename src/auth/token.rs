//! The access token: an RFC 9068 JWT (`poem_bearer::token`), signed by
//! `poem_client_credentials`' issuer with the current key of the configured key set
//! (HS256 by default, or EdDSA/ES256).
//!
//! RFC 9068 §2.1 asks authorization servers to support RS256; this service signs with
//! HS256 by default because the original design shares one symmetric key between issuer
//! and API (the README explains the trade-off), and offers EdDSA and ES256 for verifiers
//! that must not be able to mint.

pub use poem_bearer::token::{now_seconds, own_header_segment};
