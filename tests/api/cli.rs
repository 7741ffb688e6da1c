//! What a person does on the command line on a fresh clone, mistakes included: pasting
//! `create-client` and `generate-key` output into the shipped `Rocket.toml`, typos in
//! keys, a database in a directory that does not exist.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{
    helpers::*,
    process::{ServerProcess, command},
};

const SHIPPED: &str = include_str!("../../Rocket.toml");
const SHIPPED_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Rocket.toml");

/// A copy of the shipped `Rocket.toml` in a temporary directory, with `change` applied.
fn shipped_copy(change: impl FnOnce(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Rocket.toml");
    std::fs::write(&path, change(SHIPPED.to_owned())).unwrap();
    (dir, path)
}

fn run(args: &[&str], config: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let output = command()
        .args(args)
        .env("APP_CONFIG", config)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Starts the server on `config` as written, with only the port and database changed.
fn serve(dir: tempfile::TempDir, config: &Path) -> ServerProcess {
    let database = format!("sqlite://{}", dir.path().join("players.db").display());
    ServerProcess::start_file(
        config,
        dir,
        &[("APP_PORT", "0"), ("APP_DATABASE_URL", &database)],
    )
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}

async fn token_for(base: &str, id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/auth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[test]
fn create_client_output_appended_to_the_shipped_file_adds_a_working_client() {
    let (dir, path) = shipped_copy(|s| s);
    let (ok, text, stderr) = run(
        &["create-client", "reporter", "--scopes", "players:delete"],
        &path,
        &[],
    );
    assert!(ok);
    // Redirected, the person still learns where the secret is, without it on stderr.
    assert!(stderr.contains("client_secret comment"), "{stderr}");
    assert!(!stderr.contains("client_secret = "), "{stderr}");
    assert!(
        text.contains("[[debug.clients]]"),
        "the profile the binary runs: {text}"
    );
    assert!(!text.contains("[[default.clients]]"), "{text}");
    let secret = printed_value(&text, "# client_secret = ");
    // Appended as it is.
    let mut file = std::fs::read_to_string(&path).unwrap();
    file.push('\n');
    file.push_str(&text);
    std::fs::write(&path, file).unwrap();

    let (ok, checked, _) = run(&["check-config"], &path, &[]);
    assert!(ok, "{checked}");
    assert!(!checked.contains("warning:"), "{checked}");
    assert!(checked.contains("\"reporter\""), "{checked}");

    let server = serve(dir, &path);
    block_on(async {
        let response = token_for(&server.base, "reporter", &secret).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], "players:delete");
        // The development client is still there.
        let response = token_for(&server.base, CLIENT_ID, CLIENT_SECRET).await;
        assert_eq!(response.status(), 200);
    });
}

#[test]
fn a_private_key_jwt_client_created_and_appended_gets_tokens_with_its_printed_key() {
    let (dir, path) = shipped_copy(|s| s);
    let (ok, text, stderr) = run(
        &["create-client", "signer", "--auth", "private_key_jwt"],
        &path,
        &[],
    );
    assert!(ok);
    assert!(stderr.contains("PRIVATE KEY comment"), "{stderr}");
    assert!(!stderr.contains("BEGIN"), "{stderr}");
    let pem: String = text
        .lines()
        .skip_while(|l| !l.contains("BEGIN PRIVATE KEY"))
        .take_while(|l| l.starts_with("# "))
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"), "{text}");
    let mut file = std::fs::read_to_string(&path).unwrap();
    file.push('\n');
    file.push_str(&text);
    std::fs::write(&path, file).unwrap();
    let (ok, checked, _) = run(&["check-config"], &path, &[]);
    assert!(ok, "{checked}");
    assert!(checked.contains("\"private_key_jwt\""), "{checked}");
    assert!(!checked.contains("PRIVATE"), "{checked}");

    let server = serve(dir, &path);
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let now = players_api::auth::token::now_seconds();
    let assertion = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &serde_json::json!({
            "iss": "signer", "sub": "signer", "aud": format!("{}/auth/token", server.base),
            "exp": now + 60, "jti": "first",
        }),
        &key,
    )
    .unwrap();
    block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/auth/token", server.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", crate::assertion::ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    });
}

#[test]
fn create_client_writes_for_the_profile_the_binary_would_run() {
    let (_dir, path) = shipped_copy(|s| s);
    for (profile, expected) in [
        ("release", "[[release.clients]]"),
        ("Staging", "[[staging.clients]]"),
    ] {
        let (ok, text, _) = run(&["create-client", "x"], &path, &[("APP_PROFILE", profile)]);
        assert!(ok);
        assert!(text.contains(expected), "{profile}: {text}");
    }
    let (ok, text, _) = run(&["create-client", "x", "--profile", "default"], &path, &[]);
    assert!(ok);
    assert!(text.contains("[[default.clients]]"), "{text}");
}

/// The mistake the old default made: `[[default.clients]]` appended to a file whose
/// `[[debug.clients]]` replaces it. `check-config` says so, while the file stays valid.
#[test]
fn check_config_warns_when_a_profile_array_replaces_the_default_one() {
    let (_dir, path) = shipped_copy(|s| {
        s.replacen(
            "[default]\n",
            "[default]\ntrusted_proxies = [\"10.0.0.1\"]\n",
            1,
        ) + "\n[debug]\ntrusted_proxies = [\"10.0.0.2\"]\n\n[[default.clients]]\n\
               client_id = \"lost\"\nclient_secret = \"lost-secret-lost-secret-lost-secret\"\n"
    });
    let (ok, checked, stderr) = run(&["check-config"], &path, &[]);
    assert!(ok, "{stderr}");
    assert!(checked.contains("profile debug: valid"), "{checked}");
    assert!(
        checked.contains(
            "warning: debug.clients replaces default.clients (arrays are replaced, not merged): \
             the 1 entry of default.clients is not used under profile debug"
        ),
        "{checked}"
    );
    assert!(
        checked.contains("warning: debug.trusted_proxies replaces default.trusted_proxies"),
        "{checked}"
    );
    assert!(!checked.contains("lost-secret"), "{checked}");
}

/// Every `# ... `key` ...` comment names a key to remove from the table the output is
/// merged into.
fn keys_to_remove(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.starts_with('#'))
        .flat_map(|l| {
            l.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Merges `output` key by key into the tables of the same names in `file`, as the
/// output's comments say, and removes the keys they name in backticks.
fn merge(file: &str, output: &str) -> String {
    let mut file: toml::Table = toml::from_str(file).unwrap();
    let output_table: toml::Table = toml::from_str(output).expect("the output is TOML");
    let remove = keys_to_remove(output);
    for (profile, tables) in output_table {
        for (name, keys) in tables.as_table().unwrap() {
            let target = file
                .entry(profile.clone())
                .or_insert_with(|| toml::Value::Table(Default::default()))
                .as_table_mut()
                .unwrap()
                .entry(name.clone())
                .or_insert_with(|| toml::Value::Table(Default::default()))
                .as_table_mut()
                .unwrap();
            for key in &remove {
                target.remove(key);
            }
            for (key, value) in keys.as_table().unwrap() {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    toml::to_string(&file).unwrap()
}

/// The commented `previous_keys` entry, uncommented.
fn previous_key_entry(output: &str) -> String {
    let start = output
        .find("# [[debug.jwt.previous_keys]]")
        .expect("the previous_keys entry");
    output[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn generate_key_output_merged_into_the_shipped_file_works_for_every_algorithm() {
    for algorithm in ["HS256", "EdDSA", "ES256"] {
        let (dir, path) = shipped_copy(|s| s);
        let (ok, output, _) = run(&["generate-key", "--algorithm", algorithm], &path, &[]);
        assert!(ok, "{algorithm}");
        assert!(output.contains("[debug.jwt]"), "{output}");
        assert!(!output.contains("[default.jwt]"), "{output}");
        let kid = printed_value(&output, "key_id = ");
        // Pasted whole, it would repeat a table: the comments say to merge instead.
        let merged = merge(&std::fs::read_to_string(&path).unwrap(), &output);
        std::fs::write(&path, &merged).unwrap();
        let (ok, checked, stderr) = run(&["check-config"], &path, &[]);
        assert!(ok, "{algorithm}: {stderr}\n{merged}");
        assert!(
            checked.contains(&format!("\"key_id\": \"{kid}\"")),
            "{checked}"
        );
        // The masked key is shown under the name of the setting that holds it.
        let setting = if algorithm == "HS256" {
            "key"
        } else {
            "private_key"
        };
        assert!(
            checked.contains(&format!("\"{setting}\": \"********\"")),
            "{checked}"
        );
        if algorithm != "HS256" {
            assert!(!checked.contains("\"key\": "), "{checked}");
        }

        let server = serve(dir, &path);
        block_on(async {
            let response = token_for(&server.base, CLIENT_ID, CLIENT_SECRET).await;
            assert_eq!(response.status(), 200, "{algorithm}");
            let token = response.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned();
            let header: Value = serde_json::from_slice(
                &base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    token.split('.').next().unwrap(),
                )
                .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], algorithm);
            assert_eq!(header["kid"], kid.as_str());
            let response = reqwest::Client::new()
                .post(format!("{}/players", server.base))
                .bearer_auth(&token)
                .json(&player_body(40))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201, "{algorithm}");
        });
    }
}

/// After a rotation, the commented `previous_keys` entry (which the README promises for
/// every algorithm) keeps the old key's tokens working.
#[test]
fn generate_key_prints_the_previous_keys_entry_for_every_algorithm() {
    for algorithm in ["HS256", "EdDSA", "ES256"] {
        let (_, first, _) = run(
            &["generate-key", "--algorithm", algorithm],
            Path::new(SHIPPED_PATH),
            &[],
        );
        let (_, second, _) = run(
            &["generate-key", "--algorithm", algorithm],
            Path::new(SHIPPED_PATH),
            &[],
        );
        // Signing with the first key: a token.
        let (dir, path) = shipped_copy(|s| merge(&s, &first));
        let server = serve(dir, &path);
        let old_token = block_on(async {
            let response = token_for(&server.base, CLIENT_ID, CLIENT_SECRET).await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        });
        drop(server);
        // Rotated: the second key signs, the first is the printed previous_keys entry.
        let (dir, path) = shipped_copy(|s| merge(&s, &second) + "\n" + &previous_key_entry(&first));
        let server = serve(dir, &path);
        block_on(async {
            let response = reqwest::Client::new()
                .post(format!("{}/players", server.base))
                .bearer_auth(&old_token)
                .json(&player_body(41))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                201,
                "{algorithm}: the old token still verifies"
            );
        });
    }
}

#[test]
fn every_unknown_key_is_reported_at_once_where_it_is_with_a_suggestion() {
    let (_dir, path) = shipped_copy(|s| {
        s.replacen(
            "[default]\n",
            "[default]\nadress = \"0.0.0.0\"\nissuer = \"x\"\n",
            1,
        )
        .replacen(
            "[[debug.clients]]\n",
            "[[debug.clients]]\nscope = [\"api:write\"]\n",
            1,
        ) + "\n[default.throttle]\nmax_failuress = 3\n\n[staging]\nprot = 1\n"
    });
    let (ok, stdout, stderr) = run(&["check-config"], &path, &[]);
    assert!(!ok, "{stdout}");
    for expected in [
        "unknown key \"adress\" in [default] (did you mean `address`?)",
        "unknown key \"issuer\" in [default] (did you mean `jwt.issuer`?)",
        "unknown key \"max_failuress\" in [default.throttle] (did you mean `max_failures`?)",
        "unknown key \"scope\" in [[debug.clients]] entry 1 (did you mean `scopes`?)",
        "unknown key \"prot\" in [staging] (did you mean `port`?)",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    assert_eq!(
        stderr.matches("invalid configuration:").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.starts_with("invalid configuration: "), "{stderr}");

    // A key outside any profile table.
    let (_dir, path) = shipped_copy(|s| format!("port = 8080\n{s}"));
    let (ok, _, stderr) = run(&["check-config"], &path, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("\"port\" is outside any profile table: put it under [default]"),
        "{stderr}"
    );
}

#[test]
fn the_error_prefix_is_written_once() {
    let (_dir, path) = shipped_copy(|s| s);
    let (ok, _, stderr) = run(&["check-config"], &path, &[("APP_CLIENTS", "[{x")]);
    assert!(!ok);
    assert_eq!(
        stderr.matches("invalid configuration").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("APP_"), "{stderr}");
}

#[test]
fn a_sqlite_file_in_a_missing_directory_names_the_directory() {
    let (dir, path) = shipped_copy(|s| s);
    let missing = dir.path().join("no-such-dir");
    let url = format!("sqlite://{}/players.db", missing.display());
    let output = command()
        .env("APP_CONFIG", &path)
        .env("APP_PORT", "0")
        .env("APP_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains(&format!(
            "the directory {} does not exist",
            missing.display()
        )),
        "{log}"
    );
    assert!(!missing.exists());
}

/// `check-config | head` and the like: a reader that stops early ends the printing
/// subcommand quietly (SIGPIPE, as other tools), not with a panic on stderr.
#[test]
fn printing_subcommands_end_quietly_when_the_reader_stops() {
    use std::process::Stdio;
    for args in [&["openapi"][..], &["check-config"], &["generate-key"]] {
        let mut child = command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the child has written anything.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!output.status.success(), "{args:?}: the output was lost");
    }
}

/// `generate-key >> Rocket.toml` (appending, as for create-client) repeats the file's
/// `[debug.jwt]`: the error says what is wrong and what to do.
#[test]
fn appending_generate_key_output_says_to_merge_instead() {
    let (_dir, path) = shipped_copy(|s| s);
    let (_, output, _) = run(&["generate-key"], &path, &[]);
    let mut file = std::fs::read_to_string(&path).unwrap();
    file.push_str(&output);
    std::fs::write(&path, file).unwrap();
    let (ok, _, stderr) = run(&["check-config"], &path, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("`jwt` is defined twice: merge the new keys into the table"),
        "{stderr}"
    );
    assert!(!stderr.contains("1LnBfWcu7"), "{stderr}");
}
