//! The release checks: the public development key and client secret refused, plaintext
//! secrets long enough, and the plain-HTTP warning.

use super::*;

impl Config {
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
