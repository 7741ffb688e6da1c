//! Why a protected request was refused, and the RFC 6750 §3 answer that says so.
//!
//! A guard fails with a [`BearerError`]: a [`Refusal`] plus its ready-made
//! `WWW-Authenticate` challenge. By default it answers with the challenge and a small
//! JSON body, `{"error","error_description"}`. An API with its own error format catches
//! it where it maps errors (`poem::Error::downcast_ref::<BearerError>()`) and re-dresses
//! the body, keeping [`BearerError::status`] and [`BearerError::challenge`].

use std::sync::Arc;

use poem::{
    Response,
    error::ResponseError,
    http::{HeaderValue, StatusCode, header},
};

/// Why an access token was refused. Each reason has one fixed description, safe to send:
/// nothing in it comes from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a JWS in compact form, or its parts do not decode.
    Malformed,
    /// The signature does not verify with the key the token names.
    BadSignature,
    /// `exp` has passed, leeway included.
    Expired,
    /// `nbf` is in the future, leeway included.
    NotYetValid,
    /// `iss` is neither this server nor a trusted issuer.
    WrongIssuer,
    /// `aud` does not name this API.
    WrongAudience,
    /// The header's `alg` is not the algorithm of the key its `kid` names.
    WrongAlgorithm,
    /// A claim the token format requires is absent.
    MissingClaim,
    /// The `kid` names none of this server's keys.
    UnknownKey,
    /// The `typ` header is not `at+jwt` (RFC 9068 §2.1), or not an accepted one.
    NotAnAccessToken,
    /// The header embeds or points at a key (`jwk`, `jku`, `x5u`, `x5c`; RFC 8725 §3.10).
    ForeignKey,
    /// The header has `crit` parameters (RFC 7515 §4.1.11), which this crate does not implement.
    CriticalHeader,
    /// The token's client is disabled or removed (the app's client check said so).
    ClientDisabled,
    /// The `kid` names none of the trusted issuer's keys, even after a refresh.
    UnknownIssuerKey,
    /// The trusted issuer's keys could not be fetched (never, or not for 24 hours).
    IssuerUnavailable,
}

impl Rejection {
    /// Every reason, in declaration order.
    pub const ALL: [Rejection; 15] = [
        Rejection::Malformed,
        Rejection::BadSignature,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::WrongIssuer,
        Rejection::WrongAudience,
        Rejection::WrongAlgorithm,
        Rejection::MissingClaim,
        Rejection::UnknownKey,
        Rejection::NotAnAccessToken,
        Rejection::ForeignKey,
        Rejection::CriticalHeader,
        Rejection::ClientDisabled,
        Rejection::UnknownIssuerKey,
        Rejection::IssuerUnavailable,
    ];

    /// The fixed description sent as `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            Rejection::Malformed => "The access token is malformed",
            Rejection::BadSignature => "The access token signature is invalid",
            Rejection::Expired => "The access token expired",
            Rejection::NotYetValid => "The access token is not valid yet",
            Rejection::WrongIssuer => "The access token was issued by another issuer",
            Rejection::WrongAudience => "The access token is meant for another audience",
            Rejection::WrongAlgorithm => "The access token is not signed with its key's algorithm",
            Rejection::MissingClaim => "The access token lacks a required claim",
            Rejection::UnknownKey => "The token's key id is not one of this server's keys",
            Rejection::NotAnAccessToken => "The token is not an access token (typ must be at+jwt)",
            Rejection::ForeignKey => "The token names a key this server does not use",
            Rejection::CriticalHeader => {
                "The token has critical header parameters this server does not understand"
            }
            Rejection::ClientDisabled => "The token's client is disabled",
            Rejection::UnknownIssuerKey => "The token's key id is not one of its issuer's keys",
            Rejection::IssuerUnavailable => "The keys of the token's issuer are not available",
        }
    }
}

/// What was wrong with a protected request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No `Authorization` header: 401 without an error code (RFC 6750 §3.1).
    Missing,
    /// Credentials in another scheme, or a token without its scheme: 401 without an
    /// error code, since there is no Bearer attempt to fault.
    NotBearer,
    /// More than one `Authorization` header: 400 `invalid_request`. Which one counts
    /// would differ between this server and a proxy or log in front of it.
    Ambiguous,
    /// The token was refused: 401 `invalid_token`.
    InvalidToken(Rejection),
    /// A valid token without any of the scopes listed: 403 `insufficient_scope`.
    InsufficientScope(&'static str),
}

impl Refusal {
    /// The HTTP status of the answer.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Missing | Refusal::NotBearer | Refusal::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            Refusal::Ambiguous => StatusCode::BAD_REQUEST,
            Refusal::InsufficientScope(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The RFC 6750 §3.1 error code, absent when the request had no Bearer credentials.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Refusal::Missing | Refusal::NotBearer => None,
            Refusal::Ambiguous => Some("invalid_request"),
            Refusal::InvalidToken(_) => Some("invalid_token"),
            Refusal::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// A fixed, human-readable explanation.
    pub fn description(self) -> &'static str {
        match self {
            Refusal::Missing => "A Bearer access token is required for this operation",
            Refusal::NotBearer => "The Authorization header does not use the Bearer scheme",
            Refusal::Ambiguous => {
                "The request carries more than one Authorization header; send one"
            }
            Refusal::InvalidToken(reason) => reason.description(),
            Refusal::InsufficientScope(_) => "The access token does not allow this operation",
        }
    }
}

/// A refused request: its [`Refusal`] and the `WWW-Authenticate` challenge to send.
#[derive(Debug, Clone)]
pub struct BearerError {
    refusal: Refusal,
    challenge: HeaderValue,
}

impl BearerError {
    /// The refusal with its challenge for `realm` (see [`Challenges`] for the cached
    /// form the guards use).
    pub fn new(refusal: Refusal, realm: &str) -> Self {
        BearerError {
            refusal,
            challenge: render_challenge(realm, refusal),
        }
    }

    /// What was wrong.
    pub fn refusal(&self) -> Refusal {
        self.refusal
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3).
    pub fn challenge(&self) -> &HeaderValue {
        &self.challenge
    }
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.refusal.description())
    }
}

impl std::error::Error for BearerError {}

impl ResponseError for BearerError {
    fn status(&self) -> StatusCode {
        self.refusal.status()
    }

    /// The default answer: the challenge and `{"error","error_description"}` (the error
    /// member left out when there is no error code).
    fn as_response(&self) -> Response {
        let mut body = serde_json::Map::new();
        if let Some(code) = self.refusal.error_code() {
            body.insert("error".into(), code.into());
        }
        body.insert(
            "error_description".into(),
            self.refusal.description().into(),
        );
        let mut response = Response::builder()
            .status(self.refusal.status())
            .content_type("application/json")
            .body(serde_json::Value::Object(body).to_string());
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        response
    }
}

/// The challenges of one realm, rendered once: refusing a token costs a table lookup
/// and a reference-count increment, not a `format!`.
#[derive(Debug, Clone)]
pub struct Challenges {
    realm: Arc<str>,
    missing: HeaderValue,
    ambiguous: HeaderValue,
    invalid: Arc<[HeaderValue]>,
}

impl Challenges {
    /// The challenges for `realm`, which must be printable ASCII without `"` or `\`
    /// (it is sent as a quoted string).
    pub fn new(realm: &str) -> Result<Self, String> {
        check_realm(realm)?;
        Ok(Challenges {
            realm: realm.into(),
            missing: render_challenge(realm, Refusal::Missing),
            ambiguous: render_challenge(realm, Refusal::Ambiguous),
            invalid: Rejection::ALL
                .into_iter()
                .map(|r| render_challenge(realm, Refusal::InvalidToken(r)))
                .collect(),
        })
    }

    /// The realm these challenges name.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The error for `refusal`, with its challenge.
    pub fn error(&self, refusal: Refusal) -> BearerError {
        let challenge = match refusal {
            Refusal::Missing | Refusal::NotBearer => self.missing.clone(),
            Refusal::Ambiguous => self.ambiguous.clone(),
            Refusal::InvalidToken(reason) => {
                let index = Rejection::ALL.iter().position(|r| *r == reason);
                match index.and_then(|i| self.invalid.get(i)) {
                    Some(value) => value.clone(),
                    None => render_challenge(&self.realm, refusal),
                }
            }
            Refusal::InsufficientScope(_) => render_challenge(&self.realm, refusal),
        };
        BearerError { refusal, challenge }
    }
}

/// Whether `realm` can be sent as a challenge's quoted-string `realm` (RFC 9110 §11.2)
/// without escaping: printable ASCII without `"` or `\`, and not empty. Any scheme's
/// challenge (`Bearer`, `Basic`) takes the same rule.
pub fn check_realm(realm: &str) -> Result<(), String> {
    let printable = realm
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if realm.is_empty() || !printable {
        return Err("must be printable ASCII without quotes or backslashes, and not empty".into());
    }
    Ok(())
}

fn render_challenge(realm: &str, refusal: Refusal) -> HeaderValue {
    let mut value = format!("Bearer realm=\"{realm}\"");
    if let Some(code) = refusal.error_code() {
        value.push_str(&format!(", error=\"{code}\""));
    }
    match refusal {
        Refusal::InvalidToken(reason) => {
            value.push_str(&format!(", error_description=\"{}\"", reason.description()));
        }
        Refusal::InsufficientScope(scope) => value.push_str(&format!(", scope=\"{scope}\"")),
        _ => {}
    }
    // Every part is fixed printable ASCII (the realm is checked by `Challenges::new`).
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        let challenges = Challenges::new("api").unwrap();
        let cases = [
            (Refusal::Missing, "Bearer realm=\"api\""),
            (Refusal::NotBearer, "Bearer realm=\"api\""),
            (
                Refusal::Ambiguous,
                "Bearer realm=\"api\", error=\"invalid_request\"",
            ),
            (
                Refusal::InvalidToken(Rejection::Expired),
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token expired\"",
            ),
            (
                Refusal::InsufficientScope("a b"),
                "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"a b\"",
            ),
        ];
        for (refusal, expected) in cases {
            assert_eq!(challenges.error(refusal).challenge(), expected);
            assert_eq!(BearerError::new(refusal, "api").challenge(), expected);
        }
    }

    #[test]
    fn every_rejection_has_its_own_cached_challenge() {
        let challenges = Challenges::new("r").unwrap();
        for reason in Rejection::ALL {
            let error = challenges.error(Refusal::InvalidToken(reason));
            assert!(
                error
                    .challenge()
                    .to_str()
                    .unwrap()
                    .ends_with(&format!("error_description=\"{}\"", reason.description()))
            );
        }
    }

    #[test]
    fn realms_that_would_break_the_quoted_string_are_refused() {
        for bad in ["", "a\"b", "a\\b", "é", "a\nb"] {
            assert!(Challenges::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_body_is_rfc_6749_style_json() {
        let response =
            BearerError::new(Refusal::InvalidToken(Rejection::Expired), "r").as_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let response = BearerError::new(Refusal::Missing, "r").as_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"r\""
        );
    }
}
