//! The typed guard: an operation that takes [`Bearer<R>`] is protected, needs one of the
//! scopes of the requirement `R`, and is documented with the API's security schemes.

use std::{marker::PhantomData, ops::Deref, sync::Arc};

use poem::{
    Request, RequestBody,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, OAuthScopes,
    registry::{MetaOAuthFlow, MetaOAuthFlows, MetaSecurityScheme, Registry},
};

use crate::{
    Claims, Refusal, Rejection, Scheme, Validator,
    dpop::{DPOP, Proof, ProofError, RecordedProof, check_proof, normalize_url},
    replay::ReplayError,
    token::now_seconds,
};

/// The name of the `http bearer` security scheme in the spec.
pub const BEARER_SCHEME: &str = "bearerAuth";
/// The name of the `oauth2` client-credentials security scheme in the spec.
pub const OAUTH2_SCHEME: &str = "oauth2";
/// The name of the `http DPoP` security scheme in the spec (RFC 9449 §7.1).
pub const DPOP_SCHEME: &str = "dpop";

/// How an API documents its protection: the scopes it knows and where tokens come from.
/// Implemented once per API, on a type of the app's own.
pub trait Schemes: Send + Sync + 'static {
    /// The API's scopes (a `#[derive(OAuthScopes)]` enum): the oauth2 scheme lists them.
    type Scope: OAuthScopes + Copy + Send + Sync + 'static;
    /// The token endpoint of the client-credentials flow documented as the `oauth2`
    /// scheme (Swagger UI's Authorize dialog gets tokens there). `None`: only the
    /// `bearerAuth` scheme is documented.
    const TOKEN_URL: Option<&'static str>;
    /// The description of the `bearerAuth` scheme.
    const BEARER_DESCRIPTION: &'static str =
        "An access token, sent as `Authorization: Bearer <token>`.";
    /// The description of the `oauth2` scheme.
    const OAUTH2_DESCRIPTION: &'static str =
        "OAuth 2.0 client-credentials grant (RFC 6749 §4.4): enter the client id and secret.";
    /// The description of the `dpop` scheme (`http`, scheme `DPoP`), documented when the
    /// API accepts DPoP-bound tokens ([`ValidatorBuilder::dpop`](crate::ValidatorBuilder::dpop));
    /// `None`: not documented. OpenAPI 3.0 cannot describe the proof header, so say it here.
    const DPOP_DESCRIPTION: Option<&'static str> = None;
}

/// What an operation needs: any one of [`ANY_OF`](Self::ANY_OF). Implemented on a marker
/// type per kind of operation, which then appears in its signature as `Bearer<Marker>`.
///
/// poem-openapi 5.1 takes a spec's scopes only from the parameter's `#[oai(scope = ...)]`
/// attributes, so they are written there too;
/// [`check_requirement`](crate::openapi::check_requirement) finds any mismatch.
pub trait Requirement: Send + Sync + 'static {
    /// The API's schemes.
    type Schemes: Schemes;
    /// The scopes any one of which allows the operation, narrowest first: the order of
    /// the `scope` attribute of the 403 challenge.
    const ANY_OF: &'static [<Self::Schemes as Schemes>::Scope];

    /// The names of [`ANY_OF`](Self::ANY_OF).
    fn scope_names() -> Vec<&'static str> {
        Self::ANY_OF.iter().map(OAuthScopes::name).collect()
    }
}

/// Proof that the request carried a valid access token with a scope `R` accepts. Taking
/// it as the first argument of an operation protects the operation: it runs before the
/// body is read, so a request with no token and a bad body is answered 401.
///
/// It reads the `Authorization` header once and verifies the token once, whichever
/// scheme the client thinks it used (poem-openapi's derived scheme enums would verify
/// once per scheme). It needs the [`Validator`] attached to the route as data.
pub struct Bearer<R: Requirement> {
    claims: Claims,
    requirement: PhantomData<fn() -> R>,
}

impl<R: Requirement> Bearer<R> {
    /// The token's claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The token's claims, owned.
    pub fn into_claims(self) -> Claims {
        self.claims
    }
}

impl<R: Requirement> Deref for Bearer<R> {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

impl<'a, R: Requirement> ApiExtractor<'a> for Bearer<R> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            BEARER_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(<R::Schemes as Schemes>::BEARER_DESCRIPTION),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("JWT"),
                flows: None,
                openid_connect_url: None,
            },
        );
        if let Some(description) = <R::Schemes as Schemes>::DPOP_DESCRIPTION {
            registry.create_security_scheme(
                DPOP_SCHEME,
                MetaSecurityScheme {
                    ty: "http",
                    description: Some(description),
                    name: None,
                    key_in: None,
                    scheme: Some(DPOP),
                    // OpenAPI 3.0 allows `bearerFormat` only with the `bearer` scheme.
                    bearer_format: None,
                    flows: None,
                    openid_connect_url: None,
                },
            );
        }
        if let Some(token_url) = <R::Schemes as Schemes>::TOKEN_URL {
            registry.create_security_scheme(
                OAUTH2_SCHEME,
                MetaSecurityScheme {
                    ty: "oauth2",
                    description: Some(<R::Schemes as Schemes>::OAUTH2_DESCRIPTION),
                    name: None,
                    key_in: None,
                    scheme: None,
                    bearer_format: None,
                    flows: Some(MetaOAuthFlows {
                        implicit: None,
                        password: None,
                        client_credentials: Some(MetaOAuthFlow {
                            authorization_url: None,
                            token_url: Some(token_url),
                            refresh_url: None,
                            scopes: <<R::Schemes as Schemes>::Scope as OAuthScopes>::meta(),
                        }),
                        authorization_code: None,
                    }),
                    openid_connect_url: None,
                },
            );
        }
    }

    fn security_schemes() -> Vec<&'static str> {
        let mut schemes = vec![BEARER_SCHEME];
        if <R::Schemes as Schemes>::TOKEN_URL.is_some() {
            schemes.push(OAUTH2_SCHEME);
        }
        if <R::Schemes as Schemes>::DPOP_DESCRIPTION.is_some() {
            schemes.push(DPOP_SCHEME);
        }
        schemes
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let Some(validator) = request.data::<Arc<Validator>>() else {
            tracing::error!(
                "poem-bearer: no Validator is attached to this route (`.data(validator)`)"
            );
            return Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR));
        };
        if has_several_authorizations(request) {
            return Err(validator.refuse(Refusal::Ambiguous).into());
        }
        let value = request
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or_else(|| validator.refuse(Refusal::Missing))?;
        // Not UTF-8 cannot be a b64token either: decoded lossily, it is refused below.
        let value = String::from_utf8_lossy(value.as_bytes());
        let (scheme, token) = match parse_bearer(&value) {
            Some(token) => (Scheme::Bearer, token),
            None => match parse_dpop(&value).filter(|_| validator.accepts_dpop()) {
                Some(token) => (Scheme::DPoP, token),
                None => return Err(validator.refuse(Refusal::NotBearer).into()),
            },
        };
        let refuse = |refusal: Refusal| poem::Error::from(validator.refuse_for(refusal, scheme));
        if !is_b64token(token) {
            return Err(refuse(Refusal::InvalidToken(Rejection::Malformed)));
        }
        let claims = validator
            .validate(token)
            .await
            .map_err(|reason| refuse(Refusal::InvalidToken(reason)))?;
        let proof = match (scheme, &claims.bound_to) {
            (Scheme::Bearer, None) => None,
            (Scheme::Bearer, Some(_)) => {
                return Err(refuse(Refusal::InvalidToken(Rejection::Bound)));
            }
            (Scheme::DPoP, None) => return Err(refuse(Refusal::InvalidToken(Rejection::NotBound))),
            (Scheme::DPoP, Some(jkt)) => Some(
                dpop_proof(request, validator, token, jkt)
                    .map_err(|e| refuse(Refusal::InvalidProof(e)))?,
            ),
        };
        // The nonce last: a proof wrong in any other way is told so first.
        if let (Some(proof), Some(nonces)) = (
            &proof,
            validator.dpop_policy().and_then(|p| p.nonces.as_ref()),
        ) {
            let now = now_seconds();
            if !proof
                .nonce
                .as_deref()
                .is_some_and(|n| nonces.accepts(n, now))
            {
                let error = validator.refuse_for(Refusal::UseNonce, scheme);
                return Err(match HeaderValue::from_str(&nonces.current(now)) {
                    Ok(nonce) => error.with_nonce(nonce),
                    Err(_) => error,
                }
                .into());
            }
        }
        if !R::ANY_OF.iter().any(|scope| claims.has_scope(scope.name())) {
            return Err(refuse(Refusal::InsufficientScope(challenge_scopes::<R>())));
        }
        // Last, once everything else holds: a refused request leaves its proof unused.
        if let (Some(proof), Some(policy)) = (proof, validator.dpop_policy()) {
            match policy
                .replay
                .record(&proof.jkt, &proof.jti, proof.replay_until)
                .await
            {
                Ok(()) => {
                    if let Some(slot) = request.extensions().get::<RecordedProof>() {
                        slot.note(policy.replay.clone(), &proof.jkt, &proof.jti);
                    }
                }
                Err(ReplayError::Replayed) => {
                    return Err(refuse(Refusal::InvalidProof(ProofError::Replayed)));
                }
                Err(ReplayError::Full | ReplayError::Unavailable) => {
                    return Err(refuse(Refusal::ProofUnavailable));
                }
            }
        }
        Ok(Bearer {
            claims,
            requirement: PhantomData,
        })
    }
}

/// The `scope` attribute of `R`'s 403 challenge: its scope names, space-separated,
/// rendered once per requirement type and kept (a few bytes per type, for the life of
/// the process).
fn challenge_scopes<R: Requirement>() -> &'static str {
    use std::{any::TypeId, collections::HashMap, sync::Mutex, sync::OnceLock};
    static RENDERED: OnceLock<Mutex<HashMap<TypeId, &'static str>>> = OnceLock::new();
    let joined = || R::scope_names().join(" ");
    let Ok(mut rendered) = RENDERED.get_or_init(Default::default).lock() else {
        return "";
    };
    rendered
        .entry(TypeId::of::<R>())
        .or_insert_with(|| Box::leak(joined().into_boxed_str()))
}

/// The request's one DPoP proof, checked against its method, its URL (the validator's
/// public URL and the request's path), `token` and the key `jkt` the token is bound to.
fn dpop_proof(
    request: &Request,
    validator: &Validator,
    token: &str,
    jkt: &str,
) -> Result<Proof, ProofError> {
    let policy = validator.dpop_policy().ok_or(ProofError::Missing)?;
    let mut proofs = request.headers().get_all(DPOP).iter();
    let proof = proofs.next().ok_or(ProofError::Missing)?;
    if proofs.next().is_some() {
        return Err(ProofError::Several);
    }
    let proof = proof.to_str().map_err(|_| ProofError::Malformed)?;
    let url = normalize_url(&format!("{}{}", policy.public_url, request.uri().path()))
        .ok_or(ProofError::WrongUrl)?;
    let checked = check_proof(
        proof,
        request.method().as_str(),
        &url,
        Some(token),
        now_seconds(),
    )?;
    if checked.jkt != jkt {
        return Err(ProofError::WrongKey);
    }
    Ok(checked)
}

/// The token of an `Authorization` value in the DPoP scheme (case-insensitive), or
/// `None` for another scheme.
pub fn parse_dpop(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case(DPOP)
        .then(|| token.trim_matches(' '))
}

/// Whether the request carries more than one `Authorization` field. Which of them counts
/// would differ between this server and a proxy or a log in front of it, so a request
/// with several is refused wherever credentials are read.
pub fn has_several_authorizations(request: &Request) -> bool {
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    values.next().is_some() && values.next().is_some()
}

/// The token of an `Authorization` value in the Bearer scheme (case-insensitive, RFC 9110
/// §11.1), or `None` for another scheme or none. `Bearer` alone (trailing spaces are
/// trimmed by the HTTP stack) is a Bearer attempt with an empty token, which is invalid
/// rather than absent.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
}

/// Whether `token` is a `b64token` (RFC 6750 §2.1), the only form a Bearer credential
/// takes: `Bearer Bearer <token>` or a token with a stray quote or space is malformed,
/// and is refused as such before any signature is computed.
pub fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_others_are_not_bearer() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("bEaReR  abc "), Some("abc"));
        assert_eq!(parse_bearer("Bearer"), Some(""));
        assert_eq!(parse_bearer("Basic abc"), None);
        assert_eq!(parse_bearer("Bearerabc"), None);
    }

    #[test]
    fn b64token_syntax() {
        assert!(is_b64token("eyJ.a-b_c.~+/=="));
        assert!(is_b64token("abc="));
        for bad in [
            "",
            "=",
            "a=b",
            "Bearer abc",
            "a b",
            "\"abc\"",
            "abc,",
            "a%b",
            "é",
        ] {
            assert!(!is_b64token(bad), "{bad}");
        }
    }
}
