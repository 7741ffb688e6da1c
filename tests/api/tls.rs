//! HTTPS with a certificate made at test time, and the plain-HTTP warning.

use serde_json::Value;

use crate::{helpers::*, process::command};

#[tokio::test]
async fn the_server_speaks_https_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (certs, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&certs, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let url = database_url(&dir.path().join("players.db")).await;
    let tls = format!(
        "tls = {{ certs = \"{}\", key = \"{}\" }}",
        certs.display(),
        key.display()
    );
    let config =
        players_api::Config::from_toml_str(&config_toml_with(&url, &tls), "debug").unwrap();
    let app = players_api::build(config).await.unwrap();
    assert_eq!(app.scheme(), "https");
    let port = app.local_addr().port();
    tokio::spawn(app.run_until_stopped());

    let https = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let body: Value = https
        .post(format!("{base}/auth/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let response = https
        .delete(format!("{base}/players/squadnumber/10"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let metadata: Value = https
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{metadata}"
    );

    // A client that does not trust the certificate gets no answer, and plain HTTP none.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("{base}/health"))
            .send()
            .await
            .is_err()
    );
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[test]
fn plain_http_in_release_is_warned_about_unless_behind_a_proxy() {
    let release = |behind_proxy: bool| {
        let mut cmd = command();
        cmd.arg("check-config")
            .env("APP_PROFILE", "release")
            .env("APP_JWT__KEY", "k".repeat(32))
            .env("APP_JWT__ISSUER", "i")
            .env("APP_JWT__AUDIENCE", "a")
            .env(
                "APP_CLIENTS",
                r#"[{client_id="c", client_secret="a-long-enough-random-client-secret"}]"#,
            );
        if behind_proxy {
            cmd.env("APP_TLS__BEHIND_PROXY", "true");
        }
        cmd
    };
    // The server logs it at start-up; check-config shows what it would do.
    let config = players_api::Config::from_toml_str(
        "[default]\n[default.jwt]\nkey = \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"\nissuer = \"i\"\naudience = \"a\"\n[[default.clients]]\nclient_id = \"c\"\nclient_secret = \"s\"\n",
        "release",
    )
    .unwrap();
    assert!(
        config
            .plain_http_warning(true)
            .unwrap()
            .contains("RFC 6749 requires TLS")
    );
    assert!(config.plain_http_warning(false).is_none());
    let output = release(true).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"behind_proxy\": true"));
}
