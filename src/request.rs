//! Reading request bodies: shared by the token endpoint and the players API so both
//! bound what they read the same way, whatever the framing (chunked included).

use bytes::Bytes;
use poem::{Request, RequestBody, error::ReadBodyError};

/// The largest request body read, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the whole body, stopping at [`MAX_BODY_BYTES`].
pub async fn read_body(body: &mut RequestBody) -> Result<Bytes, BodyError> {
    let body = body.take().map_err(|_| BodyError::Unreadable)?;
    body.into_bytes_limit(MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            ReadBodyError::PayloadTooLarge => BodyError::TooLarge,
            _ => BodyError::Unreadable,
        })
}

/// The media type of the request without parameters, lower-cased (`application/json`
/// for `Application/JSON; charset=utf-8`).
pub fn media_type(request: &Request) -> Option<String> {
    let mime: mime::Mime = request.content_type()?.parse().ok()?;
    Some(mime.essence_str().to_ascii_lowercase())
}

/// `application/json` or any `application/*+json` type.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}
