//! Signing and verification keys: the key set itself is `poem_bearer::keys`; this module
//! holds what this app adds: the algorithm names of its settings, its HS256 key-id label,
//! and the key generator behind `generate-key`.

pub use poem_bearer::keys::{
    ALGORITHM_NAMES as SUPPORTED, KeyConfig, KeyMaterial, KeySet,
    algorithm_named as parse_algorithm,
};

use jsonwebtoken::Algorithm;
#[cfg(test)]
use secrecy::SecretString;

/// The label this app's HS256 key ids are derived with, since its first release:
/// deployed key ids, and the tokens carrying them, stay valid.
pub const HMAC_KEY_ID_LABEL: &[u8] = b"players-api hs256 key id\0";

/// A key id derived from an HMAC key that says nothing about it, under this app's label.
pub fn hmac_key_id(secret: &[u8]) -> String {
    poem_bearer::keys::hmac_key_id(HMAC_KEY_ID_LABEL, secret)
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
