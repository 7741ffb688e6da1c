//! Signing and verification keys: the key set itself is `poem_bearer::keys`; this module
//! holds what this app adds: the algorithm names of its settings, its HS256 key-id label,
//! and the key generator behind `generate-key`.

pub use poem_bearer::keys::{
    KeyConfig, KeyMaterial, KeySet, MIN_HMAC_KEY_BYTES, SigningKey, VerifyingKey, check_hmac_key,
};

use jsonwebtoken::Algorithm;
#[cfg(test)]
use secrecy::SecretString;

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

/// A key id derived from an HMAC key that says nothing about it. The label is this
/// app's since its first release: deployed key ids, and the tokens carrying them, stay
/// valid.
pub fn hmac_key_id(secret: &[u8]) -> String {
    poem_bearer::keys::hmac_key_id(b"players-api hs256 key id\0", secret)
}

pub use poem_client_credentials::keys::{GeneratedKey, generate_with};

/// A new key for `algorithm`, its HS256 key id derived as this app derives them.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, String> {
    generate_with(algorithm, hmac_key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        )
        .unwrap();
        assert!(set.jwks().is_none(), "HMAC keys are never published");
        assert!(!set.current.kid.contains(&hmac.secret_or_private_pem[..8]));
    }
}
