//! Several clients with their own scopes, hashed secrets, the create-client subcommand,
//! discovery and the audit log.

use argon2::{
    Argon2, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    process::{ServerProcess, command},
};

const DELETER: &str = "cleanup-daemon";
const DELETER_SECRET: &str = "deleter-secret";
const HASHED: &str = "hashed-client";
const HASHED_SECRET: &str = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";

fn argon2_hash(secret: &str) -> String {
    Argon2::default()
        .hash_password(secret.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

fn extra_clients() -> String {
    format!(
        r#"
        [[default.clients]]
        client_id = "{DELETER}"
        client_secret = "{DELETER_SECRET}"
        scopes = ["players:delete"]
        [[default.clients]]
        client_id = "{HASHED}"
        client_secret_hash = "{}"
        scopes = ["players:create", "players:update"]
        "#,
        argon2_hash(HASHED_SECRET)
    )
}

async fn grant(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.post_token_form(&form).await
}

async fn token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> String {
    let response = grant(app, id, secret, scope).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_client_gets_its_own_scopes_and_may_narrow_them() {
    let app = spawn_app_with(&extra_clients()).await;
    let body: Value = grant(&app, DELETER, DELETER_SECRET, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "players:delete");
    let body: Value = grant(&app, HASHED, HASHED_SECRET, Some("players:update"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "players:update");
    let response = grant(&app, DELETER, DELETER_SECRET, Some("api:write")).await;
    oauth_error(response, 400, "invalid_scope").await;
    let response = grant(
        &app,
        DELETER,
        DELETER_SECRET,
        Some("players:delete unknown:scope"),
    )
    .await;
    oauth_error(response, 400, "invalid_scope").await;
}

async fn assert_insufficient_scope(response: reqwest::Response, scopes: &str) {
    assert_eq!(
        header(response.headers(), "www-authenticate"),
        Some(
            format!("Bearer realm=\"players\", error=\"insufficient_scope\", scope=\"{scopes}\"")
                .as_str()
        )
    );
    let body = problem(response, 403).await;
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn a_token_without_the_needed_scope_is_403_with_the_scopes_that_would_do() {
    let app = spawn_app_with(&extra_clients()).await;
    let deleter = token(&app, DELETER, DELETER_SECRET, None).await;
    let response = app.create_player(&deleter, &player_body(70)).await;
    assert_insufficient_scope(response, "players:create api:write").await;
    let response = app
        .http
        .put(app.url("/players/squadnumber/10"))
        .bearer_auth(&deleter)
        .json(&player_body(10))
        .send()
        .await
        .unwrap();
    assert_insufficient_scope(response, "players:update api:write").await;
    // Its own write works.
    let response = app
        .http
        .delete(app.url("/players/squadnumber/10"))
        .bearer_auth(&deleter)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let creator = token(&app, HASHED, HASHED_SECRET, Some("players:create")).await;
    let response = app
        .http
        .delete(app.url("/players/squadnumber/11"))
        .bearer_auth(&creator)
        .send()
        .await
        .unwrap();
    assert_insufficient_scope(response, "players:delete api:write").await;
    assert_eq!(
        app.create_player(&creator, &player_body(71)).await.status(),
        201
    );
}

/// What the spec says each write needs is what the server enforces: a token with one
/// scope passes exactly where the spec lists that scope.
#[tokio::test]
async fn the_documented_scopes_are_the_enforced_ones() {
    let every_scope = r#"
        [[default.clients]]
        client_id = "all"
        client_secret = "all-secret"
        scopes = ["api:write", "players:create", "players:update", "players:delete"]
    "#;
    let app = spawn_app_with(every_scope).await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let known: Vec<String> =
        spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
    assert_eq!(known.len(), 4);
    for (path, method, squad) in [
        ("/players", "post", 80),
        ("/players/squadnumber/{squad_number}", "put", 81),
        ("/players/squadnumber/{squad_number}", "delete", 82),
    ] {
        let documented: Vec<&str> = spec["paths"][path][method]["security"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["oauth2"].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for scope in &known {
            let bearer = token(&app, "all", "all-secret", Some(scope)).await;
            let url = app.url(&path.replace("{squad_number}", &squad.to_string()));
            let request = match method {
                "post" => app.http.post(url).json(&player_body(squad)),
                "put" => app.http.put(url).json(&player_body(squad)),
                _ => app.http.delete(url),
            };
            let status = request.bearer_auth(&bearer).send().await.unwrap().status();
            assert_eq!(
                status == 403,
                !documented.contains(&scope.as_str()),
                "{method} {path} with {scope}: {status}, documented {documented:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_hashed_secret_client_gets_tokens_and_a_wrong_secret_does_not() {
    let app = spawn_app_with(&extra_clients()).await;
    // First grant verifies with Argon2, the second uses the remembered digest.
    for _ in 0..2 {
        let response = grant(&app, HASHED, HASHED_SECRET, None).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], "players:create players:update");
    }
    for wrong in ["wrong", &HASHED_SECRET[1..], &format!("{HASHED_SECRET}x")] {
        let response = grant(&app, HASHED, wrong, None).await;
        oauth_error(response, 401, "invalid_client").await;
    }
    // Basic works too (the secret is URL-safe, the same raw or encoded).
    let response = app
        .post_token_with(
            &format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{HASHED}:{HASHED_SECRET}")
                )
            ),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), 200);
}

const JWT_CONFIG: &str = r#"
[default.jwt]
key = "0123456789abcdef0123456789abcdef"
issuer = "http://issuer.example"
audience = "players"
"#;

#[test]
fn create_client_prints_a_secret_and_an_entry_that_works_as_config() {
    let output = command()
        .args([
            "create-client",
            "reporting-job",
            "--scopes",
            "players:update,players:delete",
            "--resource",
            "https://reports.example.com",
            "--resource",
            "urn:example:ledger",
            "--token-lifetime-seconds",
            "300",
            "--introspect",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let secret = printed_value(&text, "# client_secret = ");
    assert!(secret.len() >= 43, "at least 256 bits: {secret}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {secret}"
    );
    assert!(
        text.contains("[[debug.clients]]"),
        "the profile the binary runs"
    );
    assert!(text.contains("client_secret_hash = \"$argon2id$v=19$"));
    assert!(text.contains("introspect = true"), "{text}");
    assert_eq!(
        text.matches(&secret).count(),
        1,
        "the secret is printed once"
    );

    // The whole output, pasted as is, is a working configuration.
    let server = ServerProcess::start(&format!("{JWT_CONFIG}\n{text}"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/auth/token", server.base))
            .basic_auth("reporting-job", Some(&secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", "urn:example:ledger"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], "players:update players:delete");
        assert_eq!(body["expires_in"], 300);
        let claims = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], "urn:example:ledger");
    });
}

#[test]
fn create_client_refuses_a_resource_or_lifetime_the_server_would_refuse() {
    for (args, expected) in [
        (
            ["--resource", "reports"],
            "client \"x\": resources[0] is not an absolute URI",
        ),
        (
            ["--token-lifetime-seconds", "0"],
            "client \"x\": token_lifetime_seconds must be between 1 and 86400",
        ),
    ] {
        let output = command()
            .args(["create-client", "x"])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(output.stdout.is_empty(), "no entry is printed");
    }
}

#[test]
fn create_client_refuses_an_unknown_scope() {
    let output = command()
        .args(["create-client", "x", "--scopes", "admin"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown scope \"admin\""));
}

#[test]
fn configuration_errors_stop_start_up_naming_the_client() {
    let cases = [
        (
            "[[default.clients]]\nclient_id = \"a\"\nclient_secret = \"x\"\n[[default.clients]]\nclient_id = \"a\"\nclient_secret = \"y\"\n",
            "client \"a\" is configured twice",
        ),
        (
            "[[default.clients]]\nclient_id = \"b\"\nclient_secret = \"x\"\nscopes = [\"players:read\"]\n",
            "client \"b\" has the unknown scope \"players:read\"",
        ),
        (
            "[[default.clients]]\nclient_id = \"c\"\n",
            "client \"c\" has neither client_secret nor client_secret_hash",
        ),
        (
            "[[default.clients]]\nclient_id = \"d\"\nclient_secret = \"x\"\nclient_secret_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA\"\n",
            "client \"d\" has both",
        ),
        (
            "[[default.clients]]\nclient_id = \"\"\nclient_secret = \"x\"\n",
            "client_id is empty",
        ),
    ];
    for (clients, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, format!("{JWT_CONFIG}\n{clients}")).unwrap();
        let output = command().env("APP_CONFIG", &path).output().unwrap();
        assert!(!output.status.success(), "{expected}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains(expected), "expected {expected:?} in {text}");
    }
}

#[tokio::test]
async fn the_discovery_document_describes_the_token_endpoint() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status(), 200);
    let metadata: Value = response.json().await.unwrap();
    assert_eq!(
        metadata,
        json!({
            "issuer": ISSUER,
            "token_endpoint": format!("{}/auth/token", app.base),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported":
                ["EdDSA", "ES256", "ES384", "RS256", "PS256"],
            "revocation_endpoint": format!("{}/auth/revoke", app.base),
            "revocation_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "revocation_endpoint_auth_signing_alg_values_supported":
                ["EdDSA", "ES256", "ES384", "RS256", "PS256"],
            "introspection_endpoint": format!("{}/auth/introspect", app.base),
            "introspection_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "introspection_endpoint_auth_signing_alg_values_supported":
                ["EdDSA", "ES256", "ES384", "RS256", "PS256"],
            "dpop_signing_alg_values_supported": ["EdDSA", "ES256", "ES384", "RS256", "PS256"],
            "scopes_supported": ["api:write", "players:create", "players:update", "players:delete"],
            "response_types_supported": [],
        })
    );
}

#[tokio::test]
async fn public_url_sets_the_token_endpoint() {
    let app = spawn_app_with("public_url = \"https://players.example.com/\"").await;
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["token_endpoint"],
        "https://players.example.com/auth/token"
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        "https://players.example.com/auth/revoke"
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        "https://players.example.com/auth/introspect"
    );
}

#[test]
fn every_grant_and_failed_authentication_is_audited_without_secrets() {
    let hashed = argon2_hash(HASHED_SECRET);
    let server = ServerProcess::start(&format!(
        "{JWT_CONFIG}
[[default.clients]]
client_id = \"{CLIENT_ID}\"
client_secret = \"{CLIENT_SECRET}\"
[[default.clients]]
client_id = \"{HASHED}\"
client_secret_hash = \"{hashed}\"
scopes = [\"players:create\"]
"
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tokens = runtime.block_on(async {
        let http = reqwest::Client::new();
        let url = format!("{}/auth/token", server.base);
        let mut tokens = Vec::new();
        for (id, secret) in [(CLIENT_ID, CLIENT_SECRET), (HASHED, HASHED_SECRET)] {
            let response = http
                .post(&url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            tokens.push(body["access_token"].as_str().unwrap().to_owned());
        }
        for (id, secret) in [(HASHED, "wrong-secret-1"), ("nobody", "wrong-secret-2")] {
            let response = http
                .post(&url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
        }
        let response = http
            .post(&url)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        tokens
    });
    let log = server.log();
    let issued: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=\"token_issued\""))
        .collect();
    assert_eq!(issued.len(), 2, "{log}");
    for (line, id, scope) in [
        (issued[0], CLIENT_ID, "api:write"),
        (issued[1], HASHED, "players:create"),
    ] {
        assert!(line.contains(&format!("client_id=\"{id}\"")), "{line}");
        assert!(line.contains(&format!("scope=\"{scope}\"")), "{line}");
        assert!(line.contains("outcome=\"issued\""), "{line}");
        assert!(line.contains("jti=\""), "{line}");
        assert!(line.contains("source=\"127.0.0.1\""), "{line}");
    }
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=\"client_authentication_failed\""))
        .collect();
    assert_eq!(refused.len(), 3, "{log}");
    for (line, id, reason) in [
        (refused[0], HASHED, "wrong_secret"),
        (refused[1], "nobody", "unknown_client"),
        (refused[2], "-", "no_credentials"),
    ] {
        assert!(line.contains(&format!("client_id=\"{id}\"")), "{line}");
        assert!(line.contains(&format!("reason=\"{reason}\"")), "{line}");
        assert!(line.contains("outcome=\"refused\""), "{line}");
        assert!(line.contains("source=\"127.0.0.1\""), "{line}");
    }
    for secret in [
        CLIENT_SECRET,
        HASHED_SECRET,
        "wrong-secret-1",
        "wrong-secret-2",
    ] {
        assert!(!log.contains(secret), "a secret is in the log");
    }
    for token in &tokens {
        assert!(!log.contains(token.as_str()), "a token is in the log");
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token signature is in the log");
    }
}

#[test]
fn a_client_with_two_secrets_rotates_without_downtime_and_the_audit_says_which() {
    let (old, new) = ("old-secret-value", "new-secret-value");
    let server = ServerProcess::start(&format!(
        "{JWT_CONFIG}
[[default.clients]]
client_id = \"plain-two\"
client_secret = [\"{old}\", \"{new}\"]
[[default.clients]]
client_id = \"hashed-two\"
client_secret_hash = [\"{}\", \"{}\"]
",
        argon2_hash(old),
        argon2_hash(new)
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        for id in ["plain-two", "hashed-two"] {
            for (secret, expected) in [(old, 200), (new, 200), ("neither", 401)] {
                let status = http
                    .post(format!("{}/auth/token", server.base))
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, expected, "{id} with {secret}");
            }
        }
    });
    let log = server.log();
    let issued: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=\"token_issued\""))
        .collect();
    assert_eq!(issued.len(), 4, "{log}");
    for (line, secret) in issued.iter().zip([1, 2, 1, 2]) {
        assert!(line.contains(&format!(" secret={secret} ")), "{line}");
    }
    assert!(!log.contains(old) && !log.contains(new));
}

#[test]
fn more_than_two_secrets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!("{JWT_CONFIG}\n[[default.clients]]\nclient_id = \"x\"\nclient_secret = [\"a\", \"b\", \"c\"]\n"),
    )
    .unwrap();
    let output = command().env("APP_CONFIG", &path).output().unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("client \"x\" has 3 secrets"), "{text}");
}

#[test]
fn disabling_a_client_on_sighup_refuses_new_and_live_tokens_at_once() {
    let clients = |enabled: bool| {
        format!(
            "{JWT_CONFIG}
[[default.clients]]
client_id = \"daemon\"
client_secret = \"daemon-secret\"
enabled = {enabled}
[[default.clients]]
client_id = \"other\"
client_secret = \"other-secret\"
"
        )
    };
    let server = ServerProcess::start(&clients(true));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let grant = |id: &'static str, secret: &'static str| {
        let (http, base) = (http.clone(), server.base.clone());
        async move {
            http.post(format!("{base}/auth/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    let write = |token: String| {
        let (http, base) = (http.clone(), server.base.clone());
        async move {
            http.delete(format!("{base}/players/squadnumber/99"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    runtime.block_on(async {
        let body: Value = grant("daemon", "daemon-secret").await.json().await.unwrap();
        let live = body["access_token"].as_str().unwrap().to_owned();
        let body: Value = grant("other", "other-secret").await.json().await.unwrap();
        let others = body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(write(live.clone()).await.status(), 404, "authenticated");

        server.reconfigure(&clients(false));
        let mut refused = false;
        for _ in 0..50 {
            if grant("daemon", "daemon-secret").await.status() == 401 {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(refused, "the disabled client gets no new token");
        oauth_error(
            grant("daemon", "daemon-secret").await,
            401,
            "invalid_client",
        )
        .await;
        let response = write(live).await;
        assert!(
            header(response.headers(), "www-authenticate")
                .unwrap()
                .contains("invalid_token")
        );
        problem(response, 401).await;
        assert_eq!(
            write(others).await.status(),
            404,
            "other clients are unaffected"
        );
    });
    assert!(server.log().contains("clients reloaded (SIGHUP)"));
    assert!(server.log().contains("reason=\"client_disabled\""));
}

#[test]
fn a_reload_replaces_valid_clients_even_when_a_start_up_setting_broke() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("old.pem");
    let generated = players_api::auth::keys::generate(jsonwebtoken::Algorithm::EdDSA).unwrap();
    std::fs::write(&pem, generated.public_pem.unwrap()).unwrap();
    let config = |enabled: bool, extra: &str| {
        format!(
            "{JWT_CONFIG}[[default.jwt.previous_keys]]
key_id = \"old\"
algorithm = \"EdDSA\"
public_key_file = \"{}\"
[[default.clients]]
client_id = \"daemon\"
client_secret = \"daemon-secret\"
enabled = {enabled}
{extra}",
            pem.display()
        )
    };
    let server = ServerProcess::start(&config(true, ""));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let grant = || {
        let (http, base) = (http.clone(), server.base.clone());
        async move {
            http.post(format!("{base}/auth/token"))
                .basic_auth("daemon", Some("daemon-secret"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let reloads = |outcome: &str| {
        let (http, base) = (http.clone(), server.base.clone());
        let needle = format!("config_reloads_total{{outcome=\"{outcome}\"}} ");
        async move {
            let text = http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix(&needle))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap()
        }
    };
    runtime.block_on(async {
        assert_eq!(grant().await, 200);
        // A file read only at start-up is gone, and the client is being disabled.
        std::fs::remove_file(&pem).unwrap();
        server.reconfigure(&config(false, ""));
        let mut refused = false;
        for _ in 0..50 {
            if grant().await == 401 {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(refused, "the clients reloaded despite the missing file");
        assert_eq!(reloads("applied").await, 1);
        assert_eq!(reloads("failed").await, 0);

        // An invalid client list keeps the previous clients.
        server.reconfigure(&config(
            true,
            "[[default.clients]]\nclient_id = \"daemon\"\nclient_secret = \"x\"\n",
        ));
        let mut failed = false;
        for _ in 0..50 {
            if reloads("failed").await == 1 {
                failed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(failed);
        assert_eq!(grant().await, 401, "still the previous (disabled) client");
    });
    let log = server.log();
    assert!(
        log.contains("ERROR") && log.contains("public_key_file"),
        "{log}"
    );
    assert!(
        log.contains("reload failed, keeping the previous clients"),
        "{log}"
    );
}

#[tokio::test]
async fn sighup_during_start_up_does_not_stop_the_server_and_reloads_once_ready() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("players.db").display()
    );
    // Another process holds the database: the server waits in its migrations.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    let config = format!(
        "database = {{ busy_timeout_ms = 20000 }}\n{JWT_CONFIG}[[default.clients]]\nclient_id = \"c\"\nclient_secret = \"s\"\n"
    );
    let mut server = ServerProcess::spawn_with_database(&url.replace("?mode=rwc", ""), &config);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    server.hang_up();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        server.is_running(),
        "SIGHUP during start-up ended the process"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    server.wait_until_listening();
    let mut reloaded = false;
    for _ in 0..50 {
        if server.log().contains("clients reloaded (SIGHUP)") {
            reloaded = true;
            break;
        }
    }
    assert!(
        reloaded,
        "the reload asked for during start-up ran once ready"
    );
}
