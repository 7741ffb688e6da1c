//! The one error type of the API, and the one place that turns a failure into a response.
//!
//! | variant | status | body |
//! |---|---|---|
//! | [`Error::Bearer`] | 401, 400 or 403 | a `poem_bearer` refusal re-dressed: problem+json with its `error` code (none when no token was sent), and its RFC 6750 challenge |
//! | [`Error::Unavailable`] | 503 | problem+json, `Retry-After` |
//! | everything else | 4xx/5xx | `application/problem+json` (RFC 9457) |
//!
//! The token endpoint's errors are `poem_client_credentials::TokenError`s, already in the
//! RFC 6749 §5.2 format and passed through as they are.
//!
//! Library errors (poem's router, poem-openapi's parameter parsing) are mapped here too by
//! [`into_response`], so no plain-text error ever reaches a client. Descriptions are fixed
//! ASCII strings: nothing a client sent is ever echoed back, and internal details are
//! logged, not returned.

use poem::{
    Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError, ResponseError},
    http::{HeaderValue, StatusCode, header},
};
use poem_bearer::{BearerError, Refusal, Rejection};
use poem_client_credentials::TokenError;
use poem_openapi::{
    Object,
    error::{ContentTypeError, ParseParamError, ParsePathError},
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;
use std::sync::LazyLock;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct FieldError {
    /// A JSON Pointer (RFC 6901) to the field in the request body.
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached or written; the cause is logged where it happens.
    #[error("service unavailable")]
    Unavailable,
    /// A guarded operation refused the request's credentials (`poem_bearer`): no token,
    /// another scheme, several `Authorization` headers, an invalid token or a missing scope.
    #[error("{0}")]
    Bearer(BearerError),
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `limits.body_timeout_seconds`.
    #[error("request body timeout")]
    BodyTimeout,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(&'static str),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Something broke on our side. The cause is logged where it happens; clients see
    /// only the status.
    #[error("internal error")]
    Internal,
}

impl Error {
    /// Logs an unexpected failure (never its request data) and hides it from the client.
    pub fn internal(context: &'static str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Error::Internal
    }
}

/// The JSON body of a response built in memory (every error response is), read at once:
/// the OpenAPI document's error examples are rendered by the same code that answers
/// requests.
pub fn body_json(response: Response) -> Option<serde_json::Value> {
    use std::{
        future::Future,
        pin::pin,
        task::{Context, Poll, Waker},
    };
    // A body built in memory is read whole on the first poll.
    let mut read = pin!(response.into_body().into_bytes());
    match read.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(bytes)) => serde_json::from_slice(&bytes).ok(),
        _ => None,
    }
}

/// An RFC 9457 problem document: the body of every error outside the token endpoint.
#[derive(Debug, Serialize, Object)]
#[oai(rename = "Problem")]
pub struct Problem {
    /// Always `about:blank`: the status code says what happened.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// The status code's reason phrase.
    pub title: String,
    pub status: u16,
    /// A human-readable explanation of this occurrence.
    pub detail: String,
    /// The RFC 6750 error code, on 401 and 403 responses for a rejected token.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One entry per invalid field, on 422 responses.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// A response payload documented as `application/problem+json` with the [`Problem`]
/// schema. Handlers never build one: [`Error`] renders every problem.
pub struct ProblemJson(pub Problem);

impl Payload for ProblemJson {
    const CONTENT_TYPE: &'static str = PROBLEM_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        Problem::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl poem::IntoResponse for ProblemJson {
    fn into_response(self) -> Response {
        problem_response(
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &self.0,
        )
    }
}

impl ResponseError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Bearer(refused) => refused.refusal().status(),
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        let mut response = self.render();
        if response.status() == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body is still on its way: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl Error {
    fn render(&self) -> Response {
        let status = self.status();
        match self {
            Error::Unavailable => {
                let mut response = problem_response(
                    status,
                    &problem(status, "The service cannot reach its database; retry later"),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            Error::Bearer(refused) => {
                let refusal = refused.refusal();
                let mut response = match refusal {
                    // Rejections must not cost more than successes: each of the few fixed
                    // reasons is rendered once and then only copied.
                    Refusal::InvalidToken(reason) => Response::builder()
                        .status(status)
                        .content_type(PROBLEM_CONTENT_TYPE)
                        .body(invalid_token_body(reason)),
                    _ => {
                        let mut body = problem(status, refusal.description());
                        body.error = refusal.error_code().map(str::to_owned);
                        problem_response(status, &body)
                    }
                };
                let headers = response.headers_mut();
                for challenge in refused.challenges() {
                    headers.append(header::WWW_AUTHENTICATE, challenge.clone());
                }
                if refusal == Refusal::ProofUnavailable {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                response
            }
            Error::MethodNotAllowed { allow } => {
                let mut response = problem_response(
                    status,
                    &problem(status, "This method is not supported on this resource"),
                );
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
            Error::Validation(errors) => {
                let mut body = problem(status, "The request body is not a valid player");
                body.errors = Some(errors.clone());
                problem_response(status, &body)
            }
            Error::BadRequest(detail)
            | Error::NotFound(detail)
            | Error::Conflict(detail)
            | Error::UnsupportedMediaType(detail) => {
                problem_response(status, &problem(status, detail))
            }
            Error::PayloadTooLarge => {
                problem_response(status, &problem(status, "The request body is too large"))
            }
            Error::BodyTimeout => problem_response(
                status,
                &problem(status, "The request body did not arrive in time"),
            ),
            Error::Internal => problem_response(
                status,
                &problem(status, "The server could not complete the request"),
            ),
        }
    }
}

/// The problem body of a 401 `invalid_token` for `reason`, from a table rendered once:
/// no lock, no hashing and no allocation per refusal.
fn invalid_token_body(reason: Rejection) -> bytes::Bytes {
    fn render(reason: Rejection) -> bytes::Bytes {
        let status = StatusCode::UNAUTHORIZED;
        let mut body = problem(status, reason.description());
        body.error = Some("invalid_token".to_owned());
        bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec()))
    }
    static RENDERED: LazyLock<Vec<(Rejection, bytes::Bytes)>> = LazyLock::new(|| {
        Rejection::ALL
            .into_iter()
            .map(|reason| (reason, render(reason)))
            .collect()
    });
    RENDERED
        .iter()
        .find(|(rendered, _)| *rendered == reason)
        .map(|(_, body)| body.clone())
        .unwrap_or_else(|| render(reason))
}

fn problem(status: StatusCode, detail: &str) -> Problem {
    Problem {
        kind: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        error: None,
        errors: None,
    }
}

fn problem_response(status: StatusCode, body: &Problem) -> Response {
    json_response(status, PROBLEM_CONTENT_TYPE, body)
}

fn json_response(
    status: StatusCode,
    content_type: &'static str,
    body: &impl Serialize,
) -> Response {
    // Serialising these plain structs cannot fail; fall back to an empty object if it ever did.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .content_type(content_type)
        .body(bytes)
}

/// Turns any error that reached the top of the app into its response. Errors of our own
/// type render themselves; errors raised by poem or poem-openapi before a handler ran are
/// mapped to the matching [`Error`] so they share its format.
pub fn into_response(err: poem::Error, allow: impl FnOnce() -> Option<String>) -> Response {
    if err.is::<Error>() || err.is::<TokenError>() {
        return err.into_response();
    }
    // A guard's refusal, re-dressed in this API's problem format.
    if let Some(refused) = err.downcast_ref::<BearerError>() {
        return Error::Bearer(refused.clone()).as_response();
    }
    let mapped = if err.is::<NotFoundError>() {
        Error::NotFound("No resource exists at this path")
    } else if err.is::<MethodNotAllowedError>() {
        match allow() {
            Some(allow) => Error::MethodNotAllowed { allow },
            None => Error::NotFound("No resource exists at this path"),
        }
    } else if err.is::<ParseParamError>() || err.is::<ParsePathError>() {
        Error::BadRequest("A path or query parameter is not of the expected form")
    } else if err.is::<ContentTypeError>() {
        Error::UnsupportedMediaType("The request body must be application/json")
    } else if let Some(read) = err.downcast_ref::<ReadBodyError>() {
        match read {
            ReadBodyError::PayloadTooLarge => Error::PayloadTooLarge,
            _ => Error::BadRequest("The request body could not be read"),
        }
    } else if err.status().is_server_error() {
        Error::internal("unhandled error", &err)
    } else {
        // Some other client error from the framework: keep its status, describe it generically.
        let status = err.status();
        return problem_response(
            status,
            &problem(status, "The request could not be processed"),
        );
    };
    mapped.as_response()
}

/// Handlers return `Result<_, Error>`; each operation's response enum documents the error
/// statuses it can produce, so `Error` itself adds nothing to the spec.
impl poem_openapi::ApiResponse for Error {
    fn meta() -> poem_openapi::registry::MetaResponses {
        poem_openapi::registry::MetaResponses {
            responses: Vec::new(),
        }
    }

    fn register(_registry: &mut Registry) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_rejection_renders_its_own_description() {
        for reason in Rejection::ALL {
            let refused = BearerError::new(Refusal::InvalidToken(reason), "players");
            let response = Error::Bearer(refused).as_response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let challenge = response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap();
            assert_eq!(
                challenge,
                format!(
                    "Bearer realm=\"players\", error=\"invalid_token\", error_description=\"{}\"",
                    reason.description()
                )
            );
            let body: serde_json::Value =
                serde_json::from_slice(&invalid_token_body(reason)).unwrap();
            assert_eq!(
                body,
                serde_json::json!({
                    "type": "about:blank", "title": "Unauthorized", "status": 401,
                    "detail": reason.description(), "error": "invalid_token"
                })
            );
        }
    }
}
