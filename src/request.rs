//! Reading request bodies: the players API bounds its bodies exactly as the token
//! endpoint does, with `poem_client_credentials::body`.

pub use poem_client_credentials::body::*;
