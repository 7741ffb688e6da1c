//! Reading request bodies within a size and a time limit, whatever the framing (chunked
//! included), and the JSON and media-type checks the token endpoint makes. Public so an
//! API can bound its own bodies the same way.

use std::time::Duration;

use bytes::Bytes;
use poem::{Request, RequestBody, error::ReadBodyError};

/// How much of a request body is read, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    /// The most bytes read; a larger body is refused (413).
    pub bytes: usize,
    /// How long the whole body may take to arrive (408 after that).
    pub timeout: Duration,
}

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit {
            bytes: 64 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit (declared or read).
    TooLarge,
    /// Not all of it arrived within the timeout: a body trickled a byte at a time would
    /// otherwise hold its connection forever (the idle timeout sees traffic).
    TimedOut,
    /// The connection failed or the body was taken already.
    Unreadable,
}

/// Reads the whole body, stopping at `limit`: nothing past its size is read, and reading
/// stops when its time is up.
pub async fn read_body(
    request: &Request,
    body: &mut RequestBody,
    limit: BodyLimit,
) -> Result<Bytes, BodyError> {
    if content_length(request).is_some_and(|length| length > limit.bytes as u64) {
        return Err(BodyError::TooLarge);
    }
    let body = body.take().map_err(|_| BodyError::Unreadable)?;
    match tokio::time::timeout(limit.timeout, body.into_bytes_limit(limit.bytes)).await {
        Ok(read) => read.map_err(|e| match e {
            ReadBodyError::PayloadTooLarge => BodyError::TooLarge,
            _ => BodyError::Unreadable,
        }),
        Err(_) => Err(BodyError::TimedOut),
    }
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

/// The members of a JSON object, in document order, repeated names kept. serde_json's own
/// `Map` keeps only the last of a repeated name, so a body that says two things about one
/// field could be read one way here and another way by a proxy or a log; callers refuse
/// repeats they care about. `None` when the body is not a JSON object.
pub fn json_object_members(body: &[u8]) -> Option<Vec<(String, serde_json::Value)>> {
    serde_json::from_slice::<Members>(body).ok().map(|m| m.0)
}

struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The first name that appears more than once among `members`, if any.
pub fn repeated_name(members: &[(String, serde_json::Value)]) -> Option<&str> {
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    members
        .iter()
        .find_map(|(name, _)| (!seen.insert(name.as_str())).then_some(name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_repeats_in_order() {
        let members = json_object_members(br#"{"a":1,"b":{"c":2},"a":3}"#).unwrap();
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "a"]);
        assert_eq!(repeated_name(&members), Some("a"));
        assert_eq!(repeated_name(&members[..2]), None);
        assert!(json_object_members(b"[1]").is_none());
        assert!(json_object_members(b"{\"a\":").is_none());
        assert!(json_object_members(b"{} trailing").is_none());
    }
}
