//! Loading: the file, the profile and the `APP_` variables merged by figment, and
//! figment's errors told without the values they carry.

use super::*;

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
        let raw: Vec<ClientSettings> = figment
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
}

pub(super) fn is_known_env_key(key: &str) -> bool {
    KNOWN_ENV_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

pub(super) fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.to_ascii_uppercase().replace('.', "__")
    )
}

pub(super) fn missing_settings(keys: &[&str]) -> ConfigError {
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

/// figment's errors with every value they carry left out: a value in the wrong place may
/// be a secret (`APP_CLIENTS` with a typo is quoted whole by figment). The key and the
/// source are kept.
pub(super) fn describe_figment_error(error: figment::Error) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|mut e| {
            e.kind = without_values(e.kind);
            e.to_string()
        })
        .collect();
    ConfigError::new(messages.join("; "))
}

pub(super) fn without_values(kind: figment::error::Kind) -> figment::error::Kind {
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
