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
    /// A DPoP-bound token (`cnf.jkt`) sent with the Bearer scheme.
    Bound,
    /// A token that is not DPoP-bound sent with the DPoP scheme.
    NotBound,
    /// The token was revoked (RFC 7009): the app's revocation check said so.
    Revoked,
}

impl Rejection {
    /// Every reason, in declaration order.
    pub const ALL: [Rejection; 18] = [
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
        Rejection::Bound,
        Rejection::NotBound,
        Rejection::Revoked,
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
            Rejection::Bound => {
                "The access token is bound to a DPoP key: send it as DPoP, with a proof"
            }
            Rejection::NotBound => "The access token is not DPoP-bound: send it as Bearer",
            Rejection::Revoked => "The access token was revoked",
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
    /// A DPoP-bound token with a missing or bad proof: 401 `invalid_dpop_proof`
    /// (RFC 9449 §7.1).
    InvalidProof(crate::dpop::ProofError),
    /// The proof's `jti` could not be recorded (the replay cache is full or its store is
    /// down): 503, to retry after a second. Never accepted unrecorded.
    ProofUnavailable,
    /// A good proof without the server's current nonce: 401 `use_dpop_nonce`, with a
    /// `DPoP-Nonce` header to retry with (RFC 9449 §9).
    UseNonce,
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
            Refusal::InvalidProof(_) | Refusal::UseNonce => StatusCode::UNAUTHORIZED,
            Refusal::ProofUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 §3.1 error code, absent when the request had no Bearer credentials.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Refusal::Missing | Refusal::NotBearer | Refusal::ProofUnavailable => None,
            Refusal::Ambiguous => Some("invalid_request"),
            Refusal::InvalidToken(_) => Some("invalid_token"),
            Refusal::InsufficientScope(_) => Some("insufficient_scope"),
            Refusal::InvalidProof(_) => Some("invalid_dpop_proof"),
            Refusal::UseNonce => Some("use_dpop_nonce"),
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
            Refusal::InvalidProof(reason) => reason.description(),
            Refusal::ProofUnavailable => {
                "DPoP proofs cannot be checked for replay right now; retry shortly"
            }
            Refusal::UseNonce => "The DPoP proof must carry the nonce in the DPoP-Nonce header",
        }
    }
}

/// The scheme a request presented its token with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750), or no token at all.
    Bearer,
    /// `Authorization: DPoP` with a proof (RFC 9449).
    DPoP,
}

/// A refused request: its [`Refusal`] and the `WWW-Authenticate` challenges to send: the
/// Bearer one, and the DPoP one when the validator accepts DPoP, the challenge of the
/// scheme the request used first and alone carrying the error.
#[derive(Debug, Clone)]
pub struct BearerError {
    refusal: Refusal,
    challenge: HeaderValue,
    second: Option<HeaderValue>,
    nonce: Option<HeaderValue>,
}

impl BearerError {
    /// The refusal with its Bearer challenge for `realm` (see [`Challenges`] for the
    /// cached form the guards use, with DPoP).
    pub fn new(refusal: Refusal, realm: &str) -> Self {
        BearerError {
            refusal,
            challenge: render_challenge(realm, refusal),
            second: None,
            nonce: None,
        }
    }

    /// The same error with a `DPoP-Nonce` header (RFC 9449 §9).
    pub fn with_nonce(self, nonce: HeaderValue) -> Self {
        BearerError {
            nonce: Some(nonce),
            ..self
        }
    }

    /// The `DPoP-Nonce` value to send, if any.
    pub fn nonce(&self) -> Option<&HeaderValue> {
        self.nonce.as_ref()
    }

    /// What was wrong.
    pub fn refusal(&self) -> Refusal {
        self.refusal
    }

    /// The first `WWW-Authenticate` value: the challenge of the scheme the request used
    /// (RFC 6750 §3, RFC 9449 §7.1).
    pub fn challenge(&self) -> &HeaderValue {
        &self.challenge
    }

    /// Every `WWW-Authenticate` value, in order: one field each.
    pub fn challenges(&self) -> impl Iterator<Item = &HeaderValue> {
        std::iter::once(&self.challenge).chain(self.second.as_ref())
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
        let headers = response.headers_mut();
        for challenge in self.challenges() {
            headers.append(header::WWW_AUTHENTICATE, challenge.clone());
        }
        if self.refusal == Refusal::ProofUnavailable {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(nonce) = &self.nonce {
            headers.insert(crate::dpop::NONCE_HEADER, nonce.clone());
        }
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
    /// The DPoP challenge without an error, when DPoP is accepted.
    dpop: Option<HeaderValue>,
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
            dpop: None,
        })
    }

    /// The same challenges, each answer also offering the DPoP scheme (RFC 9449 §7.1).
    pub fn with_dpop(mut self) -> Self {
        self.dpop = Some(render_dpop_challenge(&self.realm, None));
        self
    }

    /// Whether the answers offer DPoP.
    pub fn offers_dpop(&self) -> bool {
        self.dpop.is_some()
    }

    /// The error for `refusal` of a request that used `scheme`: its challenge first, with
    /// the error; the other scheme's (when DPoP is offered) second, without.
    pub fn error_for(&self, refusal: Refusal, scheme: Scheme) -> BearerError {
        match (scheme, &self.dpop) {
            (Scheme::DPoP, Some(_)) => BearerError {
                refusal,
                challenge: render_dpop_challenge(&self.realm, Some(refusal)),
                second: Some(self.missing.clone()),
                nonce: None,
            },
            (_, dpop) => BearerError {
                second: dpop.clone(),
                ..self.error(refusal)
            },
        }
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
            _ => render_challenge(&self.realm, refusal),
        };
        BearerError {
            refusal,
            challenge,
            second: None,
            nonce: None,
        }
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
    push_error(&mut value, refusal);
    // Every part is fixed printable ASCII (the realm is checked by `Challenges::new`).
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// `DPoP realm="..", algs=".."`, with `refusal`'s error when the request used DPoP.
fn render_dpop_challenge(realm: &str, refusal: Option<Refusal>) -> HeaderValue {
    let mut value = format!(
        "DPoP realm=\"{realm}\", algs=\"{}\"",
        crate::dpop::ALGORITHM_NAMES
    );
    if let Some(refusal) = refusal {
        push_error(&mut value, refusal);
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("DPoP"))
}

fn push_error(value: &mut String, refusal: Refusal) {
    if let Some(code) = refusal.error_code() {
        value.push_str(&format!(", error=\"{code}\""));
    }
    match refusal {
        Refusal::InvalidToken(_) | Refusal::InvalidProof(_) | Refusal::UseNonce => {
            value.push_str(&format!(
                ", error_description=\"{}\"",
                refusal.description()
            ));
        }
        Refusal::InsufficientScope(scope) => value.push_str(&format!(", scope=\"{scope}\"")),
        _ => {}
    }
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
    fn with_dpop_the_used_schemes_challenge_comes_first_and_alone_has_the_error() {
        let challenges = Challenges::new("api").unwrap().with_dpop();
        let dpop = "DPoP realm=\"api\", algs=\"EdDSA ES256 ES384 RS256 PS256\"";
        let shown = |error: BearerError| {
            error
                .challenges()
                .map(|c| c.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shown(challenges.error_for(Refusal::Missing, Scheme::Bearer)),
            ["Bearer realm=\"api\"", dpop]
        );
        assert_eq!(
            shown(challenges.error_for(Refusal::InvalidToken(Rejection::Expired), Scheme::Bearer)),
            [
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token expired\"",
                dpop
            ]
        );
        let proof = Refusal::InvalidProof(crate::dpop::ProofError::Replayed);
        assert_eq!(
            shown(challenges.error_for(proof, Scheme::DPoP)),
            [
                format!(
                    "{dpop}, error=\"invalid_dpop_proof\", error_description=\"The DPoP proof was used before\""
                ),
                "Bearer realm=\"api\"".to_owned()
            ]
        );
        assert_eq!(
            shown(challenges.error_for(Refusal::InsufficientScope("a"), Scheme::DPoP)),
            [
                format!("{dpop}, error=\"insufficient_scope\", scope=\"a\""),
                "Bearer realm=\"api\"".to_owned()
            ]
        );
        // Without DPoP, one challenge, as before.
        let plain = Challenges::new("api").unwrap();
        assert_eq!(
            shown(plain.error_for(Refusal::Missing, Scheme::DPoP)).len(),
            1
        );
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
