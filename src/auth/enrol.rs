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

/// The settings of a created client beyond its credential and scopes; the defaults leave
/// them out of its entry.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `resources`: the resource servers it may ask tokens for (RFC 8707).
    pub resources: Vec<String>,
    /// `token_lifetime_seconds`.
    pub token_lifetime_seconds: Option<u64>,
    /// `introspect`: it may introspect every token of the server (RFC 7662).
    pub introspect: bool,
}

/// Creates a client (see `poem_client_credentials::clients::generate_secret`) and the
/// `[[<profile>.clients]]` entry to paste into the configuration, checked as the server
/// would load it.
pub fn create_client(
    client_id: &str,
    scopes: &[Scope],
    profile: &str,
    credential: Credential,
    policy: &Policy,
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
    let mut entry = entry;
    if !policy.resources.is_empty() {
        entry["resources"] = policy.resources.clone().into();
    }
    if let Some(seconds) = policy.token_lifetime_seconds {
        entry["token_lifetime_seconds"] = seconds.into();
    }
    if policy.introspect {
        entry["introspect"] = true.into();
    }
    // What the server will say of the entry, said now: a bad resource or lifetime.
    let settings: poem_client_credentials::ClientSettings =
        serde_json::from_value(entry.clone()).map_err(|e| e.to_string())?;
    settings
        .load(&[])
        .map_err(|e| format!("client \"{client_id}\": {e}"))?;
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
            &Policy::default(),
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
        let none = Policy::default();
        assert!(
            create_client("", &[Scope::ApiWrite], "default", Credential::Secret, &none).is_err()
        );
    }

    #[test]
    fn a_key_client_entry_holds_only_the_public_key_and_loads() {
        let new = create_client(
            "svc",
            &[Scope::ApiWrite],
            "default",
            Credential::PrivateKeyJwt,
            &Policy::default(),
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

    #[test]
    fn a_policy_goes_into_the_entry_and_a_bad_one_is_refused() {
        let policy = Policy {
            resources: vec!["https://reports.example.com/".into()],
            token_lifetime_seconds: Some(300),
            introspect: true,
        };
        let new = create_client(
            "svc",
            &[Scope::ApiWrite],
            "default",
            Credential::Secret,
            &policy,
        )
        .unwrap();
        let parsed: toml::Value = toml::from_str(&new.toml).unwrap();
        let entry = parsed["default"]["clients"][0].clone();
        let settings: poem_client_credentials::ClientSettings = entry.try_into().unwrap();
        let client = settings.load(&[]).unwrap();
        assert_eq!(client.resources, ["https://reports.example.com/"]);
        assert_eq!(client.token_lifetime_seconds, Some(300));
        assert!(client.introspect);
        for bad in [
            Policy {
                resources: vec!["reports".into()],
                ..Policy::default()
            },
            Policy {
                token_lifetime_seconds: Some(0),
                ..Policy::default()
            },
        ] {
            let error = create_client(
                "svc",
                &[Scope::ApiWrite],
                "default",
                Credential::Secret,
                &bad,
            )
            .err()
            .unwrap();
            assert!(error.starts_with("client \"svc\": "), "{error}");
        }
    }
}
