//! Per-client policy (issue 16): the resources a client may ask tokens for (RFC 8707),
//! which become the token's `aud`, and its own token lifetime.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::ServerProcess;

/// A client registered for two resources, with tokens of two minutes.
const REPORTS: &str = r#"
[[default.clients]]
client_id = "reports"
client_secret = "reports-secret"
resources = ["https://reports.example.com/api", "urn:example:ledger"]
token_lifetime_seconds = 120
"#;

async fn grant(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    let mut body = vec![
        ("grant_type", "client_credentials"),
        ("client_id", "reports"),
        ("client_secret", "reports-secret"),
    ];
    body.extend_from_slice(form);
    app.post_token_form(&body).await
}

async fn granted(response: reqwest::Response) -> (Value, Value) {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    (body, claims)
}

#[tokio::test]
async fn a_token_for_a_registered_resource_names_it_as_audience_and_lives_the_clients_lifetime() {
    let app = spawn_app_with(REPORTS).await;
    for resource in ["https://reports.example.com/api", "urn:example:ledger"] {
        let (body, claims) = granted(grant(&app, &[("resource", resource)]).await).await;
        assert_eq!(claims["aud"], resource);
        assert_eq!(body["expires_in"], 120);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            120
        );
        // Writes here want this API's audience: a token for another resource is refused.
        let response = app
            .create_player(body["access_token"].as_str().unwrap(), &player_body(77))
            .await;
        let challenge = header(response.headers(), "www-authenticate")
            .unwrap()
            .to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        problem(response, 401).await;
    }
    // Without a resource: the API's audience, still the client's lifetime.
    let (body, claims) = granted(grant(&app, &[]).await).await;
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(body["expires_in"], 120);
    let created = app
        .create_player(body["access_token"].as_str().unwrap(), &player_body(77))
        .await;
    assert_eq!(created.status(), 201);
    // An empty resource is an absent one (RFC 6749 §3.2).
    let (_, claims) = granted(grant(&app, &[("resource", "")]).await).await;
    assert_eq!(claims["aud"], AUDIENCE);
    // Other clients keep the issuer's lifetime.
    let response = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    let (body, _) = granted(response).await;
    assert_eq!(body["expires_in"], 3600);
}

#[tokio::test]
async fn a_resource_the_client_may_not_name_is_invalid_target_after_client_and_scope() {
    let app = spawn_app_with(REPORTS).await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("resource", "https://other.example.com/api")],
            "The requested resource is not allowed for this client",
        ),
        // Exact strings: no normalisation makes these the registered one.
        (
            &[("resource", "https://reports.example.com/api/")],
            "The requested resource is not allowed for this client",
        ),
        (
            &[("resource", "reports")],
            "The resource must be an absolute URI without a fragment",
        ),
        (
            &[("resource", "https://reports.example.com/api#x")],
            "The resource must be an absolute URI without a fragment",
        ),
        (
            &[
                ("resource", "https://reports.example.com/api"),
                ("resource", "urn:example:ledger"),
            ],
            "Name at most one resource",
        ),
    ];
    for (form, description) in cases {
        let body = oauth_error(grant(&app, form).await, 400, "invalid_target").await;
        assert_eq!(body["error_description"], description, "{form:?}");
    }
    // `test-audience` is not an absolute URI, so nobody may name it.
    let body = oauth_error(
        grant(&app, &[("resource", AUDIENCE)]).await,
        400,
        "invalid_target",
    )
    .await;
    assert_eq!(
        body["error_description"],
        "The resource must be an absolute URI without a fragment"
    );
    // A repeat in JSON is the same.
    let response = app
        .http
        .post(app.token_url())
        .header("Content-Type", "application/json")
        .body(r#"{"grant_type":"client_credentials","client_id":"reports","client_secret":"reports-secret","resource":"urn:example:ledger","resource":"urn:example:ledger"}"#)
        .send()
        .await
        .unwrap();
    oauth_error(response, 400, "invalid_target").await;
    // The order: the client first, then the scope, then the resource.
    let wrong_secret = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "reports"),
            ("client_secret", "wrong"),
            ("resource", "nope"),
        ])
        .await;
    oauth_error(wrong_secret, 401, "invalid_client").await;
    let bad_scope = grant(&app, &[("scope", "admin"), ("resource", "nope")]).await;
    oauth_error(bad_scope, 400, "invalid_scope").await;
    // Other parameters repeated are still malformed requests.
    let repeated = grant(&app, &[("scope", "api:write"), ("scope", "api:write")]).await;
    oauth_error(repeated, 400, "invalid_request").await;
}

#[tokio::test]
async fn the_apis_own_audience_as_an_absolute_uri_may_be_named_by_every_client() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("players.db")).await;
    let toml = config_toml_with(&url, "").replace(
        &format!("audience = \"{AUDIENCE}\""),
        "audience = \"https://players.example.com\"",
    );
    let config = players_api::Config::from_toml_str(&toml, "debug").unwrap();
    let mut app = spawn_app_from(config).await;
    app.keep(dir);
    let response = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("resource", "https://players.example.com"),
        ])
        .await;
    let (body, claims) = granted(response).await;
    assert_eq!(claims["aud"], "https://players.example.com");
    let created = app
        .create_player(body["access_token"].as_str().unwrap(), &player_body(78))
        .await;
    assert_eq!(created.status(), 201);
    let other = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("resource", "https://players.example.com/"),
        ])
        .await;
    oauth_error(other, 400, "invalid_target").await;
}

#[tokio::test]
async fn malformed_resources_and_lifetimes_stop_start_up_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("players.db")).await;
    let cases = [
        (
            "resources = [\"https://ok.example.com\", \"not a uri\"]",
            "clients[0].resources[1] is not an absolute URI without a fragment (RFC 8707 §2) (client \"reports\")",
        ),
        (
            "resources = [\"https://ok.example.com/#top\"]",
            "clients[0].resources[0] is not an absolute URI",
        ),
        (
            "token_lifetime_seconds = 0",
            "client \"reports\": token_lifetime_seconds must be between 1 and 86400, not 0",
        ),
        (
            "token_lifetime_seconds = 86401",
            "client \"reports\": token_lifetime_seconds must be between 1 and 86400, not 86401",
        ),
    ];
    for (line, expected) in cases {
        let extra = format!(
            "[[default.clients]]\nclient_id = \"reports\"\nclient_secret = \"s\"\n{line}\n"
        );
        let error = players_api::Config::from_toml_str(&config_toml_with(&url, &extra), "debug")
            .expect_err("refused")
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
}

#[test]
fn a_reload_with_a_malformed_resource_keeps_the_old_clients() {
    let config = |resource: &str| {
        format!(
            r#"
[default.jwt]
key = "0123456789abcdef0123456789abcdef"
issuer = "http://issuer.example"
audience = "players"
[[default.clients]]
client_id = "reports"
client_secret = "reports-secret"
resources = ["{resource}"]
"#
        )
    };
    let server = ServerProcess::start(&config("https://reports.example.com"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let grant = || {
        http.post(format!("{}/auth/token", server.base))
            .basic_auth("reports", Some("reports-secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", "https://reports.example.com"),
            ])
            .send()
    };
    runtime.block_on(async {
        assert_eq!(grant().await.unwrap().status(), 200);
        server.reconfigure(&config("https://reports.example.com#fragment"));
        for _ in 0..100 {
            if server.log().contains("reload failed") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let log = server.log();
        assert!(
            log.contains("reload failed, keeping the previous clients"),
            "{log}"
        );
        assert!(log.contains("clients[0].resources[0]"), "{log}");
        let body: Value = grant().await.unwrap().json().await.unwrap();
        assert_eq!(
            claims_of(body["access_token"].as_str().unwrap())["aud"],
            json!("https://reports.example.com")
        );
    });
}
