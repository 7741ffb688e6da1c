//! Bearer protection (RFC 6750) and access-token validation (RFC 8725, RFC 9068 §4).
//!
//! [`BearerAuth`] is a poem-openapi extractor: an operation that takes it is protected and
//! documented with both security schemes (`bearerAuth` for a pasted token, `oauth2` for
//! Swagger UI's client-credentials dialog). It reads the `Authorization` header once and
//! verifies the token once, whichever scheme the client thinks it used; poem-openapi's
//! derived scheme enums would try (and verify) once per scheme.

use std::{marker::PhantomData, sync::Arc};

use jsonwebtoken::{Validation, errors::ErrorKind};
use poem::{Request, RequestBody, http::header};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, OAuthScopes,
    registry::{MetaOAuthFlow, MetaOAuthFlows, MetaSecurityScheme, Registry},
};
use serde::Deserialize;

use super::{
    ClientDirectory,
    keys::KeySet,
    scopes::{self, Scope, WriteScope},
    token::TOKEN_TYPE,
};
use crate::{
    config::JwtConfig,
    error::{Error, TokenRejection},
};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;
/// The name of the `http bearer` security scheme in the spec.
pub const BEARER_SCHEME: &str = "bearerAuth";
/// The name of the `oauth2` client-credentials security scheme in the spec.
pub const OAUTH2_SCHEME: &str = "oauth2";
/// Where clients get tokens.
pub const TOKEN_URL: &str = "/auth/token";

/// The claims a protected operation gets to see.
#[derive(Debug, Clone, Deserialize)]
pub struct Principal {
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    // RFC 9068 §2.2 requires these; their presence is checked by deserialising them.
    #[allow(dead_code)]
    sub: String,
    #[allow(dead_code)]
    iat: u64,
}

/// The rules every token is checked against; each key adds its own algorithm.
pub fn base_validation(issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation
}

/// Verifies access tokens against the keys built once at start-up.
pub struct TokenValidator {
    keys: Arc<KeySet>,
    clients: Arc<ClientDirectory>,
    /// The encoded header of the tokens this server signs: a refused token that starts
    /// with it names our `kid`, which is then known without decoding anything.
    own_header: Option<String>,
}

impl TokenValidator {
    pub fn new(config: &JwtConfig, clients: Arc<ClientDirectory>) -> Self {
        Self {
            keys: config.keys.clone(),
            clients,
            own_header: super::token::own_header_segment(&config.keys),
        }
    }

    /// The token's claims if it is one of ours and still valid; otherwise why not.
    pub fn validate(&self, token: &str) -> Result<Principal, Error> {
        // The `kid` only selects among our own keys; the key then dictates the algorithm.
        // With one key (the usual case) the token is verified against it directly and its
        // `kid` compared afterwards, so the header is parsed once.
        let (expected_kid, key) = match self.keys.single() {
            Some((kid, key)) => (Some(kid), key),
            None => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| Error::InvalidToken(rejection(e.kind())))?;
                let key = header
                    .kid
                    .as_deref()
                    .and_then(|kid| self.keys.verifying(kid))
                    .ok_or(Error::InvalidToken(TokenRejection::UnknownKey))?;
                (None, key)
            }
        };
        // A forged token is refused on its signature alone, before any of it is parsed.
        let checked = key.check_signature(token).and_then(|()| {
            jsonwebtoken::decode::<Principal>(token, &key.key, &key.validation)
                .map_err(|e| rejection(e.kind()))
        });
        let data = match checked {
            Ok(data) => data,
            // With one key, the `kid` was not looked at first: a token from another key
            // (an old one, after a switch of algorithm) is refused for its `kid`, which is
            // the real reason, rather than for a signature or algorithm it never had.
            Err(reason) => {
                let ours = |segment: &str| self.own_header.as_deref() == Some(segment);
                let foreign_kid = expected_kid.is_some_and(|expected| {
                    // A forged token usually keeps our header: one comparison, no decoding.
                    !token.split('.').next().is_some_and(ours)
                        && jsonwebtoken::decode_header(token)
                            .is_ok_and(|h| h.kid.as_deref() != Some(expected))
                });
                return Err(Error::InvalidToken(if foreign_kid {
                    TokenRejection::UnknownKey
                } else {
                    reason
                }));
            }
        };
        if let Some(expected) = expected_kid
            && data.header.kid.as_deref() != Some(expected)
        {
            return Err(Error::InvalidToken(TokenRejection::UnknownKey));
        }
        // jsonwebtoken checks neither `typ` nor `crit` (RFC 8725 §3.11, RFC 7515 §4.1.11).
        let typ_ok = data.header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case(TOKEN_TYPE) || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(Error::InvalidToken(TokenRejection::NotAnAccessToken));
        }
        // An embedded or referenced key is never ours and is never followed
        // (RFC 8725 §3.10): no fetch, no file read, just a refusal.
        let h = &data.header;
        if h.jku.is_some()
            || h.jwk.is_some()
            || h.x5u.is_some()
            || h.x5c.is_some()
            || h.x5t.is_some()
            || h.x5t_s256.is_some()
        {
            return Err(Error::InvalidToken(TokenRejection::ForeignKey));
        }
        // A disabled or removed client's tokens stop working at once, not when they expire.
        if !self.clients.is_enabled(&data.claims.client_id) {
            return Err(Error::InvalidToken(TokenRejection::ClientDisabled));
        }
        if data.header.crit.is_some() {
            return Err(Error::InvalidToken(TokenRejection::CriticalHeader));
        }
        Ok(data.claims)
    }
}

fn rejection(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenRejection::WrongAlgorithm
        }
        ErrorKind::MissingRequiredClaim(_) => TokenRejection::MissingClaim,
        _ => TokenRejection::Malformed,
    }
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
fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
}

/// Whether `token` is a `b64token` (RFC 6750 §2.1), the only form a Bearer credential
/// takes: `Bearer Bearer <token>` or a token with a stray quote or space is malformed,
/// and is refused as such before any signature is computed.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Proof that the request carried a valid access token allowing the write `S` (its narrow
/// scope or `api:write`). Taking it as the first argument of an operation protects the
/// operation: it runs before the body is read, so a request with no token and a bad body
/// is answered 401. The scopes in the spec come from the parameter's `#[oai(scope)]`
/// attributes; a test checks that they match what is enforced here.
pub struct BearerAuth<S: WriteScope>(pub Principal, PhantomData<S>);

impl<'a, S: WriteScope> ApiExtractor<'a> for BearerAuth<S> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            BEARER_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some("An access token from `POST /auth/token`, sent as `Authorization: Bearer <token>`."),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("JWT"),
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            OAUTH2_SCHEME,
            MetaSecurityScheme {
                ty: "oauth2",
                description: Some("OAuth 2.0 client-credentials grant (RFC 6749 §4.4): enter the client id and secret."),
                name: None,
                key_in: None,
                scheme: None,
                bearer_format: None,
                flows: Some(MetaOAuthFlows {
                    implicit: None,
                    password: None,
                    client_credentials: Some(MetaOAuthFlow {
                        authorization_url: None,
                        token_url: Some(TOKEN_URL),
                        refresh_url: None,
                        scopes: <Scope as OAuthScopes>::meta(),
                    }),
                    authorization_code: None,
                }),
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![BEARER_SCHEME, OAUTH2_SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if has_several_authorizations(request) {
            return Err(Error::AmbiguousAuthorization.into());
        }
        let value = request
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or(Error::MissingToken)?;
        // Not UTF-8 cannot be a b64token either: decoded lossily, it is refused below.
        let value = String::from_utf8_lossy(value.as_bytes());
        let token = parse_bearer(&value).ok_or(Error::NotBearer)?;
        if !is_b64token(token) {
            return Err(Error::InvalidToken(TokenRejection::Malformed).into());
        }
        let validator = request.data::<Arc<TokenValidator>>().ok_or_else(|| {
            Error::internal("token validator missing", "not registered as route data")
        })?;
        let principal = validator.validate(token)?;
        if !scopes::allows::<S>(&principal.scope) {
            return Err(Error::InsufficientScope(S::CHALLENGE).into());
        }
        Ok(BearerAuth(principal, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn validator() -> TokenValidator {
        TokenValidator::new(
            &JwtConfig::hs256("0123456789abcdef0123456789abcdef", "i", "a", 60).unwrap(),
            Arc::new(ClientDirectory::new(crate::auth::ClientRegistry::new(&[]))),
        )
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_others_are_not_bearer() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("bEaReR  abc "), Some("abc"));
        assert_eq!(parse_bearer("Bearer"), Some(""));
        assert_eq!(parse_bearer("Basic abc"), None);
        assert_eq!(parse_bearer("Bearerabc"), None);
    }

    #[test]
    fn the_own_header_is_the_header_of_issued_tokens() {
        for algorithm in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::EdDSA,
            jsonwebtoken::Algorithm::ES256,
        ] {
            let generated = crate::auth::keys::generate(algorithm).unwrap();
            let key = match generated.public_pem {
                None => format!("key = \"{}\"", generated.secret_or_private_pem),
                Some(_) => format!(
                    "algorithm = \"{algorithm:?}\"\nprivate_key = \"\"\"\n{}\"\"\"",
                    generated.secret_or_private_pem
                ),
            };
            let toml = format!(
                "[default.jwt]\n{key}\nissuer = \"i\"\naudience = \"a\"\n\
                 [[default.clients]]\nclient_id = \"c\"\nclient_secret = \"s\"\n"
            );
            let config = crate::Config::from_toml_str(&toml, "debug").unwrap();
            let issued = crate::auth::TokenIssuer::new(&config.jwt)
                .issue("c", "api:write".to_owned())
                .unwrap();
            let clients = Arc::new(ClientDirectory::new(crate::auth::ClientRegistry::new(&[])));
            assert_eq!(
                TokenValidator::new(&config.jwt, clients)
                    .own_header
                    .as_deref(),
                issued.access_token.split('.').next(),
                "{algorithm:?}"
            );
        }
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

    proptest! {
        /// Whatever the header holds, parsing and validating it neither panics nor
        /// authenticates.
        #[test]
        fn arbitrary_authorization_values_never_authenticate(value in ".{0,300}") {
            let validator = validator();
            if let Some(token) = parse_bearer(&value) {
                prop_assert!(validator.validate(token).is_err());
            }
        }

        #[test]
        fn arbitrary_jwt_shaped_tokens_never_authenticate(
            header in "[A-Za-z0-9_-]{0,80}",
            claims in "[A-Za-z0-9_-]{0,200}",
            signature in "[A-Za-z0-9_-]{0,60}",
        ) {
            let token = format!("{header}.{claims}.{signature}");
            prop_assert!(validator().validate(&token).is_err());
        }
    }
}
