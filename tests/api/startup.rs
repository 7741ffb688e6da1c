//! The binary as an operator runs it: configuration errors stop it with a clear message.

use std::process::Command;

fn players_api() -> Command {
    crate::process::command()
}

fn stderr_and_stdout(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_named_config_file_that_does_not_exist_stops_start_up_naming_it() {
    let output = players_api()
        .env("APP_CONFIG", "/nonexistent/players.toml")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr_and_stdout(&output).contains("/nonexistent/players.toml"));
}

#[test]
fn the_release_profile_without_secrets_names_the_variables_to_set() {
    let output = players_api()
        .env("APP_PROFILE", "release")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = stderr_and_stdout(&output);
    for variable in [
        "APP_JWT__KEY",
        "APP_JWT__ISSUER",
        "APP_JWT__AUDIENCE",
        "APP_CLIENTS",
    ] {
        assert!(text.contains(variable), "{variable} not named: {text}");
    }
}

#[test]
fn a_short_key_from_the_environment_is_refused() {
    let output = players_api().env("APP_JWT__KEY", "short").output().unwrap();
    assert!(!output.status.success());
    let text = stderr_and_stdout(&output);
    assert!(text.contains("at least 32 bytes"), "{text}");
    assert!(!text.contains("short\""), "{text}");
}

#[test]
fn the_release_profile_runs_with_everything_from_the_environment() {
    // An address this machine does not have: the process gets past configuration, then
    // stops at binding, before it would serve.
    let output = players_api()
        .env("APP_PROFILE", "release")
        .env("APP_JWT__KEY", "k".repeat(32))
        .env("APP_JWT__ISSUER", "iss")
        .env("APP_JWT__AUDIENCE", "aud")
        .env(
            "APP_CLIENTS",
            r#"[{client_id="svc", client_secret="a-long-enough-random-client-secret"}]"#,
        )
        .env("APP_ADDRESS", "203.0.113.1")
        .env("APP_NOT_A_SETTING", "x")
        .output()
        .unwrap();
    let text = stderr_and_stdout(&output);
    assert!(text.contains("configuration loaded"), "{text}");
    assert!(
        text.contains("APP_NOT_A_SETTING"),
        "unknown variables are warned about: {text}"
    );
    assert!(text.contains("cannot listen on 203.0.113.1"), "{text}");
    assert!(
        text.contains("serving plain HTTP"),
        "the release profile warns: {text}"
    );
}

#[test]
fn the_openapi_subcommand_prints_the_committed_spec() {
    let output = players_api().arg("openapi").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        include_str!("../../openapi/openapi.json")
    );
}
