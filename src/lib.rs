//! A players API whose writes are protected by OAuth 2.0 client-credentials access tokens.
//!
//! | module | concern |
//! |---|---|
//! | [`config`] | the typed configuration: file, profile, `APP_` overrides, validation |
//! | [`cors`] | CORS for pages on other origins (`cors.allowed_origins`) |
//! | [`auth`] | the token endpoint, the token format, Bearer protection |
//! | [`players`] | the players resource: model, store, routes |
//! | [`replay`] | single-use client assertion `jti`s, shared through PostgreSQL |
//! | [`revocations`] | revoked tokens in the database, followed by every instance |
//! | [`scopes`] | the API's scopes and which write each allows |
//! | [`tags`] | the spec's operation tags |
//! | [`health`] | liveness |
//! | [`error`] | the one error type and its responses |
//! | [`openapi`] | the generated spec, Swagger UI, `Allow` |
//! | [`telemetry`] | request ids, per-request logs, Prometheus metrics |
//! | [`startup`] | [`build`]: configuration in, bound application out |

pub mod auth;
pub mod config;
pub mod cors;
pub mod error;
pub mod health;
pub mod openapi;
pub mod players;
pub mod replay;
pub mod request;
pub mod revocations;
pub mod scopes;
pub mod startup;
pub mod tags;
pub mod telemetry;

pub use config::Config;
pub use startup::{Application, Reloader, StartupError, build};
