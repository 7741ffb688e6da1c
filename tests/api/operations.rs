//! What operators get: request ids, readiness, metrics, structured logs without secrets.

use serde_json::Value;

use crate::{helpers::*, process::ServerProcess};

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/players"))
        .header("X-Request-Id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(header(response.headers(), "x-request-id"), Some("trace-42"));
    let response = app.get("/nope").await;
    let generated = header(response.headers(), "x-request-id")
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let response = app
        .http
        .get(app.url("/health"))
        .header("X-Request-Id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(
        header(response.headers(), "x-request-id"),
        Some("bad id with spaces")
    );
}

#[tokio::test]
async fn readiness_checks_the_database() {
    let app = spawn_app().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_tokens_failures_and_throttling() {
    let app = spawn_app_with("throttle = { max_failures = 1, window_seconds = 60 }").await;
    app.token().await;
    let wrong = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong"),
    ];
    assert_eq!(app.post_token_form(&wrong).await.status(), 401);
    assert_eq!(app.post_token_form(&wrong).await.status(), 429);
    app.get("/players/squadnumber/10").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        header(response.headers(), "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        "tokens_issued_total 1",
        "client_authentication_failures_total{reason=\"wrong_secret\"} 1",
        "throttled_requests_total 1",
        "http_requests_total{method=\"GET\",route=\"/players/squadnumber/{squad_number}\",status=\"200\"} 1",
        "http_requests_total{method=\"POST\",route=\"/auth/token\",status=\"429\"} 1",
        "http_request_duration_seconds_bucket{le=",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

#[test]
fn json_logs_carry_the_request_and_never_a_secret_or_token() {
    let server = ServerProcess::start(
        "log = { format = \"json\" }
[default.jwt]
key = \"0123456789abcdef0123456789abcdef\"
issuer = \"i\"
audience = \"a\"
[[default.clients]]
client_id = \"c\"
client_secret = \"super-secret-value\"
",
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let token = runtime.block_on(async {
        let http = reqwest::Client::new();
        let body: Value = http
            .post(format!("{}/auth/token", server.base))
            .header("X-Request-Id", "req-1")
            .basic_auth("c", Some("super-secret-value"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        let response = http
            .delete(format!(
                "{}/players/squadnumber/10?access_token={token}",
                server.base
            ))
            .header("X-Request-Id", "req-2")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        token
    });
    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let completed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request completed")
        .collect();
    let delete = completed
        .iter()
        .find(|l| l["span"]["request_id"] == "req-2")
        .expect("a line for the DELETE");
    assert_eq!(delete["span"]["method"], "DELETE");
    assert_eq!(
        delete["span"]["route"],
        "/players/squadnumber/{squad_number}"
    );
    assert_eq!(delete["fields"]["status"], 204);
    assert!(delete["fields"]["latency_ms"].is_number());
    assert!(completed.iter().any(|l| l["span"]["request_id"] == "req-1"));
    assert!(!log.contains("super-secret-value"), "secret in the log");
    assert!(!log.contains(&token), "token in the log");
    assert!(
        !log.contains(token.rsplit('.').next().unwrap()),
        "token signature in the log"
    );
    assert!(
        !log.to_ascii_lowercase().contains("authorization"),
        "a header in the log"
    );
}

/// The number of series `/metrics` exposes (sample lines, not comments).
async fn metric_series(app: &TestApp) -> usize {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines().filter(|l| !l.starts_with('#')).count()
}

#[tokio::test]
async fn junk_methods_and_paths_add_no_metric_series() {
    let app = spawn_app().await;
    // Every route and status the junk requests below can reach, once, so only what the
    // junk itself would add is counted.
    for method in ["BREW", "GET"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for path in ["/players", "/nowhere-0"] {
            app.http
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
        }
    }
    // The first scrape counts itself in the next one.
    metric_series(&app).await;
    let before = metric_series(&app).await;
    for i in 0..1000 {
        let method =
            reqwest::Method::from_bytes(format!("JUNK{i}X{}", "Y".repeat(i % 50)).as_bytes())
                .unwrap();
        let path = if i % 2 == 0 {
            format!("/nowhere-{i}")
        } else {
            "/players".to_owned()
        };
        let response = app
            .http
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let after = metric_series(&app).await;
    assert!(after <= before + 5, "{before} series before, {after} after");
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains("JUNK"), "a junk method became a label value");
    assert!(text.contains("method=\"other\""), "{text}");
}
