//! Local keys as a settings file writes them: deserialised with serde (from TOML, JSON,
//! the environment through figment, ...), then checked and turned into the
//! [`KeyConfig`]s a [`KeySet`](super::KeySet) is built from.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Algorithm, KeyConfig, KeyMaterial, hmac_key_id};
use crate::SettingsError;

/// The algorithm names a key may be given with.
pub const ALGORITHM_NAMES: &str = "HS256, EdDSA or ES256";

/// The key that signs (and verifies) and the previous keys that still verify, as
/// written:
///
/// ```toml
/// algorithm = "EdDSA"                      # HS256 (default), EdDSA or ES256
/// private_key_file = "/run/secrets/jwt.pem" # or private_key = "-----BEGIN ..."
/// # key = "..."                            # the HS256 secret, at least 32 bytes
/// # key_id = "2026-11"                     # derived from the key when absent
///
/// [[previous_keys]]
/// key_id = "2026-05"
/// algorithm = "EdDSA"
/// public_key_file = "/etc/api/jwt-2026-05.pub.pem"
/// ```
///
/// Unknown fields are refused. Serialising it writes every secret as `********`, so the
/// settings can be shown.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// `HS256` (the default), `EdDSA` or `ES256`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// The HS256 secret; its bytes are the UTF-8 bytes of the text as written.
    #[serde(default, serialize_with = "crate::serialize_masked")]
    pub key: Option<SecretString>,
    /// The `kid` tokens carry. Absent: the RFC 7638 thumbprint of a public key, or
    /// [`hmac_key_id`] of a secret under the label given to [`KeySettings::load`].
    #[serde(default)]
    pub key_id: Option<String>,
    /// The EdDSA or ES256 private key, PKCS#8 PEM.
    #[serde(default, serialize_with = "crate::serialize_masked")]
    pub private_key: Option<SecretString>,
    /// A file holding `private_key`, read by [`KeySettings::load`].
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Keys that no longer sign but still verify the tokens they signed.
    #[serde(default)]
    pub previous_keys: Vec<PreviousKeySettings>,
}

/// A key that no longer signs but still verifies the tokens it signed, until they expire.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousKeySettings {
    /// The `kid` its tokens carry (required).
    #[serde(default)]
    pub key_id: String,
    /// `HS256` (the default), `EdDSA` or `ES256`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// An HS256 secret.
    #[serde(default, serialize_with = "crate::serialize_masked")]
    pub key: Option<SecretString>,
    /// An EdDSA or ES256 public key, SPKI PEM: a previous key only verifies.
    #[serde(default)]
    pub public_key: Option<String>,
    /// A file holding `public_key`.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
}

impl KeySettings {
    /// The field that must be set for the chosen algorithm and is not (`key` for HS256,
    /// `private_key` otherwise; an empty value counts as absent), so an app can report it
    /// with its other missing settings at once. `None` when present, or when the
    /// algorithm is unknown ([`KeySettings::load`] reports that).
    pub fn missing(&self) -> Option<&'static str> {
        match self.algorithm().ok()? {
            Algorithm::HS256 if !has_secret(&self.key) => Some("key"),
            Algorithm::HS256 => None,
            _ if !has_secret(&self.private_key) && self.private_key_file.is_none() => {
                Some("private_key")
            }
            _ => None,
        }
    }

    /// Checks the settings and reads the key files: the current key and the previous
    /// ones, ready for [`KeySet::new`](super::KeySet::new), which parses them. An HS256
    /// key without `key_id` gets [`hmac_key_id`] under `hmac_key_id_label`: pass
    /// [`DEFAULT_HMAC_KEY_ID_LABEL`](super::DEFAULT_HMAC_KEY_ID_LABEL) unless a
    /// deployment's existing ids were derived with another label.
    ///
    /// An error names the field relative to these settings (`private_key_file`,
    /// `previous_keys[1].algorithm`) and never holds a key.
    pub fn load(
        self,
        hmac_key_id_label: &[u8],
    ) -> Result<(KeyConfig, Vec<KeyConfig>), SettingsError> {
        let algorithm = self.algorithm()?;
        let key = self.key.filter(|k| !k.expose_secret().is_empty());
        let private_key = match (self.private_key, &self.private_key_file) {
            (Some(pem), None) => Some(pem),
            (None, Some(path)) => Some(SecretString::from(read_file(path, "private_key_file")?)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(SettingsError::new(
                    "private_key_file",
                    "cannot be given with private_key: give one",
                ));
            }
        };
        let material = match (algorithm, key, private_key) {
            (Algorithm::HS256, Some(key), None) => KeyMaterial::Hmac(key),
            (Algorithm::HS256, None, None) => return Err(SettingsError::new("key", "is missing")),
            (Algorithm::HS256, _, Some(_)) => {
                return Err(SettingsError::new(
                    "algorithm",
                    "HS256 takes `key`, not a private key",
                ));
            }
            (algorithm, None, Some(pem)) => KeyMaterial::PrivatePem(algorithm, pem),
            (algorithm, None, None) => {
                return Err(SettingsError::new(
                    "private_key",
                    format!("is missing: {algorithm:?} signs with a private key"),
                ));
            }
            (algorithm, Some(_), _) => {
                return Err(SettingsError::new(
                    "algorithm",
                    format!("{algorithm:?} takes `private_key` (or `private_key_file`), not `key`"),
                ));
            }
        };
        let key_id = self.key_id.filter(|k| !k.is_empty()).or(match &material {
            KeyMaterial::Hmac(key) => Some(hmac_key_id(
                hmac_key_id_label,
                key.expose_secret().as_bytes(),
            )),
            _ => None,
        });
        let previous = self
            .previous_keys
            .into_iter()
            .enumerate()
            .map(|(index, key)| {
                key.load()
                    .map_err(|e| e.within(&format!("previous_keys[{index}]")))
            })
            .collect::<Result<_, _>>()?;
        Ok((KeyConfig { key_id, material }, previous))
    }

    fn algorithm(&self) -> Result<Algorithm, SettingsError> {
        parse_algorithm(self.algorithm.as_deref())
    }
}

impl PreviousKeySettings {
    /// Checks the settings and reads the key file. An error names the field relative to
    /// this key.
    pub fn load(self) -> Result<KeyConfig, SettingsError> {
        let algorithm = parse_algorithm(self.algorithm.as_deref())?;
        let public_key = match (self.public_key, &self.public_key_file) {
            (Some(pem), None) => Some(pem),
            (None, Some(path)) => Some(read_file(path, "public_key_file")?),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(SettingsError::new(
                    "public_key_file",
                    "cannot be given with public_key: give one",
                ));
            }
        };
        let material = match (algorithm, self.key, public_key) {
            (Algorithm::HS256, Some(key), None) => KeyMaterial::Hmac(key),
            (algorithm, None, Some(pem)) if algorithm != Algorithm::HS256 => {
                KeyMaterial::PublicPem(algorithm, pem)
            }
            _ => {
                return Err(SettingsError::new(
                    "",
                    "an HS256 key takes `key`, an EdDSA/ES256 key takes `public_key`",
                ));
            }
        };
        Ok(KeyConfig {
            key_id: Some(self.key_id),
            material,
        })
    }
}

fn has_secret(value: &Option<SecretString>) -> bool {
    value
        .as_ref()
        .is_some_and(|v| !v.expose_secret().is_empty())
}

/// The algorithm a local key may use, by the name settings give it (`HS256`, `EdDSA`,
/// `ES256`; see [`ALGORITHM_NAMES`]).
pub fn algorithm_named(name: &str) -> Option<Algorithm> {
    match name {
        "HS256" => Some(Algorithm::HS256),
        "EdDSA" => Some(Algorithm::EdDSA),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

/// `HS256` when absent. The name is not a secret, so the message may repeat it.
fn parse_algorithm(name: Option<&str>) -> Result<Algorithm, SettingsError> {
    let name = name.unwrap_or("HS256");
    algorithm_named(name).ok_or_else(|| {
        SettingsError::new("algorithm", format!("is \"{name}\"; use {ALGORITHM_NAMES}"))
    })
}

/// The text of a key file. The message names the path, never the content.
fn read_file(path: &Path, field: &str) -> Result<String, SettingsError> {
    std::fs::read_to_string(path)
        .map_err(|e| SettingsError::new(field, format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{DEFAULT_HMAC_KEY_ID_LABEL, KeySet};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn from_json(value: serde_json::Value) -> KeySettings {
        serde_json::from_value(value).unwrap()
    }

    fn load_error(value: serde_json::Value) -> SettingsError {
        from_json(value)
            .load(DEFAULT_HMAC_KEY_ID_LABEL)
            .unwrap_err()
    }

    #[test]
    fn an_hs256_secret_with_a_previous_key_loads_into_a_key_set() {
        let settings = from_json(serde_json::json!({
            "key": SECRET,
            "previous_keys": [{ "key_id": "old", "key": "fedcba9876543210fedcba9876543210" }],
        }));
        assert_eq!(settings.missing(), None);
        let (current, previous) = settings.load(b"label").unwrap();
        assert_eq!(
            current.key_id,
            Some(hmac_key_id(b"label", SECRET.as_bytes()))
        );
        assert_eq!(previous[0].key_id.as_deref(), Some("old"));
        let set = KeySet::new(&current, &previous).unwrap();
        assert!(set.verifying("old").is_some());
    }

    #[test]
    fn errors_name_the_field_and_never_a_key() {
        for (settings, field, message) in [
            (
                serde_json::json!({ "algorithm": "RS256" }),
                "algorithm",
                "is \"RS256\"; use HS256, EdDSA or ES256",
            ),
            (serde_json::json!({}), "key", "is missing"),
            (serde_json::json!({ "key": "" }), "key", "is missing"),
            (
                serde_json::json!({ "algorithm": "EdDSA", "key": SECRET }),
                "algorithm",
                "EdDSA takes `private_key` (or `private_key_file`), not `key`",
            ),
            (
                serde_json::json!({ "key": SECRET, "private_key": "pem" }),
                "algorithm",
                "HS256 takes `key`, not a private key",
            ),
            (
                serde_json::json!({ "algorithm": "ES256", "private_key": "pem", "private_key_file": "/x" }),
                "private_key_file",
                "cannot be given with private_key: give one",
            ),
            (
                serde_json::json!({ "key": SECRET, "previous_keys": [{}, { "key_id": "b", "algorithm": "nope" }] }),
                "previous_keys[0]",
                "an HS256 key takes `key`, an EdDSA/ES256 key takes `public_key`",
            ),
            (
                serde_json::json!({ "key": SECRET, "previous_keys": [{ "key_id": "a", "key": SECRET }, { "key_id": "b", "algorithm": "nope" }] }),
                "previous_keys[1].algorithm",
                "is \"nope\"; use HS256, EdDSA or ES256",
            ),
            (
                serde_json::json!({ "key": SECRET, "previous_keys": [{ "key_id": "a", "algorithm": "EdDSA", "key": SECRET }] }),
                "previous_keys[0]",
                "an HS256 key takes `key`, an EdDSA/ES256 key takes `public_key`",
            ),
        ] {
            let error = load_error(settings.clone());
            assert_eq!(
                (error.field(), error.message()),
                (field, message),
                "{settings}"
            );
            assert!(!error.to_string().contains(SECRET), "{error}");
        }
    }

    #[test]
    fn a_missing_key_file_is_named_by_its_field_and_path() {
        let error = load_error(serde_json::json!({
            "algorithm": "EdDSA", "private_key_file": "/nonexistent/jwt.pem",
        }));
        assert_eq!(error.field(), "private_key_file");
        assert!(
            error.message().starts_with("/nonexistent/jwt.pem: "),
            "{error}"
        );
    }

    #[test]
    fn missing_names_the_key_field_the_algorithm_needs() {
        assert_eq!(from_json(serde_json::json!({})).missing(), Some("key"));
        let eddsa = serde_json::json!({ "algorithm": "EdDSA" });
        assert_eq!(from_json(eddsa).missing(), Some("private_key"));
        let file = serde_json::json!({ "algorithm": "EdDSA", "private_key_file": "/x" });
        assert_eq!(from_json(file).missing(), None);
        assert_eq!(
            from_json(serde_json::json!({ "algorithm": "x" })).missing(),
            None
        );
    }

    #[test]
    fn unknown_fields_are_refused_and_secrets_are_masked_when_shown() {
        let typo = serde_json::from_value::<KeySettings>(serde_json::json!({ "keys": SECRET }));
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `keys`")
        );
        let shown = serde_json::to_string(&from_json(serde_json::json!({
            "key": SECRET, "previous_keys": [{ "key_id": "a", "key": SECRET }],
        })))
        .unwrap();
        assert!(!shown.contains(SECRET), "{shown}");
        assert_eq!(shown.matches("********").count(), 2, "{shown}");
    }
}
