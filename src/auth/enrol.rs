//! `create-client`: a new client's secret and the configuration entry that holds only its
//! hash, in this API's file format.

use std::collections::HashMap;

use super::scopes::Scope;

/// A newly created client: its secret or private key, to hand over once, and the
/// configuration entry that holds only the secret's hash or the public key.
pub struct NewClient {
    /// The secret, or the private key's PEM.
    pub secret: String,
    pub toml: String,
}

/// How a created client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A random secret, kept as its Argon2id hash.
    Secret,
    /// An Ed25519 key pair (`private_key_jwt`): the server keeps the public key.
    PrivateKeyJwt,
}

/// Creates a client (see `poem_client_credentials::clients::generate_secret`) and the
/// `[[<profile>.clients]]` entry to paste into the configuration.
pub fn create_client(
    client_id: &str,
    scopes: &[Scope],
    profile: &str,
    credential: Credential,
) -> Result<NewClient, String> {
    if client_id.is_empty() {
        return Err("the client id must not be empty".into());
    }
    if scopes.is_empty() {
        return Err("give at least one scope".into());
    }
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let (secret, entry) = match credential {
        Credential::Secret => {
            let new = poem_client_credentials::clients::generate_secret()?;
            let entry = serde_json::json!({
                "client_id": client_id,
                "client_secret_hash": new.hash,
                "scopes": scopes,
            });
            (new.secret, entry)
        }
        Credential::PrivateKeyJwt => {
            let pair = poem_client_credentials::keys::generate_client_key()?;
            let entry = serde_json::json!({
                "client_id": client_id,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": { "keys": [pair.public_jwk] },
                "scopes": scopes,
            });
            (pair.private_pem, entry)
        }
    };
    let document = HashMap::from([(profile, HashMap::from([("clients", vec![entry])]))]);
    let toml = toml::to_string(&document).map_err(|e| format!("cannot write TOML: {e}"))?;
    Ok(NewClient { secret, toml })
}

#[cfg(test)]
mod tests {
    use argon2::{Argon2, PasswordVerifier, password_hash::PasswordHashString};

    use super::*;

    #[test]
    fn a_created_client_verifies_and_its_entry_parses() {
        let new = create_client(
            "svc",
            &[Scope::PlayersDelete],
            "release",
            Credential::Secret,
        )
        .unwrap();
        assert_eq!(new.secret.len(), 43);
        let parsed: toml::Value = toml::from_str(&new.toml).unwrap();
        let entry = &parsed["release"]["clients"][0];
        assert_eq!(entry["client_id"].as_str(), Some("svc"));
        assert_eq!(entry["scopes"][0].as_str(), Some("players:delete"));
        let hash = PasswordHashString::new(entry["client_secret_hash"].as_str().unwrap()).unwrap();
        assert!(
            Argon2::default()
                .verify_password(new.secret.as_bytes(), &hash.password_hash())
                .is_ok()
        );
        assert!(create_client("", &[Scope::ApiWrite], "default", Credential::Secret).is_err());
    }

    #[test]
    fn a_key_client_entry_holds_only_the_public_key_and_loads() {
        let new = create_client(
            "svc",
            &[Scope::ApiWrite],
            "default",
            Credential::PrivateKeyJwt,
        )
        .unwrap();
        assert!(new.secret.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let parsed: toml::Value = toml::from_str(&new.toml).unwrap();
        let entry = parsed["default"]["clients"][0].clone();
        let jwk = &entry["jwks"]["keys"][0];
        assert_eq!(jwk["kty"].as_str(), Some("OKP"));
        assert!(jwk.get("d").is_none(), "{jwk}");
        let settings: poem_client_credentials::ClientSettings = entry.try_into().unwrap();
        let client = settings.load(&[]).unwrap();
        assert!(client.secrets.is_empty());
        assert_eq!(client.keys.len(), 1);
    }
}
