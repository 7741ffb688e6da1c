//! The tags that group the operations in the spec and in Swagger UI.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTag {
    /// The squad: anyone may read, authorised clients may write.
    Players,
    /// Access tokens for machine clients (OAuth 2.0 client credentials).
    Auth,
    /// Service status.
    Health,
}
