//! Reading request bodies: shared by the token endpoint and the players API so both
//! bound what they read the same way, whatever the framing (chunked included).

use bytes::Bytes;
use poem::{Request, RequestBody, error::ReadBodyError};

/// The largest request body read, in bytes (`limits.body_bytes`), as route data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit(64 * 1024)
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the whole body, stopping at the [`BodyLimit`]: nothing past it is read.
pub async fn read_body(request: &Request, body: &mut RequestBody) -> Result<Bytes, BodyError> {
    let limit = request.data::<BodyLimit>().copied().unwrap_or_default().0;
    if content_length(request).is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let body = body.take().map_err(|_| BodyError::Unreadable)?;
    body.into_bytes_limit(limit).await.map_err(|e| match e {
        ReadBodyError::PayloadTooLarge => BodyError::TooLarge,
        _ => BodyError::Unreadable,
    })
}

/// The declared `Content-Length`, if any and well-formed.
pub fn content_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
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
