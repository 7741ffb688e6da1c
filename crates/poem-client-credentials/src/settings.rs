//! The authorization server's settings as a file writes them: the token issuer (keys,
//! `iss`, `aud`, lifetime) and the clients. Deserialised with serde (from TOML, JSON,
//! the environment through figment, ...), then checked into the values the endpoint is
//! built from. Errors name the field at fault relative to the settings value given
//! ([`SettingsError`]), so an app can name its own keys in its messages.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHashString};
use poem_bearer::{
    SettingsError,
    keys::{KeyConfig, KeySet, KeySettings, PreviousKeySettings, PublicJwk},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::{AuthMethod, AuthMethods, ClientConfig, ClientSecret, TokenIssuer};

/// The longest token lifetime [`IssuerSettings`] accept: a day. Access tokens are meant to
/// be short-lived (RFC 9700 §2.2); a client asks for a new one when it expires.
pub const MAX_TOKEN_LIFETIME_SECONDS: u64 = 86_400;

/// The lifetime of a token when none is configured: an hour.
pub const DEFAULT_TOKEN_LIFETIME_SECONDS: u64 = 3_600;

/// Who signs the tokens, with which keys, for whom and for how long, as written:
///
/// ```toml
/// issuer = "https://api.example.com"
/// audience = "https://api.example.com"
/// expires_in_seconds = 900       # default 3600, at most 86400
/// algorithm = "EdDSA"            # HS256 (default), EdDSA or ES256
/// private_key_file = "/run/secrets/jwt.pem"
/// # key = "..."                  # HS256: the secret, at least 32 bytes
/// # key_id, previous_keys: as in poem_bearer::keys::KeySettings
/// ```
///
/// The key fields are those of [`KeySettings`], written alongside the others. Unknown
/// fields are refused; serialising writes secrets as `********`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` of every token, and the issuer identifier of the discovery document.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `aud` of every token: the API that accepts them.
    #[serde(default)]
    pub audience: Option<String>,
    /// How long a token is valid, 1 ..= [`MAX_TOKEN_LIFETIME_SECONDS`].
    #[serde(default = "default_lifetime")]
    pub expires_in_seconds: u64,
    /// See [`KeySettings::algorithm`].
    #[serde(default)]
    pub algorithm: Option<String>,
    /// See [`KeySettings::key`].
    #[serde(default, serialize_with = "poem_bearer::serialize_masked")]
    pub key: Option<SecretString>,
    /// See [`KeySettings::key_id`].
    #[serde(default)]
    pub key_id: Option<String>,
    /// See [`KeySettings::private_key`].
    #[serde(default, serialize_with = "poem_bearer::serialize_masked")]
    pub private_key: Option<SecretString>,
    /// See [`KeySettings::private_key_file`].
    #[serde(default)]
    pub private_key_file: Option<std::path::PathBuf>,
    /// See [`KeySettings::previous_keys`].
    #[serde(default)]
    pub previous_keys: Vec<PreviousKeySettings>,
}

impl Default for IssuerSettings {
    fn default() -> Self {
        IssuerSettings {
            issuer: None,
            audience: None,
            expires_in_seconds: DEFAULT_TOKEN_LIFETIME_SECONDS,
            algorithm: None,
            key: None,
            key_id: None,
            private_key: None,
            private_key_file: None,
            previous_keys: Vec::new(),
        }
    }
}

/// [`IssuerSettings`], checked and parsed: everything a [`TokenIssuer`] is made of.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The key that signs, as configured.
    pub current: KeyConfig,
    /// The previous keys, as configured.
    pub previous: Vec<KeyConfig>,
    /// All of them, parsed: the current key signs, every key verifies.
    pub keys: Arc<KeySet>,
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Token lifetime.
    pub expires_in_seconds: u64,
}

impl IssuerSettings {
    /// The required fields that are not set (an empty value counts as absent):
    /// `issuer`, `audience`, and `key` or `private_key` as the algorithm needs. An app
    /// can report them with its other missing settings at once.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if let Some(field) = self.key_fields().missing() {
            missing.push(field);
        }
        for (value, field) in [(&self.issuer, "issuer"), (&self.audience, "audience")] {
            if value.as_deref().is_none_or(str::is_empty) {
                missing.push(field);
            }
        }
        missing
    }

    /// Checks the settings, reads the key files and parses the keys. An HS256 key
    /// without `key_id` gets its id under `hmac_key_id_label` (see
    /// [`KeySettings::load`]).
    pub fn load(self, hmac_key_id_label: &[u8]) -> Result<IssuerConfig, SettingsError> {
        let required = |value: Option<String>, field: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| SettingsError::new(field, "is missing"))
        };
        let lifetime = self.expires_in_seconds;
        if !(1..=MAX_TOKEN_LIFETIME_SECONDS).contains(&lifetime) {
            return Err(SettingsError::new(
                "expires_in_seconds",
                format!("must be between 1 and {MAX_TOKEN_LIFETIME_SECONDS}, not {lifetime}"),
            ));
        }
        let issuer = required(self.issuer.clone(), "issuer")?;
        let audience = required(self.audience.clone(), "audience")?;
        let (current, previous) = self.into_key_fields().load(hmac_key_id_label)?;
        let keys = KeySet::new(&current, &previous)?;
        Ok(IssuerConfig {
            current,
            previous,
            keys: Arc::new(keys),
            issuer,
            audience,
            expires_in_seconds: lifetime,
        })
    }

    /// The key fields that say which key is required, to ask whether it is missing.
    fn key_fields(&self) -> KeySettings {
        KeySettings {
            algorithm: self.algorithm.clone(),
            key: self.key.clone(),
            key_id: None,
            private_key: self.private_key.clone(),
            private_key_file: self.private_key_file.clone(),
            previous_keys: Vec::new(),
        }
    }

    fn into_key_fields(self) -> KeySettings {
        KeySettings {
            algorithm: self.algorithm,
            key: self.key,
            key_id: self.key_id,
            private_key: self.private_key,
            private_key_file: self.private_key_file,
            previous_keys: self.previous_keys,
        }
    }
}

impl IssuerConfig {
    /// The issuer that signs tokens with these settings.
    pub fn token_issuer(&self) -> TokenIssuer {
        TokenIssuer::new(
            self.keys.clone(),
            &self.issuer,
            &self.audience,
            self.expires_in_seconds,
        )
    }
}

/// One secret, or several (two while one replaces the other).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMore<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMore<T> {
    /// The values as a list.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMore::One(value) => vec![value],
            OneOrMore::Many(values) => values,
        }
    }
}

impl<T: Serialize> Serialize for OneOrMore<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OneOrMore::One(value) => value.serialize(serializer),
            OneOrMore::Many(values) => values.serialize(serializer),
        }
    }
}

/// A client's public keys, as RFC 7591 §2 `jwks` writes them: `{ keys = [ JWK, ... ] }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwksSettings {
    /// Public JWKs (RFC 7517): Ed25519, P-256, P-384, or RSA of at least 2048 bits.
    pub keys: Vec<serde_json::Value>,
}

/// A client as written:
///
/// ```toml
/// client_id = "reporting-daemon"
/// client_secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."  # or client_secret = "..."
/// scopes = ["reports:write"]
/// enabled = true
/// ```
///
/// `client_secret` and `client_secret_hash` each take one value or a list of two (during
/// a rotation). Unknown fields are refused; serialising writes secrets as `********`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Its id (required).
    #[serde(default)]
    pub client_id: String,
    /// Its secret(s) in plaintext.
    #[serde(default, serialize_with = "poem_bearer::serialize_masked")]
    pub client_secret: Option<OneOrMore<SecretString>>,
    /// Argon2id hash(es) of its secret(s), PHC string format: the settings then hold no
    /// secret.
    #[serde(default, serialize_with = "poem_bearer::serialize_masked")]
    pub client_secret_hash: Option<OneOrMore<String>>,
    /// Its public keys, for `private_key_jwt` (RFC 7523): the settings hold no secret,
    /// and a rotation hands none over.
    #[serde(default)]
    pub jwks: Option<JwksSettings>,
    /// How it may authenticate: one of `client_secret_basic`, `client_secret_post`,
    /// `private_key_jwt`, or a list. Absent: every method it has credentials for.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<OneOrMore<String>>,
    /// Its tokens must be DPoP-bound (RFC 9449 §5.2): a token request without a proof
    /// is refused. Default `false`.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// The scopes it may be granted. Absent: the defaults the app passes to
    /// [`ClientSettings::load`].
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// `false`: no new tokens, and its live tokens are refused. Default `true`.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// The resource servers it may ask a token for (RFC 8707 `resource`), absolute URIs
    /// without a fragment: the token's `aud` is then the one it names. The issuer's own
    /// audience, when it is an absolute URI, needs no entry. Default: none.
    #[serde(default)]
    pub resources: Vec<String>,
    /// How long its tokens are valid, 1 ..= [`MAX_TOKEN_LIFETIME_SECONDS`], instead of
    /// the issuer's `expires_in_seconds`.
    #[serde(default)]
    pub token_lifetime_seconds: Option<u64>,
    /// It may introspect every token of this server (RFC 7662), not only its own.
    /// Default `false`.
    #[serde(default)]
    pub introspect: bool,
}

impl ClientSettings {
    /// Checks the entry: an id, one or two secrets (plaintext or Argon2id hashes, not
    /// both kinds), at least one scope (`default_scopes` when `scopes` is absent; repeats
    /// dropped). What the scopes mean is the app's to check. An error's field is relative
    /// to this entry; an empty field means the entry as a whole, and the message then
    /// reads after the client's name (`has both client_secret and ...`).
    pub fn load(self, default_scopes: &[&str]) -> Result<ClientConfig, SettingsError> {
        if self.client_id.is_empty() {
            return Err(SettingsError::new(
                "client_id",
                "is empty: every client needs an id",
            ));
        }
        let secrets: Vec<ClientSecret> = match (self.client_secret, self.client_secret_hash) {
            (Some(secrets), None) => secrets
                .into_vec()
                .into_iter()
                .map(|secret| {
                    if secret.expose_secret().is_empty() {
                        Err(SettingsError::new("", "has an empty client_secret"))
                    } else {
                        Ok(ClientSecret::Plain(secret))
                    }
                })
                .collect::<Result<_, _>>()?,
            (None, Some(hashes)) => hashes
                .into_vec()
                .iter()
                .map(|hash| {
                    parse_argon2id(hash)
                        .map(ClientSecret::Argon2id)
                        .ok_or_else(|| {
                            SettingsError::new(
                                "client_secret_hash",
                                "is not an Argon2id hash in PHC string format \
                             ($argon2id$v=19$m=...,t=...,p=...$salt$hash)",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            (Some(_), Some(_)) => {
                return Err(SettingsError::new(
                    "",
                    "has both client_secret and client_secret_hash: give one",
                ));
            }
            (None, None) if self.jwks.is_some() => Vec::new(),
            (None, None) => {
                return Err(SettingsError::new(
                    "",
                    "has neither client_secret nor client_secret_hash: give one (or jwks, for private_key_jwt)",
                ));
            }
        };
        if secrets.len() > 2 || (secrets.is_empty() && self.jwks.is_none()) {
            return Err(SettingsError::new(
                "",
                format!(
                    "has {} secrets: give one, or two while rotating",
                    secrets.len()
                ),
            ));
        }
        let keys = match self.jwks {
            Some(jwks) => client_keys(jwks)?,
            None => Vec::new(),
        };
        let methods = auth_methods(
            self.token_endpoint_auth_method,
            !secrets.is_empty(),
            !keys.is_empty(),
        )?;
        let written = match self.scopes {
            Some(scopes) => scopes,
            None => default_scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        let mut scopes: Vec<String> = Vec::with_capacity(written.len());
        for scope in written {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(SettingsError::new(
                "",
                "has an empty scopes list: give at least one scope",
            ));
        }
        for (index, resource) in self.resources.iter().enumerate() {
            if !is_resource_uri(resource) {
                return Err(SettingsError::new(
                    format!("resources[{index}]"),
                    "is not an absolute URI without a fragment (RFC 8707 §2)",
                ));
            }
        }
        let mut resources: Vec<String> = Vec::with_capacity(self.resources.len());
        for resource in self.resources {
            if !resources.contains(&resource) {
                resources.push(resource);
            }
        }
        if let Some(lifetime) = self.token_lifetime_seconds
            && !(1..=MAX_TOKEN_LIFETIME_SECONDS).contains(&lifetime)
        {
            return Err(SettingsError::new(
                "token_lifetime_seconds",
                format!("must be between 1 and {MAX_TOKEN_LIFETIME_SECONDS}, not {lifetime}"),
            ));
        }
        let mut config = ClientConfig::with_secrets(self.client_id, secrets, scopes);
        config.enabled = self.enabled;
        config.keys = keys;
        config.methods = methods;
        config.dpop_bound = self.dpop_bound_access_tokens;
        config.resources = resources;
        config.token_lifetime_seconds = self.token_lifetime_seconds;
        config.introspect = self.introspect;
        Ok(config)
    }
}

/// Whether `value` may name a resource server (RFC 8707 §2): an absolute URI (RFC 3986
/// §4.3: a scheme, no fragment).
pub fn is_resource_uri(value: &str) -> bool {
    iri_string::types::UriAbsoluteStr::new(value).is_ok()
}

fn enabled() -> bool {
    true
}

/// A client's public keys, parsed; ids unique, and present when there are several (an
/// assertion picks its key by `kid`).
fn client_keys(jwks: JwksSettings) -> Result<Vec<Arc<PublicJwk>>, SettingsError> {
    if jwks.keys.is_empty() {
        return Err(SettingsError::new(
            "jwks.keys",
            "is empty: give at least one public key",
        ));
    }
    let several = jwks.keys.len() > 1;
    let mut keys: Vec<Arc<PublicJwk>> = Vec::with_capacity(jwks.keys.len());
    for (index, value) in jwks.keys.iter().enumerate() {
        let field = format!("jwks.keys[{index}]");
        let key = PublicJwk::parse(value).map_err(|e| SettingsError::new(&field, e.to_string()))?;
        match &key.kid {
            None if several => {
                return Err(SettingsError::new(
                    field,
                    "has no kid: with several keys, each needs one (assertions name theirs)",
                ));
            }
            Some(kid) if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) => {
                return Err(SettingsError::new(
                    format!("{field}.kid"),
                    "is another key's kid: give each key its own",
                ));
            }
            _ => {}
        }
        keys.push(Arc::new(key));
    }
    Ok(keys)
}

/// The methods a client may use: those written, each backed by a credential it holds,
/// or every method it holds credentials for.
fn auth_methods(
    written: Option<OneOrMore<String>>,
    has_secret: bool,
    has_keys: bool,
) -> Result<AuthMethods, SettingsError> {
    const FIELD: &str = "token_endpoint_auth_method";
    let held = |method: AuthMethod| {
        if method.uses_secret() {
            has_secret
        } else {
            has_keys
        }
    };
    let Some(written) = written else {
        return Ok(AuthMethod::ALL.into_iter().filter(|m| held(*m)).collect());
    };
    let mut methods = AuthMethods::default();
    for name in written.into_vec() {
        let method = AuthMethod::parse(&name).ok_or_else(|| {
            SettingsError::new(
                FIELD,
                format!("names \"{name}\"; use client_secret_basic, client_secret_post or private_key_jwt"),
            )
        })?;
        if !held(method) {
            return Err(SettingsError::new(
                FIELD,
                format!(
                    "names {name}, but the client has no {}",
                    if method.uses_secret() {
                        "secret"
                    } else {
                        "jwks"
                    }
                ),
            ));
        }
        methods = methods.with(method);
    }
    if methods.is_empty() {
        return Err(SettingsError::new(
            FIELD,
            "is empty: give at least one method",
        ));
    }
    Ok(methods)
}

fn default_lifetime() -> u64 {
    DEFAULT_TOKEN_LIFETIME_SECONDS
}

/// An Argon2id hash in PHC string format with its hash part, or `None`.
fn parse_argon2id(phc: &str) -> Option<PasswordHashString> {
    let hash = PasswordHash::new(phc).ok()?;
    (hash.algorithm == argon2::Algorithm::Argon2id.ident() && hash.hash.is_some())
        .then(|| hash.serialize())
}

#[cfg(test)]
mod tests {
    #[test]
    fn resource_uris_are_absolute_without_a_fragment() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/v1?x=1",
            "urn:example:ledger",
            "HTTP://API.EXAMPLE",
        ] {
            assert!(is_resource_uri(good), "{good}");
        }
        for bad in [
            "",
            "api.example.com",
            "/v1",
            "https://api.example.com/#top",
            "https://exa mple.com",
            "1http://x",
        ] {
            assert!(!is_resource_uri(bad), "{bad}");
        }
    }

    use super::*;
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$3X1e9ZkCQk2v1kXr8F4yMB6wXbWq1T+3JvYfS1kVnAU";

    fn issuer(value: serde_json::Value) -> IssuerSettings {
        serde_json::from_value(value).unwrap()
    }

    fn client(value: serde_json::Value) -> Result<ClientConfig, SettingsError> {
        serde_json::from_value::<ClientSettings>(value)
            .unwrap()
            .load(&["api:write"])
    }

    #[test]
    fn issuer_settings_load_into_an_issuer_whose_tokens_carry_them() {
        let settings = issuer(json!({
            "issuer": "https://as.example", "audience": "api", "key": SECRET,
            "expires_in_seconds": 60,
        }));
        assert!(settings.missing().is_empty());
        let config = settings.load(b"label").unwrap();
        assert_eq!(config.expires_in_seconds, 60);
        let issued = config.token_issuer().issue("c", "a".to_owned()).unwrap();
        assert_eq!(issued.expires_in, 60);
        assert_eq!(config.token_issuer().issuer(), "https://as.example");
        let default = issuer(json!({}));
        assert_eq!(default.expires_in_seconds, DEFAULT_TOKEN_LIFETIME_SECONDS);
        assert_eq!(default.missing(), ["key", "issuer", "audience"]);
        let eddsa = issuer(json!({ "algorithm": "EdDSA", "issuer": "", "audience": "a" }));
        assert_eq!(eddsa.missing(), ["private_key", "issuer"]);
    }

    #[test]
    fn issuer_settings_errors_name_the_field_and_never_a_key() {
        let base = json!({ "issuer": "i", "audience": "a", "key": SECRET });
        let with = |patch: serde_json::Value| {
            let mut value = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                value[k] = v.clone();
            }
            issuer(value).load(b"label").unwrap_err()
        };
        for (patch, field, message) in [
            (
                json!({ "expires_in_seconds": 0 }),
                "expires_in_seconds",
                "must be between 1 and 86400, not 0",
            ),
            (
                json!({ "expires_in_seconds": 86_401 }),
                "expires_in_seconds",
                "must be between 1 and 86400, not 86401",
            ),
            (json!({ "issuer": "" }), "issuer", "is missing"),
            (json!({ "audience": null }), "audience", "is missing"),
            (
                json!({ "key": "short" }),
                "key",
                "is 5 bytes long; HS256 needs a key of at least 32 bytes (RFC 7518 §3.2)",
            ),
            (
                json!({ "previous_keys": [{ "key_id": "p", "key": "x".repeat(31) }] }),
                "previous_keys[0].key",
                "is 31 bytes long; HS256 needs a key of at least 32 bytes (RFC 7518 §3.2)",
            ),
        ] {
            let error = with(patch.clone());
            assert_eq!(
                (error.field(), error.message()),
                (field, message),
                "{patch}"
            );
            assert!(!error.to_string().contains(SECRET), "{error}");
        }
    }

    #[test]
    fn a_client_gets_default_scopes_without_repeats_and_one_or_two_secrets() {
        let one = client(json!({ "client_id": "a", "client_secret": "s" })).unwrap();
        assert_eq!(one.scopes, ["api:write"]);
        assert!(one.enabled);
        assert!(matches!(one.secrets[..], [ClientSecret::Plain(_)]));
        let two = client(json!({
            "client_id": "b", "client_secret_hash": [HASH, HASH],
            "scopes": ["x", "y", "x"], "enabled": false,
        }))
        .unwrap();
        assert_eq!(two.scopes, ["x", "y"]);
        assert!(!two.enabled);
        assert!(matches!(
            two.secrets[..],
            [ClientSecret::Argon2id(_), ClientSecret::Argon2id(_)]
        ));
    }

    #[test]
    fn client_errors_name_the_field_and_never_a_secret() {
        for (entry, field, message) in [
            (
                json!({ "client_secret": "s3cret" }),
                "client_id",
                "is empty: every client needs an id",
            ),
            (
                json!({ "client_id": "a" }),
                "",
                "has neither client_secret nor client_secret_hash: give one (or jwks, for private_key_jwt)",
            ),
            (
                json!({ "client_id": "a", "client_secret": "s3cret", "client_secret_hash": HASH }),
                "",
                "has both client_secret and client_secret_hash: give one",
            ),
            (
                json!({ "client_id": "a", "client_secret": ["s3cret", ""] }),
                "",
                "has an empty client_secret",
            ),
            (
                json!({ "client_id": "a", "client_secret": [] }),
                "",
                "has 0 secrets: give one, or two while rotating",
            ),
            (
                json!({ "client_id": "a", "client_secret": ["s3cret", "s3cret", "s3cret"] }),
                "",
                "has 3 secrets: give one, or two while rotating",
            ),
            (
                json!({ "client_id": "a", "client_secret_hash": "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$s3cret" }),
                "client_secret_hash",
                "is not an Argon2id hash in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash)",
            ),
            (
                json!({ "client_id": "a", "client_secret": "s3cret", "scopes": [] }),
                "",
                "has an empty scopes list: give at least one scope",
            ),
        ] {
            let error = client(entry.clone()).unwrap_err();
            assert_eq!(
                (error.field(), error.message()),
                (field, message),
                "{entry}"
            );
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
    }

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn a_key_client_needs_no_secret_and_its_methods_default_to_what_it_holds() {
        let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": ED_X });
        let keys_only = client(json!({ "client_id": "k", "jwks": { "keys": [jwk] } })).unwrap();
        assert!(keys_only.secrets.is_empty());
        assert_eq!(keys_only.keys.len(), 1);
        let only = |m| AuthMethods::default().with(m);
        assert_eq!(keys_only.methods, only(AuthMethod::PrivateKeyJwt));
        let both = client(json!({
            "client_id": "b", "client_secret": "s", "jwks": { "keys": [jwk] },
        }))
        .unwrap();
        assert_eq!(both.methods, AuthMethod::ALL.into_iter().collect());
        let secret = client(json!({ "client_id": "s", "client_secret": "s" })).unwrap();
        assert!(!secret.methods.contains(AuthMethod::PrivateKeyJwt));
        let post = client(json!({
            "client_id": "p", "client_secret": "s", "token_endpoint_auth_method": "client_secret_post",
        }))
        .unwrap();
        assert_eq!(post.methods, only(AuthMethod::ClientSecretPost));
    }

    #[test]
    fn key_and_method_errors_name_the_field() {
        let jwk = |extra: serde_json::Value| {
            let mut jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": ED_X });
            for (k, v) in extra.as_object().unwrap() {
                jwk[k] = v.clone();
            }
            jwk
        };
        for (entry, field, message) in [
            (
                json!({ "jwks": { "keys": [jwk(json!({ "d": ED_X }))] } }),
                "jwks.keys[0]",
                "holds a private or symmetric key: give the public key only (no d, p, q, dp, dq, qi, oth or k)",
            ),
            (
                json!({ "jwks": { "keys": [] } }),
                "jwks.keys",
                "is empty: give at least one public key",
            ),
            (
                json!({ "jwks": { "keys": [jwk(json!({ "kid": "a" })), jwk(json!({}))] } }),
                "jwks.keys[1]",
                "has no kid: with several keys, each needs one (assertions name theirs)",
            ),
            (
                json!({ "jwks": { "keys": [jwk(json!({ "kid": "a" })), jwk(json!({ "kid": "a" }))] } }),
                "jwks.keys[1].kid",
                "is another key's kid: give each key its own",
            ),
            (
                json!({ "jwks": { "keys": [jwk(json!({ "alg": "RS256" }))] } }),
                "jwks.keys[0]",
                "is not an Ed25519, P-256, P-384 or RSA key for EdDSA, ES256, ES384, RS256 or PS256",
            ),
            (
                json!({ "client_secret": "s", "token_endpoint_auth_method": "none" }),
                "token_endpoint_auth_method",
                "names \"none\"; use client_secret_basic, client_secret_post or private_key_jwt",
            ),
            (
                json!({ "client_secret": "s", "token_endpoint_auth_method": ["private_key_jwt"] }),
                "token_endpoint_auth_method",
                "names private_key_jwt, but the client has no jwks",
            ),
            (
                json!({ "jwks": { "keys": [jwk(json!({}))] }, "token_endpoint_auth_method": "client_secret_basic" }),
                "token_endpoint_auth_method",
                "names client_secret_basic, but the client has no secret",
            ),
            (
                json!({ "client_secret": "s", "token_endpoint_auth_method": [] }),
                "token_endpoint_auth_method",
                "is empty: give at least one method",
            ),
        ] {
            let mut entry = entry;
            entry["client_id"] = "c".into();
            let error = client(entry.clone()).unwrap_err();
            assert_eq!(
                (error.field(), error.message()),
                (field, message),
                "{entry}"
            );
        }
    }

    #[test]
    fn client_settings_refuse_unknown_fields_and_mask_secrets_when_shown() {
        let typo = serde_json::from_value::<ClientSettings>(json!({ "client_secrets": "x" }));
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `client_secrets`")
        );
        let entry: ClientSettings = serde_json::from_value(
            json!({ "client_id": "a", "client_secret": ["s3cret", "other"] }),
        )
        .unwrap();
        let shown = serde_json::to_string(&entry).unwrap();
        assert!(
            !shown.contains("s3cret") && shown.contains("********"),
            "{shown}"
        );
        let settings = issuer(json!({ "key": SECRET }));
        let shown = serde_json::to_string(&settings).unwrap();
        assert!(
            !shown.contains(SECRET) && shown.contains("********"),
            "{shown}"
        );
    }
}
