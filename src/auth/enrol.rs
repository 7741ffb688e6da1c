//! `create-client`: a new client's secret and the configuration entry that holds only its
//! hash, in this API's file format.

use std::collections::HashMap;

use super::scopes::Scope;

/// A newly created client: its secret, to hand over once, and the configuration entry
/// that holds only its hash.
pub struct NewClient {
    pub secret: String,
    pub toml: String,
}

/// Creates a client (see `poem_client_credentials::clients::generate_secret`) and the
/// `[[<profile>.clients]]` entry to paste into the configuration.
pub fn create_client(
    client_id: &str,
    scopes: &[Scope],
    profile: &str,
) -> Result<NewClient, String> {
    if client_id.is_empty() {
        return Err("the client id must not be empty".into());
    }
    if scopes.is_empty() {
        return Err("give at least one scope".into());
    }
    let new = poem_client_credentials::clients::generate_secret()?;

    #[derive(serde::Serialize)]
    struct Entry<'a> {
        client_id: &'a str,
        client_secret_hash: &'a str,
        scopes: Vec<&'a str>,
    }
    let entry = Entry {
        client_id,
        client_secret_hash: &new.hash,
        scopes: scopes.iter().map(|s| s.as_str()).collect(),
    };
    let document = HashMap::from([(profile, HashMap::from([("clients", vec![entry])]))]);
    let toml = toml::to_string(&document).map_err(|e| format!("cannot write TOML: {e}"))?;
    Ok(NewClient {
        secret: new.secret,
        toml,
    })
}

#[cfg(test)]
mod tests {
    use argon2::{Argon2, PasswordVerifier, password_hash::PasswordHashString};

    use super::*;

    #[test]
    fn a_created_client_verifies_and_its_entry_parses() {
        let new = create_client("svc", &[Scope::PlayersDelete], "release").unwrap();
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
        assert!(create_client("", &[Scope::ApiWrite], "default").is_err());
    }
}
