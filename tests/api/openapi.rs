//! The generated spec: committed, served, valid, and describing the API as it behaves.

use serde_json::Value;

use crate::helpers::*;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[tokio::test]
async fn the_committed_spec_is_the_generated_one() {
    let generated = players_api::openapi::document(&players_api::openapi::service());
    assert!(
        generated == COMMITTED,
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn the_served_spec_is_the_committed_one() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(
        header(response.headers(), "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(response.text().await.unwrap(), COMMITTED);
}

#[tokio::test]
async fn swagger_ui_embeds_the_served_spec() {
    let app = spawn_app().await;
    let response = app.get("/swagger").await;
    assert_eq!(response.status(), 200);
    assert!(
        header(response.headers(), "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = header(response.headers(), "content-security-policy")
        .expect("a CSP on the page where secrets are typed")
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert_eq!(header(response.headers(), "x-frame-options"), Some("DENY"));
    assert_eq!(
        header(response.headers(), "x-content-type-options"),
        Some("nosniff")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("SwaggerUIBundle"));
    assert!(
        page.contains(COMMITTED.trim_end()),
        "the page must embed the finished spec"
    );
}

#[tokio::test]
async fn the_spec_and_the_ui_answer_only_get() {
    let app = spawn_app().await;
    for path in ["/openapi.json", "/swagger"] {
        let response = app.http.post(app.url(path)).send().await.unwrap();
        assert_eq!(
            header(response.headers(), "allow"),
            Some("GET, HEAD"),
            "{path}"
        );
        assert_eq!(
            header(response.headers(), "x-content-type-options"),
            Some("nosniff")
        );
        problem(response, 405).await;
        let response = app.http.head(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

fn spec() -> Value {
    serde_json::from_str(COMMITTED).unwrap()
}

#[test]
fn security_schemes_are_http_bearer_and_oauth2_client_credentials() {
    let spec = spec();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["type"], "http");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["bearerAuth"]["bearerFormat"], "JWT");
    assert_eq!(schemes["oauth2"]["type"], "oauth2");
    assert_eq!(
        schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"],
        "/auth/token"
    );
    assert!(schemes["oauth2"]["flows"]["clientCredentials"]["scopes"]["api:write"].is_string());
    assert_eq!(schemes["dpop"]["type"], "http");
    assert_eq!(schemes["dpop"]["scheme"], "DPoP");
}

#[test]
fn writes_are_protected_and_reads_are_not() {
    let spec = spec();
    let mut protected = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(op["summary"].is_string(), "{id}: summary");
            let security = op.get("security");
            if method == "get" || path.starts_with("/auth/") {
                assert!(security.is_none(), "{id} must be anonymous");
            } else {
                protected += 1;
                let requirements = security.unwrap().as_array().unwrap();
                assert_eq!(requirements.len(), 4, "{id}");
                assert_eq!(
                    requirements[0],
                    serde_json::json!({"bearerAuth": []}),
                    "{id}"
                );
                // Alternatives: the narrow scope, or api:write.
                assert_eq!(
                    requirements[1]["oauth2"].as_array().map(Vec::len),
                    Some(1),
                    "{id}"
                );
                assert_eq!(
                    requirements[2],
                    serde_json::json!({"oauth2": ["api:write"]}),
                    "{id}"
                );
                // Or a DPoP-bound token (RFC 9449), the proof header described in words.
                assert_eq!(requirements[3], serde_json::json!({"dpop": []}), "{id}");
                assert!(
                    op["responses"]["401"]["headers"]["WWW-AUTHENTICATE"].is_object()
                        || op["responses"]["401"]["headers"]["WWW-Authenticate"].is_object(),
                    "{id}"
                );
            }
        }
    }
    assert_eq!(protected, 3);
}

#[test]
fn the_token_operation_documents_both_bodies_and_its_errors() {
    let spec = spec();
    let op = &spec["paths"]["/auth/token"]["post"];
    let content = op["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/x-www-form-urlencoded"));
    assert!(content.contains_key("application/json"));
    let request = &spec["components"]["schemas"]["TokenRequest"];
    assert_eq!(request["required"], serde_json::json!(["grant_type"]));
    let grant = &request["properties"]["grant_type"];
    let reference = grant["$ref"]
        .as_str()
        .or(grant["allOf"][0]["$ref"].as_str());
    let grant = if let Some(reference) = reference {
        spec["components"]["schemas"][reference.rsplit('/').next().unwrap()].clone()
    } else {
        grant.clone()
    };
    assert_eq!(grant["enum"], serde_json::json!(["client_credentials"]));
    for status in ["200", "400", "401", "413", "429"] {
        assert!(op["responses"][status].is_object(), "{status}");
    }
}

#[test]
fn operations_document_their_error_statuses() {
    let spec = spec();
    let statuses = |path: &str, method: &str| -> Vec<String> {
        spec["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(statuses("/players", "get"), ["200", "503"]);
    assert_eq!(
        statuses("/players/{id}", "get"),
        ["200", "400", "404", "503"]
    );
    assert_eq!(
        statuses("/players", "post"),
        [
            "201", "400", "401", "403", "409", "413", "415", "422", "503"
        ]
    );
    assert_eq!(
        statuses("/players/squadnumber/{squad_number}", "put"),
        [
            "204", "400", "401", "403", "404", "413", "415", "422", "503"
        ]
    );
    assert_eq!(
        statuses("/players/squadnumber/{squad_number}", "delete"),
        ["204", "400", "401", "403", "404", "503"]
    );
    let problem = &spec["paths"]["/players"]["post"]["responses"]["422"]["content"];
    assert!(problem["application/problem+json"].is_object());
}

/// Every field the spec says is required is refused when missing, so the spec and the
/// validator cannot drift apart.
#[tokio::test]
async fn required_fields_in_the_spec_are_required_by_the_server() {
    let spec = spec();
    let required: Vec<String> = spec["components"]["schemas"]["PlayerRequest"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        required,
        ["firstName", "lastName", "squadNumber", "position"]
    );
    let app = spawn_app().await;
    let token = app.token().await;
    for field in &required {
        let mut body = player_body(60);
        body.as_object_mut().unwrap().remove(field);
        let response = app.create_player(&token, &body).await;
        let problem = problem(response, 422).await;
        assert_eq!(problem["errors"][0]["pointer"], format!("/{field}"));
    }
}

/// Swagger UI lists the schemes in the document's order: the client-credentials form, how
/// most people authorise, comes first. (The committed text is what is served and
/// embedded, as the tests above check.) The rest of the document keeps its sorted order.
#[test]
fn the_oauth2_scheme_comes_first_in_the_document() {
    let schemes = COMMITTED
        .find("\"securitySchemes\": {")
        .expect("securitySchemes");
    let section = &COMMITTED[schemes..];
    let oauth2 = section.find("\"oauth2\": {").expect("oauth2");
    let bearer = section.find("\"bearerAuth\": {").expect("bearerAuth");
    assert!(oauth2 < bearer, "oauth2 must come before bearerAuth");
    // Both are still whole, valid schemes.
    let spec = spec();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["oauth2"]["type"], "oauth2");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    let paths = COMMITTED.find("\"paths\": {").expect("paths");
    assert!(
        COMMITTED[paths..].find("\"/.well-known/jwks.json\"")
            < COMMITTED[paths..].find("\"/players\"")
    );
}

/// Try it out on `POST /auth/token` starts from the development client's id, not
/// `"string"`; no secret is ever in the document.
#[test]
fn the_token_request_example_names_the_development_client() {
    let spec = spec();
    let properties = &spec["components"]["schemas"]["TokenRequest"]["properties"];
    assert_eq!(properties["client_id"]["example"], "foobarbaz");
    assert_eq!(properties["scope"]["example"], "api:write");
    assert!(properties["client_secret"].get("example").is_none());
    assert!(!COMMITTED.contains("7h3qu1ck"));
}

/// Every error response carries an example with its own status and, where the format
/// has one, a realistic error code: never `"status": 0` or `"error": "string"`.
#[test]
fn every_error_response_has_a_realistic_example() {
    let spec = spec();
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let code: u16 = status.parse().unwrap();
                if code < 400 {
                    continue;
                }
                let where_ = format!("{method} {path} {status}");
                let content = response["content"].as_object().expect(&where_);
                for (media, body) in content {
                    let example = &body["example"];
                    assert!(example.is_object(), "{where_} {media}: no example");
                    if media == "application/problem+json" {
                        assert_eq!(example["status"], code, "{where_}");
                        assert_eq!(example["type"], "about:blank", "{where_}");
                        assert!(example["detail"].as_str().is_some_and(|d| d.len() > 10));
                    } else {
                        let error = example["error"].as_str().expect(&where_);
                        assert_ne!(error, "string", "{where_}");
                        assert!(example["error_description"].is_string(), "{where_}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 30, "{checked}");
    let responses = &spec["paths"]["/players"]["post"]["responses"];
    let example =
        |status: &str| &responses[status]["content"]["application/problem+json"]["example"];
    assert_eq!(example("401")["error"], "invalid_token");
    assert_eq!(example("403")["error"], "insufficient_scope");
    assert_eq!(example("422")["errors"][0]["pointer"], "/squadNumber");
    let token = &spec["paths"]["/auth/token"]["post"]["responses"];
    let oauth =
        |status: &str| &token[status]["content"]["application/json; charset=utf-8"]["example"];
    assert_eq!(oauth("400")["error"], "invalid_request");
    assert_eq!(oauth("401")["error"], "invalid_client");
    assert_eq!(oauth("429")["error"], "too_many_requests");
    assert_eq!(oauth("503")["error"], "temporarily_unavailable");
}

/// The examples are what the server answers, not prose: the same mistakes get exactly
/// the documented bodies.
#[tokio::test]
async fn error_examples_are_what_the_server_sends() {
    let spec = spec();
    let example = |path: &str, method: &str, status: &str, media: &str| {
        spec["paths"][path][method]["responses"][status]["content"][media]["example"].clone()
    };
    let app = spawn_app().await;
    let token = app.token().await;
    let mut body = player_body(61);
    body["squadNumber"] = 0.into();
    let response = app.create_player(&token, &body).await;
    assert_eq!(
        problem(response, 422).await,
        example("/players", "post", "422", "application/problem+json")
    );
    let response = app.get("/players/squadnumber/98").await;
    assert_eq!(
        problem(response, 404).await,
        example(
            "/players/squadnumber/{squad_number}",
            "get",
            "404",
            "application/problem+json"
        )
    );
    let response = app
        .post_token_form(&[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)])
        .await;
    assert_eq!(
        oauth_error(response, 400, "invalid_request").await,
        example(
            "/auth/token",
            "post",
            "400",
            "application/json; charset=utf-8"
        )
    );
    let response = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ])
        .await;
    assert_eq!(
        oauth_error(response, 401, "invalid_client").await,
        example(
            "/auth/token",
            "post",
            "401",
            "application/json; charset=utf-8"
        )
    );
}

/// poem-openapi takes a spec's scopes only from `#[oai(scope = ...)]`, so each guarded
/// operation names its scopes twice: in its guard's type and in the attribute. Every
/// guarded operation of the document must be listed here, and documents exactly the
/// scopes its guard accepts.
#[test]
fn each_guarded_operation_documents_the_scopes_its_guard_enforces() {
    use players_api::auth::scopes::{CreatePlayers, DeletePlayers, UpdatePlayers};
    use poem_bearer::openapi::{check_requirement, guarded_operations};
    let spec = spec();
    type Check = fn(&Value, &str, &str) -> Result<(), String>;
    let checks: [(&str, &str, Check); 3] = [
        ("post", "/players", check_requirement::<CreatePlayers>),
        (
            "put",
            "/players/squadnumber/{squad_number}",
            check_requirement::<UpdatePlayers>,
        ),
        (
            "delete",
            "/players/squadnumber/{squad_number}",
            check_requirement::<DeletePlayers>,
        ),
    ];
    for (method, path, _) in guarded_operations(&spec) {
        let check = checks
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
            .unwrap_or_else(|| panic!("{method} {path} is guarded but not checked here"));
        (check.2)(&spec, method.as_str(), path.as_str()).unwrap();
    }
    // The check itself catches a mismatch.
    let err = check_requirement::<DeletePlayers>(&spec, "post", "/players").unwrap_err();
    assert!(err.contains("players:create"), "{err}");
}
