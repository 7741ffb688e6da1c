//! Starts the real application on port 0 with a fresh database, and talks to it over HTTP
//! as a client would.

use players_api::{Config, build};
use reqwest::{Client, Response, header::HeaderMap};
use serde_json::Value;
use tempfile::TempDir;

pub const CLIENT_ID: &str = "foobarbaz";
pub const CLIENT_SECRET: &str = "#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42";
/// A second client whose secret reads differently raw and form-decoded.
pub const PLUS_CLIENT_ID: &str = "plus client";
pub const PLUS_CLIENT_SECRET: &str = "a+b%2Fc:d";
pub const KEY: &str = "1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM=";
pub const ISSUER: &str = "test-issuer";
pub const AUDIENCE: &str = "test-audience";

pub struct TestApp {
    pub base: String,
    pub http: Client,
    _dir: Option<TempDir>,
}

/// The test configuration with `extra` TOML inserted in `[default]`: keys, or more
/// `[[default.clients]]` tables.
pub fn config_toml_with(db_url: &str, extra: &str) -> String {
    config_toml_keys(db_url, extra, &format!("key = \"{KEY}\""))
}

/// The test configuration with `jwt_key` (TOML lines of `[default.jwt]`: the key, the
/// algorithm, previous keys) instead of the test key.
pub fn config_toml_keys(db_url: &str, extra: &str, jwt_key: &str) -> String {
    format!(
        r#"
        [default]
        address = "127.0.0.1"
        port = 0
        database_url = "{db_url}"
        {extra}
        [default.jwt]
        {jwt_key}
        issuer = "{ISSUER}"
        audience = "{AUDIENCE}"
        expires_in_seconds = 3600
        [[default.clients]]
        client_id = "{CLIENT_ID}"
        client_secret = "{CLIENT_SECRET}"
        [[default.clients]]
        client_id = "{PLUS_CLIENT_ID}"
        client_secret = "{PLUS_CLIENT_SECRET}"
        scopes = ["api:write", "players:delete"]
        "#
    )
}

/// Starts the app on a new temporary database.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("players.db");
    let mut app = spawn_app_on(&db_path).await;
    app._dir = Some(dir);
    app
}

/// Starts the app on a new temporary database with `extra` configuration appended.
pub async fn spawn_app_with(extra: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = start(&dir.path().join("players.db"), extra).await;
    app._dir = Some(dir);
    app
}

/// Starts the app with other signing keys: `jwt_key` as in [`config_toml_keys`].
pub async fn spawn_app_with_keys(jwt_key: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("players.db");
    let url = database_url(&db).await;
    let config =
        Config::from_toml_str(&config_toml_keys(&url, "", jwt_key), "debug").expect("test config");
    let mut app = spawn_app_from(config).await;
    app._dir = Some(dir);
    app
}

/// Starts the app on the database file at `db_path` (kept by the caller).
pub async fn spawn_app_on(db_path: &std::path::Path) -> TestApp {
    start(db_path, "").await
}

/// reqwest's rustls takes its crypto from the process-wide provider (aws-lc-rs, as the
/// server's): install it once, before any client is built.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// The PostgreSQL server the suite runs against, when `TEST_POSTGRES_URL` is set
/// (e.g. `postgres://postgres@127.0.0.1:55432/postgres`); otherwise the suite uses SQLite.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The database a test app uses for `db_path`: that SQLite file, or under
/// `TEST_POSTGRES_URL` a PostgreSQL database of its own, named after the path (so a
/// restarted app finds the same one), created on first use.
pub async fn database_url(db_path: &std::path::Path) -> String {
    install_crypto();
    let Some(admin) = postgres_url() else {
        return format!("sqlite://{}", db_path.display());
    };
    use sha2::Digest;
    let digest = sha2::Sha256::digest(db_path.display().to_string().as_bytes());
    let name = format!(
        "players_test_{}",
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    create_postgres_database(&admin, &name).await;
    with_database(&admin, &name)
}

/// `admin` with its database replaced by `name`.
pub fn with_database(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub async fn create_postgres_database(admin: &str, name: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(admin)
        .await
        .expect("connect to TEST_POSTGRES_URL");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut connection)
        .await
        .expect("query pg_database");
    if exists.is_none() {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut connection)
            .await
            .expect("create the test database");
    }
}

async fn start(db_path: &std::path::Path, extra: &str) -> TestApp {
    let url = database_url(db_path).await;
    let config =
        Config::from_toml_str(&config_toml_with(&url, extra), "debug").expect("test config");
    spawn_app_from(config).await
}

/// Starts the app with a configuration the test built itself.
pub async fn spawn_app_from(config: Config) -> TestApp {
    install_crypto();
    let app = build(config).await.expect("app builds");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        http: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        _dir: None,
    }
}

impl TestApp {
    /// Keeps `dir` (the database) alive as long as the app.
    pub fn keep(&mut self, dir: TempDir) {
        self._dir = Some(dir);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn token_url(&self) -> String {
        self.url("/auth/token")
    }

    /// A token for the development client, by client_secret_post.
    pub async fn token(&self) -> String {
        let response = self
            .http
            .post(self.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// A token request with an `Authorization` header (usually Basic) and a form body.
    pub async fn post_token_with(&self, authorization: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.token_url())
            .header("Authorization", authorization)
            .form(form)
            .send()
            .await
            .expect("POST /auth/token")
    }

    /// `POST /players` with a Bearer token and a JSON body.
    pub async fn create_player(&self, token: &str, body: &Value) -> Response {
        self.http
            .post(self.url("/players"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST /players")
    }

    pub async fn post_token_form(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.token_url())
            .form(form)
            .send()
            .await
            .expect("POST /auth/token")
    }
}

/// A token for `id`/`secret` from the server at `base` (client_secret_post).
pub async fn fetch_token(http: &Client, base: &str, id: &str, secret: &str) -> String {
    let response = http
        .post(format!("{base}/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "token for {id}");
    let body: Value = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A valid player body with the given squad number.
pub fn player_body(squad_number: i64) -> Value {
    serde_json::json!({
        "firstName": "Valentín",
        "lastName": "Carboni",
        "dateOfBirth": "2005-03-05",
        "squadNumber": squad_number,
        "position": "Attacking Midfield",
        "abbrPosition": "AM",
        "team": "Racing Club",
        "league": "Liga Profesional",
        "starting11": false
    })
}

/// The string value of the line `{start}"..."` in a subcommand's output, e.g. `key_id = `
/// or the secret comment `# client_secret = ` of `create-client`.
pub fn printed_value(output: &str, start: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(start)?.strip_prefix('"')?.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no `{start}\"...\"` line in:\n{output}"))
        .to_owned()
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a problem+json body, checking the content type and the members every problem has.
pub async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        header(response.headers(), "content-type"),
        Some("application/problem+json")
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], "about:blank");
    assert!(body["title"].is_string());
    assert!(body["detail"].is_string());
    body
}

/// Reads an OAuth error body, checking status, content type, no-store and the code.
pub async fn oauth_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let headers = response.headers().clone();
    assert!(
        header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")),
        "{headers:?}"
    );
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    let body: Value = response.json().await.expect("oauth error json");
    assert_eq!(body["error"], code, "{body}");
    let description = body["error_description"]
        .as_str()
        .expect("error_description");
    // RFC 6749 §5.2: printable ASCII without `"` and `\`.
    assert!(
        description
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
        "{description}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    body
}

/// A JWT's claims, read without verifying it.
pub fn claims_of(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}
