//! Token introspection (RFC 7662): `POST /auth/introspect` ([`IntrospectionApi`]).
//!
//! A client may introspect the tokens issued to itself; a client registered with
//! `introspect` any token of this server. Every other answer — a token the caller may not
//! see, one that is not active, another issuer's, a malformed string — is
//! `{"active": false}` and nothing more, so the endpoint tells a caller nothing it could
//! not learn from its own tokens. RFC 9701 (JWT answers) is not offered: every answer is
//! `application/json`.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::{
    endpoint::{ClientAddress, OAuthBody, OAuthForm, OAuthTag, Operation, TokenEndpoint},
    error::{OAuthErrorBody, TokenError},
    events::{Introspected, bounded_id},
};

/// Where the introspection endpoint is served.
pub const INTROSPECTION_PATH: &str = "/auth/introspect";

// The documented schema only: the body is read by `OAuthBody`.
/// An introspection request (RFC 7662 §2.1), as a form or as JSON. The client
/// authenticates as at the token endpoint.
#[derive(Debug, Object)]
pub struct IntrospectionRequest {
    /// The access token to look at (an empty one is a missing one).
    #[oai(validator(min_length = 1))]
    pub token: String,
    /// Ignored: the token says what it is.
    pub token_type_hint: Option<String>,
    /// The client id, when the client does not authenticate with HTTP Basic.
    pub client_id: Option<String>,
    /// The client secret, when the client does not authenticate with HTTP Basic.
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, with `client_assertion`.
    pub client_assertion_type: Option<String>,
    /// A JWT signed with the client's private key (`private_key_jwt`): `aud` the issuer
    /// identifier or this endpoint's URL.
    pub client_assertion: Option<String>,
}

impl OAuthForm for IntrospectionRequest {
    const OPERATION: Operation = Operation::Introspect;
}

/// `cnf` of a DPoP-bound token (RFC 9449 §6.2): the key it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct IntrospectedConfirmation {
    /// The RFC 7638 SHA-256 thumbprint of the key the token is bound to.
    pub jkt: String,
}

/// What introspection says of a token (RFC 7662 §2.2): only `active` when it is not
/// active or the caller may not see it.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct IntrospectionResponse {
    /// Whether the token would be accepted here now (audience, scope and DPoP proof
    /// aside).
    pub active: bool,
    /// The granted scopes, space-delimited.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    /// The subject: the client itself.
    #[oai(skip_serializing_if_is_none)]
    pub sub: Option<String>,
    /// The audience.
    #[oai(skip_serializing_if_is_none)]
    pub aud: Option<String>,
    /// The issuer.
    #[oai(skip_serializing_if_is_none)]
    pub iss: Option<String>,
    /// When it expires, in seconds since the Unix epoch.
    #[oai(skip_serializing_if_is_none)]
    pub exp: Option<u64>,
    /// When it was issued.
    #[oai(skip_serializing_if_is_none)]
    pub iat: Option<u64>,
    /// When it became valid.
    #[oai(skip_serializing_if_is_none)]
    pub nbf: Option<u64>,
    /// Its identifier.
    #[oai(skip_serializing_if_is_none)]
    pub jti: Option<String>,
    /// `Bearer`, or `DPoP` for a token bound to a key.
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
    // No doc comment: poem-openapi would wrap the reference in an `allOf` to carry it,
    // which SDK generators cannot take. `IntrospectedConfirmation` says what it is.
    #[allow(missing_docs)]
    #[oai(skip_serializing_if_is_none)]
    pub cnf: Option<IntrospectedConfirmation>,
}

impl IntrospectionResponse {
    /// `{"active": false}`.
    pub fn inactive() -> Self {
        IntrospectionResponse {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            aud: None,
            iss: None,
            exp: None,
            iat: None,
            nbf: None,
            jti: None,
            token_type: None,
            cnf: None,
        }
    }

    /// The answer for an active token with `claims`.
    pub fn active(claims: poem_bearer::Claims) -> Self {
        let bound = claims.bound_to.is_some();
        IntrospectionResponse {
            active: true,
            scope: Some(claims.scope),
            client_id: Some(claims.client_id),
            sub: Some(claims.subject),
            // This server's tokens have one audience.
            aud: claims.audience.into_iter().next(),
            iss: Some(claims.issuer),
            exp: Some(claims.expires_at),
            iat: claims.issued_at,
            nbf: claims.not_before,
            jti: claims.jti,
            token_type: Some(if bound { "DPoP" } else { "Bearer" }.to_owned()),
            cnf: claims.bound_to.map(|jkt| IntrospectedConfirmation { jkt }),
        }
    }
}

/// The introspection endpoint's documented answers.
#[derive(ApiResponse)]
pub enum IntrospectionResponses {
    /// What the token is; `{"active": false}` alone for a token that is not active or
    /// that the caller may not see.
    #[oai(status = 200)]
    Ok(
        Json<IntrospectionResponse>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
        /// Always `no-cache`.
        #[oai(header = "Pragma")]
        String,
    ),
    /// `invalid_request`: missing `token`, a malformed or repeated parameter, two
    /// authentication methods.
    #[oai(status = 400)]
    #[allow(dead_code)]
    BadRequest(
        Json<OAuthErrorBody>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `invalid_client`, as at the token endpoint.
    #[oai(status = 401)]
    #[allow(dead_code)]
    Unauthorized(
        Json<OAuthErrorBody>,
        /// `Basic realm="..."`, except for a browser's script.
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
    /// `too_many_requests`: the address failed client authentication too often (on any
    /// of the token, revocation and introspection endpoints).
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
    /// `temporarily_unavailable`: the client could not be checked in time.
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
}

/// The introspection endpoint as a poem-openapi API: combine it with [`TokenApi`] and
/// the API's own, with the same [`TokenEndpoint`] attached.
///
/// [`TokenApi`]: crate::TokenApi
pub struct IntrospectionApi;

#[OpenApi]
impl IntrospectionApi {
    /// Introspect an access token
    ///
    /// Token introspection (RFC 7662). The client authenticates as at the token endpoint;
    /// it sees its own tokens, and a client registered with `introspect` sees every token
    /// of this server. Anything else is `{"active": false}`.
    #[oai(
        path = "/auth/introspect",
        method = "post",
        operation_id = "introspectToken",
        tag = "OAuthTag::Auth"
    )]
    async fn introspect_token(
        &self,
        request: &Request,
        endpoint: Data<&Arc<TokenEndpoint>>,
        address: ClientAddress,
        body: OAuthBody<IntrospectionRequest>,
    ) -> Result<IntrospectionResponses, TokenError> {
        let endpoint = endpoint.as_ref();
        let params = body.0;
        let source = address.0;
        let (token, refuser, caller) = endpoint
            .token_request(request, source, &params, Operation::Introspect)
            .await?;
        endpoint.use_assertion(&refuser, &caller).await?;
        let visible = endpoint
            .validator()
            .inspect(token)
            .ok()
            .filter(|claims| caller.introspect || claims.client_id == caller.client_id);
        let token_client = visible.as_ref().map(|c| bounded_id(&c.client_id));
        endpoint.events().token_introspected(&Introspected {
            active: visible.is_some(),
            client_id: &caller.client_id,
            token_client_id: token_client.as_deref(),
            jti: visible.as_ref().and_then(|c| c.jti.as_deref()),
            source,
        });
        let answer = match visible {
            Some(claims) => IntrospectionResponse::active(claims),
            None => IntrospectionResponse::inactive(),
        };
        Ok(IntrospectionResponses::Ok(
            Json(answer),
            "no-store".to_owned(),
            "no-cache".to_owned(),
        ))
    }
}
