//! New signing keys, for a `generate-key` command: an HS256 secret, or an Ed25519 or
//! P-256 key pair as PEM.

use jsonwebtoken::Algorithm;
use poem_bearer::keys::{KeyConfig, KeyMaterial, KeySet};
use secrecy::SecretString;

/// A new signing key in the form settings take: an HMAC secret, or a PKCS#8 PEM private
/// key with its SPKI PEM public key.
pub struct GeneratedKey {
    /// The HMAC secret (base64 of 48 random bytes) or the private key's PEM.
    pub secret_or_private_pem: String,
    /// The public key's PEM (none for HMAC).
    pub public_pem: Option<String>,
    /// Its key id: the RFC 7638 thumbprint, or `hmac_key_id` of the secret.
    pub kid: String,
}

/// A new key for `algorithm` (HS256, EdDSA or ES256), HS256 key ids derived with
/// `poem_bearer`'s default label.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, String> {
    generate_with(algorithm, |secret| {
        poem_bearer::keys::hmac_key_id(poem_bearer::keys::DEFAULT_HMAC_KEY_ID_LABEL, secret)
    })
}

/// As [`generate`], with HS256 key ids derived by `hmac_key_id`.
pub fn generate_with(
    algorithm: Algorithm,
    hmac_key_id: impl Fn(&[u8]) -> String,
) -> Result<GeneratedKey, String> {
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
        other => Err(format!(
            "{other:?} is not supported; use HS256, EdDSA or ES256"
        )),
    }
}

/// A new key pair for a `private_key_jwt` client.
pub struct ClientKeyPair {
    /// The Ed25519 private key, PKCS#8 PEM: for the client to keep, and nobody else.
    pub private_pem: String,
    /// The public key as a JWK with `kid` (its RFC 7638 thumbprint), `use` and `alg`:
    /// what the server's client settings hold (`jwks = { keys = [ ... ] }`).
    pub public_jwk: serde_json::Value,
}

/// Generates an Ed25519 key pair for a client that authenticates with `private_key_jwt`:
/// what a `create-client --auth private_key_jwt` command prints.
pub fn generate_client_key() -> Result<ClientKeyPair, String> {
    use jsonwebtoken::{
        DecodingKey,
        jwk::{Jwk, KeyAlgorithm, PublicKeyUse},
    };
    let generated = generate(Algorithm::EdDSA)?;
    let public = generated.public_pem.ok_or("no public key was made")?;
    let decoding = DecodingKey::from_ed_pem(public.as_bytes()).map_err(|e| e.to_string())?;
    let mut jwk =
        Jwk::from_decoding_key(&decoding, Some(Algorithm::EdDSA)).map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(generated.kid);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
    Ok(ClientKeyPair {
        private_pem: generated.secret_or_private_pem,
        public_jwk: serde_json::to_value(&jwk).map_err(|e| e.to_string())?,
    })
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
    // The public PEM must be the same key: parsed beside it as a previous key (under an
    // id no RFC 7638 thumbprint can take), its JWK must equal the private key's.
    let with_public = KeySet::new(
        &KeyConfig {
            key_id: None,
            material: KeyMaterial::PrivatePem(algorithm, SecretString::from(private_pem.clone())),
        },
        &[KeyConfig {
            key_id: Some("generated public key".to_owned()),
            material: KeyMaterial::PublicPem(algorithm, public_pem.clone()),
        }],
    )
    .map_err(|e| e.to_string())?;
    let kid = with_public.current.kid.clone();
    let published = with_public
        .jwks()
        .map(|set| {
            set.keys
                .iter()
                .map(|k| k.algorithm.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if published.len() != 2 || published[0] != published[1] {
        return Err("the generated public key does not match its private key".into());
    }
    Ok(GeneratedKey {
        secret_or_private_pem: private_pem,
        public_pem: Some(public_pem),
        kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_as_key_sets_and_publish_only_public_parts() {
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
            )
            .unwrap();
            assert_eq!(set.current.kid, generated.kid);
            let jwks = serde_json::to_value(set.jwks().unwrap()).unwrap();
            assert!(jwks["keys"][0].get("d").is_none(), "{jwks}");
        }
        let hmac = generate_with(Algorithm::HS256, |_| "fixed".into()).unwrap();
        assert_eq!(hmac.kid, "fixed");
        assert!(hmac.public_pem.is_none());
        assert!(generate(Algorithm::RS256).is_err());
    }
}
