//! Validation: the raw file format turned into [`Config`], whose fields hold only values
//! the server can run with, and the crates' settings (key sets, clients, trusted issuers).

use super::*;

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        // Report every missing required setting at once: a release deployment typically
        // lacks all of them, and one message should say everything to set.
        let mut missing: Vec<String> = raw
            .jwt
            .missing()
            .iter()
            .map(|f| format!("jwt.{f}"))
            .collect();
        if raw.clients.is_empty() {
            missing.push("clients".to_owned());
        }
        if !missing.is_empty() {
            return Err(missing_settings(
                &missing.iter().map(String::as_str).collect::<Vec<_>>(),
            ));
        }
        // An HS256 key's id is derived with this app's own label, so deployed key ids
        // (and the tokens carrying them) stay valid.
        let jwt = raw
            .jwt
            .load(keys::HMAC_KEY_ID_LABEL)
            .map_err(|e| setting_error(e.within("jwt")))?;
        let clients = parse_clients(raw.clients)?;
        let trusted_issuers = check_trusted_issuers(raw.trusted_issuers, &jwt.issuer)?;

        let public_url = raw.public_url.map(|u| parse_public_url(&u)).transpose()?;
        let nonces = |key: &SecretString| {
            poem_bearer::dpop::Nonces::new(key.expose_secret().as_bytes())
                .map(Arc::new)
                .map_err(|e| setting_error(e.within("dpop")))
        };
        let dpop_nonces = match (raw.dpop.require_nonce, &raw.dpop.nonce_key) {
            // Checked even while unused: a key too short fails now, not when nonces are
            // turned on.
            (false, Some(key)) => nonces(key).map(|_| None)?,
            (false, None) => None,
            (true, None) => {
                return Err(ConfigError::new(format!(
                    "dpop.nonce_key is required when dpop.require_nonce is on: at least 32 bytes, \
                     the same on every instance (set it in the config file or {})",
                    env_var_for("dpop.nonce_key")
                )));
            }
            (true, Some(key)) => Some(nonces(key)?),
        };
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
            (
                raw.revocation.max_live_per_client as u64,
                "revocation.max_live_per_client",
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
            jwt,
            clients,
            trusted_issuers,
            client_assertion: raw.client_assertion,
            revocation: raw.revocation,
            dpop_nonces,
        })
    }
}

/// The clients as configured: unique non-empty ids, one secret or two (plaintext or an
/// Argon2id hash), this API's scopes. Messages name a client by its id.
pub(super) fn parse_clients(
    entries: Vec<ClientSettings>,
) -> Result<Vec<ClientConfig>, ConfigError> {
    let mut seen = HashSet::new();
    let mut clients = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let id = entry.client_id.clone();
        if !id.is_empty() && !seen.insert(id.clone()) {
            return Err(ConfigError::new(format!(
                "client \"{id}\" is configured twice: client_id values must be unique"
            )));
        }
        let client = entry.load(&[DEFAULT_SCOPE]).map_err(|e| {
            ConfigError::new(match (id.is_empty(), e.field()) {
                // Entries of a list are named by position, the client by its id too.
                (false, field) if field.starts_with("resources[") => format!(
                    "{} (client \"{id}\")",
                    e.within(&format!("clients[{index}]"))
                ),
                (true, _) => e.within(&format!("clients[{index}]")).to_string(),
                (false, "") => format!("client \"{id}\" {}", e.message()),
                (false, field) => format!("client \"{id}\": {field} {}", e.message()),
            })
        })?;
        if let Some(name) = client
            .scopes
            .iter()
            .find(|name| Scope::parse(name).is_none())
        {
            return Err(ConfigError::new(format!(
                "client \"{id}\" has the unknown scope \"{name}\"; known scopes: {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            )));
        }
        clients.push(client);
    }
    Ok(clients)
}

/// A crate's settings error as this app words it: the key as the file writes it and,
/// for a key an `APP_` variable can set on its own, that variable.
pub(super) fn setting_error(error: SettingsError) -> ConfigError {
    let field = error.field();
    if field.contains('[') || field.is_empty() {
        ConfigError::new(error.to_string())
    } else {
        ConfigError::new(format!(
            "{error} (set in the config file or {})",
            env_var_for(field)
        ))
    }
}

/// The text of a file a setting names; the error names the setting and the path.
pub(super) fn read_file(path: &Path, key: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(format!("{key} {}: {e}", path.display())))
}

/// An absolute http(s) URL without query or fragment, returned without a trailing slash.
pub(super) fn parse_public_url(value: &str) -> Result<String, ConfigError> {
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

/// `trusted_issuers`, checked: each entry on its own (its URL https or loopback http, one
/// source, a known `typ`), none listed twice, none the server's own issuer.
pub(super) fn check_trusted_issuers(
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
