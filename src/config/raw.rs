//! The configuration file's format: what may be written, deserialised as it is, with
//! defaults and unknown keys refused.

use super::*;

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
    pub jwt: IssuerSettings,
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
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
    #[serde(default)]
    pub client_assertion: ClientAssertionConfig,
    #[serde(default)]
    pub dpop: RawDpop,
    #[serde(default)]
    pub revocation: RevocationConfig,
}

/// Token revocation (RFC 7009).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    /// The most live revocations one client may hold (each kept until its token would
    /// have expired): past that, revoking another answers 429.
    pub max_live_per_client: usize,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            max_live_per_client: poem_client_credentials::revocation::DEFAULT_MAX_LIVE_PER_CLIENT,
        }
    }
}

/// DPoP (RFC 9449) server nonces.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDpop {
    /// Proofs must carry a nonce this server (any instance) handed out.
    pub require_nonce: bool,
    /// The key nonces are derived with: at least 32 bytes, the same on every instance.
    #[serde(serialize_with = "poem_bearer::serialize_masked")]
    pub nonce_key: Option<SecretString>,
}

/// `private_key_jwt` client assertions.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAssertionConfig {
    /// Accept as `aud` only the issuer identifier as one string (FAPI 2.0), not the
    /// token endpoint's URL.
    pub strict_audience: bool,
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

/// `trusted_proxies`: each entry an address (`10.0.0.1`, a block of one) or a CIDR block
/// (`10.0.0.0/8`). IPv4-mapped IPv6 forms (`::ffff:10.0.0.1`) are taken as the IPv4 they
/// map, which is how peers are compared.
pub(super) fn deserialize_networks<'de, D: serde::Deserializer<'de>>(
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

pub(super) fn default_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
pub(super) fn default_port() -> u16 {
    9000
}
pub(super) fn default_database_url() -> String {
    "sqlite://players.db".to_owned()
}

impl RawConfig {
    pub(super) fn probe() -> Self {
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
            jwt: IssuerSettings::default(),
            clients: Vec::new(),
            trusted_issuers: Vec::new(),
            client_assertion: ClientAssertionConfig::default(),
            revocation: RevocationConfig::default(),
            dpop: RawDpop {
                require_nonce: false,
                // Set, or the schema would not list it.
                nonce_key: Some(SecretString::from("")),
            },
        }
    }
}
