//! CORS (the Fetch standard's CORS protocol), so a page on another origin can call the
//! API from a browser.
//!
//! Unlike poem's stock `Cors` middleware, a request from an origin that is not allowed is
//! answered exactly as it would be without CORS (never a 403: same-origin pages such as
//! Swagger UI send `Origin` too), and every answer on a covered route carries
//! `Vary: Origin`, so a shared cache never serves one origin's answer to another.
//! Credentials mode is never allowed (`Access-Control-Allow-Credentials` is not sent):
//! the API takes tokens in `Authorization`, which a page sets itself, not cookies.
//!
//! This module knows nothing of the app's routes: the caller says, per request path,
//! whether CORS covers it and with which methods.

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, Method, StatusCode, header},
};

/// Request headers a page may send (`Access-Control-Allow-Headers`).
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP, X-Requested-With, X-Request-Id";
/// Response headers a page may read beyond the CORS-safelisted ones.
pub const EXPOSE_HEADERS: &str =
    "Location, WWW-Authenticate, Retry-After, DPoP-Nonce, X-Request-Id";
/// How long a browser may cache a preflight's answer, in seconds.
pub const MAX_AGE_SECONDS: u32 = 600;

/// The origins whose pages may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `["*"]`: any origin, answered with `Access-Control-Allow-Origin: *`.
    Any,
    /// Serialised origins (`scheme://host[:port]`, lower case, default port omitted).
    List(Vec<String>),
}

/// Why an `allowed_origins` list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginsError {
    /// The entry at this index is not an origin. The entry itself is not repeated.
    #[error("entry {0} is not an origin (scheme://host[:port], http or https, nothing after)")]
    NotAnOrigin(usize),
    /// `*` was listed beside other entries.
    #[error("\"*\" allows every origin and must be the only entry")]
    WildcardNotAlone,
}

impl AllowedOrigins {
    /// Parses a configured list; `None` when it is empty (CORS off).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Option<Self>, OriginsError> {
        if entries.is_empty() {
            return Ok(None);
        }
        if entries.iter().any(|e| e.as_ref() == "*") {
            return if entries.len() == 1 {
                Ok(Some(AllowedOrigins::Any))
            } else {
                Err(OriginsError::WildcardNotAlone)
            };
        }
        let mut origins = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let origin =
                serialised_origin(entry.as_ref()).ok_or(OriginsError::NotAnOrigin(index))?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Some(AllowedOrigins::List(origins)))
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed:
    /// the listed origin it equals, serialised. Browsers send origins serialised, so for
    /// them this is their own value; nothing a client sent is echoed.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match self {
            AllowedOrigins::Any => Some(HeaderValue::from_static("*")),
            AllowedOrigins::List(origins) => {
                let serialised = serialised_origin(origin.to_str().ok()?)?;
                let listed = origins.iter().find(|o| **o == serialised)?;
                HeaderValue::from_str(listed).ok()
            }
        }
    }
}

/// `value` as a serialised origin (RFC 6454 §6.1), or `None` if it is not an http(s)
/// origin: a URL with a host and nothing after it but an optional `/`.
fn serialised_origin(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        // `Url` reads `https://a.example/.` as path `/` too: nothing may follow the host
        // but slashes.
        && value
            .trim_end_matches('/')
            .rsplit("//")
            .next()
            .is_some_and(|authority| !authority.contains('/'));
    plain.then(|| url.origin().ascii_serialization())
}

/// Answers `request` under the CORS protocol. `methods` is `Some(allow)` when CORS covers
/// the request's route, `allow` being its methods (`GET, HEAD, POST`); for any other
/// route the request goes to `endpoint` untouched.
pub async fn handle<E: Endpoint>(
    origins: &AllowedOrigins,
    methods: Option<String>,
    endpoint: &E,
    request: Request,
) -> Result<Response> {
    let Some(methods) = methods else {
        return endpoint
            .call(request)
            .await
            .map(IntoResponse::into_response);
    };
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|origin| origins.allow(origin));
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&allowed, is_preflight) {
        (Some(_), true) => {
            let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
            let headers = response.headers_mut();
            if let Ok(methods) = HeaderValue::from_str(&methods) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(MAX_AGE_SECONDS),
            );
            response
        }
        (Some(_), false) => {
            let mut response = endpoint.call(request).await?.into_response();
            response.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
            response
        }
        (None, _) => endpoint.call(request).await?.into_response(),
    };
    let headers = response.headers_mut();
    if let Some(allow_origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    }
    let varies_on_origin = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin") || v.trim() == "*");
    if !varies_on_origin {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_compared_serialised() {
        assert_eq!(
            serialised_origin("HTTPS://App.Example.COM:443/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            serialised_origin("http://localhost:8080").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            serialised_origin("http://[::1]:80").as_deref(),
            Some("http://[::1]")
        );
        for not_one in [
            "null",
            "app.example.com",
            "https://a.example/x",
            "https://a.example/.",
            "https://a.example?q",
            "https://a.example#f",
            "https://u@a.example",
            "file:///etc",
            "ftp://a.example",
            "",
        ] {
            assert_eq!(serialised_origin(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn lists_are_checked_and_wildcards_stand_alone() {
        assert_eq!(AllowedOrigins::parse::<&str>(&[]), Ok(None));
        assert_eq!(AllowedOrigins::parse(&["*"]), Ok(Some(AllowedOrigins::Any)));
        assert_eq!(
            AllowedOrigins::parse(&["*", "https://a.example"]),
            Err(OriginsError::WildcardNotAlone)
        );
        assert_eq!(
            AllowedOrigins::parse(&["https://a.example", "nope"]),
            Err(OriginsError::NotAnOrigin(1))
        );
        assert_eq!(
            AllowedOrigins::parse(&["https://A.example/", "https://a.example:443"]),
            Ok(Some(AllowedOrigins::List(vec![
                "https://a.example".to_owned()
            ])))
        );
    }
}
