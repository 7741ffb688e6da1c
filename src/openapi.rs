//! The OpenAPI document and what is derived from it: the served and committed spec, the
//! Swagger UI page, and the `Allow` header of 405 responses.
//!
//! The document is generated from the code by poem-openapi and then passed through
//! `finish`, the one place where the generated text is corrected before anyone sees it:
//! the same text is served at `/openapi.json`, embedded in Swagger UI and committed at
//! `openapi/openapi.json`.

use poem_bearer::{BearerError, Refusal, Rejection};
use poem_client_credentials::TokenError;
use poem_openapi::OpenApiService;
use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::Value;

use crate::{
    auth::{
        IntrospectionApi, RevocationApi, TokenApi,
        bearer::{BEARER_SCHEME, OAUTH2_SCHEME, REALM},
        discovery::{DiscoveryApi, NO_PUBLISHED_KEYS},
    },
    error::{Error, FieldError, body_json},
    health::HealthApi,
    players::{PlayersApi, api::NO_SUCH_PLAYER, store::SQUAD_NUMBER_TAKEN},
};

pub use crate::tags::ApiTag;

pub type Apis = (
    PlayersApi,
    TokenApi,
    RevocationApi,
    IntrospectionApi,
    DiscoveryApi,
    HealthApi,
);

/// The poem-openapi service: the routes and the raw document.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            PlayersApi,
            TokenApi,
            RevocationApi,
            IntrospectionApi,
            DiscoveryApi,
            HealthApi,
        ),
        "Players API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "The Argentina squad as a REST resource. Reads are open; writes need a Bearer \
         access token from `POST /auth/token` (OAuth 2.0 client credentials).",
    )
}

/// The finished document as pretty-printed JSON with a trailing newline: exactly the
/// text of `openapi/openapi.json`.
pub fn document(service: &OpenApiService<Apis, ()>) -> String {
    let raw = service.spec();
    let finished = serde_json::from_str::<Value>(&raw)
        .map(finish)
        .and_then(|v| {
            serde_json::to_string_pretty(&Ordered {
                value: &v,
                path: &ORDERED_AT,
            })
        });
    match finished {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // The generator's own output always parses; keep it unchanged if it ever did not.
        Err(_) => raw,
    }
}

/// Corrections to the generated document.
fn finish(mut doc: Value) -> Value {
    // An empty `servers` list says nothing; without it, clients use the spec's own origin.
    if let Some(root) = doc.as_object_mut()
        && root
            .get("servers")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        root.remove("servers");
    }
    // poem-openapi names chrono's `NaiveDate` format `naive-date`; OpenAPI's name for a
    // full-date (RFC 3339) is `date`, which validators and generators check.
    rename_format(&mut doc, "naive-date", "date");
    // A player request's optional fields may be sent as null, meaning absent (the server
    // has always taken them so); poem-openapi cannot say so for an `Option` field.
    if let Some(schema) = doc.pointer_mut("/components/schemas/PlayerRequest") {
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            for (name, property) in properties.iter_mut() {
                if !required.contains(name)
                    && let Some(property) = property.as_object_mut()
                {
                    property.insert("nullable".to_owned(), Value::Bool(true));
                }
            }
        }
    }
    // Scopes only on oauth2 requirements, as alternatives (poem-openapi writes one list
    // onto every scheme, meaning all of them).
    poem_bearer::openapi::correct_scopes(&mut doc);
    add_error_examples(&mut doc);
    // The crates' descriptions say what any API would; these say what this one does.
    for (pointer, description) in [
        (
            "/paths/~1auth~1token/post/responses/401/headers/WWW-AUTHENTICATE/description",
            "`Basic realm=\"players\"`, except on a request carrying `Origin` or\n`X-Requested-With` (a browser's script), where it would open the browser's\nown login dialog.",
        ),
        (
            "/paths/~1auth~1token/post/responses/413/description",
            "`invalid_request`: the body is larger than `limits.body_bytes` (64 KiB by default).",
        ),
        (
            "/paths/~1auth~1token/post/description",
            "The OAuth 2.0 client-credentials grant (RFC 6749 §4.4). Authenticate with HTTP\nBasic (`client_secret_basic`), with `client_id` and `client_secret` in the body\n(`client_secret_post`), or with a JWT signed by the client's key in\n`client_assertion` (`private_key_jwt`, RFC 7523): one of them. The token is a JWT\n(RFC 9068) to send as `Authorization: Bearer <token>` on writes.",
        ),
        (
            "/components/schemas/ServerMetadata/properties/issuer/description",
            "The issuer identifier: the tokens' `iss` (`jwt.issuer`).",
        ),
    ] {
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = Value::from(description);
        }
    }
    // Try it out on the token, revocation and introspection operations starts from the
    // development client (the document is the same in every profile, and never names a
    // secret).
    for schema in ["TokenRequest", "RevocationRequest", "IntrospectionRequest"] {
        if let Some(properties) =
            doc.pointer_mut(&format!("/components/schemas/{schema}/properties"))
        {
            for (name, example) in [("client_id", "foobarbaz"), ("scope", "api:write")] {
                if let Some(property) = properties.get_mut(name).and_then(Value::as_object_mut) {
                    property.insert("example".to_owned(), Value::from(example));
                }
            }
        }
    }
    add_dpop_headers(&mut doc);
    // Swagger UI builds a JSON body from every property of the schema, the client
    // assertion's too, which would make the example mix two authentication methods: the
    // example names the ones a secret client sends.
    if let Some(json) =
        doc.pointer_mut("/paths/~1auth~1token/post/requestBody/content/application~1json")
        && let Some(json) = json.as_object_mut()
    {
        json.insert(
            "example".to_owned(),
            serde_json::json!({
                "grant_type": "client_credentials",
                "client_id": "foobarbaz",
                "client_secret": "your client secret",
                "scope": "api:write",
            }),
        );
    }
    for operation in ["revoke", "introspect"] {
        if let Some(json) = doc
            .pointer_mut(&format!(
                "/paths/~1auth~1{operation}/post/requestBody/content/application~1json"
            ))
            .and_then(Value::as_object_mut)
        {
            json.insert(
                "example".to_owned(),
                serde_json::json!({
                    "token": "an access token",
                    "client_id": "foobarbaz",
                    "client_secret": "your client secret",
                }),
            );
        }
    }
    doc
}

/// What OpenAPI 3.0 can say of DPoP beyond its security scheme: the `DPoP` proof header
/// on the token operation and on every write that takes DPoP-bound tokens, and the
/// `DPoP-Nonce` answer header on their 400/401s.
fn add_dpop_headers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let takes_dpop = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|r| r.get(poem_bearer::DPOP_SCHEME).is_some()));
            let token = path == crate::auth::bearer::TOKEN_URL;
            if !(takes_dpop || token) {
                continue;
            }
            let description = if token {
                "A DPoP proof (RFC 9449): the token is then bound to its key (`token_type` `DPoP`). `htm` `POST`, `htu` this endpoint's URL."
            } else {
                "With `Authorization: DPoP <token>`: a new proof for this request (RFC 9449), with `ath` the token's SHA-256."
            };
            if let Some(object) = operation.as_object_mut() {
                let parameters = object
                    .entry("parameters")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Some(parameters) = parameters.as_array_mut() {
                    parameters.push(serde_json::json!({
                        "name": "DPoP",
                        "in": "header",
                        "required": false,
                        "deprecated": false,
                        "description": description,
                        "schema": { "type": "string" },
                    }));
                }
            }
            let status = if token { "400" } else { "401" };
            if let Some(headers) = operation
                .pointer_mut(&format!("/responses/{status}"))
                .and_then(Value::as_object_mut)
                .map(|r| r.entry("headers").or_insert_with(|| serde_json::json!({})))
                .and_then(Value::as_object_mut)
            {
                headers.insert(
                    "DPOP-NONCE".to_owned(),
                    serde_json::json!({
                        "description": "With `use_dpop_nonce` (`dpop.require_nonce`): the nonce the next proof must carry.",
                        "required": false,
                        "deprecated": false,
                        "schema": { "type": "string" },
                    }),
                );
            }
        }
    }
}

/// The order of `components.securitySchemes`, which is the order of Swagger UI's
/// Authorize dialog: the client-credentials form first, since that is how most people
/// authorise. Schemes not listed follow in name order.
const SCHEME_ORDER: [&str; 2] = [OAUTH2_SCHEME, BEARER_SCHEME];

/// Where in the document the members follow [`SCHEME_ORDER`].
const ORDERED_AT: [&str; 2] = ["components", "securitySchemes"];

/// Serialises `value` as serde_json would (its maps are sorted by key), except the object
/// at `path` below it, whose members follow [`SCHEME_ORDER`]. Done here rather than with
/// serde_json's `preserve_order`, which would reorder the whole committed document.
struct Ordered<'a> {
    value: &'a Value,
    path: &'a [&'a str],
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(object) = self.value else {
            return self.value.serialize(serializer);
        };
        let mut entries: Vec<(&String, &Value)> = object.iter().collect();
        if self.path.is_empty() {
            let rank = |name: &str| {
                SCHEME_ORDER
                    .iter()
                    .position(|n| *n == name)
                    .unwrap_or(SCHEME_ORDER.len())
            };
            // Stable: unlisted members keep their name order.
            entries.sort_by_key(|(name, _)| rank(name));
        }
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            match self.path.split_first() {
                Some((next, rest)) if key == next => {
                    map.serialize_entry(key, &Ordered { value, path: rest })?
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

/// Gives every documented error response an example: the body the server really sends
/// for a typical case of that status, rendered by [`Error`] itself (so never
/// `"status": 0`, and never out of date).
fn add_error_examples(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                let Some(example) = status
                    .parse()
                    .ok()
                    .and_then(|status| typical_error(path, method, status))
                    .and_then(body_json)
                else {
                    continue;
                };
                if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
                    for media in content.values_mut().filter_map(Value::as_object_mut) {
                        media.insert("example".to_owned(), example.clone());
                    }
                }
            }
        }
    }
}

/// The typical error behind `status` on an operation, in the format that path answers
/// in, as the response the server sends.
fn typical_error(path: &str, method: &str, status: u16) -> Option<poem::Response> {
    use poem::error::ResponseError;
    if path.starts_with("/auth/") {
        return Some(
            match status {
                400 if path == crate::auth::bearer::TOKEN_URL => {
                    TokenError::invalid_request("The grant_type parameter is required")
                }
                400 => TokenError::invalid_request("The token parameter is required"),
                401 => TokenError::invalid_client(None),
                413 => TokenError::body_too_large(),
                429 => TokenError::too_many_requests(42),
                503 => TokenError::busy(),
                _ => return None,
            }
            .as_response(),
        );
    }
    let error = typical_problem(path, method, status)?;
    Some(error.as_response())
}

fn typical_problem(path: &str, method: &str, status: u16) -> Option<Error> {
    let writes_a_body = matches!(method, "post" | "put");
    Some(match status {
        400 if writes_a_body => Error::BadRequest("The request body is not valid JSON"),
        400 => Error::BadRequest("A path or query parameter is not of the expected form"),
        401 => Error::Bearer(BearerError::new(
            Refusal::InvalidToken(Rejection::Expired),
            REALM,
        )),
        403 => Error::Bearer(BearerError::new(
            Refusal::InsufficientScope("api:write"),
            REALM,
        )),
        404 if path.ends_with("jwks.json") => Error::NotFound(NO_PUBLISHED_KEYS),
        404 => Error::NotFound(NO_SUCH_PLAYER),
        409 => Error::Conflict(SQUAD_NUMBER_TAKEN),
        413 => Error::PayloadTooLarge,
        415 => Error::UnsupportedMediaType("The request body must be application/json"),
        422 => Error::Validation(vec![FieldError {
            pointer: "/squadNumber".to_owned(),
            detail: "must be between 1 and 99".to_owned(),
        }]),
        503 => Error::Unavailable,
        _ => return None,
    })
}

fn rename_format(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some(from) {
                map.insert("format".to_owned(), Value::String(to.to_owned()));
            }
            map.values_mut().for_each(|v| rename_format(v, from, to));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_format(v, from, to)),
        _ => {}
    }
}

/// The Swagger UI page, embedding the finished document rather than the raw one.
pub fn swagger_page(service: &OpenApiService<Apis, ()>, document: &str) -> String {
    service.swagger_ui_html().replace(&service.spec(), document)
}

/// The Content-Security-Policy of the Swagger UI page, where people type client secrets:
/// no framing (clickjacking), no script but the page's own inline scripts (allowed by
/// their SHA-256, so an injected one does not run), no `eval`, and requests to this
/// origin only. Styles may be inline: Swagger UI sets style attributes.
pub fn swagger_csp(page: &str) -> String {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use sha2::{Digest, Sha256};

    let mut hashes = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<script") {
        let after_tag = &rest[start..];
        let Some(open_end) = after_tag.find('>') else {
            break;
        };
        let body = &after_tag[open_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        hashes.push(format!(
            "'sha256-{}'",
            STANDARD.encode(Sha256::digest(&body.as_bytes()[..close]))
        ));
        rest = &body[close..];
    }
    format!(
        "default-src 'self'; script-src {}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        hashes.join(" ")
    )
}

/// The order methods are listed in an `Allow` header.
const METHOD_ORDER: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// The documented paths (plus a few served outside the document): for each, its template
/// and the methods it accepts. Gives 405 responses their `Allow` header and metrics and
/// logs a route label of bounded cardinality.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<RouteEntry>,
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// The path template, e.g. `/players/{id}`.
    pub template: String,
    /// The `Allow` value, e.g. `GET, HEAD, POST`.
    pub allow: String,
    segments: Vec<Option<String>>,
}

impl RouteTable {
    pub fn from_document(document: &str) -> Self {
        let doc: Value = serde_json::from_str(document).unwrap_or(Value::Null);
        let mut table = Self::default();
        if let Some(entries) = doc.get("paths").and_then(Value::as_object) {
            for (template, operations) in entries {
                let documented: Vec<String> = operations
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                // poem answers HEAD wherever GET is routed.
                let methods: Vec<&str> = METHOD_ORDER
                    .iter()
                    .copied()
                    .filter(|m| {
                        documented.iter().any(|d| d == m)
                            || (*m == "HEAD" && documented.iter().any(|d| d == "GET"))
                    })
                    .collect();
                table.push(template, methods.join(", "));
            }
        }
        table
    }

    fn push(&mut self, template: &str, allow: String) {
        self.routes.push(RouteEntry {
            template: template.to_owned(),
            allow,
            segments: template
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect(),
        });
    }

    /// Adds a path outside the document that answers only GET (and so HEAD).
    pub fn with_read_only(mut self, path: &str) -> Self {
        self.push(path, "GET, HEAD".to_owned());
        self
    }

    /// The route a request path falls under, if any.
    pub fn matching(&self, path: &str) -> Option<&RouteEntry> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes.iter().find(|route| {
            route.segments.len() == segments.len()
                && route
                    .segments
                    .iter()
                    .zip(&segments)
                    // A parameter matches a non-empty segment only: `/players/` is not
                    // `/players/{id}`.
                    .all(|(t, s)| match t.as_deref() {
                        Some(t) => t == *s,
                        None => !s.is_empty(),
                    })
        })
    }
}
