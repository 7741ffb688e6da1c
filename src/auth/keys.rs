//! Signing and verification keys, parsed once at start-up.
//!
//! One current key signs; it and any number of previous keys verify, so tokens issued
//! before a rotation stay valid until they expire. Every token carries the `kid` of the key
//! that signed it, and a token is checked only against the key with that `kid`, with that
//! key's own algorithm: the token's header never chooses the algorithm, and a `kid` is only
//! ever looked up in this set — never a file, a URL or an algorithm name.
//!
//! HS256 keys are secrets and are never published. EdDSA (Ed25519) and ES256 (P-256) keys
//! are published as a JWKS so other services can verify tokens without being able to mint
//! them.

use std::collections::HashMap;

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Validation,
    jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::TokenRejection;

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

/// The algorithms a key may use.
pub const SUPPORTED: &str = "HS256, EdDSA or ES256";

pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "HS256" => Some(Algorithm::HS256),
        "EdDSA" => Some(Algorithm::EdDSA),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

/// A key as configured.
#[derive(Debug, Clone)]
pub enum KeyMaterial {
    /// An HMAC secret: the UTF-8 bytes of the value as written.
    Hmac(SecretString),
    /// An Ed25519 or P-256 private key, PKCS#8 PEM.
    PrivatePem(Algorithm, SecretString),
    /// An Ed25519 or P-256 public key, SPKI PEM (previous keys only: they verify).
    PublicPem(Algorithm, String),
}

/// A configured key with its id (`None`: derived from the key).
#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub key_id: Option<String>,
    pub material: KeyMaterial,
}

pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub key: EncodingKey,
}

pub struct VerifyingKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    pub validation: Validation,
    /// An HS256 key, ready to verify: jsonwebtoken builds its HMAC key afresh on every
    /// `decode`, and parses the header twice before it gets to the signature.
    hmac: Option<hmac::Key>,
}

impl VerifyingKey {
    fn new(algorithm: Algorithm, key: DecodingKey, validation: Validation) -> Self {
        let hmac = match (algorithm, key.try_get_as_bytes()) {
            (Algorithm::HS256, Ok(secret)) => Some(hmac::Key::new(hmac::HMAC_SHA256, secret)),
            _ => None,
        };
        VerifyingKey {
            algorithm,
            key,
            validation,
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
    pub fn check_signature(&self, token: &str) -> Result<(), TokenRejection> {
        let Some(key) = &self.hmac else {
            return Ok(());
        };
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenRejection::Malformed)?;
        // An HS256 signature is 32 bytes; anything that does not fit is not one.
        let mut decoded = [0u8; 64];
        let length = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut decoded)
            .map_err(|_| TokenRejection::Malformed)?;
        // aws-lc compares the MACs in constant time.
        hmac::verify(key, signed.as_bytes(), &decoded[..length])
            .map_err(|_| TokenRejection::BadSignature)
    }
}

/// The current signing key and every key that verifies.
pub struct KeySet {
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
    /// Parses the keys; `validation` is the template (issuer, audience, leeway) each key's
    /// validation is made from. Errors name the key and say what is wrong, never its value.
    pub fn new(
        current: &KeyConfig,
        previous: &[KeyConfig],
        validation: &Validation,
    ) -> Result<KeySet, String> {
        let (signing, current_verifying, current_jwk) = parse_current(current)?;
        let mut verifying = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        let mut add = |kid: String, algorithm: Algorithm, key: DecodingKey, jwk: Option<Jwk>| {
            if verifying.contains_key(&kid) {
                return Err(format!("two signing keys share the key id \"{kid}\""));
            }
            let mut v = validation.clone();
            v.algorithms = vec![algorithm];
            if let Some(mut jwk) = jwk {
                jwk.common.key_id = Some(kid.clone());
                jwk.common.public_key_use = Some(PublicKeyUse::Signature);
                jwk.common.key_algorithm = key_algorithm(algorithm);
                jwks.keys.push(jwk);
            }
            verifying.insert(kid, VerifyingKey::new(algorithm, key, v));
            Ok(())
        };
        add(
            signing.kid.clone(),
            signing.algorithm,
            current_verifying,
            current_jwk,
        )?;
        for (index, config) in previous.iter().enumerate() {
            let (kid, algorithm, key, jwk) =
                parse_previous(config).map_err(|e| format!("jwt.previous_keys[{index}]: {e}"))?;
            add(kid, algorithm, key, jwk)?;
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

/// A key id derived from an HMAC key that says nothing about it: a digest of a label and
/// the key.
pub fn hmac_key_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"players-api hs256 key id\0")
        .chain_update(secret)
        .finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("hs256-{hex}")
}

fn thumbprint(jwk: &Jwk) -> Result<String, String> {
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| format!("cannot compute the key's thumbprint: {e}"))
}

fn parse_current(config: &KeyConfig) -> Result<(SigningKey, DecodingKey, Option<Jwk>), String> {
    match &config.material {
        KeyMaterial::Hmac(secret) => {
            let bytes = secret.expose_secret().as_bytes();
            check_hmac_key(bytes).map_err(|e| format!("jwt.key {e}"))?;
            let kid = config.key_id.clone().unwrap_or_else(|| hmac_key_id(bytes));
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
            let key = match algorithm {
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
                _ => EncodingKey::from_ec_pem(pem),
            }
            .map_err(|_| {
                format!("jwt.private_key is not a PKCS#8 PEM {algorithm:?} private key")
            })?;
            let jwk = Jwk::from_encoding_key(&key, *algorithm)
                .map_err(|_| format!("jwt.private_key is not a usable {algorithm:?} key"))?;
            let decoding = DecodingKey::from_jwk(&jwk)
                .map_err(|_| format!("jwt.private_key is not a usable {algorithm:?} key"))?;
            let kid = match &config.key_id {
                Some(kid) => kid.clone(),
                None => thumbprint(&jwk)?,
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
        KeyMaterial::PublicPem(..) => {
            Err("the current key must be able to sign: give a private key".into())
        }
    }
}

type Parsed = (String, Algorithm, DecodingKey, Option<Jwk>);

fn parse_previous(config: &KeyConfig) -> Result<Parsed, String> {
    let kid = config
        .key_id
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or("a previous key needs its key_id (the kid its tokens carry)")?;
    if let KeyMaterial::Hmac(secret) = &config.material {
        check_hmac_key(secret.expose_secret().as_bytes()).map_err(|e| format!("key {e}"))?;
    }
    match &config.material {
        KeyMaterial::Hmac(_) | KeyMaterial::PrivatePem(..) => {
            let (signing, decoding, jwk) = parse_current(config)?;
            Ok((kid, signing.algorithm, decoding, jwk))
        }
        KeyMaterial::PublicPem(algorithm, pem) => {
            let decoding = match algorithm {
                Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
                _ => DecodingKey::from_ec_pem(pem.as_bytes()),
            }
            .map_err(|_| format!("public_key is not an SPKI PEM {algorithm:?} public key"))?;
            let jwk = Jwk::from_decoding_key(&decoding, Some(*algorithm))
                .map_err(|_| format!("public_key is not a usable {algorithm:?} key"))?;
            Ok((kid, *algorithm, decoding, Some(jwk)))
        }
    }
}

/// A new key for `algorithm` in the form the configuration takes: an HMAC secret, or a
/// PKCS#8 PEM private key with its SPKI PEM public key.
pub struct GeneratedKey {
    pub secret_or_private_pem: String,
    pub public_pem: Option<String>,
    pub kid: String,
}

pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, String> {
    use aws_lc_rs::{
        rand::{SecureRandom, SystemRandom},
        signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
    };
    use base64::{Engine, engine::general_purpose::STANDARD};
    let rng = SystemRandom::new();
    let pem = |tag: &str, der: &[u8]| {
        pem::encode_config(
            &pem::Pem::new(tag, der.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    };
    match algorithm {
        Algorithm::HS256 => {
            let mut bytes = [0u8; 48];
            rng.fill(&mut bytes)
                .map_err(|_| "no randomness available")?;
            let secret = STANDARD.encode(bytes);
            Ok(GeneratedKey {
                kid: hmac_key_id(secret.as_bytes()),
                secret_or_private_pem: secret,
                public_pem: None,
            })
        }
        Algorithm::EdDSA => {
            let pkcs8 =
                Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(|_| "key generation failed")?;
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8.as_ref())
                .map_err(|_| "key generation failed")?;
            let public = spki(&ED25519_SPKI_PREFIX, pair.public_key().as_ref());
            finish(
                algorithm,
                pem("PRIVATE KEY", pkcs8.as_ref()),
                pem("PUBLIC KEY", &public),
            )
        }
        Algorithm::ES256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| "key generation failed")?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .map_err(|_| "key generation failed")?;
            let public = spki(&P256_SPKI_PREFIX, pair.public_key().as_ref());
            finish(
                algorithm,
                pem("PRIVATE KEY", pkcs8.as_ref()),
                pem("PUBLIC KEY", &public),
            )
        }
        other => Err(format!("{other:?} is not supported; use {SUPPORTED}")),
    }
}

// DER prefixes of SubjectPublicKeyInfo for the two curves: the algorithm identifier and
// the BIT STRING header, followed by the raw public key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    // the uncompressed point (0x04 || x || y) follows
    0x04,
];

fn spki(prefix: &[u8], public: &[u8]) -> Vec<u8> {
    // P-256 public keys from aws-lc-rs start with 0x04, which the prefix already holds.
    let public = if prefix.len() == P256_SPKI_PREFIX.len() {
        &public[1..]
    } else {
        public
    };
    [prefix, public].concat()
}

fn finish(
    algorithm: Algorithm,
    private_pem: String,
    public_pem: String,
) -> Result<GeneratedKey, String> {
    let (signing, _, jwk) = parse_current(&KeyConfig {
        key_id: None,
        material: KeyMaterial::PrivatePem(algorithm, SecretString::from(private_pem.clone())),
    })?;
    // The public PEM must verify what the private key signs.
    parse_previous(&KeyConfig {
        key_id: Some(signing.kid.clone()),
        material: KeyMaterial::PublicPem(algorithm, public_pem.clone()),
    })?;
    let _ = jwk;
    Ok(GeneratedKey {
        secret_or_private_pem: private_pem,
        public_pem: Some(public_pem),
        kid: signing.kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation() -> Validation {
        Validation::new(Algorithm::HS256)
    }

    #[test]
    fn generated_keys_parse_and_publish_only_public_keys() {
        for algorithm in [Algorithm::EdDSA, Algorithm::ES256] {
            let generated = generate(algorithm).unwrap();
            let set = KeySet::new(
                &KeyConfig {
                    key_id: None,
                    material: KeyMaterial::PrivatePem(
                        algorithm,
                        SecretString::from(generated.secret_or_private_pem),
                    ),
                },
                &[],
                &validation(),
            )
            .unwrap();
            assert_eq!(set.current.kid, generated.kid);
            let jwks = serde_json::to_value(set.jwks().unwrap()).unwrap();
            assert_eq!(jwks["keys"][0]["kid"], generated.kid.as_str());
            assert_eq!(jwks["keys"][0]["use"], "sig");
            assert!(
                jwks["keys"][0].get("d").is_none(),
                "no private part: {jwks}"
            );
        }
        let hmac = generate(Algorithm::HS256).unwrap();
        assert!(hmac.secret_or_private_pem.len() >= 64);
        let set = KeySet::new(
            &KeyConfig {
                key_id: None,
                material: KeyMaterial::Hmac(SecretString::from(hmac.secret_or_private_pem.clone())),
            },
            &[],
            &validation(),
        )
        .unwrap();
        assert!(set.jwks().is_none(), "HMAC keys are never published");
        assert!(!set.current.kid.contains(&hmac.secret_or_private_pem[..8]));
    }

    #[test]
    fn duplicate_key_ids_are_refused() {
        let key = |kid: &str| KeyConfig {
            key_id: Some(kid.into()),
            material: KeyMaterial::Hmac(SecretString::from("0123456789abcdef0123456789abcdef")),
        };
        let err = KeySet::new(&key("a"), &[key("a")], &validation()).unwrap_err();
        assert!(err.contains("\"a\""), "{err}");
    }

    #[test]
    fn the_signature_check_refuses_forged_tokens_and_passes_genuine_ones() {
        let config = |secret: &str| KeyConfig {
            key_id: None,
            material: KeyMaterial::Hmac(SecretString::from(secret)),
        };
        let set = KeySet::new(
            &config("0123456789abcdef0123456789abcdef"),
            &[],
            &validation(),
        )
        .unwrap();
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
            Err(TokenRejection::BadSignature)
        );
        let (signed, _) = genuine.rsplit_once('.').unwrap();
        for (token, reason) in [
            (format!("{signed}."), TokenRejection::BadSignature),
            (signed.replace('.', ""), TokenRejection::Malformed),
            (format!("{signed}.not*base64"), TokenRejection::Malformed),
            (
                format!("{signed}.{}", "A".repeat(200)),
                TokenRejection::Malformed,
            ),
        ] {
            assert_eq!(key.check_signature(&token), Err(reason), "{token}");
        }

        // Public-key tokens are left to the full verification.
        let generated = generate(Algorithm::EdDSA).unwrap();
        let set = KeySet::new(
            &KeyConfig {
                key_id: None,
                material: KeyMaterial::PrivatePem(
                    Algorithm::EdDSA,
                    SecretString::from(generated.secret_or_private_pem),
                ),
            },
            &[],
            &validation(),
        )
        .unwrap();
        let (_, key) = set.single().unwrap();
        assert_eq!(key.check_signature("a.b.c"), Ok(()));
    }
}
