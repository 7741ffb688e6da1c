//! Local keys: the ones an API's own authorization server signs with, parsed once.
//!
//! One current key signs; it and any number of previous keys verify, so tokens issued
//! before a rotation stay valid until they expire. Every token carries the `kid` of the
//! key that signed it, and a token is checked only against the key with that `kid`, with
//! that key's own algorithm: the token's header never chooses the algorithm, and a `kid`
//! is only ever looked up in this set — never a file, a URL or an algorithm name.
//!
//! HS256 keys are secrets and are never published. EdDSA (Ed25519) and ES256 (P-256)
//! keys are published as a JWKS ([`KeySet::jwks`]) so other services can verify tokens
//! without being able to mint them.

use std::collections::HashMap;

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    DecodingKey, EncodingKey,
    jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{Rejection, SettingsError};

mod jwk;
mod settings;
pub use jwk::{JwkError, MIN_RSA_BITS, PUBLIC_KEY_ALGORITHMS, PublicJwk};
pub use settings::{ALGORITHM_NAMES, KeySettings, PreviousKeySettings, algorithm_named};

/// jsonwebtoken's algorithm names, which [`KeyMaterial`] takes: re-exported so a user
/// need not depend on jsonwebtoken to configure keys.
pub use jsonwebtoken::Algorithm;

/// The smallest HMAC key accepted: RFC 7518 §3.2 requires a key at least as long as the
/// hash output (256 bits for HS256).
pub const MIN_HMAC_KEY_BYTES: usize = 32;

/// The one length rule every HS256 key obeys, the current one and every previous one: a
/// key that verifies tokens is as good as one that signs them. The message gives the
/// length, never the key.
pub fn check_hmac_key(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_HMAC_KEY_BYTES {
        return Err(format!(
            "is {} bytes long; HS256 needs a key of at least {MIN_HMAC_KEY_BYTES} bytes (RFC 7518 §3.2)",
            secret.len()
        ));
    }
    Ok(())
}

/// A key as configured.
#[derive(Debug, Clone)]
pub enum KeyMaterial {
    /// An HMAC secret: its bytes are the UTF-8 bytes of the value as written.
    Hmac(SecretString),
    /// An Ed25519 or P-256 private key, PKCS#8 PEM.
    PrivatePem(Algorithm, SecretString),
    /// An Ed25519 or P-256 public key, SPKI PEM (previous keys only: they verify).
    PublicPem(Algorithm, String),
}

/// A configured key with its id. Without one, the id is derived from the key: the
/// RFC 7638 thumbprint of a public key, or [`hmac_key_id`] of a secret.
#[derive(Debug, Clone)]
pub struct KeyConfig {
    /// The `kid` its tokens carry.
    pub key_id: Option<String>,
    /// The key.
    pub material: KeyMaterial,
}

/// The key that signs.
pub struct SigningKey {
    /// Its `kid`.
    pub kid: String,
    /// Its algorithm: HS256, EdDSA or ES256.
    pub algorithm: Algorithm,
    /// The parsed key.
    pub key: EncodingKey,
}

/// A key that verifies, with its algorithm.
pub struct VerifyingKey {
    /// The only algorithm it verifies.
    pub algorithm: Algorithm,
    /// The parsed key.
    pub key: DecodingKey,
    /// An HS256 key, ready to verify: jsonwebtoken builds its HMAC key afresh on every
    /// `decode`, and parses the header twice before it gets to the signature.
    hmac: Option<hmac::Key>,
}

impl VerifyingKey {
    pub(crate) fn new(algorithm: Algorithm, key: DecodingKey) -> Self {
        let hmac = match (algorithm, key.try_get_as_bytes()) {
            (Algorithm::HS256, Ok(secret)) => Some(hmac::Key::new(hmac::HMAC_SHA256, secret)),
            _ => None,
        };
        VerifyingKey {
            algorithm,
            key,
            hmac,
        }
    }

    /// Refuses a token whose HS256 signature does not verify with this key, before any of
    /// it is decoded or parsed: a forged or corrupted token costs one HMAC and no JSON.
    ///
    /// This check only ever refuses. A token it lets through is then verified and
    /// validated in full by `jsonwebtoken::decode` (signature again, header, algorithm,
    /// claims), so a mistake here could refuse a good token but never accept a bad one.
    /// Keys of other algorithms pass through to that full check: repeating a public-key
    /// verification would double the cost of every accepted token.
    pub fn check_signature(&self, token: &str) -> Result<(), Rejection> {
        let Some(key) = &self.hmac else {
            return Ok(());
        };
        let (signed, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
        // An HS256 signature is 32 bytes; anything that does not fit is not one.
        let mut decoded = [0u8; 64];
        let length = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut decoded)
            .map_err(|_| Rejection::Malformed)?;
        // aws-lc compares the MACs in constant time.
        hmac::verify(key, signed.as_bytes(), &decoded[..length])
            .map_err(|_| Rejection::BadSignature)
    }
}

/// The current signing key and every key that verifies.
pub struct KeySet {
    /// The key new tokens are signed with.
    pub current: SigningKey,
    verifying: HashMap<String, VerifyingKey>,
    jwks: JwkSet,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("current", &self.current.kid)
            .field("verifying", &self.verifying.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeySet {
    /// Parses the keys. An error names the key's field (`key`, `private_key`,
    /// `previous_keys[1].public_key`) and says what is wrong, never its value.
    pub fn new(current: &KeyConfig, previous: &[KeyConfig]) -> Result<KeySet, SettingsError> {
        let (signing, current_verifying, current_jwk) = parse_current(current)?;
        let mut verifying = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        let mut add = |field: String,
                       kid: String,
                       algorithm: Algorithm,
                       key: DecodingKey,
                       jwk: Option<Jwk>| {
            if verifying.contains_key(&kid) {
                return Err(SettingsError::new(
                    field,
                    format!("shares the key id \"{kid}\" with another key"),
                ));
            }
            if let Some(mut jwk) = jwk {
                jwk.common.key_id = Some(kid.clone());
                jwk.common.public_key_use = Some(PublicKeyUse::Signature);
                jwk.common.key_algorithm = key_algorithm(algorithm);
                jwks.keys.push(jwk);
            }
            verifying.insert(kid, VerifyingKey::new(algorithm, key));
            Ok(())
        };
        add(
            "key_id".into(),
            signing.kid.clone(),
            signing.algorithm,
            current_verifying,
            current_jwk,
        )?;
        for (index, config) in previous.iter().enumerate() {
            let (kid, algorithm, key, jwk) =
                parse_previous(config).map_err(|e| e.within(&format!("previous_keys[{index}]")))?;
            add(
                format!("previous_keys[{index}].key_id"),
                kid,
                algorithm,
                key,
                jwk,
            )?;
        }
        Ok(KeySet {
            current: signing,
            verifying,
            jwks,
        })
    }

    /// The only verifying key, when there is just one: the token's `kid` can then be
    /// checked after verification, sparing a separate parse of its header.
    pub fn single(&self) -> Option<(&str, &VerifyingKey)> {
        if self.verifying.len() == 1 {
            self.verifying
                .iter()
                .next()
                .map(|(kid, key)| (kid.as_str(), key))
        } else {
            None
        }
    }

    /// The key a token's `kid` names, if this set has it.
    pub fn verifying(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.get(kid)
    }

    /// The algorithms of the verifying keys, without repeats.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for key in self.verifying.values() {
            if !algorithms.contains(&key.algorithm) {
                algorithms.push(key.algorithm);
            }
        }
        algorithms
    }

    /// The public keys, when there are any: HMAC keys are never included.
    pub fn jwks(&self) -> Option<&JwkSet> {
        (!self.jwks.keys.is_empty()).then_some(&self.jwks)
    }
}

fn key_algorithm(algorithm: Algorithm) -> Option<KeyAlgorithm> {
    match algorithm {
        Algorithm::EdDSA => Some(KeyAlgorithm::EdDSA),
        Algorithm::ES256 => Some(KeyAlgorithm::ES256),
        _ => None,
    }
}

/// A key id derived from an HMAC key that says nothing about it: the first 8 bytes, in
/// hex, of SHA-256 over `label` and the key. The label keeps ids of one deployment's
/// keys stable; pick one once and keep it.
pub fn hmac_key_id(label: &[u8], secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(secret)
        .finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("hs256-{hex}")
}

/// The label [`KeySet`] derives HS256 key ids with when none is configured.
pub const DEFAULT_HMAC_KEY_ID_LABEL: &[u8] = b"poem-bearer hs256 key id\0";

fn thumbprint(jwk: &Jwk, field: &str) -> Result<String, SettingsError> {
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| SettingsError::new(field, "cannot compute the key's thumbprint"))
}

/// The signing key, its verifying form and its public JWK (none for HMAC).
fn parse_current(
    config: &KeyConfig,
) -> Result<(SigningKey, DecodingKey, Option<Jwk>), SettingsError> {
    match &config.material {
        KeyMaterial::Hmac(secret) => {
            let bytes = secret.expose_secret().as_bytes();
            check_hmac_key(bytes).map_err(|e| SettingsError::new("key", e))?;
            let kid = config
                .key_id
                .clone()
                .unwrap_or_else(|| hmac_key_id(DEFAULT_HMAC_KEY_ID_LABEL, bytes));
            Ok((
                SigningKey {
                    kid,
                    algorithm: Algorithm::HS256,
                    key: EncodingKey::from_secret(bytes),
                },
                DecodingKey::from_secret(bytes),
                None,
            ))
        }
        KeyMaterial::PrivatePem(algorithm, pem) => {
            let pem = pem.expose_secret().as_bytes();
            let unusable =
                || SettingsError::new("private_key", format!("is not a usable {algorithm:?} key"));
            let key = match algorithm {
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
                Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
                _ => return Err(unsupported("algorithm", *algorithm)),
            }
            .map_err(|_| {
                SettingsError::new(
                    "private_key",
                    format!("is not a PKCS#8 PEM {algorithm:?} private key"),
                )
            })?;
            let jwk = Jwk::from_encoding_key(&key, *algorithm).map_err(|_| unusable())?;
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| unusable())?;
            let kid = match &config.key_id {
                Some(kid) => kid.clone(),
                None => thumbprint(&jwk, "private_key")?,
            };
            Ok((
                SigningKey {
                    kid,
                    algorithm: *algorithm,
                    key,
                },
                decoding,
                Some(jwk),
            ))
        }
        KeyMaterial::PublicPem(..) => Err(SettingsError::new(
            "private_key",
            "is missing: the current key must be able to sign",
        )),
    }
}

fn unsupported(field: &str, algorithm: Algorithm) -> SettingsError {
    SettingsError::new(
        field,
        format!("{algorithm:?} is not supported here; use HS256, EdDSA or ES256"),
    )
}

type Parsed = (String, Algorithm, DecodingKey, Option<Jwk>);

fn parse_previous(config: &KeyConfig) -> Result<Parsed, SettingsError> {
    let kid = config
        .key_id
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            SettingsError::new(
                "key_id",
                "is missing: a previous key needs the kid its tokens carry",
            )
        })?;
    match &config.material {
        KeyMaterial::Hmac(_) | KeyMaterial::PrivatePem(..) => {
            let (signing, decoding, jwk) = parse_current(config)?;
            Ok((kid, signing.algorithm, decoding, jwk))
        }
        KeyMaterial::PublicPem(algorithm, pem) => {
            let decoding = match algorithm {
                Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
                Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
                _ => return Err(unsupported("algorithm", *algorithm)),
            }
            .map_err(|_| {
                SettingsError::new(
                    "public_key",
                    format!("is not an SPKI PEM {algorithm:?} public key"),
                )
            })?;
            let jwk = Jwk::from_decoding_key(&decoding, Some(*algorithm)).map_err(|_| {
                SettingsError::new("public_key", format!("is not a usable {algorithm:?} key"))
            })?;
            Ok((kid, *algorithm, decoding, Some(jwk)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac(kid: Option<&str>, secret: &str) -> KeyConfig {
        KeyConfig {
            key_id: kid.map(str::to_owned),
            material: KeyMaterial::Hmac(SecretString::from(secret)),
        }
    }

    #[test]
    fn hmac_keys_are_never_published_and_their_ids_say_nothing_of_them() {
        let secret = "0123456789abcdef0123456789abcdef";
        let set = KeySet::new(&hmac(None, secret), &[]).unwrap();
        assert!(set.jwks().is_none());
        assert_eq!(
            set.current.kid,
            hmac_key_id(DEFAULT_HMAC_KEY_ID_LABEL, secret.as_bytes())
        );
        assert!(!set.current.kid.contains("0123"));
    }

    #[test]
    fn errors_name_the_field_never_the_value() {
        let short = "tooshort-secret";
        let err = KeySet::new(&hmac(None, short), &[]).unwrap_err();
        assert_eq!(err.field(), "key");
        assert!(!err.to_string().contains(short), "{err}");

        let long = "0123456789abcdef0123456789abcdef";
        let err = KeySet::new(&hmac(Some("a"), long), &[hmac(Some("b"), short)]).unwrap_err();
        assert_eq!(err.field(), "previous_keys[0].key");
        let err = KeySet::new(&hmac(Some("a"), long), &[hmac(None, long)]).unwrap_err();
        assert_eq!(err.field(), "previous_keys[0].key_id");
        let err = KeySet::new(
            &hmac(Some("a"), long),
            &[hmac(Some("b"), long), hmac(Some("a"), long)],
        )
        .unwrap_err();
        assert_eq!(err.field(), "previous_keys[1].key_id");
        assert!(err.to_string().contains("\"a\""), "{err}");
        let err = KeySet::new(
            &KeyConfig {
                key_id: None,
                material: KeyMaterial::PrivatePem(Algorithm::EdDSA, SecretString::from("nope")),
            },
            &[],
        )
        .unwrap_err();
        assert_eq!(err.field(), "private_key");
    }

    #[test]
    fn the_signature_check_refuses_forged_tokens_and_passes_genuine_ones() {
        let set = KeySet::new(&hmac(None, "0123456789abcdef0123456789abcdef"), &[]).unwrap();
        let (_, key) = set.single().unwrap();
        let sign = |secret: &str| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS256),
                &serde_json::json!({"sub": "x"}),
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap()
        };
        let genuine = sign("0123456789abcdef0123456789abcdef");
        assert_eq!(key.check_signature(&genuine), Ok(()));
        let other_key = sign("fedcba9876543210fedcba9876543210");
        assert_eq!(
            key.check_signature(&other_key),
            Err(Rejection::BadSignature)
        );
        let (signed, _) = genuine.rsplit_once('.').unwrap();
        for (token, reason) in [
            (format!("{signed}."), Rejection::BadSignature),
            (signed.replace('.', ""), Rejection::Malformed),
            (format!("{signed}.not*base64"), Rejection::Malformed),
            (
                format!("{signed}.{}", "A".repeat(200)),
                Rejection::Malformed,
            ),
        ] {
            assert_eq!(key.check_signature(&token), Err(reason), "{token}");
        }
    }
}
