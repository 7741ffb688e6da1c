//! The registered clients and the check of their secrets (RFC 6749 §2.3.1).
//!
//! Every secret is compared as an HMAC-SHA256 digest under a key drawn at start-up, with a
//! constant-time equality, so neither the content nor the length of a secret leaks through
//! timing.
//!
//! A client configured with an Argon2id hash costs one Argon2 verification (tens of
//! milliseconds, by design) the first time its secret is presented. After a success the
//! digest of that secret is remembered for [`VERIFIED_SECRET_TTL`]: one entry per client,
//! so the memory is bounded by the configuration. The same secret then costs what a
//! plaintext client costs; a changed or wrong secret always pays the full Argon2 cost (the
//! brute-force brake), and so does an unknown client id (against a dummy hash), while at
//! most [`argon2_permits`] verifications run at once so a flood of wrong secrets cannot
//! take every core.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use argon2::{
    Argon2, PasswordVerifier,
    password_hash::{
        PasswordHashString,
        rand_core::{OsRng, RngCore},
    },
};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::scopes::Scope;
use crate::config::{ClientConfig, ClientSecret};

/// How long a verified secret of a hashed client is remembered.
pub const VERIFIED_SECRET_TTL: Duration = Duration::from_secs(600);

/// A PHC string of a random secret nobody knows, verified when the client id is unknown so
/// that answering takes as long as for a known hashed client.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$3pBqR3ZyQ2l5S0F2b0J0VQ$qIq6nLBc1BNE3bO9Xk8sdR0d2xJ2tZ3rW0GB3y2mvTk";

/// How many Argon2 verifications may run at once: half the cores, at least one.
pub fn argon2_permits() -> usize {
    std::thread::available_parallelism()
        .map(|n| (n.get() / 2).max(1))
        .unwrap_or(1)
}

type Digest = [u8; 32];

/// A client allowed to obtain tokens.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    /// The scopes this client may be granted, in configuration order.
    pub scopes: Vec<Scope>,
    /// `false`: no new tokens, and its live tokens are refused.
    pub enabled: bool,
    /// One check per configured secret (two during a rotation).
    checks: Vec<Check>,
}

#[derive(Debug)]
enum Check {
    Plain(Digest),
    Hashed {
        hash: PasswordHashString,
        /// The digest of the last secret that verified, and when it stops counting.
        verified: Mutex<Option<(Digest, Instant)>>,
    },
}

impl Check {
    /// Whether `digest` is the remembered secret of a hashed check, still fresh at `now`.
    fn remembers(&self, digest: &Digest, now: Instant) -> bool {
        let Check::Hashed { verified, .. } = self else {
            return false;
        };
        let remembered = verified.lock().ok().and_then(|v| *v);
        remembered.is_some_and(|(known, until)| now < until && bool::from(known.ct_eq(digest)))
    }
}

/// Why a client could not be authenticated, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownClient,
    WrongSecret,
    /// The right secret, but the client has `enabled = false`.
    Disabled,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownClient => "unknown_client",
            Refusal::WrongSecret => "wrong_secret",
            Refusal::Disabled => "client_disabled",
        }
    }
}

/// Clients by id.
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
    digest_key: Hmac<Sha256>,
    argon2: Semaphore,
    dummy: PasswordHashString,
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

impl ClientRegistry {
    pub fn new(configs: &[ClientConfig]) -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let digest_key = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        let mut registry = Self {
            clients: HashMap::new(),
            digest_key,
            argon2: Semaphore::new(argon2_permits()),
            dummy: PasswordHashString::new(DUMMY_HASH)
                .unwrap_or_else(|_| unreachable!("the dummy hash is a valid PHC string")),
        };
        for config in configs {
            let checks = config
                .secrets
                .iter()
                .map(|secret| match secret {
                    ClientSecret::Plain(secret) => {
                        Check::Plain(registry.digest(secret.expose_secret().as_bytes()))
                    }
                    ClientSecret::Argon2id(hash) => Check::Hashed {
                        hash: hash.clone(),
                        verified: Mutex::new(None),
                    },
                })
                .collect();
            registry.clients.insert(
                config.client_id.clone(),
                Client {
                    id: config.client_id.clone(),
                    scopes: config.scopes.clone(),
                    enabled: config.enabled,
                    checks,
                },
            );
        }
        registry
    }

    fn digest(&self, secret: &[u8]) -> Digest {
        let mut mac = self.digest_key.clone();
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }

    /// The client that one of the candidate (id, secret) pairs authenticates, or why none
    /// did. Cheap checks (plaintext secrets, remembered digests) run for every candidate
    /// first, so a client sending the secret in a second form never pays Argon2 for the
    /// first one.
    pub async fn authenticate(
        &self,
        candidates: &[(&str, &str)],
    ) -> Result<Authenticated<'_>, Refusal> {
        let found = self.verify(candidates).await?;
        if found.client.enabled {
            Ok(found)
        } else {
            Err(Refusal::Disabled)
        }
    }

    /// Whether tokens of `client_id` may be used: the client exists and is enabled.
    pub fn is_enabled(&self, client_id: &str) -> bool {
        self.clients.get(client_id).is_some_and(|c| c.enabled)
    }

    async fn verify(&self, candidates: &[(&str, &str)]) -> Result<Authenticated<'_>, Refusal> {
        let mut refusal = Refusal::UnknownClient;
        // (client, which secret, presented secret, its digest) still to verify with Argon2.
        let mut slow: Vec<(Option<&Client>, usize, &str, Digest)> = Vec::new();
        let now = Instant::now();
        for &(id, secret) in candidates {
            let digest = self.digest(secret.as_bytes());
            let Some(client) = self.clients.get(id) else {
                // Spend the same comparison so an unknown id is not told apart by timing.
                let _ = Digest::default().ct_eq(&digest);
                slow.push((None, 0, secret, digest));
                continue;
            };
            refusal = Refusal::WrongSecret;
            for (index, check) in client.checks.iter().enumerate() {
                let matches = match check {
                    Check::Plain(expected) => bool::from(expected.ct_eq(&digest)),
                    Check::Hashed { .. } => {
                        let hit = check.remembers(&digest, now);
                        if !hit {
                            slow.push((Some(client), index, secret, digest));
                        }
                        hit
                    }
                };
                if matches {
                    return Ok(Authenticated {
                        client,
                        secret: index + 1,
                    });
                }
            }
        }
        // Candidates may name the same client with the same secret (nothing to decode).
        slow.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2 && a.0.map(|c| &c.id) == b.0.map(|c| &c.id));
        for (client, index, secret, digest) in slow {
            let check = client.and_then(|c| c.checks.get(index));
            let hash = match check {
                Some(Check::Hashed { hash, .. }) => hash.clone(),
                _ => self.dummy.clone(),
            };
            let Ok(_permit) = self.argon2.acquire().await else {
                continue;
            };
            // While this request waited for a permit, another may have verified the same
            // secret: many first requests arriving together then cost one Argon2 run.
            if let (Some(client), Some(check)) = (client, check)
                && check.remembers(&digest, Instant::now())
            {
                return Ok(Authenticated {
                    client,
                    secret: index + 1,
                });
            }
            if verify_argon2(hash, secret).await
                && let (Some(client), Some(check)) = (client, check)
            {
                if let Check::Hashed { verified, .. } = check
                    && let Ok(mut slot) = verified.lock()
                {
                    *slot = Some((digest, Instant::now() + VERIFIED_SECRET_TTL));
                }
                return Ok(Authenticated {
                    client,
                    secret: index + 1,
                });
            }
        }
        Err(refusal)
    }
}

/// The current client registry, replaced whole when the configuration is reloaded
/// (SIGHUP): requests in flight keep the registry they started with.
pub struct ClientDirectory(arc_swap::ArcSwap<ClientRegistry>);

impl ClientDirectory {
    pub fn new(registry: ClientRegistry) -> Self {
        Self(arc_swap::ArcSwap::from_pointee(registry))
    }

    pub fn current(&self) -> Arc<ClientRegistry> {
        self.0.load_full()
    }

    /// As [`ClientRegistry::is_enabled`] on the current registry, without taking a
    /// reference count (this runs on every protected request).
    pub fn is_enabled(&self, client_id: &str) -> bool {
        self.0.load().is_enabled(client_id)
    }

    pub fn replace(&self, registry: ClientRegistry) {
        self.0.store(Arc::new(registry));
    }
}

/// A client that authenticated, and which of its secrets it used (1 or 2), for the audit
/// log during a secret rotation.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated<'a> {
    pub client: &'a Client,
    pub secret: usize,
}

/// One Argon2 verification on the blocking pool (the caller holds a permit).
async fn verify_argon2(hash: PasswordHashString, secret: &str) -> bool {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(secret.as_bytes(), &hash.password_hash())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A newly created client: its secret, to hand over once, and the configuration entry
/// that holds only its hash.
pub struct NewClient {
    pub secret: String,
    pub toml: String,
}

/// Creates a client: a random 256-bit secret, base64url without padding (so it needs no
/// encoding in HTTP Basic), hashed with Argon2id at the argon2 crate's default cost, and
/// the `[[<profile>.clients]]` entry to paste into the configuration.
pub fn create_client(
    client_id: &str,
    scopes: &[Scope],
    profile: &str,
) -> Result<NewClient, String> {
    use argon2::{PasswordHasher, password_hash::SaltString};
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    if client_id.is_empty() {
        return Err("the client id must not be empty".into());
    }
    if scopes.is_empty() {
        return Err("give at least one scope".into());
    }
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| format!("hashing failed: {e}"))?
        .to_string();

    #[derive(serde::Serialize)]
    struct Entry<'a> {
        client_id: &'a str,
        client_secret_hash: &'a str,
        scopes: Vec<&'a str>,
    }
    let entry = Entry {
        client_id,
        client_secret_hash: &hash,
        scopes: scopes.iter().map(|s| s.as_str()).collect(),
    };
    let document = HashMap::from([(profile, HashMap::from([("clients", vec![entry])]))]);
    let toml = toml::to_string(&document).map_err(|e| format!("cannot write TOML: {e}"))?;
    Ok(NewClient { secret, toml })
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, password_hash::SaltString};
    use secrecy::SecretString;

    use super::*;

    fn hash(secret: &str) -> PasswordHashString {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .unwrap()
            .serialize()
    }

    fn registry() -> ClientRegistry {
        ClientRegistry::new(&[
            ClientConfig {
                client_id: "plain".into(),
                secrets: vec![ClientSecret::Plain(SecretString::from("s3cr3t"))],
                scopes: vec![Scope::ApiWrite],
                enabled: true,
            },
            ClientConfig {
                client_id: "hashed".into(),
                secrets: vec![ClientSecret::Argon2id(hash("h4sh3d"))],
                scopes: vec![Scope::PlayersDelete],
                enabled: true,
            },
        ])
    }

    #[tokio::test]
    async fn plaintext_secrets() {
        let r = registry();
        assert_eq!(
            r.authenticate(&[("plain", "s3cr3t")])
                .await
                .unwrap()
                .client
                .id,
            "plain"
        );
        for wrong in ["s3cr3", "s3cr3t ", ""] {
            assert_eq!(
                r.authenticate(&[("plain", wrong)]).await.unwrap_err(),
                Refusal::WrongSecret
            );
        }
        assert_eq!(
            r.authenticate(&[("nobody", "s3cr3t")]).await.unwrap_err(),
            Refusal::UnknownClient
        );
    }

    #[tokio::test]
    async fn hashed_secrets_verify_then_are_remembered() {
        let r = registry();
        assert_eq!(
            r.authenticate(&[("hashed", "nope")]).await.unwrap_err(),
            Refusal::WrongSecret
        );
        assert_eq!(
            r.authenticate(&[("hashed", "h4sh3d")])
                .await
                .unwrap()
                .client
                .id,
            "hashed"
        );
        let Check::Hashed { verified, .. } = &r.clients["hashed"].checks[0] else {
            unreachable!()
        };
        assert!(
            verified.lock().unwrap().is_some(),
            "the verified secret is remembered"
        );
        assert_eq!(
            r.authenticate(&[("hashed", "h4sh3d")])
                .await
                .unwrap()
                .client
                .id,
            "hashed"
        );
        assert_eq!(
            r.authenticate(&[("hashed", "h4sh3d!")]).await.unwrap_err(),
            Refusal::WrongSecret
        );
        assert_eq!(
            r.authenticate(&[("plain", "h4sh3d")]).await.unwrap_err(),
            Refusal::WrongSecret,
            "a remembered secret belongs to its own client only"
        );
    }

    #[tokio::test]
    async fn any_candidate_may_match() {
        let r = registry();
        assert!(
            r.authenticate(&[("plain", "x"), ("plain", "s3cr3t")])
                .await
                .is_ok()
        );
        assert!(
            r.authenticate(&[("hashed", "x"), ("hashed", "h4sh3d")])
                .await
                .is_ok()
        );
        assert!(
            r.authenticate(&[("plain", "x"), ("plain", "y")])
                .await
                .is_err()
        );
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(PasswordHashString::new(DUMMY_HASH).is_ok());
    }

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
