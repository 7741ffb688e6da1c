//! Checks on the file as written, before figment merges it: unknown keys (with the
//! nearest known one), arrays one profile replaces in another, TOML syntax errors told
//! without quoting the line.

use super::*;

/// Refuses every key the server does not know, in any profile of the file, not only the
/// one selected (a typo in `[release]` should fail on the developer's machine too): all of
/// them at once, each with the table it is really in and the nearest known key.
pub(super) fn check_unknown_keys(file: &toml::Table, path: &Path) -> Result<(), ConfigError> {
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

/// Every key a file may hold, as JSON of the shape of [`RawConfig`]: derived from the
/// type itself (a probe with one client and one previous key, serialised), so it cannot
/// drift from what is deserialised.
pub(super) fn settings_schema() -> serde_json::Map<String, serde_json::Value> {
    let mut probe = RawConfig::probe();
    probe.clients.push(ClientSettings {
        client_id: String::new(),
        client_secret: None,
        client_secret_hash: None,
        scopes: Some(Vec::new()),
        enabled: true,
        jwks: Some(Default::default()),
        token_endpoint_auth_method: None,
        dpop_bound_access_tokens: false,
        resources: Vec::new(),
        token_lifetime_seconds: Some(0),
        introspect: false,
    });
    probe.jwt.previous_keys.push(PreviousKeySettings::default());
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
pub(super) fn walk_unknown(
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
pub(super) fn suggestion(
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
pub(super) fn shown_key(key: &str) -> String {
    let shown: String = key.chars().take(64).collect();
    let ellipsis = if shown.len() < key.len() { "..." } else { "" };
    format!("{shown:?}{ellipsis}")
}

/// The arrays one profile table of the file replaces in another, described for a
/// warning: every profile's over `[default]`'s, and `[global]`'s (which figment merges
/// over every profile) over both. figment replaces arrays rather than merging them, so
/// the replaced entries silently vanish under that profile.
pub(super) fn replaced_arrays(file: &toml::Table) -> Vec<String> {
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

/// Reads the file as TOML. A file that is not TOML is refused naming the line, the
/// column and the key, never quoting it: the line may hold a secret, and the TOML
/// parser's own message shows it.
pub(super) fn read_toml(file: &Path) -> Result<toml::Table, ConfigError> {
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
pub(super) fn is_profile_name(name: &str) -> bool {
    ["default", "debug", "release", "global"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

/// Whether `key` (a bare or dotted TOML key) names a setting or a field of a client or a
/// previous key.
pub(super) fn is_setting_name(key: &str) -> bool {
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
