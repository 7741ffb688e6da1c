//! Signing and verification keys: the key set itself is `poem_bearer::keys`; this module
//! holds what this app adds: the algorithm names of its settings, its HS256 key-id label,
//! and the key generator behind `generate-key`.

pub use poem_bearer::keys::{KeyConfig, KeyMaterial, KeySet, check_hmac_key};

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

    /// The generator itself is tested in `poem_client_credentials::keys`; what this app
    /// adds is its own HS256 key-id label, which deployed key ids were derived with.
    #[test]
    fn generated_hs256_keys_carry_this_apps_key_id() {
        let generated = generate(Algorithm::HS256).unwrap();
        let secret = generated.secret_or_private_pem.as_bytes();
        assert_eq!(generated.kid, hmac_key_id(secret));
        assert_ne!(
            generated.kid,
            poem_bearer::keys::hmac_key_id(poem_bearer::keys::DEFAULT_HMAC_KEY_ID_LABEL, secret)
        );
        let set = KeySet::new(
            &KeyConfig {
                key_id: Some(generated.kid.clone()),
                material: KeyMaterial::Hmac(SecretString::from(generated.secret_or_private_pem)),
            },
            &[],
        )
        .unwrap();
        assert!(set.jwks().is_none(), "HMAC keys are never published");
    }
}
