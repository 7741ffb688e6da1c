//! The registered clients and the check of their secrets.
//!
//! Secrets are compared as SHA-256 digests with a constant-time equality, so neither the
//! content nor the length of a configured secret leaks through timing; an unknown client
//! id costs the same digest and comparison as a known one.

use std::collections::HashMap;

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ClientConfig;

/// A client allowed to obtain tokens.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    /// The scopes this client may be granted, in configuration order.
    pub scopes: Vec<String>,
    secret_digest: [u8; 32],
}

/// Clients by id.
#[derive(Debug)]
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
}

fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

impl ClientRegistry {
    pub fn new(configs: &[ClientConfig]) -> Self {
        let clients = configs
            .iter()
            .map(|c| {
                (
                    c.client_id.clone(),
                    Client {
                        id: c.client_id.clone(),
                        scopes: c.scopes.clone(),
                        secret_digest: digest(c.client_secret.expose_secret().as_bytes()),
                    },
                )
            })
            .collect();
        Self { clients }
    }

    /// The client whose id and secret these are, if any.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Option<&Client> {
        let presented = digest(secret.as_bytes());
        match self.clients.get(client_id) {
            Some(client) if bool::from(client.secret_digest.ct_eq(&presented)) => Some(client),
            Some(_) => None,
            None => {
                // Spend the same comparison so an unknown id is not told apart by timing.
                let _ = [0u8; 32].ct_eq(&presented);
                None
            }
        }
    }

    /// Tries each candidate (id, secret) pair; every pair is checked so the time taken
    /// does not say which form matched.
    pub fn authenticate_any<'a>(
        &self,
        candidates: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<&Client> {
        let mut found = None;
        for (id, secret) in candidates {
            if let Some(client) = self.authenticate(id, secret) {
                found.get_or_insert(client);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn registry() -> ClientRegistry {
        ClientRegistry::new(&[ClientConfig {
            client_id: "svc".into(),
            client_secret: SecretString::from("s3cr3t"),
            scopes: vec!["api:write".into()],
        }])
    }

    #[test]
    fn right_secret_authenticates() {
        assert_eq!(
            registry()
                .authenticate("svc", "s3cr3t")
                .map(|c| c.id.as_str()),
            Some("svc")
        );
    }

    #[test]
    fn wrong_secret_unknown_client_and_prefix_fail() {
        let r = registry();
        assert!(r.authenticate("svc", "s3cr3").is_none());
        assert!(r.authenticate("svc", "s3cr3t ").is_none());
        assert!(r.authenticate("other", "s3cr3t").is_none());
        assert!(r.authenticate("svc", "").is_none());
    }

    #[test]
    fn any_candidate_may_match() {
        let r = registry();
        assert!(
            r.authenticate_any([("svc", "x"), ("svc", "s3cr3t")])
                .is_some()
        );
        assert!(r.authenticate_any([("svc", "x"), ("svc", "y")]).is_none());
    }
}
