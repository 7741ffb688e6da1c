//! Token revocation (RFC 7009) and introspection (RFC 7662), issue 16.

use std::time::Duration;

use serde_json::{Value, json};

use crate::assertion::{claims, client_key, key_client, sign};
use crate::dpop::ProofKey;
use crate::helpers::*;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A second client, and an auditor that may introspect every token.
const MORE_CLIENTS: &str = r#"
[[default.clients]]
client_id = "other"
client_secret = "other-secret"
[[default.clients]]
client_id = "auditor"
client_secret = "auditor-secret"
introspect = true
"#;

async fn token_of(app: &TestApp, id: &str, secret: &str) -> String {
    fetch_token(&app.http, &app.base, id, secret).await
}

/// `POST path` with `form`, authenticated by `client_secret_post` as `id`.
async fn post_as(
    app: &TestApp,
    path: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut body = vec![("client_id", id), ("client_secret", secret)];
    body.extend_from_slice(form);
    app.http
        .post(app.url(path))
        .form(&body)
        .send()
        .await
        .unwrap()
}

async fn revoke(app: &TestApp, id: &str, secret: &str, token: &str) -> reqwest::Response {
    post_as(app, "/auth/revoke", id, secret, &[("token", token)]).await
}

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> Value {
    let response = post_as(app, "/auth/introspect", id, secret, &[("token", token)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("no-store")
    );
    assert_eq!(
        header(response.headers(), "content-type"),
        Some("application/json; charset=utf-8")
    );
    response.json().await.unwrap()
}

async fn assert_revoked_answer(response: reqwest::Response) {
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("no-store")
    );
    assert_eq!(response.text().await.unwrap(), "");
}

/// A write with `token`: 404 means the token was accepted (no player 99).
async fn write_status(app: &TestApp, token: &str) -> (u16, String) {
    let response = app
        .http
        .delete(app.url("/players/squadnumber/99"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let challenge = header(response.headers(), "www-authenticate")
        .unwrap_or_default()
        .to_owned();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn a_client_revokes_its_token_and_writes_refuse_it_at_once() {
    let app = spawn_app_with(MORE_CLIENTS).await;
    let token = app.token().await;
    let other = token_of(&app, "other", "other-secret").await;
    assert_eq!(write_status(&app, &token).await.0, 404);

    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &token).await).await;
    let (status, challenge) = write_status(&app, &token).await;
    assert_eq!(status, 401);
    assert!(
        challenge
            .contains(r#"error="invalid_token", error_description="The access token was revoked""#),
        "{challenge}"
    );
    // Revoking it again, or anything not active, is 200 with nothing stored.
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &token).await).await;
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, "not-a-token").await).await;
    let forged = format!("{}x", &other[..other.len() - 1]);
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &forged).await).await;
    // The other client's token is untouched.
    assert_eq!(write_status(&app, &other).await.0, 404);
    // Introspection agrees.
    assert_eq!(
        introspect(&app, CLIENT_ID, CLIENT_SECRET, &token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn another_clients_active_token_is_unauthorized_client_and_stays_valid() {
    let app = spawn_app_with(MORE_CLIENTS).await;
    let other = token_of(&app, "other", "other-secret").await;
    let response = revoke(&app, CLIENT_ID, CLIENT_SECRET, &other).await;
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("no-store")
    );
    let body = oauth_error(response, 400, "unauthorized_client").await;
    assert_eq!(
        body,
        json!({"error": "unauthorized_client", "error_description": "The token was issued to another client"})
    );
    assert_eq!(write_status(&app, &other).await.0, 404);
    // Even the auditor, who may see it, may not revoke it.
    let response = revoke(&app, "auditor", "auditor-secret", &other).await;
    oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn introspection_shows_a_callers_own_tokens_and_every_token_to_an_auditor() {
    let app = spawn_app_with(MORE_CLIENTS).await;
    let token = app.token().await;
    let claims = claims_of(&token);
    let expected = json!({
        "active": true,
        "scope": "api:write",
        "client_id": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims["nbf"],
        "jti": claims["jti"],
        "token_type": "Bearer",
    });
    assert_eq!(
        introspect(&app, CLIENT_ID, CLIENT_SECRET, &token).await,
        expected
    );
    assert_eq!(
        introspect(&app, "auditor", "auditor-secret", &token).await,
        expected
    );
    // Anyone else learns nothing, not even that it is a good token.
    assert_eq!(
        introspect(&app, "other", "other-secret", &token).await,
        json!({"active": false})
    );
    for garbage in ["", "x", "a.b.c", &"A".repeat(5000)] {
        if garbage.is_empty() {
            continue;
        }
        assert_eq!(
            introspect(&app, "auditor", "auditor-secret", garbage).await,
            json!({"active": false})
        );
    }
    // RFC 9701 is not offered: JSON whatever the client asks for.
    let response = app
        .http
        .post(app.url("/auth/introspect"))
        .header("Accept", "application/token-introspection+jwt")
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(response.json::<Value>().await.unwrap(), expected);
}

#[tokio::test]
async fn a_bound_token_is_introspected_and_revoked_without_a_proof() {
    let app = spawn_app_with(&format!(
        "public_url = \"http://127.0.0.1:1\"\n{MORE_CLIENTS}"
    ))
    .await;
    // Proofs name the public URL, which the test reaches on another port.
    let key = ProofKey::new();
    let proof = key.proof("POST", "http://127.0.0.1:1/auth/token", None, json!({}));
    let response = app
        .http
        .post(app.token_url())
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let jkt = claims_of(&token)["cnf"]["jkt"].clone();
    // A DPoP header on either endpoint is ignored, whatever it holds.
    let shown: Value = app
        .http
        .post(app.url("/auth/introspect"))
        .header("DPoP", "not even a JWT")
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("token", &token),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["token_type"], "DPoP");
    assert_eq!(shown["cnf"], json!({ "jkt": jkt }));
    let response = app
        .http
        .post(app.url("/auth/revoke"))
        .header("DPoP", "not even a JWT")
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_revoked_answer(response).await;
    assert_eq!(
        introspect(&app, CLIENT_ID, CLIENT_SECRET, &token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn requests_are_checked_in_the_token_endpoints_order() {
    let app = spawn_app_with(MORE_CLIENTS).await;
    let token = app.token().await;
    for path in ["/auth/revoke", "/auth/introspect"] {
        // A missing token stands where a missing grant_type does: before the client.
        let response = post_as(&app, path, CLIENT_ID, "wrong", &[]).await;
        let body = oauth_error(response, 400, "invalid_request").await;
        assert_eq!(
            body["error_description"], "The token parameter is required",
            "{path}"
        );
        let response = post_as(&app, path, CLIENT_ID, "wrong", &[("token", "")]).await;
        oauth_error(response, 400, "invalid_request").await;
        // Repeated known parameters are malformed; token_type_hint and unknown ones are not.
        let response = post_as(
            &app,
            path,
            CLIENT_ID,
            CLIENT_SECRET,
            &[("token", &token), ("token", &token)],
        )
        .await;
        oauth_error(response, 400, "invalid_request").await;
        let response = post_as(
            &app,
            path,
            CLIENT_ID,
            CLIENT_SECRET,
            &[
                ("token", "x"),
                ("token_type_hint", "a"),
                ("token_type_hint", "b"),
                ("grant_type", "nope"),
            ],
        )
        .await;
        assert_eq!(response.status(), 200, "{path}");
        // Then the client.
        let response = post_as(&app, path, CLIENT_ID, "wrong", &[("token", &token)]).await;
        assert_eq!(
            header(response.headers(), "cache-control"),
            Some("no-store")
        );
        oauth_error(response, 401, "invalid_client").await;
        let response = app
            .http
            .post(app.url(path))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        oauth_error(response, 401, "invalid_client").await;
        // Two methods, Basic and a body secret.
        let response = app
            .http
            .post(app.url(path))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token.as_str()), ("client_secret", CLIENT_SECRET)])
            .send()
            .await
            .unwrap();
        oauth_error(response, 400, "invalid_request").await;
        // JSON bodies too, and their repeated keys.
        let response = app
            .http
            .post(app.url(path))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("Content-Type", "application/json")
            .body(format!(r#"{{"token":"{token}","token":"x"}}"#))
            .send()
            .await
            .unwrap();
        oauth_error(response, 400, "invalid_request").await;
        let response = app
            .http
            .post(app.url(path))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("Content-Type", "application/json")
            .body(r#"{"token":"x"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        // Another method: the router's 405, still uncacheable.
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(
            header(response.headers(), "cache-control"),
            Some("no-store"),
            "{path}"
        );
        // Larger than the limit.
        let response = app
            .http
            .post(app.url(path))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", "A".repeat(70 * 1024))])
            .send()
            .await
            .unwrap();
        oauth_error(response, 413, "invalid_request").await;
    }
}

#[tokio::test]
async fn the_three_endpoints_share_one_throttle() {
    let app = spawn_app_with("[default.throttle]\nmax_failures = 3\nwindow_seconds = 60\n").await;
    let token = app.token().await;
    // One failure on each endpoint: the budget is spent.
    oauth_error(
        post_as(
            &app,
            "/auth/revoke",
            CLIENT_ID,
            "wrong",
            &[("token", &token)],
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    oauth_error(
        post_as(
            &app,
            "/auth/introspect",
            CLIENT_ID,
            "wrong",
            &[("token", &token)],
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    let grant = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ])
        .await;
    oauth_error(grant, 401, "invalid_client").await;
    for path in ["/auth/token", "/auth/revoke", "/auth/introspect"] {
        let response = post_as(
            &app,
            path,
            CLIENT_ID,
            CLIENT_SECRET,
            &[("token", &token), ("grant_type", "client_credentials")],
        )
        .await;
        assert!(
            header(response.headers(), "retry-after").is_some(),
            "{path}"
        );
        oauth_error(response, 429, "too_many_requests").await;
    }
}

#[tokio::test]
async fn a_client_past_its_revocation_limit_gets_429_and_nothing_is_stored() {
    let app = spawn_app_with("[default.revocation]\nmax_live_per_client = 2\n").await;
    let tokens = [app.token().await, app.token().await, app.token().await];
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &tokens[0]).await).await;
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &tokens[1]).await).await;
    let response = revoke(&app, CLIENT_ID, CLIENT_SECRET, &tokens[2]).await;
    // The oldest revocation lapses when its token is expired for good: exp + 60 s.
    let retry: u64 = header(response.headers(), "retry-after")
        .unwrap()
        .parse()
        .unwrap();
    let exp = claims_of(&tokens[0])["exp"].as_u64().unwrap();
    let lapses = exp + 60 - players_api::auth::token::now_seconds();
    assert!(retry.abs_diff(lapses) <= 2, "{retry} vs {lapses}");
    let body = oauth_error(response, 429, "too_many_requests").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("revocations")
    );
    assert_eq!(write_status(&app, &tokens[2]).await.0, 404, "not revoked");
    // Inactive tokens still answer 200: nothing is stored for them.
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &tokens[0]).await).await;
}

#[tokio::test]
async fn a_revocation_that_cannot_be_committed_is_503_and_not_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("players.db");
    let mut app = spawn_app_on(&db).await;
    app.keep(dir);
    let token = app.token().await;
    // The table goes away under the server, on whichever database the suite runs.
    let url = database_url(&db).await;
    let drop_table = "DROP TABLE revoked_tokens";
    if postgres_url().is_some() {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(drop_table).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(drop_table).execute(&pool).await.unwrap();
    }
    let response = revoke(&app, CLIENT_ID, CLIENT_SECRET, &token).await;
    assert_eq!(header(response.headers(), "retry-after"), Some("5"));
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("no-store")
    );
    oauth_error(response, 503, "temporarily_unavailable").await;
    assert_eq!(write_status(&app, &token).await.0, 404, "not revoked");
}

#[tokio::test]
async fn revocations_survive_a_restart_and_reach_another_instance_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("players.db");
    let first = spawn_app_on(&db).await;
    let second = spawn_app_on(&db).await;
    let token = first.token().await;
    assert_eq!(write_status(&second, &token).await.0, 404);
    assert_revoked_answer(revoke(&first, CLIENT_ID, CLIENT_SECRET, &token).await).await;
    assert_eq!(
        write_status(&first, &token).await.0,
        401,
        "at once where revoked"
    );
    let mut refused = false;
    for _ in 0..20 {
        if write_status(&second, &token).await.0 == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the other instance refuses it within 2 s");
    // A new instance on the same database loads it before it serves anything.
    let third = spawn_app_on(&db).await;
    assert_eq!(write_status(&third, &token).await.0, 401);
    drop(dir);
}

#[tokio::test]
async fn an_assertion_may_name_the_endpoint_it_is_sent_to() {
    let key = client_key(jsonwebtoken::Algorithm::EdDSA, None);
    let app = spawn_app_with(&format!(
        "public_url = \"https://players.example.com\"\n{}",
        key_client("signer", &[&key.jwk], "")
    ))
    .await;
    let assertion = |aud: &str| {
        let mut c = claims("signer");
        c["aud"] = aud.into();
        sign(&key, &c)
    };
    let grant = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            (
                "client_assertion",
                &assertion("https://players.example.com/auth/token"),
            ),
        ])
        .await;
    let token: Value = grant.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    for (path, aud, status) in [
        (
            "/auth/introspect",
            "https://players.example.com/auth/introspect",
            200,
        ),
        ("/auth/introspect", ISSUER, 200),
        (
            "/auth/introspect",
            "https://players.example.com/auth/token",
            401,
        ),
        (
            "/auth/revoke",
            "https://players.example.com/auth/introspect",
            401,
        ),
        (
            "/auth/revoke",
            "https://players.example.com/auth/revoke",
            200,
        ),
    ] {
        let response = app
            .http
            .post(app.url(path))
            .form(&[
                ("token", token.as_str()),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion(aud)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path} {aud}");
    }
    // A refused revocation leaves the assertion usable, as a refused grant does.
    let others = app.token().await;
    let kept = assertion(ISSUER);
    let refused = app
        .http
        .post(app.url("/auth/revoke"))
        .form(&[
            ("token", others.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", kept.as_str()),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(refused, 400, "unauthorized_client").await;
    let reused = app
        .http
        .post(app.url("/auth/introspect"))
        .form(&[
            ("token", others.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", kept.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        reused.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    // The assertion replay cache serves all three: an assertion used at one is spent.
    let once = assertion(ISSUER);
    let form = [
        ("token", token.as_str()),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", once.as_str()),
    ];
    let first = app
        .http
        .post(app.url("/auth/introspect"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let again = app
        .http
        .post(app.url("/auth/revoke"))
        .form(&form)
        .send()
        .await
        .unwrap();
    oauth_error(again, 401, "invalid_client").await;
}

#[tokio::test]
async fn revocation_and_introspection_are_audited_and_counted() {
    let app = spawn_app_with(MORE_CLIENTS).await;
    let token = app.token().await;
    let other = token_of(&app, "other", "other-secret").await;
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &token).await).await;
    assert_revoked_answer(revoke(&app, CLIENT_ID, CLIENT_SECRET, &token).await).await;
    revoke(&app, CLIENT_ID, CLIENT_SECRET, &other).await;
    introspect(&app, "other", "other-secret", &other).await;
    introspect(&app, "other", "other-secret", &token).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "token_revocations_total{outcome=\"revoked\"} 1",
        "token_revocations_total{outcome=\"not_revoked\"} 1",
        "token_revocations_total{outcome=\"refused\"} 1",
        "token_introspections_total{active=\"true\"} 1",
        "token_introspections_total{active=\"false\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
}

#[test]
fn an_operator_revokes_a_token_by_jti_and_the_running_server_refuses_it() {
    use crate::process::{ServerProcess, command};
    let server = ServerProcess::start(
        r#"
[default.jwt]
key = "0123456789abcdef0123456789abcdef"
issuer = "http://issuer.example"
audience = "players"
[[default.clients]]
client_id = "daemon"
client_secret = "daemon-secret"
token_lifetime_seconds = 7200
"#,
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let token = runtime.block_on(fetch_token(&http, &server.base, "daemon", "daemon-secret"));
    let jti = claims_of(&token)["jti"].as_str().unwrap().to_owned();
    let write = || {
        runtime.block_on(async {
            let response = http
                .delete(format!("{}/players/squadnumber/99", server.base))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let challenge = header(response.headers(), "www-authenticate")
                .unwrap_or_default()
                .to_owned();
            (response.status().as_u16(), challenge)
        })
    };
    assert_eq!(write().0, 404);
    // The audit log: both endpoints' events, with ids and jti, never a token.
    let second = runtime.block_on(fetch_token(&http, &server.base, "daemon", "daemon-secret"));
    let second_jti = claims_of(&second)["jti"].as_str().unwrap().to_owned();
    runtime.block_on(async {
        for path in ["/auth/introspect", "/auth/revoke"] {
            let response = http
                .post(format!("{}{path}", server.base))
                .basic_auth("daemon", Some("daemon-secret"))
                .form(&[("token", second.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    });
    let log = server.log();
    for line in [
        format!(
            "event=\"token_introspected\" active=true client_id=\"daemon\" token_client_id=\"daemon\" jti=\"{second_jti}\" source=\"127.0.0.1\""
        ),
        format!(
            "event=\"token_revoked\" outcome=\"revoked\" client_id=\"daemon\" token_client_id=\"daemon\" jti=\"{second_jti}\" source=\"127.0.0.1\""
        ),
    ] {
        assert!(log.contains(&line), "{line}\n{log}");
    }
    assert!(
        !log.contains(&second) && !log.contains(&token),
        "no token in the log"
    );
    let output = command()
        .env("APP_CONFIG", server.config_path())
        .args(["revoke", "--jti", &jti])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains(&format!("revoked the token with jti \"{jti}\"")),
        "{printed}"
    );
    // Kept for the longest lifetime any configuration allows (a day), plus the leeway.
    let until: u64 = printed
        .split("kept until ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let expected = players_api::auth::token::now_seconds() + 86_400 + 60;
    assert!(until.abs_diff(expected) <= 5, "{until} vs {expected}");
    let mut refused = None;
    for _ in 0..20 {
        let (status, challenge) = write();
        if status == 401 {
            refused = Some(challenge);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let challenge = refused.expect("refused within 2 s");
    assert!(
        challenge.contains("The access token was revoked"),
        "{challenge}"
    );
    // A jti that cannot be one is refused before the database is touched.
    let output = command()
        .env("APP_CONFIG", server.config_path())
        .args(["revoke", "--jti", ""])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("the jti must be"));
}

#[tokio::test]
async fn concurrent_revocations_cannot_all_pass_the_clients_limit() {
    let app = spawn_app_with("[default.revocation]\nmax_live_per_client = 2\n").await;
    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(app.token().await);
    }
    let answers = futures_util::future::join_all(
        tokens
            .iter()
            .map(|token| revoke(&app, CLIENT_ID, CLIENT_SECRET, token)),
    )
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 200, 429, 429, 429, 429, 429, 429, 429, 429, 429, 429]
    );
    let mut refused = 0;
    for token in &tokens {
        if write_status(&app, token).await.0 == 401 {
            refused += 1;
        }
    }
    assert_eq!(refused, 2, "exactly the two acknowledged revocations hold");
}

#[tokio::test]
async fn with_nonces_required_neither_endpoint_hands_out_a_nonce() {
    let app = spawn_app_with(
        "[default.dpop]\nrequire_nonce = true\nnonce_key = \"a-nonce-key-of-at-least-thirty-two-bytes\"\n",
    )
    .await;
    let token = app.token().await;
    for path in ["/auth/introspect", "/auth/revoke"] {
        let response = app
            .http
            .post(app.url(path))
            .header("DPoP", "not even a JWT")
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(response.headers(), "dpop-nonce"), None, "{path}");
    }
    // The token endpoint still does.
    let response = app
        .http
        .post(app.token_url())
        .header("DPoP", "not even a JWT")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert!(header(response.headers(), "dpop-nonce").is_some());
}

#[tokio::test]
async fn a_revoked_token_for_another_audience_keeps_the_audience_description() {
    let app = spawn_app_with(
        "[[default.clients]]\nclient_id = \"reports\"\nclient_secret = \"reports-secret\"\nresources = [\"urn:example:ledger\"]\n",
    )
    .await;
    let response = app
        .post_token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "reports"),
            ("client_secret", "reports-secret"),
            ("resource", "urn:example:ledger"),
        ])
        .await;
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    // Active (audience aside), so revocable by its client.
    assert_revoked_answer(revoke(&app, "reports", "reports-secret", &token).await).await;
    let (status, challenge) = write_status(&app, &token).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains("The access token is meant for another audience"),
        "{challenge}"
    );
}
