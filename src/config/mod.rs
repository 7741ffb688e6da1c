//! Configuration: one typed tree, read once at start-up.
//!
//! | source | wins over |
//! |---|---|
//! | `APP_<KEY>` environment variables (`__` joins nested keys) | everything |
//! | the selected profile table (`[debug]`, `[release]`, or `APP_PROFILE`) | `[default]` |
//! | `[default]` in `Rocket.toml` (or the file named by `APP_CONFIG`) | built-in defaults |
//!
//! | module | concern |
//! |---|---|
//! | [`raw`] | the file format |
//! | `load` | reading the file, the profile and the environment |
//! | `file` | unknown keys, replaced arrays, syntax errors |
//! | `validate` | the raw format into [`Config`] and the crates' settings |
//! | `release` | the release checks |
//! | [`keys`] | key algorithm names, key ids, the key generator |
//!
//! Raw values are deserialised into [`RawConfig`] and then parsed into [`Config`], whose
//! fields can only hold values the server can run with: a key of at least 32 bytes, at least
//! one client, unique client ids. Every mistake is reported at start-up with the key and,
//! where figment knows it, the source.

use std::{
    collections::HashSet,
    fmt,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    sync::Arc,
};

use figment::{
    Figment, Profile,
    providers::{Env, Format, Toml},
};
use ipnet::IpNet;
use poem_bearer::{SettingsError, TrustedIssuer, keys::PreviousKeySettings};
use poem_client_credentials::{AuthMethod, ClientSettings, IssuerSettings};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    cors::{AllowedOrigins, OriginsError},
    scopes::Scope,
};
use keys::KeyMaterial;
use serde::{Deserialize, Serialize};

mod file;
pub mod keys;
mod load;
pub mod raw;
mod release;
mod validate;

use self::{file::*, load::*, validate::*};
pub use self::{load::mask_url_password, raw::*, release::check_release_client};

/// The environment variable that names the configuration file.
pub const CONFIG_FILE_VAR: &str = "APP_CONFIG";
/// The environment variable that selects the profile.
pub const PROFILE_VAR: &str = "APP_PROFILE";
/// The file read when `APP_CONFIG` is not set.
pub const DEFAULT_CONFIG_FILE: &str = "Rocket.toml";
const ENV_PREFIX: &str = "APP_";

/// The shortest plaintext client secret the release checks accept: RFC 6749 §10.10 asks
/// for secrets of high entropy, and 32 random bytes is what `create-client` makes.
pub const MIN_RELEASE_SECRET_BYTES: usize = 32;
/// The scope a client gets when its entry names none.
pub const DEFAULT_SCOPE: &str = "api:write";

/// Keys an `APP_` variable may set. Anything else is logged and ignored, so a stray
/// variable in a container's environment does not stop the server.
const KNOWN_ENV_KEYS: &[&str] = &[
    "address",
    "port",
    "database_url",
    "jwt",
    "jwt.key",
    "jwt.issuer",
    "jwt.audience",
    "jwt.expires_in_seconds",
    "jwt.algorithm",
    "jwt.key_id",
    "jwt.private_key",
    "jwt.private_key_file",
    "jwt.previous_keys",
    "clients",
    "client_assertion",
    "client_assertion.strict_audience",
    "revocation",
    "revocation.max_live_per_client",
    "dpop",
    "dpop.require_nonce",
    "dpop.nonce_key",
    "public_url",
    "trusted_proxies",
    "throttle",
    "throttle.max_failures",
    "throttle.window_seconds",
    "cors",
    "cors.allowed_origins",
    "limits",
    "limits.body_bytes",
    "limits.idle_timeout_seconds",
    "limits.body_timeout_seconds",
    "database",
    "database.synchronous",
    "database.max_connections",
    "database.busy_timeout_ms",
    "log",
    "log.format",
    "tls",
    "tls.certs",
    "tls.key",
    "tls.behind_proxy",
];

/// The development key and client secret committed in `Rocket.toml`: public, so the
/// `release` profile refuses them.
const DEVELOPMENT_KEY: &str = "1LnBfWcu7gTDmqT41QCW4ANu1xsHMcseingKWruVveM=";
const DEVELOPMENT_SECRET: &str = "#!_7h3qu1ck8r0wnf0xjump50v3r7h3l42yd09=@42";

/// The profile used when `APP_PROFILE` is not set: `debug` for debug builds, `release`
/// for release builds, as in Rocket.
pub fn default_profile() -> Profile {
    if cfg!(debug_assertions) {
        Profile::const_new("debug")
    } else {
        Profile::const_new("release")
    }
}

/// The profile this binary runs when started now: `APP_PROFILE` (lower-cased: profile
/// names are case-insensitive) if set, else [`default_profile`]. What the subcommands that
/// print configuration write for.
pub fn running_profile() -> Profile {
    let profile = Profile::from_env_or(PROFILE_VAR, default_profile());
    Profile::new(&profile.as_str().as_str().to_ascii_lowercase())
}

/// Why the configuration could not be loaded. The message names the key and the way to
/// set it; it never contains a secret value.
#[derive(Debug)]
pub struct ConfigError(String);

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub address: IpAddr,
    pub port: u16,
    pub database_url: String,
    /// The base URL clients use (no trailing slash); `None` means `http://{bound address}`.
    pub public_url: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed: addresses or CIDR blocks.
    pub trusted_proxies: Vec<IpNet>,
    pub throttle: ThrottleConfig,
    pub limits: LimitsConfig,
    /// `None`: CORS off (no CORS header is ever sent).
    pub cors: Option<AllowedOrigins>,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    /// `Some`: serve HTTPS directly.
    pub tls: Option<TlsFiles>,
    pub behind_proxy: bool,
    pub jwt: JwtConfig,
    pub clients: Vec<ClientConfig>,
    /// Other issuers whose tokens writes accept besides this server's own.
    pub trusted_issuers: Vec<TrustedIssuer>,
    pub client_assertion: ClientAssertionConfig,
    pub revocation: RevocationConfig,
    /// DPoP server nonces, when `dpop.require_nonce` is on.
    pub dpop_nonces: Option<Arc<poem_bearer::dpop::Nonces>>,
}

/// The token issuer's settings, checked: keys parsed, `iss`, `aud`, lifetime.
pub type JwtConfig = poem_client_credentials::IssuerConfig;

/// A client as configured: `poem_client_credentials`' settings, its scopes checked
/// against this API's.
pub use poem_client_credentials::{ClientConfig, ClientSecret};

/// Where the configuration came from, for the start-up log.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    pub profile: Profile,
    /// `APP_` variables that name no setting: logged as warnings, otherwise ignored.
    pub ignored_env: Vec<String>,
    /// Whether the release checks ran: for every profile but `debug`.
    pub release_checks: bool,
    /// Arrays of the selected profile that replace `[default]`'s (figment replaces
    /// arrays rather than merging them), e.g. `[[debug.clients]]` over
    /// `[[default.clients]]`: warned about, since the replaced entries silently vanish.
    pub replaced_arrays: Vec<String>,
}

impl Origin {
    /// The warning to log when a release build runs the `debug` profile, which skips the
    /// release checks.
    pub fn debug_in_release_warning(&self) -> Option<&'static str> {
        (!cfg!(debug_assertions) && !self.release_checks).then_some(
            "a release build is running the debug profile: the release checks (no development \
             key or secret, long client secrets) are skipped. Unset APP_PROFILE in production",
        )
    }
}

impl Config {
    /// The configuration as it would be shown to an operator: secrets masked.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({
            "address": self.address,
            "port": self.port,
            "database_url": mask_url_password(&self.database_url),
            "public_url": self.public_url,
            "trusted_proxies": self.trusted_proxies,
            "throttle": self.throttle,
            "limits": self.limits,
            "cors": { "allowed_origins": match &self.cors {
                None => Vec::new(),
                Some(AllowedOrigins::Any) => vec!["*".to_owned()],
                Some(AllowedOrigins::List(origins)) => origins.clone(),
            } },
            "database": self.database,
            "log": self.log,
            "tls": { "enabled": self.tls.is_some(), "behind_proxy": self.behind_proxy },
            "jwt": {
                "algorithm": format!("{:?}", self.jwt.keys.current.algorithm),
                "key_id": self.jwt.keys.current.kid,
                // Named as the setting that holds it: `key` (HS256) or `private_key`.
                (if self.jwt.keys.current.algorithm == jsonwebtoken::Algorithm::HS256 {
                    "key"
                } else {
                    "private_key"
                }): "********",
                "issuer": self.jwt.issuer,
                "audience": self.jwt.audience,
                "expires_in_seconds": self.jwt.expires_in_seconds,
            },
            "clients": self.clients.iter().map(|c| {
                let (field, shown): (&str, Vec<String>) = match c.secrets.first() {
                    Some(ClientSecret::Argon2id(_)) => (
                        "client_secret_hash",
                        c.secrets
                            .iter()
                            .map(|s| match s {
                                ClientSecret::Argon2id(hash) => hash.to_string(),
                                ClientSecret::Plain(_) => "********".to_owned(),
                            })
                            .collect(),
                    ),
                    _ => ("client_secret", c.secrets.iter().map(|_| "********".to_owned()).collect()),
                };
                let mut shown_client = serde_json::json!({
                    "client_id": c.client_id,
                    "scopes": c.scopes,
                    "enabled": c.enabled,
                    "dpop_bound_access_tokens": c.dpop_bound,
                    "resources": c.resources,
                    "token_lifetime_seconds": c.token_lifetime_seconds,
                    "introspect": c.introspect,
                    "token_endpoint_auth_method": AuthMethod::ALL
                        .into_iter()
                        .filter(|m| c.methods.contains(*m))
                        .map(AuthMethod::as_str)
                        .collect::<Vec<_>>(),
                });
                if !shown.is_empty() {
                    shown_client[field] = shown.into();
                }
                if !c.keys.is_empty() {
                    // Public keys: nothing secret.
                    shown_client["jwks"] = serde_json::json!({
                        "keys": c.keys.iter().map(|k| k.jwk()).collect::<Vec<_>>(),
                    });
                }
                shown_client
            }).collect::<Vec<_>>(),
            "client_assertion": self.client_assertion,
            "revocation": self.revocation,
            "dpop": {
                "require_nonce": self.dpop_nonces.is_some(),
                "nonce_key": self.dpop_nonces.as_ref().map(|_| "********"),
            },
            // Issuers, URLs (never with credentials) and audiences: nothing secret.
            "trusted_issuers": self.trusted_issuers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
        [default]
        port = 9100
        [default.jwt]
        key = "0123456789abcdef0123456789abcdef"
        issuer = "iss"
        audience = "aud"
        [[default.clients]]
        client_id = "one"
        client_secret = "secret"
    "#;

    #[test]
    fn valid_config_gets_defaults() {
        let config = Config::from_toml_str(VALID, "debug").unwrap();
        assert_eq!(config.port, 9100);
        assert_eq!(config.address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(config.database_url, "sqlite://players.db");
        assert_eq!(config.jwt.expires_in_seconds, 3600);
        assert_eq!(config.clients[0].scopes, vec!["api:write"]);
    }

    #[test]
    fn short_key_is_refused_with_the_reason() {
        let toml = VALID.replace("0123456789abcdef0123456789abcdef", "too-short");
        let err = Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("jwt.key is 9 bytes long"), "{err}");
        assert!(err.contains("RFC 7518"), "{err}");
        assert!(
            !err.contains("too-short"),
            "the key must not be echoed: {err}"
        );
    }

    #[test]
    fn missing_key_names_the_variable() {
        let toml = VALID.replace("key = \"0123456789abcdef0123456789abcdef\"", "");
        let err = Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("APP_JWT__KEY"), "{err}");
    }

    #[test]
    fn no_clients_names_the_variable() {
        let toml = VALID.split("[[default.clients]]").next().unwrap();
        let err = Config::from_toml_str(toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("APP_CLIENTS"), "{err}");
    }

    #[test]
    fn duplicate_client_is_refused() {
        let toml =
            format!("{VALID}\n[[default.clients]]\nclient_id = \"one\"\nclient_secret = \"x\"\n");
        let err = Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"one\" is configured twice"), "{err}");
    }

    #[test]
    fn unknown_key_in_selected_profile_is_refused() {
        let toml = format!("{VALID}\n[debug]\nprot = 1\n");
        let err = Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn every_array_one_profile_replaces_in_another_is_named() {
        let file: toml::Table = toml::from_str(
            "[default]\ntrusted_proxies = [\"10.0.0.1\"]\n[[default.clients]]\nclient_id = \"a\"\n\
             [[release.clients]]\nclient_id = \"b\"\n[[global.clients]]\nclient_id = \"c\"\n\
             [debug]\nport = 1\n[debug.cors]\nallowed_origins = [\"https://a.example\"]\n",
        )
        .unwrap();
        let warnings = replaced_arrays(&file);
        let starts: Vec<&str> = warnings
            .iter()
            .map(|w| w.split(" (").next().unwrap())
            .collect();
        assert!(
            starts.contains(&"release.clients replaces default.clients"),
            "{warnings:?}"
        );
        assert!(
            starts.contains(&"global.clients replaces release.clients"),
            "{warnings:?}"
        );
        assert!(
            starts.contains(&"global.clients replaces default.clients"),
            "{warnings:?}"
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("under profile"), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("under any profile")));
    }

    #[test]
    fn profile_tables_differing_only_in_case_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Rocket.toml");
        std::fs::write(
            &path,
            format!("{VALID}\n[debug]\nport = 2\n[Debug]\nport = 1\n"),
        )
        .unwrap();
        let err = Config::load_from(&path, Profile::const_new("debug"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apart from case"), "{err}");
    }

    #[test]
    fn shown_keys_are_escaped_and_bounded() {
        assert_eq!(shown_key("a\u{1b}b\nc"), "\"a\\u{1b}b\\nc\"");
        assert_eq!(
            shown_key(&"k".repeat(100)),
            format!("\"{}\"...", "k".repeat(64))
        );
    }

    #[test]
    fn unknown_key_in_any_profile_of_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Rocket.toml");
        std::fs::write(&path, format!("{VALID}\n[release.jwt]\nissuers = \"x\"\n")).unwrap();
        let err = Config::load_from(&path, Profile::const_new("debug"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key \"issuers\" in [release.jwt] (did you mean `issuer`?)"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Config::load_from(Path::new("/nonexistent/x.toml"), Profile::Default)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/x.toml"), "{err}");
    }

    #[test]
    fn client_secret_rules_name_the_client() {
        let both = VALID.replace(
            "client_secret = \"secret\"",
            "client_secret = \"secret\"\nclient_secret_hash = \"x\"",
        );
        let err = Config::from_toml_str(&both, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("client \"one\" has both"), "{err}");
        let neither = VALID.replace("client_secret = \"secret\"", "");
        let err = Config::from_toml_str(&neither, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("client \"one\" has neither"), "{err}");
        let bad_hash = VALID.replace(
            "client_secret = \"secret\"",
            "client_secret_hash = \"$2b$12$notargon\"",
        );
        let err = Config::from_toml_str(&bad_hash, "debug")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client \"one\": client_secret_hash is not an Argon2id"),
            "{err}"
        );
        let empty_id = VALID.replace("client_id = \"one\"", "client_id = \"\"");
        let err = Config::from_toml_str(&empty_id, "debug")
            .unwrap_err()
            .to_string();
        assert!(err.contains("client_id is empty"), "{err}");
    }

    #[test]
    fn a_private_jwk_is_refused_naming_the_client_and_the_key_never_shown() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
        let toml = VALID.replace(
            "client_secret = \"secret\"",
            &format!(
                "jwks = {{ keys = [{{ kty = \"OKP\", crv = \"Ed25519\", x = \"{x}\", d = \"{d}\" }}] }}"
            ),
        );
        let err = Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client \"one\": jwks.keys[0] holds a private or symmetric key"),
            "{err}"
        );
        assert!(!err.contains(d), "{err}");
        let public = VALID.replace(
            "client_secret = \"secret\"",
            &format!("jwks = {{ keys = [{{ kty = \"OKP\", crv = \"Ed25519\", x = \"{x}\" }}] }}"),
        );
        let config = Config::from_toml_str(&public, "debug").unwrap();
        assert_eq!(config.clients[0].keys.len(), 1);
    }

    #[test]
    fn unknown_scope_is_refused_naming_the_client() {
        let toml = format!("{VALID}scopes = [\"api:write\", \"admin\"]\n");
        let err = Config::from_toml_str(&toml, "debug")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client \"one\" has the unknown scope \"admin\""),
            "{err}"
        );
    }

    #[test]
    fn an_argon2id_hash_is_accepted() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$3X1e9ZkCQk2v1kXr8F4yMB6wXbWq1T+3JvYfS1kVnAU";
        let toml = VALID.replace(
            "client_secret = \"secret\"",
            &format!("client_secret_hash = \"{hash}\""),
        );
        let config = Config::from_toml_str(&toml, "debug").unwrap();
        assert!(matches!(
            config.clients[0].secrets[0],
            ClientSecret::Argon2id(_)
        ));
    }

    #[test]
    fn public_url_must_be_an_http_url() {
        let toml = VALID.replace(
            "port = 9100",
            "port = 9100\npublic_url = \"https://players.example.com/\"",
        );
        let config = Config::from_toml_str(&toml, "debug").unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://players.example.com")
        );
        let toml = VALID.replace(
            "port = 9100",
            "port = 9100\npublic_url = \"players.example.com\"",
        );
        assert!(Config::from_toml_str(&toml, "debug").is_err());
    }

    /// Loads `toml` from a file with `profile` selected, as the server does.
    fn load_file(toml: &str, profile: &str) -> Result<(Config, Origin), ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Rocket.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load_from(&path, Profile::new(profile))
    }

    /// `VALID` with a 32-byte plaintext secret, which passes the release checks.
    fn valid_for_release() -> String {
        VALID.replace("\"secret\"", "\"0123456789abcdef0123456789abcdef-s\"")
    }

    #[test]
    fn a_previous_hs256_key_obeys_the_current_keys_rules() {
        for key in ["", "short"] {
            let toml = format!(
                "{VALID}\n[[default.jwt.previous_keys]]\nkey_id = \"old\"\nkey = \"{key}\"\n"
            );
            let err = Config::from_toml_str(&toml, "debug")
                .unwrap_err()
                .to_string();
            assert!(err.contains("jwt.previous_keys[0]"), "{err}");
            assert!(err.contains("at least 32 bytes"), "{err}");
        }
    }

    #[test]
    fn the_release_checks_refuse_development_values_wherever_they_appear() {
        let base = valid_for_release();
        let cases = [
            (
                base.replace(
                    "0123456789abcdef0123456789abcdef\"\n",
                    &format!("{DEVELOPMENT_KEY}\"\n"),
                ),
                "jwt.key",
            ),
            (
                format!(
                    "{base}\n[[default.jwt.previous_keys]]\nkey_id = \"old\"\nkey = \"{DEVELOPMENT_KEY}\"\n"
                ),
                "jwt.previous_keys[0].key",
            ),
            (
                format!(
                    "{base}\n[[default.clients]]\nclient_id = \"two\"\nclient_secret = \"{DEVELOPMENT_SECRET}\"\n"
                ),
                "client \"two\"",
            ),
            (
                format!(
                    "{base}\n[[default.clients]]\nclient_id = \"three\"\nclient_secret = \"{DEVELOPMENT_KEY}\"\n"
                ),
                "client \"three\"",
            ),
        ];
        for (toml, named) in cases {
            assert!(load_file(&toml, "debug").is_ok(), "debug skips the checks");
            let err = load_file(&toml, "release").unwrap_err().to_string();
            assert!(err.contains(named) && err.contains("development"), "{err}");
            assert!(!err.contains(DEVELOPMENT_KEY) && !err.contains(DEVELOPMENT_SECRET));
        }
    }

    #[test]
    fn profile_names_are_case_insensitive_and_every_profile_but_debug_is_checked() {
        let short = format!("{VALID}\n[staging]\nport = 9200\n");
        for profile in [
            "release", "RELEASE", "Release", "staging", "STAGING", "default",
        ] {
            let err = load_file(&short, profile).unwrap_err().to_string();
            assert!(err.contains("at least 32"), "{profile}: {err}");
        }
        let (config, origin) = load_file(
            &valid_for_release().replace("port = 9100", "port = 9100\n[staging]\nport = 9200"),
            "Staging",
        )
        .unwrap();
        assert_eq!(config.port, 9200);
        assert!(origin.release_checks);
        assert_eq!(origin.profile.as_str().as_str(), "staging");
        let (_, origin) = load_file(&short, "DEBUG").unwrap();
        assert!(!origin.release_checks);
    }

    #[test]
    fn a_profile_the_file_does_not_have_is_refused_by_name() {
        let err = load_file(VALID, "prodution").unwrap_err().to_string();
        assert!(err.contains("APP_PROFILE is \"prodution\""), "{err}");
    }

    #[test]
    fn the_release_checks_refuse_short_plaintext_secrets() {
        let toml = VALID.replace("\"secret\"", "\"a\"");
        let err = load_file(&toml, "release").unwrap_err().to_string();
        assert!(
            err.contains("client \"one\" has a client_secret of 1 bytes"),
            "{err}"
        );
        assert!(err.contains("RFC 6749 §10.10"), "{err}");
        assert!(load_file(&valid_for_release(), "release").is_ok());
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("postgres://admin:s3cr3t@db.example:5432/players"),
            "postgres://admin:***@db.example:5432/players"
        );
        assert_eq!(
            mask_url_password("postgres://db.example/players?user=a&password=s3cr3t"),
            "postgres://db.example/players?user=a&password=***"
        );
        assert_eq!(
            mask_url_password("sqlite://players.db"),
            "sqlite://players.db"
        );
        assert!(!mask_url_password("postgres://a:s3cr3t@[bad").contains("s3cr3t"));
        let odd = mask_url_password("postgres://admin:p@ss#wo?rd/x@db.example/players");
        assert_eq!(odd, "postgres://admin:***@db.example/players");
    }

    #[test]
    fn values_in_errors_are_never_shown() {
        let secret = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";
        for toml in [
            VALID.replace("port = 9100", &format!("port = \"{secret}\"")),
            VALID.replace(
                "[default.jwt]",
                &format!("log = {{ format = \"{secret}\" }}\n[default.jwt]"),
            ),
            VALID.replace(
                "client_secret = \"secret\"",
                &format!("client_secret = {{ x = \"{secret}\" }}"),
            ),
        ] {
            let err = Config::from_toml_str(&toml, "debug")
                .unwrap_err()
                .to_string();
            assert!(!err.contains(secret), "{err}");
            assert!(err.contains("default."), "the key is named: {err}");
        }
    }

    #[test]
    fn a_toml_syntax_error_names_the_line_and_key_without_quoting_it() {
        let secret = "Zl7yq0c1w3fQ9u2mS8kV4pXrT6bN5hJdE1aG0oLzYiU";
        let toml = VALID.replace(
            "client_secret = \"secret\"",
            &format!("client_secret = \"{secret}"),
        );
        let err = load_file(&toml, "debug").unwrap_err().to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(
            err.contains("line 10") && err.contains("`client_secret`"),
            "{err}"
        );
        // A secret pasted on a line of its own looks like a key: it is not named.
        let pasted = "base64PastedSecretValueXyz0123456789abcdef=";
        let toml = VALID.replace("issuer = \"iss\"", &format!("{pasted}\nissuer = \"iss\""));
        let err = load_file(&toml, "debug").unwrap_err().to_string();
        assert!(!err.contains(&pasted[..20]), "{err}");
    }

    #[test]
    fn debug_output_masks_secrets() {
        let config = Config::from_toml_str(VALID, "debug").unwrap();
        let shown = format!("{config:?} {}", config.redacted());
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!shown.contains("\"secret\""), "{shown}");
    }
}
