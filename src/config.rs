//! Configuration: one typed tree, read once at start-up.
//!
//! | source | wins over |
//! |---|---|
//! | `APP_<KEY>` environment variables (`__` joins nested keys) | everything |
//! | the selected profile table (`[debug]`, `[release]`, or `APP_PROFILE`) | `[default]` |
//! | `[default]` in `Rocket.toml` (or the file named by `APP_CONFIG`) | built-in defaults |
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
};

use argon2::password_hash::{PasswordHash, PasswordHashString};
use figment::{
    Figment, Profile,
    providers::{Env, Format, Toml},
};
use ipnet::IpNet;
use poem_bearer::TrustedIssuer;
use secrecy::{ExposeSecret, SecretString};

use std::sync::Arc;

use crate::{
    auth::{
        keys::{self, KeyConfig, KeyMaterial, KeySet},
        scopes::Scope,
    },
    cors::{AllowedOrigins, OriginsError},
};
use serde::{Deserialize, Serialize};

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
/// Tokens are meant to be short-lived; a day is the longest lifetime accepted.
pub const MAX_TOKEN_LIFETIME_SECONDS: u64 = 86_400;
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

/// The configuration as written: optional where the file or the environment may still
/// supply a value, with unknown keys refused.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default = "default_address")]
    pub address: IpAddr,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_database_url")]
    pub database_url: String,
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub jwt: RawJwt,
    #[serde(default)]
    pub clients: Vec<RawClient>,
    #[serde(default, deserialize_with = "deserialize_networks")]
    pub trusted_proxies: Vec<IpNet>,
    #[serde(default)]
    pub throttle: ThrottleConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub cors: CorsConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuer>,
}

/// Which pages on other origins may call the API from a browser.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Serialised origins (`https://app.example.com`), or `["*"]`; empty: CORS off.
    pub allowed_origins: Vec<String>,
}

/// HTTPS: PEM files for the certificate chain and its private key.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    pub certs: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// A proxy in front terminates TLS: plain HTTP here is expected.
    pub behind_proxy: bool,
}

/// The certificate chain and key, read at start-up.
#[derive(Clone)]
pub struct TlsFiles {
    pub certs_pem: Vec<u8>,
    pub key_pem: SecretString,
}

impl fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsFiles { .. }")
    }
}

/// The brute-force brake on the token endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed client authentications from one address that trip the throttle.
    pub max_failures: u32,
    /// The window they are counted in, and how long the address is then refused.
    pub window_seconds: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window_seconds: 60,
        }
    }
}

/// Bounds on what one request or connection may cost.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The largest request body read, chunked bodies included.
    pub body_bytes: usize,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout_seconds: u64,
    /// A request body must arrive whole within this long (408 otherwise).
    pub body_timeout_seconds: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes: 65_536,
            idle_timeout_seconds: 60,
            body_timeout_seconds: 10,
        }
    }
}

/// How the database is used.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `normal`: a commit survives a crash of the process; `full`: also of the OS.
    pub synchronous: Synchronous,
    pub max_connections: u32,
    /// How long a statement waits for a lock (SQLite) or a connection from the pool.
    pub busy_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Normal,
            max_connections: 8,
            busy_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Normal,
    Full,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    /// `HS256` (default), `EdDSA` or `ES256`.
    #[serde(default)]
    pub algorithm: Option<String>,
    #[serde(default, serialize_with = "serialize_masked")]
    pub key: Option<SecretString>,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default, serialize_with = "serialize_masked")]
    pub private_key: Option<SecretString>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    #[serde(default)]
    pub previous_keys: Vec<RawPreviousKey>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default = "default_expires_in")]
    pub expires_in_seconds: u64,
}

/// A key that no longer signs but still verifies the tokens it signed.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPreviousKey {
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub algorithm: Option<String>,
    /// An HS256 secret.
    #[serde(default, serialize_with = "serialize_masked")]
    pub key: Option<SecretString>,
    /// An EdDSA/ES256 public key, SPKI PEM text.
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
}

/// A value or a list of them (a client's secrets: two while one replaces the other).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrTwo<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrTwo<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrTwo::One(v) => vec![v],
            OneOrTwo::Many(v) => v,
        }
    }
}

impl<T> Serialize for OneOrTwo<T> {
    /// Only ever shown masked.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("********")
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    #[serde(default)]
    pub client_id: String,
    /// One secret, or two during a rotation.
    #[serde(default)]
    pub client_secret: Option<OneOrTwo<SecretString>>,
    #[serde(default)]
    pub client_secret_hash: Option<OneOrTwo<String>>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// `false` refuses new tokens and the client's live tokens (reloaded on SIGHUP).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_enabled() -> bool {
    true
}

fn serialize_masked<S: serde::Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_str("********"),
        None => serializer.serialize_none(),
    }
}

/// `trusted_proxies`: each entry an address (`10.0.0.1`, a block of one) or a CIDR block
/// (`10.0.0.0/8`). IPv4-mapped IPv6 forms (`::ffff:10.0.0.1`) are taken as the IPv4 they
/// map, which is how peers are compared.
fn deserialize_networks<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<IpNet>, D::Error> {
    let entries = Vec::<String>::deserialize(deserializer)?;
    entries
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            let net = match entry.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip.to_canonical()),
                Err(_) => entry.parse::<IpNet>().map_err(|_| {
                    serde::de::Error::custom(
                        "a trusted_proxies entry is not an IP address or a CIDR block (10.0.0.0/8)",
                    )
                })?,
            };
            Ok(match net {
                IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                    Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                        .map(IpNet::V4)
                        .unwrap_or(net),
                    None => net,
                },
                other => other,
            })
        })
        .collect()
}

fn default_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
fn default_port() -> u16 {
    9000
}
fn default_database_url() -> String {
    "sqlite://players.db".to_owned()
}
fn default_expires_in() -> u64 {
    3600
}
fn default_scopes() -> Vec<String> {
    vec![DEFAULT_SCOPE.to_owned()]
}

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
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The key that signs. An HMAC key is the UTF-8 bytes of `jwt.key` exactly as written,
    /// so tokens interoperate with the ASP.NET design that used the same setting.
    pub current: KeyConfig,
    /// `jwt.previous_keys`, as configured (the release checks look at them).
    pub previous: Vec<KeyConfig>,
    /// Every key that verifies (the current one and `jwt.previous_keys`), parsed.
    pub keys: Arc<KeySet>,
    pub issuer: String,
    pub audience: String,
    pub expires_in_seconds: u64,
}

/// A client as configured: `poem_client_credentials`' settings, its scopes checked
/// against this API's.
pub use poem_client_credentials::{ClientSecret, ClientSettings as ClientConfig};

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
    /// Loads the file named by `APP_CONFIG` (default `Rocket.toml`), selects the profile
    /// from `APP_PROFILE` (default by build type) and applies `APP_` overrides.
    pub fn load() -> Result<(Config, Origin), ConfigError> {
        let file = std::env::var_os(CONFIG_FILE_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        Self::load_from(&file, running_profile())
    }

    /// As [`Config::load`], with the file and profile given.
    pub fn load_from(file: &Path, profile: Profile) -> Result<(Config, Origin), ConfigError> {
        let (figment, origin) = Self::sources(file, profile)?;
        let config = Self::from_figment(&figment)?;
        if origin.release_checks {
            config.check_release()?;
        }
        Ok((config, origin))
    }

    /// Only the client list of the configuration [`Config::load`] would read, validated
    /// as at start-up (release checks included): what a reload replaces. A mistake in
    /// another setting does not stop the clients from reloading.
    pub fn load_clients() -> Result<Vec<ClientConfig>, ConfigError> {
        let file = std::env::var_os(CONFIG_FILE_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        Self::load_clients_from(&file, running_profile())
    }

    /// As [`Config::load_clients`], with the file and profile given.
    pub fn load_clients_from(
        file: &Path,
        profile: Profile,
    ) -> Result<Vec<ClientConfig>, ConfigError> {
        let (figment, origin) = Self::sources(file, profile)?;
        let raw: Vec<RawClient> = figment
            .extract_inner("clients")
            .map_err(describe_figment_error)?;
        if raw.is_empty() {
            return Err(missing_settings(&["clients"]));
        }
        let clients = parse_clients(raw)?;
        if origin.release_checks {
            clients.iter().try_for_each(check_release_client)?;
        }
        Ok(clients)
    }

    /// The file, the profile and the `APP_` variables, merged; and where they came from.
    fn sources(file: &Path, profile: Profile) -> Result<(Figment, Origin), ConfigError> {
        if !file.is_file() {
            return Err(ConfigError::new(format!(
                "configuration file {} does not exist or is not a file (set {CONFIG_FILE_VAR} to another path)",
                file.display()
            )));
        }
        let table = read_toml(file)?;
        check_unknown_keys(&table, file)?;
        // figment reads profile names case-insensitively into one map, where a later table
        // silently replaces an earlier one: `[Debug]` appended after `[debug]` would drop
        // the development key and clients without a word.
        let mut seen = HashSet::new();
        for profile in table.keys() {
            if !seen.insert(profile.to_ascii_lowercase()) {
                return Err(ConfigError::new(format!(
                    "{}: two profile tables are named {} apart from case; profile names are \
                     case-insensitive, so write them once, in lower case",
                    file.display(),
                    shown_key(profile)
                )));
            }
        }
        let profiles: Vec<String> = table.keys().cloned().collect();
        let toml = Figment::from(Toml::file_exact(file).nested());
        // Profile names are case-insensitive, as figment selects them: `RELEASE` is the
        // `release` profile, and gets its checks. A name that selects nothing would run on
        // `[default]` alone, silently: refuse it.
        let name = profile.as_str().as_str().to_ascii_lowercase();
        if !["debug", "release", "default"].contains(&name.as_str())
            && !profiles.iter().any(|p| p.eq_ignore_ascii_case(&name))
        {
            return Err(ConfigError::new(format!(
                "{PROFILE_VAR} is \"{name}\", which names no profile of {} (it has: {}) and is \
                 not debug or release",
                file.display(),
                profiles.join(", ")
            )));
        }
        let release_checks = name != "debug";
        let replaced_arrays = replaced_arrays(&table);

        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .ignore(&["config", "profile"]);
        let ignored_env: Vec<String> = env
            .iter()
            .map(|(key, _)| key.as_str().to_owned())
            .filter(|key| !is_known_env_key(key))
            .map(|key| {
                format!(
                    "{ENV_PREFIX}{}",
                    key.to_ascii_uppercase().replace('.', "__")
                )
            })
            .collect();
        let env = env.filter(|key| is_known_env_key(key.as_str())).global();

        let profile = Profile::new(&name);
        let figment = Figment::new()
            .merge(toml)
            .merge(env)
            .select(profile.clone());
        Ok((
            figment,
            Origin {
                file: file.to_path_buf(),
                profile,
                ignored_env,
                release_checks,
                replaced_arrays,
            },
        ))
    }

    /// Extracts and validates a configuration from any figment (tests build theirs from
    /// strings).
    pub fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let raw: RawConfig = figment.extract().map_err(describe_figment_error)?;
        Self::try_from(raw)
    }

    /// Extracts a configuration from TOML text in the `Rocket.toml` format with the given
    /// profile selected.
    pub fn from_toml_str(toml: &str, profile: &str) -> Result<Config, ConfigError> {
        Self::from_figment(&Figment::from(Toml::string(toml).nested()).select(profile))
    }

    /// The release checks, applied to every profile but `debug`: the public development
    /// key and client secret from `Rocket.toml` are refused wherever they appear (the
    /// current key, a previous key, any client's plaintext secret), so they can never sign,
    /// verify or authenticate in production; and a plaintext client secret must be at
    /// least [`MIN_RELEASE_SECRET_BYTES`] long (RFC 6749 §10.10). Messages name the
    /// setting, never the value.
    pub fn check_release(&self) -> Result<(), ConfigError> {
        let public = |value: &str| value == DEVELOPMENT_KEY || value == DEVELOPMENT_SECRET;
        let refused = |setting: &str, variable: &str| {
            ConfigError::new(format!(
                "{setting} is the public development key or client_secret from Rocket.toml; the \
                 release checks refuse it. Set your own in {variable}"
            ))
        };
        if let KeyMaterial::Hmac(key) = &self.jwt.current.material
            && public(key.expose_secret())
        {
            return Err(ConfigError::new(
                "jwt.key is the public development key from Rocket.toml; the release checks \
                 refuse it. Set your own in APP_JWT__KEY",
            ));
        }
        for (index, previous) in self.jwt.previous.iter().enumerate() {
            if let KeyMaterial::Hmac(key) = &previous.material
                && public(key.expose_secret())
            {
                return Err(refused(
                    &format!("jwt.previous_keys[{index}].key"),
                    "APP_JWT__PREVIOUS_KEYS",
                ));
            }
        }
        self.clients.iter().try_for_each(check_release_client)
    }

    /// The warning to log when tokens would cross the network in the clear: RFC 6749
    /// (§1.6, §2.3.1, §3.2) requires TLS on the token endpoint. Only where the release
    /// checks apply, and not when `tls.behind_proxy` says a proxy terminates TLS.
    pub fn plain_http_warning(&self, release_checks: bool) -> Option<&'static str> {
        (release_checks && self.tls.is_none() && !self.behind_proxy).then_some(
            "serving plain HTTP: client secrets and tokens cross the network in the clear. \
             RFC 6749 requires TLS on the token endpoint: set tls.certs and tls.key, or \
             tls.behind_proxy = true if a proxy in front terminates TLS",
        )
    }

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
                serde_json::json!({
                    "client_id": c.client_id,
                    field: shown,
                    "scopes": c.scopes,
                    "enabled": c.enabled,
                })
            }).collect::<Vec<_>>(),
            // Issuers, URLs (never with credentials) and audiences: nothing secret.
            "trusted_issuers": self.trusted_issuers,
        })
    }
}

impl JwtConfig {
    /// An HS256 configuration with one key (benchmarks and tests).
    pub fn hs256(
        key: &str,
        issuer: &str,
        audience: &str,
        expires_in_seconds: u64,
    ) -> Result<Self, String> {
        let current = KeyConfig {
            key_id: Some(keys::hmac_key_id(key.as_bytes())),
            material: KeyMaterial::Hmac(SecretString::from(key.to_owned())),
        };
        let keys = KeySet::new(&current, &[]).map_err(|e| format!("jwt.{e}"))?;
        Ok(JwtConfig {
            current,
            previous: Vec::new(),
            keys: Arc::new(keys),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            expires_in_seconds,
        })
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        // Report every missing required setting at once: a release deployment typically
        // lacks all of them, and one message should say everything to set.
        let mut missing = Vec::new();
        let algorithm_name = raw.jwt.algorithm.as_deref().unwrap_or("HS256");
        let algorithm = keys::parse_algorithm(algorithm_name).ok_or_else(|| {
            ConfigError::new(format!(
                "jwt.algorithm is \"{algorithm_name}\"; use {}",
                keys::SUPPORTED
            ))
        })?;
        let hmac = algorithm == jsonwebtoken::Algorithm::HS256;
        let key = raw.jwt.key.filter(|k| !k.expose_secret().is_empty());
        let private_pem = match (raw.jwt.private_key, &raw.jwt.private_key_file) {
            (Some(pem), None) => Some(pem),
            (None, Some(path)) => {
                Some(SecretString::from(read_file(path, "jwt.private_key_file")?))
            }
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "give jwt.private_key or jwt.private_key_file, not both",
                ));
            }
        };
        let issuer = raw.jwt.issuer.filter(|v| !v.is_empty());
        let audience = raw.jwt.audience.filter(|v| !v.is_empty());
        for (absent, name) in [
            (hmac && key.is_none(), "jwt.key"),
            (!hmac && private_pem.is_none(), "jwt.private_key"),
            (issuer.is_none(), "jwt.issuer"),
            (audience.is_none(), "jwt.audience"),
            (raw.clients.is_empty(), "clients"),
        ] {
            if absent {
                missing.push(name);
            }
        }
        let (Some(issuer), Some(audience), true) = (issuer, audience, missing.is_empty()) else {
            return Err(missing_settings(&missing));
        };
        let material = match (key, private_pem) {
            (Some(key), None) if hmac => {
                keys::check_hmac_key(key.expose_secret().as_bytes()).map_err(|e| {
                    ConfigError::new(format!(
                        "jwt.key {e}. Set a longer one in jwt.key or APP_JWT__KEY"
                    ))
                })?;
                KeyMaterial::Hmac(key)
            }
            (None, Some(pem)) if !hmac => KeyMaterial::PrivatePem(algorithm, pem),
            _ => {
                return Err(ConfigError::new(format!(
                    "jwt.algorithm {algorithm_name} takes {}",
                    if hmac {
                        "jwt.key, not a private key"
                    } else {
                        "jwt.private_key (or _file), not jwt.key"
                    }
                )));
            }
        };
        // An HS256 key's id is derived with this app's own label, so deployed key ids
        // (and the tokens carrying them) stay valid.
        let key_id = raw
            .jwt
            .key_id
            .filter(|k| !k.is_empty())
            .or(match &material {
                KeyMaterial::Hmac(key) => Some(keys::hmac_key_id(key.expose_secret().as_bytes())),
                _ => None,
            });
        let current = KeyConfig { key_id, material };
        let mut previous = Vec::new();
        for (index, p) in raw.jwt.previous_keys.into_iter().enumerate() {
            let name = p.algorithm.as_deref().unwrap_or("HS256");
            let algorithm = keys::parse_algorithm(name).ok_or_else(|| {
                ConfigError::new(format!(
                    "jwt.previous_keys[{index}].algorithm is \"{name}\"; use {}",
                    keys::SUPPORTED
                ))
            })?;
            let public = match (p.public_key, &p.public_key_file) {
                (Some(pem), None) => Some(pem),
                (None, Some(path)) => Some(read_file(
                    path,
                    &format!("jwt.previous_keys[{index}].public_key_file"),
                )?),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::new(format!(
                        "jwt.previous_keys[{index}]: give public_key or public_key_file, not both"
                    )));
                }
            };
            let material = match (p.key, public) {
                (Some(key), None) if algorithm == jsonwebtoken::Algorithm::HS256 => {
                    KeyMaterial::Hmac(key)
                }
                (None, Some(pem)) if algorithm != jsonwebtoken::Algorithm::HS256 => {
                    KeyMaterial::PublicPem(algorithm, pem)
                }
                _ => {
                    return Err(ConfigError::new(format!(
                        "jwt.previous_keys[{index}]: an HS256 key takes `key`, an EdDSA/ES256 key takes `public_key`"
                    )));
                }
            };
            previous.push(KeyConfig {
                key_id: Some(p.key_id),
                material,
            });
        }
        let keys =
            KeySet::new(&current, &previous).map_err(|e| ConfigError::new(format!("jwt.{e}")))?;
        let expires_in_seconds = raw.jwt.expires_in_seconds;
        if !(1..=MAX_TOKEN_LIFETIME_SECONDS).contains(&expires_in_seconds) {
            return Err(ConfigError::new(format!(
                "jwt.expires_in_seconds must be between 1 and {MAX_TOKEN_LIFETIME_SECONDS}, not {expires_in_seconds}"
            )));
        }

        let clients = parse_clients(raw.clients)?;
        let trusted_issuers = check_trusted_issuers(raw.trusted_issuers, &issuer)?;

        let public_url = raw.public_url.map(|u| parse_public_url(&u)).transpose()?;
        let tls = match (&raw.tls.certs, &raw.tls.key) {
            (Some(certs), Some(key)) => Some(TlsFiles {
                certs_pem: read_file(certs, "tls.certs")?.into_bytes(),
                key_pem: SecretString::from(read_file(key, "tls.key")?),
            }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    "give both tls.certs and tls.key (PEM file paths), or neither",
                ));
            }
        };
        for (value, name, min) in [
            (
                u64::from(raw.throttle.max_failures),
                "throttle.max_failures",
                1,
            ),
            (raw.throttle.window_seconds, "throttle.window_seconds", 1),
            (raw.limits.body_bytes as u64, "limits.body_bytes", 1024),
            (
                raw.limits.idle_timeout_seconds,
                "limits.idle_timeout_seconds",
                1,
            ),
            (
                raw.limits.body_timeout_seconds,
                "limits.body_timeout_seconds",
                1,
            ),
            (
                u64::from(raw.database.max_connections),
                "database.max_connections",
                1,
            ),
        ] {
            if value < min {
                return Err(ConfigError::new(format!(
                    "{name} must be at least {min} (set in the config file or {})",
                    env_var_for(name)
                )));
            }
        }

        let cors = AllowedOrigins::parse(&raw.cors.allowed_origins).map_err(|e| {
            ConfigError::new(match e {
                OriginsError::NotAnOrigin(index) => format!(
                    "cors.allowed_origins[{index}] is not an origin: write scheme://host[:port], e.g. https://app.example.com, with no path"
                ),
                OriginsError::WildcardNotAlone => {
                    "cors.allowed_origins: \"*\" allows every origin and must be the only entry"
                        .to_owned()
                }
            })
        })?;

        Ok(Config {
            address: raw.address,
            port: raw.port,
            database_url: raw.database_url,
            public_url,
            trusted_proxies: raw.trusted_proxies,
            throttle: raw.throttle,
            limits: raw.limits,
            cors,
            database: raw.database,
            log: raw.log,
            tls,
            behind_proxy: raw.tls.behind_proxy,
            jwt: JwtConfig {
                current,
                previous,
                keys: Arc::new(keys),
                issuer,
                audience,
                expires_in_seconds,
            },
            clients,
            trusted_issuers,
        })
    }
}

/// The clients as configured: unique non-empty ids, one secret or two (plaintext or an
/// Argon2id hash), known scopes.
fn parse_clients(raw: Vec<RawClient>) -> Result<Vec<ClientConfig>, ConfigError> {
    let mut seen = HashSet::new();
    let mut clients = Vec::with_capacity(raw.len());
    for (index, client) in raw.into_iter().enumerate() {
        if client.client_id.is_empty() {
            return Err(ConfigError::new(format!(
                "clients[{index}].client_id is empty: every client needs an id"
            )));
        }
        if !seen.insert(client.client_id.clone()) {
            return Err(ConfigError::new(format!(
                "client \"{}\" is configured twice: client_id values must be unique",
                client.client_id
            )));
        }
        let id = &client.client_id;
        let secrets: Vec<ClientSecret> = match (client.client_secret, client.client_secret_hash) {
            (Some(secrets), None) => secrets
                .into_vec()
                .into_iter()
                .map(|secret| {
                    if secret.expose_secret().is_empty() {
                        Err(ConfigError::new(format!("client \"{id}\" has an empty client_secret")))
                    } else {
                        Ok(ClientSecret::Plain(secret))
                    }
                })
                .collect::<Result<_, _>>()?,
            (None, Some(hashes)) => hashes
                .into_vec()
                .iter()
                .map(|hash| {
                    parse_argon2id(hash).map(ClientSecret::Argon2id).ok_or_else(|| {
                        ConfigError::new(format!(
                            "client \"{id}\": client_secret_hash is not an Argon2id hash in PHC string format \
                             ($argon2id$v=19$m=...,t=...,p=...$salt$hash)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(format!(
                    "client \"{id}\" has both client_secret and client_secret_hash: give one"
                )));
            }
            (None, None) => {
                return Err(ConfigError::new(format!(
                    "client \"{id}\" has neither client_secret nor client_secret_hash: give one"
                )));
            }
        };
        if !(1..=2).contains(&secrets.len()) {
            return Err(ConfigError::new(format!(
                "client \"{id}\" has {} secrets: give one, or two while rotating",
                secrets.len()
            )));
        }
        let mut scopes = Vec::with_capacity(client.scopes.len());
        for name in &client.scopes {
            let scope = Scope::parse(name).ok_or_else(|| {
                ConfigError::new(format!(
                    "client \"{id}\" has the unknown scope \"{name}\"; known scopes: {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ))
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let scopes: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
        if scopes.is_empty() {
            return Err(ConfigError::new(format!(
                "client \"{id}\" has an empty scopes list: give at least one scope"
            )));
        }
        clients.push(ClientConfig {
            client_id: client.client_id,
            secrets,
            scopes,
            enabled: client.enabled,
        });
    }
    Ok(clients)
}

/// The release checks on one client (see [`Config::check_release`]); reloads apply them
/// to the new client list too.
pub fn check_release_client(client: &ClientConfig) -> Result<(), ConfigError> {
    for secret in &client.secrets {
        let ClientSecret::Plain(secret) = secret else {
            continue;
        };
        let secret = secret.expose_secret();
        if secret == DEVELOPMENT_SECRET || secret == DEVELOPMENT_KEY {
            return Err(ConfigError::new(format!(
                "client \"{}\" uses the public development client_secret from Rocket.toml; the \
                 release checks refuse it. Set your own clients in APP_CLIENTS (or use \
                 client_secret_hash from `players-api create-client`)",
                client.client_id
            )));
        }
        if secret.len() < MIN_RELEASE_SECRET_BYTES {
            return Err(ConfigError::new(format!(
                "client \"{}\" has a client_secret of {} bytes; the release checks need at least \
                 {MIN_RELEASE_SECRET_BYTES} (RFC 6749 §10.10: a client secret must be hard to \
                 guess). Use `players-api create-client` for a random secret and its hash",
                client.client_id,
                secret.len()
            )));
        }
    }
    Ok(())
}

/// The text of a file a setting names; the error names the setting and the path.
fn read_file(path: &Path, key: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(format!("{key} {}: {e}", path.display())))
}

/// An Argon2id PHC string, or `None`.
fn parse_argon2id(phc: &str) -> Option<PasswordHashString> {
    let hash = PasswordHash::new(phc).ok()?;
    (hash.algorithm == argon2::Algorithm::Argon2id.ident() && hash.hash.is_some())
        .then(|| hash.serialize())
}

/// An absolute http(s) URL without query or fragment, returned without a trailing slash.
fn parse_public_url(value: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(value).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.query().is_none()
            && u.fragment().is_none()
    });
    match url {
        Some(_) => Ok(value.trim_end_matches('/').to_owned()),
        None => Err(ConfigError::new(
            "public_url must be an absolute http or https URL without query or fragment, e.g. https://players.example.com",
        )),
    }
}

fn is_known_env_key(key: &str) -> bool {
    KNOWN_ENV_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.to_ascii_uppercase().replace('.', "__")
    )
}

fn missing_settings(keys: &[&str]) -> ConfigError {
    let variables: Vec<String> = keys.iter().map(|k| env_var_for(k)).collect();
    let mut message = format!(
        "required settings are not set: {}. Set them in the config file or in the environment: {}",
        keys.join(", "),
        variables.join(", ")
    );
    if keys.contains(&"clients") {
        message.push_str(" (e.g. APP_CLIENTS='[{client_id=\"...\", client_secret=\"...\"}]')");
    }
    ConfigError::new(message)
}

/// Refuses every key the server does not know, in any profile of the file, not only the
/// one selected (a typo in `[release]` should fail on the developer's machine too): all of
/// them at once, each with the table it is really in and the nearest known key.
fn check_unknown_keys(file: &toml::Table, path: &Path) -> Result<(), ConfigError> {
    let schema = settings_schema();
    let mut found = Vec::new();
    for (profile, table) in file {
        match table {
            toml::Value::Table(table) => walk_unknown(
                &schema,
                &schema,
                table,
                profile,
                &format!("[{profile}]"),
                &mut found,
            ),
            _ => found.push(format!(
                "{} is outside any profile table: put it under [default] (or [debug], [release])",
                shown_key(profile)
            )),
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(ConfigError::new(format!(
        "{}: {} (check the spelling against the README's configuration table)",
        path.display(),
        found.join("; ")
    )))
}

/// `trusted_issuers`, checked: each entry on its own (its URL https or loopback http, one
/// source, a known `typ`), none listed twice, none the server's own issuer.
fn check_trusted_issuers(
    entries: Vec<TrustedIssuer>,
    own_issuer: &str,
) -> Result<Vec<TrustedIssuer>, ConfigError> {
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("trusted_issuers[{index}]");
        entry
            .check()
            .map_err(|e| ConfigError::new(e.within(&at).to_string()))?;
        if entry.issuer == own_issuer {
            return Err(ConfigError::new(format!(
                "{at}.issuer is this server's own jwt.issuer: its tokens are accepted already"
            )));
        }
        if entries[..index].iter().any(|e| e.issuer == entry.issuer) {
            return Err(ConfigError::new(format!(
                "{at}.issuer is listed twice: give each trusted issuer one entry"
            )));
        }
    }
    Ok(entries)
}

/// Every key a file may hold, as JSON of the shape of [`RawConfig`]: derived from the
/// type itself (a probe with one client and one previous key, serialised), so it cannot
/// drift from what is deserialised.
fn settings_schema() -> serde_json::Map<String, serde_json::Value> {
    let mut probe = RawConfig::probe();
    probe.clients.push(RawClient {
        client_id: String::new(),
        client_secret: None,
        client_secret_hash: None,
        scopes: Vec::new(),
        enabled: true,
    });
    probe.jwt.previous_keys.push(RawPreviousKey {
        key_id: String::new(),
        algorithm: None,
        key: None,
        public_key: None,
        public_key_file: None,
    });
    // Every optional member set, or it would be left out of the schema.
    probe.trusted_issuers.push(TrustedIssuer {
        issuer: String::new(),
        discovery_url: Some(String::new()),
        jwks_url: Some(String::new()),
        audience: String::new(),
        typ: Some(String::new()),
    });
    match serde_json::to_value(&probe) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// Collects the unknown keys of `table` (at `path`, shown as `label`) against `schema`.
fn walk_unknown(
    root: &serde_json::Map<String, serde_json::Value>,
    schema: &serde_json::Map<String, serde_json::Value>,
    table: &toml::Table,
    path: &str,
    label: &str,
    found: &mut Vec<String>,
) {
    use serde_json::Value as Json;
    for (key, value) in table {
        let inner_path = format!("{path}.{key}");
        match (schema.get(key), value) {
            (None, _) => {
                let hint = suggestion(root, schema, key)
                    .map(|known| format!(" (did you mean `{known}`?)"))
                    .unwrap_or_default();
                found.push(format!("unknown key {} in {label}{hint}", shown_key(key)));
            }
            (Some(Json::Object(inner)), toml::Value::Table(t)) => walk_unknown(
                root,
                inner,
                t,
                &inner_path,
                &format!("[{inner_path}]"),
                found,
            ),
            (Some(Json::Array(items)), toml::Value::Array(entries)) => {
                if let Some(Json::Object(inner)) = items.first() {
                    for (index, entry) in entries.iter().enumerate() {
                        if let toml::Value::Table(t) = entry {
                            let label = format!("[[{inner_path}]] entry {}", index + 1);
                            walk_unknown(root, inner, t, &inner_path, &label, found);
                        }
                    }
                }
            }
            // A wrong type is reported by deserialisation, with the key.
            _ => {}
        }
    }
}

/// The known key an unknown one most likely meant: one of this table's keys within a
/// small edit distance, or the same name where it belongs (`issuer` in `[default]` is
/// `jwt.issuer`).
fn suggestion(
    root: &serde_json::Map<String, serde_json::Value>,
    here: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let nearest = here
        .keys()
        .map(|known| (strsim::levenshtein(&lower, known), known))
        .min()
        .filter(|(distance, known)| *distance <= 2.max(known.len() / 3))
        .map(|(_, known)| known.clone());
    nearest.or_else(|| {
        root.iter()
            .filter_map(|(section, value)| {
                let fields = value.as_object()?;
                fields
                    .contains_key(&lower)
                    .then(|| format!("{section}.{lower}"))
            })
            .next()
    })
}

/// A key from the file as shown in a message: quoted, control characters escaped, at
/// most 64 characters.
fn shown_key(key: &str) -> String {
    let shown: String = key.chars().take(64).collect();
    let ellipsis = if shown.len() < key.len() { "..." } else { "" };
    format!("{shown:?}{ellipsis}")
}

/// The arrays one profile table of the file replaces in another, described for a
/// warning: every profile's over `[default]`'s, and `[global]`'s (which figment merges
/// over every profile) over both. figment replaces arrays rather than merging them, so
/// the replaced entries silently vanish under that profile.
fn replaced_arrays(file: &toml::Table) -> Vec<String> {
    /// (dotted path below the profile, entries replaced) for every array set in both.
    fn walk(under: &toml::Table, over: &toml::Table, path: &str, out: &mut Vec<(String, usize)>) {
        for (key, value) in over {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match (under.get(key), value) {
                (Some(toml::Value::Array(replaced)), toml::Value::Array(_)) => {
                    out.push((path, replaced.len()))
                }
                (Some(toml::Value::Table(u)), toml::Value::Table(o)) => walk(u, o, &path, out),
                _ => {}
            }
        }
    }
    let tables: Vec<(&String, &toml::Table)> = file
        .iter()
        .filter_map(|(name, value)| Some((name, value.as_table()?)))
        .collect();
    let named = |wanted: &str| {
        tables
            .iter()
            .find(|(n, _)| n.as_str() == wanted)
            .map(|(_, t)| *t)
    };
    let mut pairs = Vec::new();
    for (name, table) in &tables {
        match name.as_str() {
            "default" | "global" => {}
            profile => {
                if let Some(default) = named("default") {
                    pairs.push(("default", default, profile, *table, Some(profile)));
                }
                if let Some(global) = named("global") {
                    pairs.push((profile, *table, "global", global, Some(profile)));
                }
            }
        }
    }
    if let (Some(default), Some(global)) = (named("default"), named("global")) {
        pairs.push(("default", default, "global", global, None));
    }
    let mut warnings = Vec::new();
    for (under_name, under, over_name, over, profile) in pairs {
        let mut found = Vec::new();
        walk(under, over, "", &mut found);
        for (path, count) in found {
            let under_which = match profile {
                Some(profile) => format!("profile {profile}"),
                None => "any profile".to_owned(),
            };
            warnings.push(format!(
                "{over_name}.{path} replaces {under_name}.{path} (arrays are replaced, not \
                 merged): the {count} entr{} of {under_name}.{path} {} not used under \
                 {under_which}; put them all in one profile",
                if count == 1 { "y" } else { "ies" },
                if count == 1 { "is" } else { "are" },
            ));
        }
    }
    warnings
}

impl RawConfig {
    fn probe() -> Self {
        RawConfig {
            address: default_address(),
            port: default_port(),
            database_url: default_database_url(),
            public_url: None,
            trusted_proxies: Vec::new(),
            throttle: ThrottleConfig::default(),
            limits: LimitsConfig::default(),
            cors: CorsConfig::default(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            tls: RawTls::default(),
            jwt: RawJwt::default(),
            clients: Vec::new(),
            trusted_issuers: Vec::new(),
        }
    }
}

/// Reads the file as TOML. A file that is not TOML is refused naming the line, the
/// column and the key, never quoting it: the line may hold a secret, and the TOML
/// parser's own message shows it.
fn read_toml(file: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError::new(format!(
            "cannot read the configuration file {}: {e}",
            file.display()
        ))
    })?;
    let error = match toml::from_str::<toml::Table>(&text) {
        Ok(table) => return Ok(table),
        Err(error) => error,
    };
    let at = error.span().map_or(0, |span| span.start.min(text.len()));
    let before = text.get(..at).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    // Named only when it is one of ours: what stands before `=` on a broken line may be
    // a pasted secret (a base64 key ends in `=`).
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(key, _)| key.trim())
        .filter(|key| is_setting_name(key))
        // Only the last part: the parts before it were not checked.
        .map(|key| key.rsplit('.').next().unwrap_or(key));
    // A table or key written twice (`[debug.jwt]` pasted next to the file's own) is the
    // usual way to get here from command output: say so, naming it if it is one of ours.
    let duplicate = error.message().contains("duplicate key").then(|| {
        let name = error
            .message()
            .split('`')
            .nth(1)
            .filter(|name| is_setting_name(name) || is_profile_name(name));
        match name {
            Some(name) => format!(
                "; `{name}` is defined twice: merge the new keys into the table that is already \
                 there instead of adding another"
            ),
            None => "; a table or key is defined twice: merge the new keys into the table that \
                     is already there instead of adding another"
                .to_owned(),
        }
    });
    Err(ConfigError::new(format!(
        "{} is not valid TOML: syntax error at line {line}, column {column}{} (the line is not \
         shown: it may hold a secret){}",
        file.display(),
        key.map(|k| format!(", in the value of `{k}`"))
            .unwrap_or_default(),
        duplicate.unwrap_or_default()
    )))
}

/// The profile names figment and this server give a meaning to.
fn is_profile_name(name: &str) -> bool {
    ["default", "debug", "release", "global"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

/// Whether `key` (a bare or dotted TOML key) names a setting or a field of a client or a
/// previous key.
fn is_setting_name(key: &str) -> bool {
    const FIELDS: &[&str] = &[
        "client_id",
        "client_secret",
        "client_secret_hash",
        "scopes",
        "enabled",
        "key_id",
        "key",
        "algorithm",
        "public_key",
        "public_key_file",
    ];
    let last = key.rsplit('.').next().unwrap_or(key);
    FIELDS.contains(&last)
        || KNOWN_ENV_KEYS
            .iter()
            .any(|known| known.rsplit('.').next() == Some(last))
}

/// figment's errors with every value they carry left out: a value in the wrong place may
/// be a secret (`APP_CLIENTS` with a typo is quoted whole by figment). The key and the
/// source are kept.
fn describe_figment_error(error: figment::Error) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|mut e| {
            e.kind = without_values(e.kind);
            e.to_string()
        })
        .collect();
    ConfigError::new(messages.join("; "))
}

fn without_values(kind: figment::error::Kind) -> figment::error::Kind {
    use figment::error::{Actual, Kind};
    let actual = |actual: Actual| match actual {
        Actual::Bool(_) => Actual::Other("a boolean".into()),
        Actual::Unsigned(_) | Actual::Signed(_) => Actual::Other("an integer".into()),
        Actual::Float(_) => Actual::Other("a float".into()),
        Actual::Char(_) | Actual::Str(_) => Actual::Other("a string (not shown)".into()),
        Actual::Bytes(_) => Actual::Other("bytes (not shown)".into()),
        Actual::Other(_) => Actual::Other("a value (not shown)".into()),
        other => other,
    };
    match kind {
        Kind::InvalidType(found, expected) => Kind::InvalidType(actual(found), expected),
        Kind::InvalidValue(found, expected) => Kind::InvalidValue(actual(found), expected),
        Kind::UnknownVariant(_, expected) => Kind::UnknownVariant("(not shown)".into(), expected),
        Kind::Unsupported(found) => Kind::Unsupported(actual(found)),
        Kind::UnsupportedKey(found, expected) => Kind::UnsupportedKey(actual(found), expected),
        // Our own messages and serde's are plain; one quoting anything is not shown.
        Kind::Message(message)
            if message.len() > 200 || message.contains(['"', '\'', '`', '\n']) =>
        {
            Kind::Message("the value is malformed (not shown)".into())
        }
        other => other,
    }
}

/// `url` with its password, if any, masked: `postgres://admin:***@host/db`. A password
/// given as a query parameter (`?password=...`) is masked too.
pub fn mask_url_password(url: &str) -> String {
    // The password ends at the last `@` before the host, and may itself hold `@`, `#`,
    // `?` or `/` unencoded, which a URL parser would split elsewhere: mask by hand first.
    let masked = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    let url = masked.as_str();
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Not a URL we can read: show only its scheme.
        return match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_owned(),
        };
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if name.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
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
