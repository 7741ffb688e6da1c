//! The brute-force brake under concurrency, fair Argon2 work, and source addresses.

use std::collections::HashMap;

use argon2::{
    Argon2, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::future::join_all;
use players_api::Config;

use crate::helpers::*;

const HASHED: &str = "hashed-client";
const HASHED_SECRET: &str = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";

fn hashed_client() -> String {
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(HASHED_SECRET.as_bytes(), &salt)
        .unwrap()
        .to_string();
    format!("[[default.clients]]\nclient_id = \"{HASHED}\"\nclient_secret_hash = \"{hash}\"\n")
}

/// `extra` in `[default]`, and the hashed client.
async fn app_with(extra: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("players.db")).await;
    let toml = config_toml_with(&url, extra) + &hashed_client();
    let mut app = spawn_app_from(Config::from_toml_str(&toml, "debug").unwrap()).await;
    app.keep(dir);
    app
}

async fn grant(
    app: &TestApp,
    id: &str,
    secret: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut request = app.http.post(app.token_url()).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ]);
    if let Some(forwarded) = forwarded {
        request = request.header("X-Forwarded-For", forwarded);
    }
    request.send().await.unwrap()
}

/// The statuses of twenty concurrent first grants of the hashed client, right secret.
async fn twenty_first_grants(app: &TestApp) -> Vec<u16> {
    join_all((0..20).map(|_| async {
        grant(app, HASHED, HASHED_SECRET, None)
            .await
            .status()
            .as_u16()
    }))
    .await
}

/// Status → how many, for `count` concurrent wrong secrets (all different) for `id`.
async fn concurrent_wrong_secrets(app: &TestApp, id: &str, count: usize) -> HashMap<u16, usize> {
    let responses = join_all((0..count).map(|i| {
        let secret = format!("wrong-{i}");
        async move { grant(app, id, &secret, None).await.status().as_u16() }
    }))
    .await;
    let mut statuses = HashMap::new();
    for status in responses {
        *statuses.entry(status).or_insert(0) += 1;
    }
    statuses
}

#[tokio::test]
async fn concurrent_wrong_secrets_get_at_most_the_budget_of_answers() {
    for id in [HASHED, CLIENT_ID] {
        let app = app_with("throttle = { max_failures = 10, window_seconds = 60 }").await;
        let statuses = concurrent_wrong_secrets(&app, id, 200).await;
        assert_eq!(statuses.get(&401), Some(&10), "{id}: {statuses:?}");
        assert_eq!(statuses.get(&429), Some(&190), "{id}: {statuses:?}");
        let secret = if id == HASHED {
            HASHED_SECRET
        } else {
            CLIENT_SECRET
        };
        let response = grant(&app, id, secret, None).await;
        oauth_error(response, 429, "too_many_requests").await;
    }
}

#[tokio::test]
async fn twenty_instances_behind_one_address_starting_with_the_right_secret_are_not_throttled() {
    // A budget of one: the first instance's verification uses it while the other
    // nineteen wait for its answer.
    let app = app_with("throttle = { max_failures = 1, window_seconds = 60 }").await;
    let statuses = twenty_first_grants(&app).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Nine failures already counted of ten: the last slot is enough for all twenty.
    let app = app_with("throttle = { max_failures = 10, window_seconds = 60 }").await;
    for i in 0..9 {
        let response = grant(&app, CLIENT_ID, &format!("wrong-{i}"), None).await;
        assert_eq!(response.status(), 401);
    }
    let statuses = twenty_first_grants(&app).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test]
async fn a_basic_header_read_two_ways_counts_two_failures_when_both_fail() {
    let app = app_with("throttle = { max_failures = 2, window_seconds = 60 }").await;
    // Form-decoded, "a b:x+" → ("a b", "x "); raw, ("a+b", "x%2B"): both wrong.
    let basic = format!("Basic {}", STANDARD.encode("a+b:x%2B"));
    let response = app
        .post_token_with(&basic, &[("grant_type", "client_credentials")])
        .await;
    oauth_error(response, 401, "invalid_client").await;
    let response = grant(&app, CLIENT_ID, CLIENT_SECRET, None).await;
    oauth_error(response, 429, "too_many_requests").await;
}

#[tokio::test]
async fn retry_after_counts_to_when_the_oldest_failure_lapses() {
    let app = app_with("throttle = { max_failures = 2, window_seconds = 4 }").await;
    assert_eq!(grant(&app, CLIENT_ID, "wrong", None).await.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(grant(&app, CLIENT_ID, "wrong", None).await.status(), 401);
    let response = grant(&app, CLIENT_ID, CLIENT_SECRET, None).await;
    let retry_after: u64 = header(response.headers(), "retry-after")
        .unwrap()
        .parse()
        .unwrap();
    // The first failure lapses 4 s after it happened, about 2.5 s from now (a new block
    // from the second failure would say 4).
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    oauth_error(response, 429, "too_many_requests").await;
}

#[tokio::test]
async fn a_flood_of_argon2_work_is_answered_503_at_once_and_the_service_recovers() {
    // Wrong secrets for the hashed client from 400 addresses behind a trusted proxy: more
    // Argon2 work than can start within 2 s.
    let app = app_with(
        "trusted_proxies = [\"127.0.0.0/8\"]\nthrottle = { max_failures = 1000, window_seconds = 60 }",
    )
    .await;
    let responses = join_all((0..400).map(|i| {
        let (secret, forwarded) = (
            format!("wrong-{i}"),
            format!("203.0.{}.{}", i / 250, i % 250 + 1),
        );
        let app = &app;
        async move { grant(app, HASHED, &secret, Some(&forwarded)).await }
    }))
    .await;
    let mut busy = 0;
    for response in responses {
        match response.status().as_u16() {
            401 => {}
            503 => {
                busy += 1;
                assert_eq!(header(response.headers(), "retry-after"), Some("1"));
                oauth_error(response, 503, "temporarily_unavailable").await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "the queue is bounded");
    let response = grant(&app, HASHED, HASHED_SECRET, Some("198.51.100.1")).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn behind_a_dual_stack_listener_forwarded_clients_are_counted_apart() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("players.db")).await;
    let toml = config_toml_with(
        &url,
        "trusted_proxies = [\"127.0.0.1\"]\nthrottle = { max_failures = 2, window_seconds = 60 }",
    )
    .replace("address = \"127.0.0.1\"", "address = \"::\"");
    let app = spawn_app_from(Config::from_toml_str(&toml, "debug").unwrap()).await;
    // The peer is ::ffff:127.0.0.1 on a dual-stack socket: still the trusted proxy.
    let base = app.base.replace("[::]", "127.0.0.1");
    let from = |client: &'static str, secret: &'static str| {
        app.http
            .post(format!("{base}/auth/token"))
            .header("X-Forwarded-For", client)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", secret),
            ])
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            from("203.0.113.1:5555", "wrong").await.unwrap().status(),
            401
        );
    }
    assert_eq!(
        from("203.0.113.1", CLIENT_SECRET).await.unwrap().status(),
        429
    );
    assert_eq!(
        from("[2001:db8::1]:443", CLIENT_SECRET)
            .await
            .unwrap()
            .status(),
        200,
        "another client behind the proxy is unaffected"
    );
    drop(dir);
}
