//! PostgreSQL and several instances: the PostgreSQL half. Its tests are ignored by a plain
//! `cargo test`, which lists each as `ignored, <how to run it>`; run them with
//! `TEST_POSTGRES_URL=$(.ci/postgres.sh start) cargo test --test api -- --include-ignored`
//! (what `.ci/run` does). With `TEST_POSTGRES_URL` set, the rest of the suite runs against
//! PostgreSQL too (see `helpers::database_url`).

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use crate::{helpers::*, process::ServerProcess};

/// Why the PostgreSQL half is not part of a plain `cargo test`, and how to run it: shown
/// by `cargo test` beside each of its tests.
const POSTGRES_HALF: &str = "the PostgreSQL half: TEST_POSTGRES_URL=$(.ci/postgres.sh start) cargo test --test api -- --include-ignored";

/// The server the PostgreSQL half runs against. Asked for and not given, it fails rather
/// than passing silently.
fn required_postgres_url() -> String {
    postgres_url().unwrap_or_else(|| panic!("TEST_POSTGRES_URL is not set; run {POSTGRES_HALF}"))
}

#[test]
#[ignore = "the PostgreSQL half: TEST_POSTGRES_URL=$(.ci/postgres.sh start) cargo test --test api -- --include-ignored"]
fn the_postgresql_half_ran_against_postgresql() {
    let url = required_postgres_url();
    assert!(
        players_api::players::PlayerStore::is_postgres(&url),
        "{url}"
    );
}

const INSTANCE_CONFIG: &str = "[default.jwt]
key = \"0123456789abcdef0123456789abcdef\"
issuer = \"shared-issuer\"
audience = \"players\"
[[default.clients]]
client_id = \"c\"
client_secret = \"s\"
";

#[tokio::test]
#[ignore = "the PostgreSQL half: TEST_POSTGRES_URL=$(.ci/postgres.sh start) cargo test --test api -- --include-ignored"]
async fn a_client_assertion_used_at_one_instance_is_refused_at_the_other() {
    use crate::assertion::{ASSERTION_TYPE, claims, client_key, key_client, sign};
    let admin = required_postgres_url();
    let url = fresh_database(&admin).await;
    let key = client_key(jsonwebtoken::Algorithm::EdDSA, None);
    let config = format!("{INSTANCE_CONFIG}{}", key_client("signer", &[&key.jwk], ""));
    let a = ServerProcess::start_with_database(&url, &config);
    let b = ServerProcess::start_with_database(&url, &config);
    let mut claims = claims("signer");
    claims["aud"] = "shared-issuer".into();
    let assertion = sign(&key, &claims);
    let http = reqwest::Client::new();
    let grant = |base: String| {
        let (http, assertion) = (http.clone(), assertion.clone());
        async move {
            http.post(format!("{base}/auth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(grant(a.base.clone()).await.status(), 200);
    for base in [b.base.clone(), a.base.clone()] {
        let body = oauth_error(grant(base).await, 401, "invalid_client").await;
        assert_eq!(
            body["error_description"],
            "The client assertion was replayed: its jti has been used"
        );
    }
}

#[tokio::test]
#[ignore = "the PostgreSQL half: TEST_POSTGRES_URL=$(.ci/postgres.sh start) cargo test --test api -- --include-ignored"]
async fn a_token_revoked_at_one_instance_is_refused_at_the_other_within_two_seconds() {
    let admin = required_postgres_url();
    let url = fresh_database(&admin).await;
    let a = ServerProcess::start_with_database(&url, INSTANCE_CONFIG);
    let b = ServerProcess::start_with_database(&url, INSTANCE_CONFIG);
    let http = reqwest::Client::new();
    let token = fetch_token(&http, &a.base, "c", "s").await;
    let write = |base: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            http.delete(format!("{base}/players/squadnumber/99"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(write(b.base.clone()).await, 404);
    let revoked = http
        .post(format!("{}/auth/revoke", a.base))
        .basic_auth("c", Some("s"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(write(a.base.clone()).await, 401, "at once where revoked");
    let started = std::time::Instant::now();
    while write(b.base.clone()).await != 401 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "the other instance refuses it within 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Restarted, an instance loads it before it serves.
    drop(b);
    let c = ServerProcess::start_with_database(&url, INSTANCE_CONFIG);
    assert_eq!(write(c.base.clone()).await, 401);
}

async fn fresh_database(admin: &str) -> String {
    let name = format!("players_multi_{}", uuid::Uuid::new_v4().simple());
    create_postgres_database(admin, &name).await;
    with_database(admin, &name)
}

#[tokio::test]
#[ignore = "the PostgreSQL half: TEST_POSTGRES_URL=$(.ci/postgres.sh start) cargo test --test api -- --include-ignored"]
async fn two_instances_share_one_database() {
    let admin = required_postgres_url();
    let url = fresh_database(&admin).await;
    // Both start at once against an unmigrated database: one migrates and seeds, the
    // other waits on the migrator's lock.
    let (a, b) = {
        let (u1, u2) = (url.clone(), url.clone());
        let a =
            std::thread::spawn(move || ServerProcess::start_with_database(&u1, INSTANCE_CONFIG));
        let b =
            std::thread::spawn(move || ServerProcess::start_with_database(&u2, INSTANCE_CONFIG));
        (a.join().unwrap(), b.join().unwrap())
    };
    let http = reqwest::Client::new();
    let players: Vec<Value> = http
        .get(format!("{}/players", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(players.len(), 26, "seeded exactly once");

    // A token issued by one instance is accepted by the other.
    let from_a = fetch_token(&http, &a.base, "c", "s").await;
    let response = http
        .delete(format!("{}/players/squadnumber/1", b.base))
        .bearer_auth(&from_a)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    // Concurrent writes through both lose nothing.
    let mut tasks = Vec::new();
    for squad in 30..60 {
        let base = if squad % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let (http, token) = (http.clone(), from_a.clone());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/players"))
                .bearer_auth(&token)
                .json(&player_body(squad))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    // Conflicting creates through the two instances: exactly one 201 and one 409.
    let (first, second) = tokio::join!(
        http.post(format!("{}/players", a.base))
            .bearer_auth(&from_a)
            .json(&player_body(77))
            .send(),
        http.post(format!("{}/players", b.base))
            .bearer_auth(&from_a)
            .json(&player_body(77))
            .send(),
    );
    let mut statuses = [
        first.unwrap().status().as_u16(),
        second.unwrap().status().as_u16(),
    ];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);

    let players: Vec<Value> = http
        .get(format!("{}/players", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(players.len(), 26 - 1 + 30 + 1);
}

/// A TCP proxy the test can cut: the database "goes away" and comes back.
async fn cuttable_proxy(target: String, up: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                break;
            };
            if !up.load(Ordering::SeqCst) {
                continue; // dropped: connection refused in effect
            }
            let (target, up) = (target.clone(), up.clone());
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(&target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = async { while up.load(Ordering::SeqCst) { tokio::time::sleep(std::time::Duration::from_millis(20)).await } } => {}
                }
            });
        }
    });
    port
}

#[tokio::test]
#[ignore = "the PostgreSQL half: TEST_POSTGRES_URL=$(.ci/postgres.sh start) cargo test --test api -- --include-ignored"]
async fn losing_the_database_answers_503_and_the_service_recovers() {
    let admin = required_postgres_url();
    let url = fresh_database(&admin).await;
    let parsed = url::Url::parse(&url).unwrap();
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    );
    let up = Arc::new(AtomicBool::new(true));
    let port = cuttable_proxy(target, up.clone()).await;
    let mut proxied = parsed.clone();
    proxied.set_port(Some(port)).unwrap();
    let config = players_api::Config::from_toml_str(
        &config_toml_with(proxied.as_str(), "database = { busy_timeout_ms = 1000 }"),
        "debug",
    )
    .unwrap();
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

    up.store(false, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let response = http.get(format!("{base}/players")).send().await.unwrap();
    problem(response, 503).await;
    let response = http
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    problem(response, 503).await;
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the process stays up"
    );

    up.store(true, Ordering::SeqCst);
    let mut recovered = false;
    for _ in 0..50 {
        if http
            .get(format!("{base}/players"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "the service recovers when the database returns");
    assert_eq!(
        http.get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
