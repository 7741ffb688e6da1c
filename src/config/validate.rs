//! Validation: the raw file format turned into [`Config`], whose fields hold only values
//! the server can run with, and the crates' settings (key sets, clients, trusted issuers).

use super::*;

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
pub(super) fn parse_clients(raw: Vec<RawClient>) -> Result<Vec<ClientConfig>, ConfigError> {
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

/// The text of a file a setting names; the error names the setting and the path.
pub(super) fn read_file(path: &Path, key: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(format!("{key} {}: {e}", path.display())))
}

/// An Argon2id PHC string, or `None`.
pub(super) fn parse_argon2id(phc: &str) -> Option<PasswordHashString> {
    let hash = PasswordHash::new(phc).ok()?;
    (hash.algorithm == argon2::Algorithm::Argon2id.ident() && hash.hash.is_some())
        .then(|| hash.serialize())
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
