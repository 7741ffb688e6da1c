//! The token endpoint's refusals, rendered as RFC 6749 §5.2 says: a JSON body
//! `{"error","error_description"}`, `Cache-Control: no-store` and `Pragma: no-cache`, and
//! for `invalid_client` a `WWW-Authenticate: Basic` challenge.
//!
//! An API with another error format can catch a [`TokenError`] where it maps errors
//! (`poem::Error::downcast_ref::<TokenError>()`) and re-dress it.

use poem::{
    Response,
    error::ResponseError,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::Object;
use serde::Serialize;

/// An OAuth 2.0 error code (RFC 6749 §5.2), plus the two this endpoint adds for 429 and
/// 503 (`too_many_requests`, and `temporarily_unavailable` from RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthCode {
    /// A missing, repeated or malformed parameter, and the like.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// A grant type other than `client_credentials`.
    UnsupportedGrantType,
    /// A scope the client may not have.
    InvalidScope,
    /// The source failed client authentication too often (429).
    TooManyRequests,
    /// The secret could not be checked in time (503).
    TemporarilyUnavailable,
    /// Something broke on the server's side (500).
    ServerError,
    /// A missing or bad DPoP proof (RFC 9449 §5).
    InvalidDpopProof,
    /// A good DPoP proof without the server's current nonce (RFC 9449 §8).
    UseDpopNonce,
    /// A `resource` the client may not name, not an absolute URI, or more than one
    /// (RFC 8707 §2).
    InvalidTarget,
    /// The client may not do this with the token: it was issued to another client
    /// (RFC 7009 §2.1).
    UnauthorizedClient,
}

impl OAuthCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::TooManyRequests => "too_many_requests",
            OAuthCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthCode::ServerError => "server_error",
            OAuthCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthCode::UseDpopNonce => "use_dpop_nonce",
            OAuthCode::InvalidTarget => "invalid_target",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
        }
    }
}

/// The body of every error from the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Serialize, Object)]
#[oai(rename = "OAuthError")]
pub struct OAuthErrorBody {
    /// The error code: `invalid_request`, `invalid_client`, `unsupported_grant_type`,
    /// `invalid_scope`, `invalid_target`, `unauthorized_client`, `invalid_dpop_proof`,
    /// `use_dpop_nonce`,
    /// `too_many_requests` (429),
    /// `temporarily_unavailable` (503) or `server_error` (500).
    pub error: String,
    /// A short, fixed explanation.
    pub error_description: String,
}

/// A refusal of the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenError {
    code: OAuthCode,
    description: &'static str,
    status: StatusCode,
    /// `WWW-Authenticate` (only `invalid_client`).
    challenge: Option<HeaderValue>,
    /// `Retry-After`, in seconds (429 and 503).
    retry_after: Option<u64>,
    /// `DPoP-Nonce` (`use_dpop_nonce`).
    nonce: Option<HeaderValue>,
}

impl TokenError {
    /// 400 with `code` (401 for `invalid_client`, without a challenge: see
    /// [`TokenError::invalid_client`]).
    pub fn new(code: OAuthCode, description: &'static str) -> Self {
        let status = match code {
            OAuthCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            OAuthCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        TokenError {
            code,
            description,
            status,
            challenge: None,
            retry_after: None,
            nonce: None,
        }
    }

    /// 400 `use_dpop_nonce` with the nonce to retry with (RFC 9449 §8).
    pub fn use_dpop_nonce(nonce: HeaderValue) -> Self {
        TokenError {
            nonce: Some(nonce),
            ..Self::new(
                OAuthCode::UseDpopNonce,
                "The DPoP proof must carry the nonce in the DPoP-Nonce header",
            )
        }
    }

    /// The `DPoP-Nonce` value, if any.
    pub fn nonce(&self) -> Option<&HeaderValue> {
        self.nonce.as_ref()
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(OAuthCode::InvalidRequest, description)
    }

    /// 401 `invalid_client` with `challenge` (`Basic realm="..."`), or without one for a
    /// browser's script: a browser answers a `Basic` challenge on a script's request
    /// with its own login dialog (or, headless, holds the request) instead of letting
    /// the page see the error. RFC 6749 §5.2 and RFC 9110 §15.5.2 want it on every other.
    pub fn invalid_client(challenge: Option<HeaderValue>) -> Self {
        TokenError {
            challenge,
            ..Self::new(OAuthCode::InvalidClient, "Client authentication failed")
        }
    }

    /// 429 `too_many_requests` with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        TokenError {
            retry_after: Some(retry_after),
            ..Self::new(
                OAuthCode::TooManyRequests,
                "Too many failed client authentications from this address; retry later",
            )
        }
    }

    /// 503 `temporarily_unavailable` with `Retry-After: 1`: Argon2 could not start in time.
    pub fn busy() -> Self {
        TokenError {
            retry_after: Some(1),
            ..Self::new(
                OAuthCode::TemporarilyUnavailable,
                "Too many client authentications are waiting to be checked; retry shortly",
            )
        }
    }

    /// 429 `too_many_requests`: the client holds as many live revocations as it may.
    pub fn too_many_revocations(retry_after: u64) -> Self {
        TokenError {
            retry_after: Some(retry_after),
            ..Self::new(
                OAuthCode::TooManyRequests,
                "This client holds as many live revocations as it may; retry when the oldest lapses",
            )
        }
    }

    /// 503 `temporarily_unavailable` with `Retry-After: 5`: a revocation could not be
    /// committed.
    pub fn revocation_unavailable() -> Self {
        TokenError {
            retry_after: Some(5),
            ..Self::new(
                OAuthCode::TemporarilyUnavailable,
                "The revocation could not be recorded; retry shortly",
            )
        }
    }

    /// 503 `temporarily_unavailable` with `Retry-After: 1`.
    pub fn unavailable(description: &'static str) -> Self {
        TokenError {
            retry_after: Some(1),
            ..Self::new(OAuthCode::TemporarilyUnavailable, description)
        }
    }

    /// The same error with another description.
    pub fn described(self, description: &'static str) -> Self {
        TokenError {
            description,
            ..self
        }
    }

    /// 413 `invalid_request`.
    pub fn body_too_large() -> Self {
        TokenError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..Self::invalid_request("The request body is too large")
        }
    }

    /// 408 `invalid_request` (with `Connection: close`: the rest of the body is still on
    /// its way).
    pub fn body_timeout() -> Self {
        TokenError {
            status: StatusCode::REQUEST_TIMEOUT,
            ..Self::invalid_request("The request body did not arrive in time")
        }
    }

    /// 500: signing failed. The cause is logged where it happens.
    pub(crate) fn internal() -> Self {
        Self::new(OAuthCode::ServerError, "The server could not issue a token")
    }

    /// The error code.
    pub fn code(&self) -> OAuthCode {
        self.code
    }

    /// The fixed description.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The `WWW-Authenticate` value, if any.
    pub fn challenge(&self) -> Option<&HeaderValue> {
        self.challenge.as_ref()
    }

    /// The `Retry-After` value, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for TokenError {}

impl ResponseError for TokenError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = OAuthErrorBody {
            error: self.code.as_str().to_owned(),
            error_description: self.description.to_owned(),
        };
        // Serialising two strings cannot fail; fall back to an empty object if it did.
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::builder()
            .status(self.status)
            .content_type("application/json")
            .body(bytes);
        no_store(&mut response);
        let headers = response.headers_mut();
        if let Some(challenge) = &self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, challenge.clone());
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(nonce) = &self.nonce {
            headers.insert(poem_bearer::dpop::NONCE_HEADER, nonce.clone());
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// RFC 6749 §5.1: responses carrying or refusing tokens must not be cached.
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
