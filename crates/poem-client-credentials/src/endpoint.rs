//! `POST /auth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).
//!
//! Order of checks: the source's throttle (429), the body is read (bounded) and parsed,
//! the request's shape is checked (`invalid_request`), then the grant type
//! (`unsupported_grant_type`), then the client's credentials (`invalid_client`), then
//! the requested scope (`invalid_scope`).

use std::{net::IpAddr, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use ipnet::IpNet;
use poem::{FromRequest, Request, RequestBody, http::HeaderValue, web::Data};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, Enum, ExtractParamOptions, Object, OpenApi, Tags,
    payload::Json,
    registry::{MetaMediaType, MetaRequest, MetaResponses, Registry},
    types::Type,
};

use poem_bearer::{
    SettingsError, Validator,
    dpop::{DPOP, Nonces, Proof, ProofError, check_proof, normalize_url},
    replay::{MemoryReplayCache, ReplayCache, ReplayError},
    token::now_seconds,
};

use crate::{
    assertion::{AssertionAudience, CLIENT_ASSERTION_TYPE, claimed_client},
    body::{self, BodyError, BodyLimit},
    clients::{AuthError, AuthMethod, ClientStore, Credentials, Granted, Refusal},
    error::{OAuthCode, OAuthErrorBody, TokenError},
    events::{Events, Issued, Refused, TracingAudit, bounded_id},
    introspection::INTROSPECTION_PATH,
    issuer::{TokenIssuer, TokenOptions},
    revocation::{
        DEFAULT_MAX_LIVE_PER_CLIENT, MemoryRevocations, REVOCATION_PATH, RevocationStore,
    },
    settings::is_resource_uri,
    throttle::{Throttle, Throttled, source_address},
};

/// Where the token endpoint is served.
pub const TOKEN_PATH: &str = "/auth/token";

/// How many client assertion `jti`s the default replay cache holds (each kept until its
/// assertion expires): past that, assertions are refused with 503 until entries end.
pub const DEFAULT_REPLAY_CAPACITY: usize = 1_000_000;

/// The tag of the token operation in the spec.
#[derive(Tags)]
pub enum OAuthTag {
    /// Access tokens for machine clients (OAuth 2.0 client credentials).
    Auth,
}

/// The one grant type this endpoint serves.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

// The documented schema only: the body is parsed by `TokenRequestBody`, which reports
// problems as OAuth errors instead of poem-openapi's parse errors.
/// A client-credentials token request (RFC 6749 §4.4.2), as a form or as JSON.
#[derive(Debug, Object)]
pub struct TokenRequest {
    // No doc comment here: poem-openapi would wrap the reference in an `allOf` to carry
    // it, which SDK generators (openapi-python-client) cannot take. `GrantType` says it.
    #[allow(missing_docs)]
    pub grant_type: GrantType,
    /// The client id, when the client does not authenticate with HTTP Basic.
    pub client_id: Option<String>,
    /// The client secret, when the client does not authenticate with HTTP Basic.
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, with `client_assertion`
    /// (`private_key_jwt`, RFC 7523 §2.2).
    pub client_assertion_type: Option<String>,
    /// A JWT signed with the client's private key: `iss` and `sub` the client id, `aud`
    /// the issuer identifier (or this endpoint's URL), `exp` at most an hour ahead, a
    /// single-use `jti`.
    pub client_assertion: Option<String>,
    /// Space-delimited scopes to narrow the token to; empty or absent means every scope
    /// the client is allowed.
    pub scope: Option<String>,
    /// The resource server the token is for (RFC 8707): an absolute URI the client is
    /// registered for, which becomes the token's `aud`. At most one. Absent: the API's
    /// own audience.
    pub resource: Option<String>,
}

/// The grant type: must be `client_credentials`; any other value is answered
/// `unsupported_grant_type`.
#[derive(Debug, Enum)]
pub enum GrantType {
    /// `client_credentials`.
    #[oai(rename = "client_credentials")]
    ClientCredentials,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Object)]
pub struct TokenResponse {
    /// The access token: a JWT (RFC 9068) to send as `Authorization: Bearer <token>`,
    /// or, when DPoP-bound, as `Authorization: DPoP <token>` with a proof.
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to the key of the request's DPoP proof.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The granted scopes, space-delimited.
    pub scope: String,
}

/// The token endpoint's documented answers.
#[derive(ApiResponse)]
pub enum TokenResponses {
    /// The token was issued.
    #[oai(status = 200)]
    Ok(
        Json<TokenResponse>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
        /// Always `no-cache`.
        #[oai(header = "Pragma")]
        String,
    ),
    /// `invalid_request` (missing, repeated or malformed parameter, unknown content
    /// type, two authentication methods, a `client_id` other than the client
    /// assertion's), `unsupported_grant_type`, `invalid_scope`, or `invalid_dpop_proof`
    /// (a bad `DPoP` proof, two of them, or none for a client whose tokens must be
    /// bound), or `use_dpop_nonce` (with `DPoP-Nonce`: retry with that nonce).
    #[oai(status = 400)]
    #[allow(dead_code)]
    BadRequest(
        Json<OAuthErrorBody>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
        /// With `use_dpop_nonce`: the nonce the next proof must carry.
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
    /// `invalid_client`: unknown client, wrong secret, a client assertion refused (its
    /// description names a failed check of its `exp`, `aud` or `jti` only), no
    /// credentials.
    #[oai(status = 401)]
    #[allow(dead_code)]
    Unauthorized(
        Json<OAuthErrorBody>,
        /// `Basic realm="..."`, except on a request carrying `Origin` or
        /// `X-Requested-With` (a browser's script), where it would open the browser's
        /// own login dialog.
        #[oai(header = "WWW-Authenticate")]
        Option<String>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `invalid_request`: the body is larger than the server's limit.
    #[oai(status = 413)]
    #[allow(dead_code)]
    PayloadTooLarge(
        Json<OAuthErrorBody>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `temporarily_unavailable`: the secret could not be checked in time (too many
    /// Argon2 verifications queued), or a client assertion's `jti` could not be recorded;
    /// retry after `Retry-After` seconds.
    #[oai(status = 503)]
    #[allow(dead_code)]
    Unavailable(
        Json<OAuthErrorBody>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `too_many_requests`: this address failed client authentication too often; every
    /// token request from it is refused until `Retry-After` seconds have passed.
    #[oai(status = 429)]
    #[allow(dead_code)]
    TooManyRequests(
        Json<OAuthErrorBody>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// The token request's parameters, empty values dropped (RFC 6749 §3.2: "parameters sent
/// without a value MUST be treated as if they were omitted").
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TokenParams {
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<String>,
    /// `client_assertion_type`.
    pub client_assertion_type: Option<String>,
    /// `client_assertion`.
    pub client_assertion: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `resource` (RFC 8707), the first one.
    pub resource: Option<String>,
    /// `resource` was sent more than once: unlike other parameters, RFC 8707 allows
    /// that, so it is not a malformed request; this endpoint issues a token for one
    /// resource and answers `invalid_target`.
    pub several_resources: bool,
    /// `token`: the token to revoke (RFC 7009) or introspect (RFC 7662).
    pub token: Option<String>,
}

/// Which endpoint a request body is read for: each knows its own parameters and ignores
/// the rest (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /auth/token`.
    Token,
    /// `POST /auth/revoke` (RFC 7009).
    Revoke,
    /// `POST /auth/introspect` (RFC 7662).
    Introspect,
}

impl Operation {
    /// The slot of a parameter this operation knows, by name.
    fn slot(self, name: &str) -> Option<usize> {
        let index = match name {
            "client_id" => 0,
            "client_secret" => 1,
            "client_assertion_type" => 2,
            "client_assertion" => 3,
            "grant_type" if self == Operation::Token => 4,
            "scope" if self == Operation::Token => 5,
            "resource" if self == Operation::Token => 6,
            // `token_type_hint` is ignored: the token says what it is.
            "token" if self != Operation::Token => 7,
            _ => return None,
        };
        Some(index)
    }
}

impl TokenParams {
    /// Builds the parameters from name/value pairs, refusing a repeated parameter
    /// (RFC 6749 §3.2) and ignoring unknown ones.
    fn from_pairs<K: AsRef<str>, V: Into<String>>(
        operation: Operation,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, TokenError> {
        let mut params = TokenParams::default();
        // One flag per parameter: a repeat is refused even if the first value was empty.
        let mut seen = [false; 8];
        for (name, value) in pairs {
            let Some(index) = operation.slot(name.as_ref()) else {
                continue;
            };
            if index == 6 && seen[6] {
                params.several_resources = true;
                continue;
            }
            let slot = match index {
                0 => &mut params.client_id,
                1 => &mut params.client_secret,
                2 => &mut params.client_assertion_type,
                3 => &mut params.client_assertion,
                4 => &mut params.grant_type,
                5 => &mut params.scope,
                6 => &mut params.resource,
                _ => &mut params.token,
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(invalid_request("A request parameter is repeated"));
            }
            let value = value.into();
            if !value.is_empty() {
                *slot = Some(value);
            }
        }
        Ok(params)
    }

    /// The token request parameters of an `application/x-www-form-urlencoded` body.
    pub fn from_form(body: &[u8]) -> Result<Self, TokenError> {
        Self::form_for(Operation::Token, body)
    }

    /// The token request parameters of a JSON object body: see [`TokenParams::json_for`].
    pub fn from_json(body: &[u8]) -> Result<Self, TokenError> {
        Self::json_for(Operation::Token, body)
    }

    /// The parameters `operation` knows, of an `application/x-www-form-urlencoded` body.
    pub fn form_for(operation: Operation, body: &[u8]) -> Result<Self, TokenError> {
        Self::from_pairs(operation, form_urlencoded::parse(body))
    }

    /// The parameters `operation` knows, of a JSON object's string members. A repeated
    /// parameter is refused as in a form: the members are read in order with repeats
    /// kept, not through a map that would silently keep the last.
    pub fn json_for(operation: Operation, body: &[u8]) -> Result<Self, TokenError> {
        let members = body::json_object_members(body)
            .ok_or_else(|| invalid_request("The request body is not a JSON object"))?;
        let mut pairs = Vec::with_capacity(members.len());
        for (name, value) in members {
            let known = operation.slot(&name).is_some();
            match value {
                serde_json::Value::String(s) => pairs.push((name, s)),
                // Null is absent, but still counts when repeated.
                serde_json::Value::Null if known => pairs.push((name, String::new())),
                _ if known => {
                    return Err(invalid_request("Every request parameter must be a string"));
                }
                _ => {}
            }
        }
        Self::from_pairs(operation, pairs)
    }
}

fn invalid_request(description: &'static str) -> TokenError {
    TokenError::invalid_request(description)
}

/// Whether the request was sent by a browser's script: browsers add `Origin` to every
/// script POST, and Swagger UI (like jQuery-era libraries) sends `X-Requested-With`.
fn from_script(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(poem::http::header::ORIGIN) || headers.contains_key("x-requested-with")
}

/// A documented request body of one of the endpoints: its schema, and which
/// [`Operation`] reads it.
pub trait OAuthForm: Type {
    /// The operation whose parameters the body holds.
    const OPERATION: Operation;
}

impl OAuthForm for TokenRequest {
    const OPERATION: Operation = Operation::Token;
}

/// A request body of the token, revocation or introspection endpoint,
/// `application/x-www-form-urlencoded` (the standard) or `application/json`, documented
/// as `T`. Every failure is an OAuth `invalid_request`.
pub struct OAuthBody<T>(pub TokenParams, std::marker::PhantomData<T>);

/// The token request body.
pub type TokenRequestBody = OAuthBody<TokenRequest>;

impl<'a, T: OAuthForm> ApiExtractor<'a> for OAuthBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![
                MetaMediaType {
                    content_type: "application/x-www-form-urlencoded",
                    schema: T::schema_ref(),
                },
                MetaMediaType {
                    content_type: "application/json",
                    schema: T::schema_ref(),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let limit = request
            .data::<Arc<TokenEndpoint>>()
            .map(|endpoint| endpoint.body_limit)
            .unwrap_or_default();
        let bytes = body::read_body(request, body, limit)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => TokenError::body_too_large(),
                BodyError::TimedOut => TokenError::body_timeout(),
                BodyError::Unreadable => invalid_request("The request body could not be read"),
            })?;
        let params = match body::media_type(request).as_deref() {
            Some("application/x-www-form-urlencoded") => {
                TokenParams::form_for(T::OPERATION, &bytes)?
            }
            Some(media) if body::is_json(media) => TokenParams::json_for(T::OPERATION, &bytes)?,
            _ => {
                return Err(invalid_request(
                    "The body must be application/x-www-form-urlencoded or application/json",
                )
                .into());
            }
        };
        Ok(OAuthBody(params, std::marker::PhantomData))
    }
}

/// Credentials from an `Authorization: Basic` header (RFC 7617).
#[derive(Debug, PartialEq, Eq)]
struct BasicCredentials {
    id: String,
    secret: String,
}

/// `None` without a Basic header, `Some(None)` for one that cannot be decoded.
fn basic_credentials(request: &Request) -> Option<Option<BasicCredentials>> {
    let value = request.headers().get(poem::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    Some(decode_basic(encoded.trim_matches(' ')))
}

fn decode_basic(encoded: &str) -> Option<BasicCredentials> {
    let decoded = STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some(BasicCredentials {
        id: id.to_owned(),
        secret: secret.to_owned(),
    })
}

/// Undoes the `application/x-www-form-urlencoded` encoding RFC 6749 §2.3.1 applies to
/// the id and secret before Basic encoding: `+` is a space, `%XX` a byte.
fn form_decode(value: &str) -> Option<String> {
    let plus_as_space = value.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The request's DPoP proof, checked (RFC 9449 §4.3) against `POST` and `url`, the
/// token endpoint's URL: `None` without a `DPoP` header.
fn dpop_proof(
    request: &Request,
    url: Option<&str>,
    nonces: Option<&Nonces>,
) -> Result<Option<Proof>, TokenError> {
    let mut proofs = request.headers().get_all(DPOP).iter();
    let Some(proof) = proofs.next() else {
        return Ok(None);
    };
    if proofs.next().is_some() {
        return Err(invalid_proof(ProofError::Several));
    }
    let proof = proof
        .to_str()
        .map_err(|_| invalid_proof(ProofError::Malformed))?;
    // Without a public URL no proof can name this endpoint.
    let url = url.ok_or_else(|| invalid_proof(ProofError::WrongUrl))?;
    let now = now_seconds();
    let proof = check_proof(proof, "POST", url, None, now).map_err(invalid_proof)?;
    // The nonce last: a proof wrong in any other way is told so first.
    if let Some(nonces) = nonces
        && !proof
            .nonce
            .as_deref()
            .is_some_and(|n| nonces.accepts(n, now))
    {
        return Err(match HeaderValue::from_str(&nonces.current(now)) {
            Ok(nonce) => TokenError::use_dpop_nonce(nonce),
            Err(_) => invalid_proof(ProofError::Malformed),
        });
    }
    Ok(Some(proof))
}

fn invalid_proof(error: ProofError) -> TokenError {
    TokenError::new(OAuthCode::InvalidDpopProof, error.description())
}

/// Every scope in `requested` if the client may have them all; all of the client's scopes
/// when nothing is requested.
pub fn grant_scope(allowed: &[String], requested: Option<&str>) -> Result<String, TokenError> {
    // `str::is_empty` by name: poem-openapi's `Type` trait, in scope here, has an
    // `is_empty` of its own that method resolution would pick for `&&str`.
    let requested: Vec<&str> = requested
        .map(|s| s.split(' ').filter(|s| !str::is_empty(s)).collect())
        .unwrap_or_default();
    if requested.is_empty() {
        return Ok(allowed.join(" "));
    }
    if requested.iter().any(|r| !allowed.iter().any(|a| a == r)) {
        return Err(TokenError::new(
            OAuthCode::InvalidScope,
            "The requested scope is not allowed for this client",
        ));
    }
    // Keep the configuration's order and drop duplicates.
    Ok(allowed
        .iter()
        .map(|a| a.as_str())
        .filter(|a| requested.contains(a))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The token's `aud` for a request naming `resource` (RFC 8707 §2): `None` (the issuer's
/// audience) without one; the resource itself when the client may name it, that is when
/// it is one of `allowed` or is the issuer's `audience` written as an absolute URI.
/// Resources are compared as exact strings, as `aud` is (RFC 7519 §4.1.3).
pub fn grant_audience(
    audience: &str,
    allowed: &[String],
    resource: Option<&str>,
    several: bool,
) -> Result<Option<String>, TokenError> {
    let target = |description| TokenError::new(OAuthCode::InvalidTarget, description);
    if several {
        return Err(target("Name at most one resource"));
    }
    let Some(resource) = resource else {
        return Ok(None);
    };
    if !is_resource_uri(resource) {
        return Err(target(
            "The resource must be an absolute URI without a fragment",
        ));
    }
    if allowed.iter().any(|a| a == resource) || resource == audience {
        Ok(Some(resource.to_owned()))
    } else {
        Err(target(
            "The requested resource is not allowed for this client",
        ))
    }
}

/// Everything the token endpoint works with, built once with [`TokenEndpoint::builder`]
/// and attached to the routes as data (`.data(endpoint)`): one value, so no piece (the
/// throttle, say) can be forgotten.
pub struct TokenEndpoint {
    clients: Arc<dyn ClientStore>,
    issuer: TokenIssuer,
    audience: AssertionAudience,
    revoke_audience: AssertionAudience,
    introspect_audience: AssertionAudience,
    /// Which tokens are active: this server's, with the client and revocation checks.
    validator: Arc<Validator>,
    revocations: Arc<dyn RevocationStore>,
    replay: Arc<dyn ReplayCache>,
    /// The URL a DPoP proof's `htu` must name, normalised; `None` without a public URL.
    proof_url: Option<String>,
    proof_replay: Arc<dyn ReplayCache>,
    nonces: Option<Arc<Nonces>>,
    throttle: Arc<Throttle>,
    trusted_proxies: Vec<IpNet>,
    body_limit: BodyLimit,
    basic_challenge: HeaderValue,
    events: Arc<dyn Events>,
}

/// How a [`TokenEndpoint`] is put together.
pub struct TokenEndpointBuilder {
    clients: Arc<dyn ClientStore>,
    issuer: TokenIssuer,
    revocations: Option<Arc<dyn RevocationStore>>,
    public_url: Option<String>,
    strict_audience: bool,
    replay: Option<Arc<dyn ReplayCache>>,
    proof_replay: Option<Arc<dyn ReplayCache>>,
    nonces: Option<Arc<Nonces>>,
    realm: String,
    max_failures: u32,
    window: Duration,
    trusted_proxies: Vec<IpNet>,
    body_limit: BodyLimit,
    events: Arc<dyn Events>,
}

impl TokenEndpoint {
    /// An endpoint for `clients` signing with `issuer`. Defaults: realm `api`, 10 failed
    /// authentications per source per 60 s, no trusted proxies, 64 KiB bodies within
    /// 10 s, the [`TracingAudit`] events, no public URL (a client assertion's `aud` must
    /// then be the issuer identifier), client assertion `jti`s kept in a
    /// [`MemoryReplayCache`] of [`DEFAULT_REPLAY_CAPACITY`] entries.
    pub fn builder(clients: Arc<dyn ClientStore>, issuer: TokenIssuer) -> TokenEndpointBuilder {
        TokenEndpointBuilder {
            clients,
            issuer,
            revocations: None,
            public_url: None,
            strict_audience: false,
            replay: None,
            proof_replay: None,
            nonces: None,
            realm: "api".into(),
            max_failures: 10,
            window: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            body_limit: BodyLimit::default(),
            events: Arc::new(TracingAudit),
        }
    }

    /// The clients.
    pub fn clients(&self) -> &Arc<dyn ClientStore> {
        &self.clients
    }

    /// The throttle.
    pub fn throttle(&self) -> &Arc<Throttle> {
        &self.throttle
    }

    /// The signer.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// Where revocations are kept: give the resource validator its
    /// [`is_revoked`](RevocationStore::is_revoked) as its revocation check.
    pub fn revocations(&self) -> &Arc<dyn RevocationStore> {
        &self.revocations
    }

    /// Which of this server's tokens are active (what revocation and introspection
    /// look at).
    pub(crate) fn validator(&self) -> &Validator {
        &self.validator
    }

    pub(crate) fn events(&self) -> &dyn Events {
        self.events.as_ref()
    }

    /// What a client assertion sent to `operation` may name as its `aud`.
    fn audience_for(&self, operation: Operation) -> &AssertionAudience {
        match operation {
            Operation::Token => &self.audience,
            Operation::Revoke => &self.revoke_audience,
            Operation::Introspect => &self.introspect_audience,
        }
    }
}

impl TokenEndpointBuilder {
    /// The URL clients reach the API at (`https://api.example.com`, no trailing slash):
    /// the token endpoint's URL, `{public_url}/auth/token`, is then accepted as a client
    /// assertion's `aud` besides the issuer identifier (RFC 7523 §3).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Accept as a client assertion's `aud` only the issuer identifier, as one string
    /// (FAPI 2.0, the RFC 7523 update in progress), not the token endpoint's URL.
    pub fn strict_assertion_audience(mut self, strict: bool) -> Self {
        self.strict_audience = strict;
        self
    }

    /// Where client assertions' `jti`s are kept, so each is used once: a store shared by
    /// every instance (the default, a [`MemoryReplayCache`], stops replays at this
    /// instance only).
    pub fn replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> Self {
        self.replay = Some(cache);
        self
    }

    /// Where revocations (RFC 7009) are kept: a store shared by every instance (the
    /// default, [`MemoryRevocations`] of [`DEFAULT_MAX_LIVE_PER_CLIENT`] per client, is
    /// this process's alone and forgets on restart).
    pub fn revocations(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// Where DPoP proofs' `jti`s are kept for their window (by default a
    /// [`MemoryReplayCache`] of [`DEFAULT_REPLAY_CAPACITY`] entries; a resource
    /// validator's own cache can be shared).
    pub fn dpop_replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> Self {
        self.proof_replay = Some(cache);
        self
    }

    /// Requires DPoP proofs to carry a server nonce (RFC 9449 §8): a proof without the
    /// current one is answered 400 `use_dpop_nonce` with a `DPoP-Nonce` header.
    pub fn dpop_nonces(mut self, nonces: Arc<Nonces>) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The realm of the `Basic` challenge of `invalid_client` answers: printable ASCII
    /// without `"` or `\`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// At most `max_failures` failed client authentications per source in any sliding
    /// `window`; past that, 429 with `Retry-After`.
    pub fn throttle(mut self, max_failures: u32, window: Duration) -> Self {
        self.max_failures = max_failures;
        self.window = window;
        self
    }

    /// Peers whose `X-Forwarded-For` is believed (addresses or CIDR blocks): the source
    /// of a request through them is the rightmost entry that is not one of them.
    pub fn trusted_proxies(mut self, proxies: Vec<IpNet>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The largest token request body read, and how long it may take to arrive.
    pub fn body_limit(mut self, bytes: usize, timeout: Duration) -> Self {
        self.body_limit = BodyLimit { bytes, timeout };
        self
    }

    /// Where events go (metrics, audit log) instead of [`TracingAudit`].
    pub fn events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }

    /// The endpoint, ready to attach. Errors name the setting at fault.
    pub fn build(self) -> Result<Arc<TokenEndpoint>, SettingsError> {
        let realm_error = |message: String| SettingsError::new("realm", message);
        poem_bearer::check_realm(&self.realm).map_err(realm_error)?;
        let basic_challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.realm))
            .map_err(|e| realm_error(e.to_string()))?;
        if self.max_failures == 0 || self.window.is_zero() {
            return Err(SettingsError::new(
                "throttle",
                "needs at least one failure in a window of at least a second",
            ));
        }
        let issuer_id = self.issuer.issuer().to_owned();
        let proof_url = match &self.public_url {
            Some(url) => Some(normalize_url(&format!("{url}{TOKEN_PATH}")).ok_or_else(|| {
                SettingsError::new("public_url", "is not an absolute http or https URL")
            })?),
            None => None,
        };
        let memory = || -> Arc<dyn ReplayCache> {
            Arc::new(MemoryReplayCache::new(DEFAULT_REPLAY_CAPACITY))
        };
        let revocations = self
            .revocations
            .unwrap_or_else(|| Arc::new(MemoryRevocations::new(DEFAULT_MAX_LIVE_PER_CLIENT)));
        let validator = {
            let (clients, revoked) = (self.clients.clone(), revocations.clone());
            Validator::builder(&self.realm)
                .local(
                    issuer_id.clone(),
                    self.issuer.audience(),
                    self.issuer.keys().clone(),
                )
                .client_check(move |client| clients.is_enabled(client))
                .revocation_check(move |jti| revoked.is_revoked(jti))
                .build_local()?
        };
        let audience_at = |path: &str| AssertionAudience {
            token_endpoint: match &self.public_url {
                Some(url) => format!("{url}{path}"),
                // Nothing else is ever equal to the issuer identifier's own value.
                None => issuer_id.clone(),
            },
            issuer: issuer_id.clone(),
            strict: self.strict_audience,
        };
        Ok(Arc::new(TokenEndpoint {
            nonces: self.nonces,
            proof_url,
            proof_replay: self.proof_replay.unwrap_or_else(memory),
            audience: audience_at(TOKEN_PATH),
            revoke_audience: audience_at(REVOCATION_PATH),
            introspect_audience: audience_at(INTROSPECTION_PATH),
            validator,
            revocations,
            replay: self.replay.unwrap_or_else(memory),
            clients: self.clients,
            issuer: self.issuer,
            throttle: Arc::new(Throttle::new(self.max_failures, self.window)),
            trusted_proxies: self.trusted_proxies,
            body_limit: self.body_limit,
            basic_challenge,
            events: self.events,
        }))
    }
}

/// How a request authenticates its client, as sent: nothing checked yet but its shape.
enum ClientAuth<'p> {
    /// `client_assertion` (`private_key_jwt`).
    Assertion(&'p str),
    /// An `Authorization: Basic` header: `None` when it does not decode.
    Basic(Option<BasicCredentials>),
    /// `client_id` and `client_secret` in the body.
    Post { id: &'p str, secret: &'p str },
    /// No usable credentials; the `client_id` if one was sent.
    Nothing(Option<&'p str>),
}

/// The request's client authentication, checked for shape before anything else (400
/// `invalid_request`): one `Authorization` header, a client assertion with its type, one
/// method, and a `client_id` that agrees with the assertion's.
fn client_auth<'p>(
    request: &Request,
    params: &'p TokenParams,
) -> Result<ClientAuth<'p>, TokenError> {
    if poem_bearer::has_several_authorizations(request) {
        return Err(invalid_request(
            "The request carries more than one Authorization header",
        ));
    }
    let basic = basic_credentials(request);
    let assertion = match (&params.client_assertion_type, &params.client_assertion) {
        (None, None) => None,
        (Some(kind), Some(assertion)) if kind == CLIENT_ASSERTION_TYPE => Some(assertion.as_str()),
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        _ => {
            return Err(invalid_request(
                "client_assertion and client_assertion_type are sent together",
            ));
        }
    };
    if (basic.is_some() || assertion.is_some())
        && (params.client_secret.is_some() || (basic.is_some() && assertion.is_some()))
    {
        return Err(invalid_request(
            "Use one client authentication method: HTTP Basic, client_secret in the body, or a client assertion",
        ));
    }
    if let (Some(assertion), Some(id)) = (assertion, params.client_id.as_deref())
        && claimed_client(assertion).is_some_and(|claimed| claimed != id)
    {
        return Err(invalid_request(
            "The client_id differs from the client assertion's issuer",
        ));
    }
    Ok(match (basic, assertion) {
        (_, Some(assertion)) => ClientAuth::Assertion(assertion),
        (Some(credentials), None) => ClientAuth::Basic(credentials),
        (None, None) => match (params.client_id.as_deref(), params.client_secret.as_deref()) {
            (Some(id), Some(secret)) => ClientAuth::Post { id, secret },
            (id, _) => ClientAuth::Nothing(id),
        },
    })
}

/// How a client authentication failure is answered and reported, for one request.
pub(crate) struct Refuser<'a> {
    endpoint: &'a TokenEndpoint,
    source: Option<IpAddr>,
    /// The `Basic` challenge, except for a browser's script.
    challenge: Option<HeaderValue>,
}

impl Refuser<'_> {
    /// 401 `invalid_client`, reported with `reason`.
    fn refuse_as(&self, client_id: &str, reason: &'static str) -> TokenError {
        self.endpoint.events.client_refused(&Refused {
            client_id: &bounded_id(client_id),
            reason,
            source: self.source,
        });
        TokenError::invalid_client(self.challenge.clone())
    }

    /// 401 `invalid_client` for `refusal`, with its description if it has one.
    fn refuse(&self, client_id: &str, refusal: Refusal) -> TokenError {
        self.refuse_as(client_id, refusal.as_str())
            .described(refusal.description())
    }

    fn throttled(&self, throttled: Throttled) -> TokenError {
        self.endpoint.events.throttled(self.source);
        TokenError::too_many_requests(throttled.retry_after)
    }

    /// A failure the store did not count (no usable credentials, a replayed assertion),
    /// counted here; past the budget the answer is the throttle's.
    fn counted(&self, refusal: impl FnOnce() -> TokenError) -> TokenError {
        match self.source.map(|a| self.endpoint.throttle.settle(a, 1)) {
            Some(Err(t)) => self.throttled(t),
            _ => refusal(),
        }
    }

    /// The answer to a store's failure.
    fn failed(&self, client_id: &str, error: AuthError) -> TokenError {
        match error {
            AuthError::Refused(refusal) => self.refuse(client_id, refusal),
            AuthError::Throttled(t) => self.throttled(t),
            AuthError::Busy => TokenError::busy(),
        }
    }
}

impl TokenEndpoint {
    fn refuser(&self, request: &Request, source: Option<IpAddr>) -> Refuser<'_> {
        Refuser {
            endpoint: self,
            source,
            challenge: (!from_script(request)).then(|| self.basic_challenge.clone()),
        }
    }

    /// The client `auth` authenticates, and how, or the answer to its failure: 401
    /// `invalid_client`, 429, 503. `audience` is what an assertion's `aud` may name.
    async fn authenticate(
        &self,
        refuser: &Refuser<'_>,
        auth: ClientAuth<'_>,
        body_client_id: Option<&str>,
        audience: &AssertionAudience,
    ) -> Result<(AuthMethod, Granted), TokenError> {
        let (clients, throttle, source) = (&self.clients, &self.throttle, refuser.source);
        match auth {
            ClientAuth::Assertion(assertion) => {
                let credentials = Credentials::Assertion {
                    assertion,
                    audience,
                };
                let found = clients
                    .authenticate(credentials, source, throttle)
                    .await
                    .map_err(|e| {
                        let claimed = claimed_client(assertion);
                        refuser.failed(claimed.as_deref().unwrap_or("-"), e)
                    })?;
                Ok((AuthMethod::PrivateKeyJwt, found))
            }
            ClientAuth::Basic(None) => {
                Err(refuser.counted(|| refuser.refuse_as("-", "malformed_basic")))
            }
            ClientAuth::Basic(Some(raw)) => {
                // RFC 6749 §2.3.1 form-encodes id and secret; Swagger UI and several
                // libraries do not. Try the decoded form, then the raw one.
                let decoded = form_decode(&raw.id).zip(form_decode(&raw.secret));
                let mut candidates = Vec::with_capacity(2);
                if let Some((id, secret)) = &decoded {
                    candidates.push((id.as_str(), secret.as_str()));
                }
                candidates.push((raw.id.as_str(), raw.secret.as_str()));
                let credentials = Credentials::Secret {
                    method: AuthMethod::ClientSecretBasic,
                    candidates: &candidates,
                };
                let found = clients
                    .authenticate(credentials, source, throttle)
                    .await
                    .map_err(|e| refuser.failed(&raw.id, e))?;
                if body_client_id.is_some_and(|body_id| body_id != found.client_id) {
                    return Err(invalid_request(
                        "The client_id in the body differs from the authenticated client",
                    ));
                }
                Ok((AuthMethod::ClientSecretBasic, found))
            }
            ClientAuth::Post { id, secret } => {
                let credentials = Credentials::Secret {
                    method: AuthMethod::ClientSecretPost,
                    candidates: &[(id, secret)],
                };
                let found = clients
                    .authenticate(credentials, source, throttle)
                    .await
                    .map_err(|e| refuser.failed(id, e))?;
                Ok((AuthMethod::ClientSecretPost, found))
            }
            ClientAuth::Nothing(id) => {
                Err(refuser.counted(|| refuser.refuse_as(id.unwrap_or("-"), "no_credentials")))
            }
        }
    }

    /// The start of a revocation or introspection request, in the token endpoint's
    /// order: the request's shape, its `token` (standing where a grant type would), then
    /// the client, whose assertion may name `operation`'s URL. The assertion is not used
    /// up yet: the operation does that once it carries the request out.
    pub(crate) async fn token_request<'p>(
        &self,
        request: &Request,
        source: Option<IpAddr>,
        params: &'p TokenParams,
        operation: Operation,
    ) -> Result<(&'p str, Refuser<'_>, Granted), TokenError> {
        let auth = client_auth(request, params)?;
        let Some(token) = params.token.as_deref() else {
            return Err(invalid_request("The token parameter is required"));
        };
        let refuser = self.refuser(request, source);
        let (_, caller) = self
            .authenticate(
                &refuser,
                auth,
                params.client_id.as_deref(),
                self.audience_for(operation),
            )
            .await?;
        Ok((token, refuser, caller))
    }

    /// Takes back what [`use_assertion`](Self::use_assertion) recorded, for a request
    /// refused after all.
    pub(crate) async fn forget_assertion(&self, found: &Granted) {
        if let Some(verified) = &found.assertion {
            self.replay.forget(&found.client_id, &verified.jti).await;
        }
    }

    /// Records the `jti` of the client's verified assertion, if it sent one, so it is
    /// used once: its replay is the client's authentication failing.
    pub(crate) async fn use_assertion(
        &self,
        refuser: &Refuser<'_>,
        found: &Granted,
    ) -> Result<(), TokenError> {
        let Some(verified) = &found.assertion else {
            return Ok(());
        };
        match self
            .replay
            .record(&found.client_id, &verified.jti, verified.replay_until)
            .await
        {
            Ok(()) => Ok(()),
            Err(ReplayError::Replayed) => {
                Err(refuser.counted(|| refuser.refuse(&found.client_id, Refusal::Replayed)))
            }
            Err(ReplayError::Full | ReplayError::Unavailable) => Err(TokenError::unavailable(
                "Client assertions cannot be checked for replay right now; retry shortly",
            )),
        }
    }
}

/// The client's address, resolved once; refuses the request with 429 while that address
/// is throttled. Taken by the token endpoint before its body, so a blocked address is
/// refused without its body being read.
pub struct ClientAddress(pub Option<IpAddr>);

impl<'a> FromRequest<'a> for ClientAddress {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let Some(endpoint) = request.data::<Arc<TokenEndpoint>>() else {
            return Ok(ClientAddress(None));
        };
        let address = request
            .remote_addr()
            .as_socket_addr()
            .map(|peer| source_address(peer.ip(), request.headers(), &endpoint.trusted_proxies));
        if let Some(address) = address
            && let Err(throttled) = endpoint.throttle.check(address)
        {
            endpoint.events.throttled(Some(address));
            return Err(TokenError::too_many_requests(throttled.retry_after).into());
        }
        Ok(ClientAddress(address))
    }
}

/// The token endpoint as a poem-openapi API: combine it with the API's own
/// (`OpenApiService::new((MyApi, TokenApi), ..)`) and attach a [`TokenEndpoint`].
pub struct TokenApi;

#[OpenApi]
impl TokenApi {
    /// Get an access token
    ///
    /// The OAuth 2.0 client-credentials grant (RFC 6749 §4.4). Authenticate with HTTP
    /// Basic (`client_secret_basic`), with `client_id` and `client_secret` in the body
    /// (`client_secret_post`), or with a JWT signed by the client's key in
    /// `client_assertion` (`private_key_jwt`, RFC 7523): one of them. The token is a JWT
    /// (RFC 9068) to send as `Authorization: Bearer <token>` to the protected operations.
    #[oai(
        path = "/auth/token",
        method = "post",
        operation_id = "issueToken",
        tag = "OAuthTag::Auth"
    )]
    async fn issue_token(
        &self,
        request: &Request,
        endpoint: Data<&Arc<TokenEndpoint>>,
        address: ClientAddress,
        body: TokenRequestBody,
    ) -> Result<TokenResponses, TokenError> {
        let TokenEndpoint {
            issuer,
            audience,
            replay,
            proof_url,
            proof_replay,
            nonces,
            events,
            ..
        } = endpoint.as_ref();
        let params = body.0;
        let auth = client_auth(request, &params)?;
        match params.grant_type.as_deref() {
            None => return Err(invalid_request("The grant_type parameter is required")),
            Some(GRANT_CLIENT_CREDENTIALS) => {}
            Some(_) => {
                return Err(TokenError::new(
                    OAuthCode::UnsupportedGrantType,
                    "Only the client_credentials grant is supported",
                ));
            }
        }

        // The proof is checked before the client: a bad one costs no hash work and is not
        // counted against the source.
        let proof = dpop_proof(request, proof_url.as_deref(), nonces.as_deref())?;

        let source = address.0;
        let refuser = endpoint.refuser(request, source);
        let (method, found) = endpoint
            .authenticate(&refuser, auth, params.client_id.as_deref(), audience)
            .await?;
        if found.dpop_bound && proof.is_none() {
            return Err(invalid_proof(ProofError::Missing));
        }
        let scope = grant_scope(&found.scopes, params.scope.as_deref())?;
        let audience = grant_audience(
            issuer.audience(),
            &found.resources,
            params.resource.as_deref(),
            params.several_resources,
        )?;
        // Last, once everything else holds: a request refused for another reason leaves
        // the assertion and the proof unused. The assertion first: its replay is the
        // client's authentication failing.
        endpoint.use_assertion(&refuser, &found).await?;
        if let Some(proof) = &proof {
            match proof_replay
                .record(&proof.jkt, &proof.jti, proof.replay_until)
                .await
            {
                Ok(()) => {}
                Err(error) => {
                    // The request is refused after all: its assertion stays usable.
                    if let Some(verified) = &found.assertion {
                        replay.forget(&found.client_id, &verified.jti).await;
                    }
                    return Err(match error {
                        ReplayError::Replayed => invalid_proof(ProofError::Replayed),
                        ReplayError::Full | ReplayError::Unavailable => TokenError::unavailable(
                            "DPoP proofs cannot be checked for replay right now; retry shortly",
                        ),
                    });
                }
            }
        }
        let bound_to = proof.map(|proof| proof.jkt);
        let token_type = if bound_to.is_some() { DPOP } else { "Bearer" };
        let options = TokenOptions::new()
            .bound_to(bound_to)
            .audience(audience)
            .lifetime_seconds(found.token_lifetime_seconds);
        let token = issuer.issue_with(&found.client_id, scope, options)?;
        events.token_issued(&Issued {
            client_id: &found.client_id,
            scope: &token.scope,
            jti: &token.jti,
            secret: found.secret,
            method: method.as_str(),
            source,
        });
        Ok(TokenResponses::Ok(
            Json(TokenResponse {
                access_token: token.access_token,
                token_type: token_type.to_owned(),
                expires_in: token.expires_in,
                scope: token.scope,
            }),
            "no-store".to_owned(),
            "no-cache".to_owned(),
        ))
    }
}

/// The operation's `TokenResponses` documents every error status, so `TokenError` itself
/// adds nothing to the spec.
impl ApiResponse for TokenError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: Vec::new(),
        }
    }

    fn register(_registry: &mut Registry) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_empty_values_count_as_absent() {
        let p =
            TokenParams::from_form(b"grant_type=client_credentials&scope=&client_id=a").unwrap();
        assert_eq!(p.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(p.scope, None);
        assert_eq!(p.client_id.as_deref(), Some("a"));
    }

    #[test]
    fn repeated_parameter_is_refused() {
        assert!(TokenParams::from_form(b"grant_type=a&grant_type=b").is_err());
        assert!(TokenParams::from_form(b"foo=1&foo=2&grant_type=a").is_ok());
    }

    #[test]
    fn a_repeated_json_parameter_is_refused_and_repeated_unknown_members_ignored() {
        assert!(
            TokenParams::from_json(
                br#"{"grant_type":"client_credentials","client_id":"a","client_id":"b"}"#
            )
            .is_err()
        );
        assert!(TokenParams::from_json(br#"{"client_id":null,"client_id":"b"}"#).is_err());
        let p =
            TokenParams::from_json(br#"{"grant_type":"client_credentials","x":1,"x":2}"#).unwrap();
        assert_eq!(p.grant_type.as_deref(), Some("client_credentials"));
    }

    #[test]
    fn json_parameters_must_be_strings() {
        assert!(TokenParams::from_json(br#"{"grant_type":1}"#).is_err());
        assert!(TokenParams::from_json(br#"[]"#).is_err());
        let p =
            TokenParams::from_json(br#"{"grant_type":"client_credentials","other":1}"#).unwrap();
        assert_eq!(p.grant_type.as_deref(), Some("client_credentials"));
    }

    #[test]
    fn basic_decoding_and_form_decoding() {
        let creds = decode_basic(&STANDARD.encode("a%2Bb:c+d%3D")).unwrap();
        assert_eq!(creds.id, "a%2Bb");
        assert_eq!(form_decode(&creds.id).as_deref(), Some("a+b"));
        assert_eq!(form_decode(&creds.secret).as_deref(), Some("c d="));
        assert!(decode_basic("not base64!").is_none());
        assert!(decode_basic(&STANDARD.encode("no-colon")).is_none());
        assert_eq!(form_decode("%ZZ").as_deref(), Some("%ZZ"));
        assert_eq!(form_decode("%FF"), None);
    }

    proptest::proptest! {
        /// Arbitrary token request bodies and Basic values never panic, and never
        /// authenticate a client.
        #[test]
        fn arbitrary_requests_never_panic_or_authenticate(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            basic in ".{0,200}",
        ) {
            let _ = TokenParams::from_form(&body);
            let _ = TokenParams::from_json(&body);
            let registry = crate::ClientRegistry::new(&[crate::ClientConfig::with_secrets(
                "svc",
                vec![crate::ClientSecret::Plain("right-secret".to_owned().into())],
                vec!["api:write".to_owned()],
            )]);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            for encoded in [basic.clone(), STANDARD.encode(&basic)] {
                if let Some(creds) = decode_basic(&encoded) {
                    let decoded = form_decode(&creds.id).zip(form_decode(&creds.secret));
                    let mut candidates = vec![(creds.id.as_str(), creds.secret.as_str())];
                    if let Some((id, secret)) = &decoded {
                        candidates.push((id.as_str(), secret.as_str()));
                    }
                    let throttle = std::sync::Arc::new(Throttle::new(u32::MAX, std::time::Duration::from_secs(60)));
                    let outcome = runtime.block_on(registry.authenticate(AuthMethod::ClientSecretBasic, &candidates, None, &throttle));
                    proptest::prop_assert!(outcome.is_err() || candidates.iter().any(|c| c.1 == "right-secret"));
                }
            }
        }
    }

    #[test]
    fn a_resource_becomes_the_audience_only_when_the_client_may_name_it() {
        let allowed = vec!["https://a.example/api".to_owned(), "urn:x:y".to_owned()];
        let code = |r: Result<Option<String>, TokenError>| r.unwrap_err().code();
        assert_eq!(grant_audience("aud", &allowed, None, false).unwrap(), None);
        assert_eq!(
            grant_audience("aud", &allowed, Some("urn:x:y"), false).unwrap(),
            Some("urn:x:y".to_owned())
        );
        // The issuer's audience, when an absolute URI, without an entry.
        assert_eq!(
            grant_audience(
                "https://api.example",
                &[],
                Some("https://api.example"),
                false
            )
            .unwrap(),
            Some("https://api.example".to_owned())
        );
        for (audience, resource, several) in [
            ("aud", Some("aud"), false),
            ("aud", Some("https://a.example/api/"), false),
            ("aud", Some("https://a.example/api#f"), false),
            ("aud", Some("urn:x:y"), true),
            ("aud", None, true),
        ] {
            assert_eq!(
                code(grant_audience(audience, &allowed, resource, several)),
                OAuthCode::InvalidTarget,
                "{resource:?}"
            );
        }
    }

    #[test]
    fn resource_parameters_keep_the_first_and_note_repeats() {
        let p = TokenParams::from_form(b"resource=urn:a&grant_type=x").unwrap();
        assert_eq!(p.resource.as_deref(), Some("urn:a"));
        assert!(!p.several_resources);
        let p = TokenParams::from_form(b"resource=urn:a&resource=urn:b").unwrap();
        assert!(p.several_resources);
        let p = TokenParams::from_json(br#"{"resource":"urn:a","resource":"urn:a"}"#).unwrap();
        assert!(p.several_resources);
    }

    #[test]
    fn scope_is_narrowed_or_refused() {
        let allowed = vec!["api:write".to_owned(), "players:delete".to_owned()];
        assert_eq!(
            grant_scope(&allowed, None).unwrap(),
            "api:write players:delete"
        );
        assert_eq!(
            grant_scope(&allowed, Some("  ")).unwrap(),
            "api:write players:delete"
        );
        assert_eq!(
            grant_scope(&allowed, Some("players:delete")).unwrap(),
            "players:delete"
        );
        assert!(grant_scope(&allowed, Some("admin")).is_err());
    }
}
