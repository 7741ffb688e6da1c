//! Abuse, bad input, faults and operations: each answer exact, the server healthy after.

use serde_json::Value;

use crate::{
    helpers::*,
    process::{ServerProcess, command},
};

fn wrong_secret_form() -> [(&'static str, &'static str); 3] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong"),
    ]
}

fn good_form() -> [(&'static str, &'static str); 3] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ]
}

async fn assert_throttled(response: reqwest::Response) {
    let retry_after: u64 = header(response.headers(), "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("integer seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    oauth_error(response, 429, "too_many_requests").await;
}

#[tokio::test]
async fn repeated_failed_authentication_is_throttled_per_address() {
    let app = spawn_app_with("throttle = { max_failures = 3, window_seconds = 60 }").await;
    for _ in 0..3 {
        oauth_error(
            app.post_token_form(&wrong_secret_form()).await,
            401,
            "invalid_client",
        )
        .await;
    }
    // Blocked: even the right secret, even a malformed request, gets 429.
    assert_throttled(app.post_token_form(&good_form()).await).await;
    assert_throttled(app.post_token_form(&[("grant_type", "password")]).await).await;
    // Only the token endpoint is throttled.
    assert_eq!(app.get("/players").await.status(), 200);
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_address_and_others_are_unaffected() {
    let app = spawn_app_with(
        "throttle = { max_failures = 2, window_seconds = 60 }\ntrusted_proxies = [\"127.0.0.1\"]",
    )
    .await;
    let from = |address: &'static str, form: [(&'static str, &'static str); 3]| {
        app.http
            .post(app.token_url())
            .header("X-Forwarded-For", format!("198.51.100.1, {address}"))
            .form(&form)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            from("203.0.113.1", wrong_secret_form())
                .await
                .unwrap()
                .status(),
            401
        );
    }
    assert_throttled(from("203.0.113.1", good_form()).await.unwrap()).await;
    // Another client behind the same proxy still gets its token.
    assert_eq!(
        from("203.0.113.2", good_form()).await.unwrap().status(),
        200
    );
    assert_eq!(app.post_token_form(&good_form()).await.status(), 200);
}

#[tokio::test]
async fn forwarded_for_is_ignored_without_trusted_proxies() {
    let app = spawn_app_with("throttle = { max_failures = 2, window_seconds = 60 }").await;
    for spoofed in ["203.0.113.1", "203.0.113.2"] {
        let response = app
            .http
            .post(app.token_url())
            .header("X-Forwarded-For", spoofed)
            .form(&wrong_secret_form())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    // Both failures counted against 127.0.0.1, whatever the header claimed.
    assert_throttled(app.post_token_form(&good_form()).await).await;
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_413_before_authentication() {
    let app = spawn_app_with("limits = { body_bytes = 2048 }").await;
    let big = "x".repeat(4096);
    // No token at all: still 413, the body is never read.
    let response = app
        .http
        .post(app.url("/players"))
        .header("Content-Type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    problem(response, 413).await;
    let response = app
        .http
        .post(app.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    oauth_error(response, 413, "invalid_request").await;
}

fn chunked(total: usize) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..total / 1024).map(|_| Ok(vec![b' '; 1024])).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let app = spawn_app_with("limits = { body_bytes = 2048 }").await;
    let token = app.token().await;
    let response = app
        .http
        .post(app.url("/players"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(chunked(64 * 1024))
        .send()
        .await
        .unwrap();
    assert!(header(response.headers(), "content-length").is_some());
    problem(response, 413).await;
    let response = app
        .http
        .post(app.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(chunked(64 * 1024))
        .send()
        .await
        .unwrap();
    oauth_error(response, 413, "invalid_request").await;
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn an_8_kib_token_is_rejected_as_a_token_and_a_huge_header_does_not_hurt() {
    let app = spawn_app().await;
    let long = format!(
        "Bearer {}.{}.{}",
        "a".repeat(2730),
        "b".repeat(2730),
        "c".repeat(2730)
    );
    let response = app
        .http
        .delete(app.url("/players/squadnumber/10"))
        .header("Authorization", long)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        header(response.headers(), "www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let huge = "x".repeat(1024 * 1024);
    let outcome = app
        .http
        .get(app.url("/players"))
        .header("X-Padding", huge)
        .send()
        .await;
    if let Ok(response) = outcome {
        assert!(
            [400, 431].contains(&response.status().as_u16()),
            "{}",
            response.status()
        );
    }
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn sixteen_concurrent_writers_lose_nothing() {
    let app = std::sync::Arc::new(spawn_app().await);
    let token = app.token().await;
    let mut tasks = Vec::new();
    for squad in 30..62 {
        let (app, token) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let created = app
                .create_player(&token, &player_body(squad))
                .await
                .status();
            let mut body = player_body(squad);
            body["position"] = serde_json::json!("Replaced");
            let replaced = app
                .http
                .put(app.url(&format!("/players/squadnumber/{squad}")))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status();
            (created, replaced)
        }));
    }
    // Writers racing for the same squad number: exactly one wins.
    let mut racers = Vec::new();
    for _ in 0..8 {
        let (app, token) = (app.clone(), token.clone());
        racers.push(tokio::spawn(async move {
            app.create_player(&token, &player_body(99))
                .await
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        let (created, replaced) = task.await.unwrap();
        assert_eq!((created.as_u16(), replaced.as_u16()), (201, 204));
    }
    let mut outcomes: Vec<u16> = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap());
    }
    outcomes.sort();
    assert_eq!(outcomes, [201, 409, 409, 409, 409, 409, 409, 409]);
    let players: Vec<Value> = app.get("/players").await.json().await.unwrap();
    assert_eq!(players.len(), 26 + 32 + 1);
    for squad in 30..62 {
        let player = players
            .iter()
            .find(|p| p["squadNumber"] == squad)
            .expect("acknowledged write kept");
        assert_eq!(player["position"], "Replaced");
    }
}

const JWT: &str = "[default.jwt]\nkey = \"0123456789abcdef0123456789abcdef\"\nissuer = \"i\"\naudience = \"a\"\n[[default.clients]]\nclient_id = \"c\"\nclient_secret = \"s\"\n";

fn grant_and_create(base: &str, squad: i64) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let token = fetch_token(&http, base, "c", "s").await;
        let response = http
            .post(format!("{base}/players"))
            .bearer_auth(token)
            .json(&player_body(squad))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        header(response.headers(), "location").unwrap().to_owned()
    })
}

fn status_of(url: &str) -> u16 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().status().as_u16() })
}

#[test]
fn an_acknowledged_write_survives_kill_9() {
    for synchronous in ["normal", "full"] {
        let server = ServerProcess::start(&format!(
            "database = {{ synchronous = \"{synchronous}\" }}\n{JWT}"
        ));
        let location = grant_and_create(&server.base, 77);
        let server = server.kill_and_restart();
        assert_eq!(
            status_of(&format!("{}{location}", server.base)),
            200,
            "{synchronous}"
        );
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let server = ServerProcess::start(JWT);
    assert_eq!(status_of(&format!("{}/health", server.base)), 200);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_read_only_database_answers_503_and_reads_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("players.db");
    // SQLite-specific: a read-only open of a file another app created.
    let created = players_api::Config::from_toml_str(
        &config_toml_with(&format!("sqlite://{}", db.display()), ""),
        "debug",
    )
    .unwrap();
    drop(players_api::build(created).await.unwrap());
    let url = format!("sqlite://{}?mode=ro", db.display());
    let config = players_api::Config::from_toml_str(&config_toml_with(&url, ""), "debug").unwrap();
    let app = spawn_app_from(config).await;
    let (base, http) = (app.base.clone(), app.http.clone());
    assert_eq!(
        http.get(format!("{base}/players"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let token = fetch_token(&http, &base, CLIENT_ID, CLIENT_SECRET).await;
    let response = http
        .post(format!("{base}/players"))
        .bearer_auth(&token)
        .json(&player_body(88))
        .send()
        .await
        .unwrap();
    assert!(header(response.headers(), "retry-after").is_some());
    problem(response, 503).await;
}

#[test]
fn the_release_profile_refuses_the_development_key_and_secret() {
    let output = command()
        .env("APP_PROFILE", "release")
        .env("APP_JWT__KEY", KEY)
        .env("APP_JWT__ISSUER", "i")
        .env("APP_JWT__AUDIENCE", "a")
        .env("APP_CLIENTS", r#"[{client_id="c", client_secret="s"}]"#)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("jwt.key is the public development key") && text.contains("APP_JWT__KEY"),
        "{text}"
    );

    let output = command()
        .env("APP_PROFILE", "release")
        .env("APP_JWT__KEY", "k".repeat(32))
        .env("APP_JWT__ISSUER", "i")
        .env("APP_JWT__AUDIENCE", "a")
        .env(
            "APP_CLIENTS",
            format!(r#"[{{client_id="c", client_secret="{CLIENT_SECRET}"}}]"#),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("development client_secret") && text.contains("APP_CLIENTS"),
        "{text}"
    );
}

#[test]
fn check_config_validates_without_serving() {
    let output = command().arg("check-config").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("profile debug: valid"), "{text}");
    assert!(text.contains("\"foobarbaz\""), "{text}");
    assert!(
        !text.contains(CLIENT_SECRET) && !text.contains(KEY),
        "secrets are masked: {text}"
    );

    let output = command()
        .arg("check-config")
        .env("APP_JWT__KEY", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("jwt.key"));
}

#[tokio::test]
async fn a_locked_database_answers_503_and_the_service_recovers() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("players.db");
    let url = format!("sqlite://{}", db.display());
    let config = players_api::Config::from_toml_str(
        &config_toml_with(&url, "database = { busy_timeout_ms = 200 }"),
        "debug",
    )
    .unwrap();
    let app = spawn_app_from(config).await;
    let (base, http) = (app.base.clone(), app.http.clone());
    let token = fetch_token(&http, &base, CLIENT_ID, CLIENT_SECRET).await;
    let token = token.clone();
    let create = |squad: i64| {
        http.post(format!("{base}/players"))
            .bearer_auth(&token)
            .json(&player_body(squad))
            .send()
    };

    // Another process holds the write lock longer than the busy timeout.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    problem(create(90).await.unwrap(), 503).await;
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(
        create(90).await.unwrap().status(),
        201,
        "the service recovers"
    );
}

/// Everything a run of the binary printed.
fn all_output(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn configuration_errors_never_print_a_secret_whatever_path_it_took() {
    const SECRET: &str = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    // A syntax error on the line holding the secret.
    std::fs::write(
        &broken,
        format!("[default.jwt]\nkey = \"{SECRET}\nissuer = \"i\"\n"),
    )
    .unwrap();
    for subcommand in [None, Some("check-config")] {
        let mut cmd = command();
        cmd.env("APP_CONFIG", &broken);
        if let Some(subcommand) = subcommand {
            cmd.arg(subcommand);
        }
        let text = all_output(&cmd.output().unwrap());
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("line 2") && text.contains("`key`"), "{text}");

        // A malformed APP_CLIENTS is not quoted.
        let mut cmd = command();
        cmd.env(
            "APP_CLIENTS",
            format!(r#"[{{client_id="c", client_secret="{SECRET}"}}"#),
        );
        if let Some(subcommand) = subcommand {
            cmd.arg(subcommand);
        }
        let output = cmd.output().unwrap();
        assert!(!output.status.success());
        let text = all_output(&output);
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.to_lowercase().contains("clients"), "{text}");
    }

    // A database URL's password is masked in check-config and in the start-up error.
    let url = format!("postgres://admin:{SECRET}@127.0.0.1:1/players");
    let output = command()
        .arg("check-config")
        .env("APP_DATABASE_URL", &url)
        .output()
        .unwrap();
    let text = all_output(&output);
    assert!(output.status.success(), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.contains("postgres://admin:***@127.0.0.1:1/players"),
        "{text}"
    );
    let output = command()
        .env("APP_DATABASE_URL", &url)
        .env("APP_PORT", "0") // the shipped 9000 may be taken by a server someone runs
        .env("APP_DATABASE__BUSY_TIMEOUT_MS", "500")
        .output()
        .unwrap();
    let text = all_output(&output);
    assert!(!output.status.success());
    assert!(
        text.contains("cannot open the database postgres://admin:***@"),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn a_reload_of_a_broken_file_logs_no_secret() {
    const SECRET: &str = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";
    let server = ServerProcess::start(&format!(
        "[default.jwt]\nkey = \"{KEY}\"\nissuer = \"i\"\naudience = \"a\"\n[[default.clients]]\nclient_id = \"c\"\nclient_secret = \"s\"\n"
    ));
    server.reconfigure(&format!(
        "[[default.clients]]\nclient_id = \"c\"\nclient_secret = \"{SECRET}\n"
    ));
    let mut log = String::new();
    for _ in 0..25 {
        log = server.log();
        if log.contains("reload failed") {
            break;
        }
    }
    assert!(log.contains("reload failed"), "{log}");
    assert!(!log.contains(SECRET), "{log}");
}

/// Sends a request head announcing a body of 100 bytes, then the body a byte at a time,
/// too slowly, and returns everything the server answered before closing the connection.
async fn trickle(base: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    // One byte every 300 ms: traffic enough to keep any idle timeout from firing.
    let trickling = tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let reader = async {
        let mut answer = Vec::new();
        // EOF: the server closed the connection after its answer.
        let _ = reader.read_to_end(&mut answer).await;
        answer
    };
    // The server answers while bytes are still trickling in; the reader gets the
    // answer and then EOF. (Write errors after the close are expected.)
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), reader)
        .await
        .expect("the server answered and closed the connection");
    trickling.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closes() {
    let app = spawn_app_with("limits = { body_timeout_seconds = 1 }").await;
    let token = app.token().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let answer = trickle(
        &app.base,
        &format!(
            "POST /auth/token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(lower.contains("cache-control: no-store"), "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");

    let answer = trickle(
        &app.base,
        &format!(
            "POST /players HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"first"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{answer}"
    );
    // The service is fine afterwards.
    assert_eq!(app.get("/players").await.status(), 200);
}
