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
//! plaintext client costs and never waits on Argon2; a changed or wrong secret always pays
//! the full Argon2 cost (the brute-force brake). Argon2 runs on the [`HashPool`]'s threads,
//! fairly between sources, and requests presenting the same credentials while one of them
//! is being verified wait for that verification and share its answer.
//!
//! Every failed authentication is answered no sooner than the slowest failure a request
//! of its shape could cost with the configured clients (measured at start-up and reload),
//! by waiting, never by hashing more: an unknown id, a plaintext client and a hashed
//! client are not told apart by timing on a server that is not saturated.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use argon2::{
    Argon2, PasswordVerifier,
    password_hash::rand_core::{OsRng, RngCore},
};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use poem_bearer::{keys::PublicJwk, token::now_seconds};

use crate::{
    assertion::{AssertionAudience, VerifiedAssertion},
    hashing::{HashPool, Standing},
    throttle::{Throttle, Throttled},
};

/// A client, checked: what [`ClientSettings::load`](crate::settings::ClientSettings::load)
/// returns, or what an app builds itself from [`ClientConfig::with_secrets`], setting
/// fields after (new fields come with defaults that keep the old behaviour).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Its id.
    pub client_id: String,
    /// One secret, or two while one replaces the other.
    pub secrets: Vec<ClientSecret>,
    /// The scopes it may be granted, in the order tokens list them, without repeats.
    pub scopes: Vec<String>,
    /// `false`: no new tokens, and its live tokens are refused.
    pub enabled: bool,
    /// Its public keys, for `private_key_jwt`.
    pub keys: Vec<Arc<PublicJwk>>,
    /// How it may authenticate.
    pub methods: AuthMethods,
    /// Its tokens must be DPoP-bound: a token request without a proof is refused
    /// (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub dpop_bound: bool,
    /// The resource servers it may name in a token request (RFC 8707), absolute URIs:
    /// the token's `aud` is then the one named.
    pub resources: Vec<String>,
    /// How long its tokens are valid, in seconds, instead of the issuer's lifetime.
    pub token_lifetime_seconds: Option<u64>,
    /// It may introspect every token of the server, not only its own (RFC 7662).
    pub introspect: bool,
}

impl ClientConfig {
    /// An enabled client that authenticates with `secrets` (Basic or post), granted
    /// `scopes`.
    pub fn with_secrets(
        client_id: impl Into<String>,
        secrets: Vec<ClientSecret>,
        scopes: Vec<String>,
    ) -> Self {
        ClientConfig {
            client_id: client_id.into(),
            secrets,
            scopes,
            enabled: true,
            keys: Vec::new(),
            methods: AuthMethods::default()
                .with(AuthMethod::ClientSecretBasic)
                .with(AuthMethod::ClientSecretPost),
            dpop_bound: false,
            resources: Vec::new(),
            token_lifetime_seconds: None,
            introspect: false,
        }
    }
}

/// A client authentication method (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The secret in an `Authorization: Basic` header (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// The secret in the body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// Every method, in the order metadata lists them.
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
    ];

    /// Its registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// The method of that name.
    pub fn parse(name: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether it authenticates with a secret.
    pub fn uses_secret(self) -> bool {
        self != AuthMethod::PrivateKeyJwt
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`AuthMethod`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthMethods(u8);

impl AuthMethods {
    /// The set with `method` added.
    pub fn with(self, method: AuthMethod) -> Self {
        AuthMethods(self.0 | method.bit())
    }

    /// Whether `method` is in the set.
    pub fn contains(self, method: AuthMethod) -> bool {
        self.0 & method.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<AuthMethod> for AuthMethods {
    fn from_iter<I: IntoIterator<Item = AuthMethod>>(methods: I) -> Self {
        methods
            .into_iter()
            .fold(AuthMethods::default(), AuthMethods::with)
    }
}

/// An Argon2 hash in PHC string format (`$argon2id$v=19$m=...`), as the argon2 crate
/// parses it.
pub use argon2::password_hash::PasswordHashString;

/// How a client's secret is kept.
#[derive(Debug, Clone)]
pub enum ClientSecret {
    /// The secret itself.
    Plain(secrecy::SecretString),
    /// An Argon2id hash of it in PHC string format: settings holding only hashes give no
    /// secret away.
    Argon2id(PasswordHashString),
}

/// How long a verified secret of a hashed client is remembered.
pub const VERIFIED_SECRET_TTL: Duration = Duration::from_secs(600);

/// How long a check may wait for an Argon2 thread before it is answered 503.
pub const ARGON2_MAX_WAIT: Duration = Duration::from_secs(2);
/// Checks queued for Argon2 per thread, at most: more could not start within
/// [`ARGON2_MAX_WAIT`] anyway.
const ARGON2_QUEUE_PER_THREAD: usize = 128;

/// How many Argon2 verifications may run at once: half the cores, at least one.
pub fn argon2_permits() -> usize {
    std::thread::available_parallelism()
        .map(|n| (n.get() / 2).max(1))
        .unwrap_or(1)
}

/// The Argon2 pool the server uses: [`argon2_permits`] threads.
pub fn default_pool() -> Arc<HashPool> {
    let threads = argon2_permits();
    Arc::new(HashPool::new(
        threads,
        threads * ARGON2_QUEUE_PER_THREAD,
        ARGON2_MAX_WAIT,
    ))
}

type Digest = [u8; 32];

/// A client allowed to obtain tokens.
#[derive(Debug)]
pub struct Client {
    /// Its id.
    pub id: String,
    /// The scopes this client may be granted, in configuration order.
    pub scopes: Vec<String>,
    /// `false`: no new tokens, and its live tokens are refused.
    pub enabled: bool,
    /// One check per configured secret (two during a rotation).
    checks: Vec<Check>,
    keys: Vec<Arc<PublicJwk>>,
    methods: AuthMethods,
    dpop_bound: bool,
    resources: Vec<String>,
    token_lifetime_seconds: Option<u64>,
    introspect: bool,
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
#[non_exhaustive]
pub enum Refusal {
    /// No client has the id.
    UnknownClient,
    /// The client exists; the secret is not one of its secrets.
    WrongSecret,
    /// The right credentials, but the client has `enabled = false`.
    Disabled,
    /// The client may not authenticate this way (`token_endpoint_auth_method`).
    MethodNotAllowed,
    /// A client assertion that is not a JWT this server takes (its algorithm, an
    /// embedded key, a `crit` header).
    MalformedAssertion,
    /// No key of the client has the assertion's `kid` (or the client has several keys
    /// and the assertion names none).
    UnknownKey,
    /// The assertion's signature does not verify with the client's key.
    BadSignature,
    /// The assertion has expired (`exp` more than the leeway past).
    Expired,
    /// The assertion's `exp` is too far ahead.
    Lifetime,
    /// The assertion's `iat` or `nbf` is in the future.
    NotYetValid,
    /// The assertion's `aud` does not name this server.
    Audience,
    /// The assertion's `sub` differs from its `iss`.
    Subject,
    /// The assertion lacks `iss`, `sub`, `exp` or a usable `jti`.
    MissingClaim,
    /// The assertion's `jti` was used before.
    Replayed,
}

impl Refusal {
    /// Its name in audit lines and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownClient => "unknown_client",
            Refusal::WrongSecret => "wrong_secret",
            Refusal::Disabled => "client_disabled",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::MalformedAssertion => "malformed_assertion",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "assertion_expired",
            Refusal::Lifetime => "assertion_lifetime",
            Refusal::NotYetValid => "assertion_not_yet_valid",
            Refusal::Audience => "assertion_audience",
            Refusal::Subject => "assertion_subject",
            Refusal::MissingClaim => "assertion_claim_missing",
            Refusal::Replayed => "assertion_replayed",
        }
    }

    /// What the `invalid_client` answer says. Only an assertion that expired, lives too
    /// long, names another audience or was replayed is told so (its claims are read only
    /// after its signature held); every other refusal shares one description, so an
    /// answer never tells whether a client id or key exists.
    pub fn description(self) -> &'static str {
        match self {
            Refusal::Expired => "The client assertion has expired",
            Refusal::Lifetime => {
                "The client assertion's lifetime is too long: exp may be at most 3660 seconds ahead"
            }
            Refusal::Audience => "The client assertion's audience (aud) does not name this server",
            Refusal::Replayed => "The client assertion was replayed: its jti has been used",
            _ => "Client authentication failed",
        }
    }
}

/// Why a client authentication did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// The credentials were checked and refused (`invalid_client`).
    Refused(Refusal),
    /// The source has used up its failure budget: nothing was checked, or the answer is
    /// withheld (429).
    Throttled(Throttled),
    /// Argon2 could not start in time (503).
    Busy,
}

/// The answer of a verification, shared with the requests that waited for it.
#[derive(Debug, Clone)]
enum Shared {
    /// The client's id and which of its secrets matched.
    Found(String, usize),
    Refused(Refusal),
    /// Argon2 could not start in time: the waiters' time is up too.
    Busy,
}

/// Clients by id.
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
    digest_key: Hmac<Sha256>,
    pool: Arc<HashPool>,
    /// Verifications in flight, by the digest of the credentials they check.
    flights: Mutex<HashMap<Digest, watch::Receiver<Option<Shared>>>>,
    /// The slowest a failed check of one candidate can be with these clients.
    failure_floor: Duration,
    /// What one Argon2 run costs, by parameter set, as measured: kept across reloads.
    costs: HashMap<String, Duration>,
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

impl ClientRegistry {
    /// A registry with an Argon2 pool of its own.
    pub fn new(configs: &[ClientConfig]) -> Self {
        Self::with_pool(configs, default_pool())
    }

    /// A registry that verifies on `pool`. Runs one Argon2 verification per distinct
    /// parameter set among the hashes, to measure the failure floor: call it where
    /// blocking for that long is fine.
    pub fn with_pool(configs: &[ClientConfig], pool: Arc<HashPool>) -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let digest_key = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self::build(configs, pool, digest_key, HashMap::new(), None)
    }

    /// The registry for a reloaded client list: the same pool, digest key and measured
    /// costs, and a client whose id and hash are unchanged keeps its remembered secret,
    /// so a reload does not send every hashed client back to Argon2. Measures only
    /// parameter sets not seen before (blocking: call it off the async threads).
    pub fn reloaded(&self, configs: &[ClientConfig]) -> Self {
        Self::build(
            configs,
            self.pool.clone(),
            self.digest_key.clone(),
            self.costs.clone(),
            Some(self),
        )
    }

    fn build(
        configs: &[ClientConfig],
        pool: Arc<HashPool>,
        digest_key: Hmac<Sha256>,
        mut costs: HashMap<String, Duration>,
        previous: Option<&ClientRegistry>,
    ) -> Self {
        let failure_floor = failure_floor(configs, &mut costs);
        if configs
            .iter()
            .any(|c| c.methods.contains(AuthMethod::PrivateKeyJwt))
        {
            // Made now, while blocking is fine, not on the first refused assertion.
            let _ = crate::assertion::decoys();
        }
        let mut registry = Self {
            clients: HashMap::new(),
            digest_key,
            pool,
            flights: Mutex::new(HashMap::new()),
            failure_floor,
            costs,
        };
        for config in configs {
            let remembered = |hash: &PasswordHashString| {
                let client = previous?.clients.get(&config.client_id)?;
                client.checks.iter().find_map(|check| match check {
                    Check::Hashed {
                        hash: old,
                        verified,
                    } if old.as_str() == hash.as_str() => verified.lock().ok().and_then(|v| *v),
                    _ => None,
                })
            };
            let checks = config
                .secrets
                .iter()
                .map(|secret| match secret {
                    ClientSecret::Plain(secret) => {
                        Check::Plain(registry.digest(secret.expose_secret().as_bytes()))
                    }
                    ClientSecret::Argon2id(hash) => Check::Hashed {
                        hash: hash.clone(),
                        verified: Mutex::new(remembered(hash)),
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
                    keys: config.keys.clone(),
                    methods: config.methods,
                    dpop_bound: config.dpop_bound,
                    resources: config.resources.clone(),
                    token_lifetime_seconds: config.token_lifetime_seconds,
                    introspect: config.introspect,
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

    /// The slowest a failed check of one candidate can be with these clients: the Argon2
    /// runs of the client with the costliest hashes, as measured.
    pub fn failure_floor(&self) -> Duration {
        self.failure_floor
    }

    /// The client that one of the candidate (id, secret) pairs authenticates, or why none
    /// did, with the failures counted against `source`'s budget in `throttle`.
    ///
    /// Cheap checks (plaintext secrets, remembered digests, unknown ids) run for every
    /// candidate first, so a client sending the secret in a second form never pays Argon2
    /// for the first one. Each distinct candidate that fails counts one failure. A refusal
    /// is answered no sooner than [`ClientRegistry::failure_floor`] per candidate.
    pub async fn authenticate(
        &self,
        method: AuthMethod,
        candidates: &[(&str, &str)],
        source: Option<IpAddr>,
        throttle: &Arc<Throttle>,
    ) -> Result<Authenticated<'_>, AuthError> {
        let started = tokio::time::Instant::now();
        // Repeats count once; a slice without any (the usual case) is used as it is.
        let repeats = (1..candidates.len()).any(|i| candidates[..i].contains(&candidates[i]));
        let distinct: std::borrow::Cow<'_, [(&str, &str)]> = if repeats {
            let mut distinct = Vec::with_capacity(candidates.len());
            for candidate in candidates {
                if !distinct.contains(candidate) {
                    distinct.push(*candidate);
                }
            }
            distinct.into()
        } else {
            candidates.into()
        };
        let count = distinct.len().max(1) as u32;
        let source = source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let outcome = match self.check_cheaply(method, &distinct) {
            Cheap::Done(outcome) => {
                let outcome = outcome.and_then(|found| self.enabled(found));
                throttle
                    .settle(source, if outcome.is_ok() { 0 } else { count })
                    .map_err(AuthError::Throttled)?;
                outcome
            }
            Cheap::Argon2(slow, refusal) => {
                self.verify_once(&distinct, slow, refusal, source, count, throttle)
                    .await?
            }
        };
        match outcome {
            Ok(found) => Ok(found),
            Err(refusal) => {
                tokio::time::sleep_until(started + self.failure_floor * count).await;
                Err(AuthError::Refused(refusal))
            }
        }
    }

    fn enabled<'a>(&'a self, found: Authenticated<'a>) -> Result<Authenticated<'a>, Refusal> {
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

    /// The client whose key verifies `assertion` (`private_key_jwt`), and the assertion's
    /// `jti` to record once the request is good, or why not; a failure counts against
    /// `source` in `throttle` as a wrong secret does, and is answered no sooner than
    /// [`ClientRegistry::failure_floor`]. See [`crate::assertion`] for the checks.
    pub async fn authenticate_assertion(
        &self,
        assertion: &str,
        audience: &AssertionAudience,
        source: Option<IpAddr>,
        throttle: &Arc<Throttle>,
    ) -> Result<(Authenticated<'_>, VerifiedAssertion), AuthError> {
        let started = tokio::time::Instant::now();
        let outcome = self.check_assertion(assertion, audience);
        let source = source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        throttle
            .settle(source, u32::from(outcome.is_err()))
            .map_err(AuthError::Throttled)?;
        match outcome {
            Ok(found) => Ok(found),
            Err(refusal) => {
                tokio::time::sleep_until(started + self.failure_floor).await;
                Err(AuthError::Refused(refusal))
            }
        }
    }

    fn check_assertion(
        &self,
        assertion: &str,
        audience: &AssertionAudience,
    ) -> Result<(Authenticated<'_>, VerifiedAssertion), Refusal> {
        let client_id =
            crate::assertion::claimed_client(assertion).ok_or(Refusal::MalformedAssertion)?;
        let client = match self.clients.get(&client_id) {
            Some(client) if client.methods.contains(AuthMethod::PrivateKeyJwt) => client,
            found => {
                // Checked against no key, which costs what a bad signature does: an
                // unknown client is not told apart by timing either.
                let _ = crate::assertion::verify(assertion, &[], audience, now_seconds());
                return Err(match found {
                    Some(_) => Refusal::MethodNotAllowed,
                    None => Refusal::UnknownClient,
                });
            }
        };
        let verified = crate::assertion::verify(assertion, &client.keys, audience, now_seconds())?;
        let found = self.enabled(Authenticated { client, secret: 0 })?;
        Ok((found, verified))
    }

    /// The checks that cost no Argon2: a match, a refusal, or the Argon2 checks left.
    fn check_cheaply<'a, 's>(
        &'a self,
        method: AuthMethod,
        candidates: &[(&str, &'s str)],
    ) -> Cheap<'a, 's> {
        let mut refusal = Refusal::UnknownClient;
        let mut slow = Vec::new();
        let now = Instant::now();
        for &(id, secret) in candidates {
            let digest = self.digest(secret.as_bytes());
            let client = match self.clients.get(id) {
                Some(client) if client.methods.contains(method) => client,
                found => {
                    // Spend the same comparison so an unknown id is not told apart by
                    // timing.
                    let _ = Digest::default().ct_eq(&digest);
                    if found.is_some() {
                        refusal = Refusal::MethodNotAllowed;
                    }
                    continue;
                }
            };
            refusal = Refusal::WrongSecret;
            for (index, check) in client.checks.iter().enumerate() {
                let matches = match check {
                    Check::Plain(expected) => bool::from(expected.ct_eq(&digest)),
                    Check::Hashed { hash, .. } => {
                        let hit = check.remembers(&digest, now);
                        if !hit {
                            slow.push(SlowCheck {
                                client,
                                index,
                                hash: hash.clone(),
                                secret,
                                digest,
                            });
                        }
                        hit
                    }
                };
                if matches {
                    return Cheap::Done(Ok(Authenticated {
                        client,
                        secret: index + 1,
                    }));
                }
            }
        }
        if slow.is_empty() {
            Cheap::Done(Err(refusal))
        } else {
            Cheap::Argon2(slow, refusal)
        }
    }

    /// Runs the Argon2 checks, or waits for a request already running them for the same
    /// credentials and shares its answer (reserving nothing).
    async fn verify_once<'a>(
        &'a self,
        candidates: &[(&str, &str)],
        slow: Vec<SlowCheck<'a, '_>>,
        refusal: Refusal,
        source: IpAddr,
        count: u32,
        throttle: &Arc<Throttle>,
    ) -> Result<Result<Authenticated<'a>, Refusal>, AuthError> {
        // One deadline for all of this request's waiting: for another's verification,
        // then for its own Argon2 runs.
        let deadline = Instant::now() + self.pool.max_wait();
        let key = {
            let mut mac = self.digest_key.clone();
            for (id, secret) in candidates {
                for part in [id.as_bytes(), b"\0", secret.as_bytes(), b"\0"] {
                    mac.update(&(part.len() as u64).to_be_bytes());
                    mac.update(part);
                }
            }
            Digest::from(mac.finalize().into_bytes())
        };
        let flight = loop {
            let joined = {
                let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
                match flights.get(&key) {
                    Some(receiver) => Err(receiver.clone()),
                    None => {
                        let (sender, receiver) = watch::channel(None);
                        flights.insert(key, receiver);
                        Ok(Flight {
                            registry: self,
                            key,
                            sender,
                        })
                    }
                }
            };
            match joined {
                Ok(flight) => break flight,
                Err(mut receiver) => {
                    // The leader answers, or goes away without an answer (throttled,
                    // busy, abandoned): then this request tries for itself.
                    let waited = tokio::time::timeout_at(
                        deadline.into(),
                        receiver.wait_for(Option::is_some),
                    )
                    .await;
                    let shared = match waited {
                        Ok(answer) => answer.ok().and_then(|v| v.clone()),
                        Err(_) => return Err(AuthError::Busy),
                    };
                    match shared {
                        Some(Shared::Found(id, secret)) => {
                            return Ok(self
                                .clients
                                .get(&id)
                                .map(|client| Authenticated { client, secret })
                                .ok_or(Refusal::UnknownClient)
                                .and_then(|found| self.enabled(found)));
                        }
                        Some(Shared::Refused(refusal)) => return Ok(Err(refusal)),
                        Some(Shared::Busy) => return Err(AuthError::Busy),
                        None => {}
                    }
                }
            }
        };
        let reservation = throttle
            .reserve(source, count)
            .map_err(AuthError::Throttled)?;
        let pool_key = Throttle::key(source);
        let standing = if reservation.clean() {
            Standing::Clean
        } else {
            Standing::Failing
        };
        let started = reservation.started_flag();
        let mut outcome = Err(refusal);
        for check in slow {
            let (hash, secret, started) = (check.hash, check.secret.to_owned(), started.clone());
            let verified = self
                .pool
                .run(pool_key, standing, deadline, move || {
                    started.store(true, std::sync::atomic::Ordering::Release);
                    verify_argon2(&hash, &secret)
                })
                .await;
            let Ok(verified) = verified else {
                // No answer is given, so nothing is learnt: nothing is counted.
                reservation.settle(false);
                flight.publish(Shared::Busy);
                return Err(AuthError::Busy);
            };
            if verified {
                if let Some(Check::Hashed { verified, .. }) = check.client.checks.get(check.index)
                    && let Ok(mut slot) = verified.lock()
                {
                    *slot = Some((check.digest, Instant::now() + VERIFIED_SECRET_TTL));
                }
                outcome = self.enabled(Authenticated {
                    client: check.client,
                    secret: check.index + 1,
                });
                break;
            }
        }
        reservation.settle(outcome.is_err());
        flight.publish(match &outcome {
            Ok(found) => Shared::Found(found.client.id.clone(), found.secret),
            Err(refusal) => Shared::Refused(*refusal),
        });
        Ok(outcome)
    }
}

/// What the cheap checks found.
enum Cheap<'a, 's> {
    Done(Result<Authenticated<'a>, Refusal>),
    /// Argon2 checks to run, and the refusal if none matches.
    Argon2(Vec<SlowCheck<'a, 's>>, Refusal),
}

struct SlowCheck<'a, 's> {
    client: &'a Client,
    index: usize,
    hash: PasswordHashString,
    secret: &'s str,
    digest: Digest,
}

/// A verification in flight that other requests may wait for; leaves the map when it
/// ends, answered or not.
struct Flight<'a> {
    registry: &'a ClientRegistry,
    key: Digest,
    sender: watch::Sender<Option<Shared>>,
}

impl Flight<'_> {
    fn publish(self, answer: Shared) {
        self.sender.send_replace(Some(answer));
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .registry
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        flights.remove(&self.key);
    }
}

/// The slowest a failed check of one candidate can be with `configs`: for each client, the
/// sum of one Argon2 run per hash it holds, each measured once per distinct parameter set
/// (those already in `measured` are not run again).
fn failure_floor(configs: &[ClientConfig], measured: &mut HashMap<String, Duration>) -> Duration {
    let mut floor = Duration::ZERO;
    for config in configs {
        let mut cost = Duration::ZERO;
        for secret in &config.secrets {
            let ClientSecret::Argon2id(hash) = secret else {
                continue;
            };
            let parsed = hash.password_hash();
            let parameters = format!(
                "{:?} {} {}",
                parsed.version,
                parsed.params,
                parsed.hash.map_or(0, |h| h.len())
            );
            cost += *measured.entry(parameters).or_insert_with(|| {
                let started = Instant::now();
                let _ = verify_argon2(hash, "a secret nobody has, to time a failure");
                started.elapsed()
            });
        }
        floor = floor.max(cost);
    }
    floor
}

/// A client that authenticated: what the token endpoint needs to grant it a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// Its id.
    pub client_id: String,
    /// The scopes it may be granted, in the order tokens list them.
    pub scopes: Vec<String>,
    /// Which of its secrets matched: 1 or 2 (for the audit log during a rotation); 0
    /// for an assertion.
    pub secret: usize,
    /// The verified client assertion, whose `jti` the endpoint records once the request
    /// is good.
    pub assertion: Option<VerifiedAssertion>,
    /// Its tokens must be DPoP-bound.
    pub dpop_bound: bool,
    /// The resource servers it may name (RFC 8707), besides the issuer's own audience.
    pub resources: Vec<String>,
    /// Its tokens' lifetime in seconds, when not the issuer's.
    pub token_lifetime_seconds: Option<u64>,
    /// It may introspect every token of the server, not only its own.
    pub introspect: bool,
}

/// A boxed, sendable future: what [`ClientStore`] methods return, so the store can be a
/// trait object.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Where the token endpoint finds its clients. [`ClientDirectory`] — the clients of a
/// settings file, replaced whole on a reload — is the store this crate ships; an API that
/// keeps clients elsewhere implements this trait.
///
/// An implementation must keep the promises the endpoint relies on: secrets compared in
/// constant time, failures counted against `source` in `throttle` (and the answer
/// withheld, [`AuthError::Throttled`], once its budget is spent), and a refusal no
/// faster than the slowest failure, so timing does not tell clients apart. The endpoint
/// refuses a source already over its budget before calling the store, but counting the
/// failures is the store's part: a store that ignores `throttle` disables the brake.
/// [`ClientRegistry::authenticate`] does all of it; a store can delegate to one.
pub trait ClientStore: Send + Sync + 'static {
    /// The client that `credentials` authenticate, or why they do not.
    fn authenticate<'a>(
        &'a self,
        credentials: Credentials<'a>,
        source: Option<IpAddr>,
        throttle: &'a Arc<Throttle>,
    ) -> BoxFuture<'a, Result<Granted, AuthError>>;

    /// Whether tokens of `client_id` may be used: it exists and is enabled.
    fn is_enabled(&self, client_id: &str) -> bool;
}

/// What a token request authenticates with.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// A secret (`client_secret_basic` or `client_secret_post`): candidate (id, secret)
    /// pairs, as [`ClientRegistry::authenticate`] takes them.
    Secret {
        /// Which method carried them.
        method: AuthMethod,
        /// The (id, secret) pairs to try.
        candidates: &'a [(&'a str, &'a str)],
    },
    /// A client assertion (`private_key_jwt`).
    Assertion {
        /// The JWT.
        assertion: &'a str,
        /// What its `aud` must name.
        audience: &'a AssertionAudience,
    },
}

impl ClientStore for ClientDirectory {
    fn authenticate<'a>(
        &'a self,
        credentials: Credentials<'a>,
        source: Option<IpAddr>,
        throttle: &'a Arc<Throttle>,
    ) -> BoxFuture<'a, Result<Granted, AuthError>> {
        Box::pin(async move {
            let registry = self.current();
            let (found, assertion) = match credentials {
                Credentials::Secret { method, candidates } => (
                    registry
                        .authenticate(method, candidates, source, throttle)
                        .await?,
                    None,
                ),
                Credentials::Assertion {
                    assertion,
                    audience,
                } => {
                    let (found, verified) = registry
                        .authenticate_assertion(assertion, audience, source, throttle)
                        .await?;
                    (found, Some(verified))
                }
            };
            Ok(Granted {
                client_id: found.client.id.clone(),
                scopes: found.client.scopes.clone(),
                secret: found.secret,
                assertion,
                dpop_bound: found.client.dpop_bound,
                resources: found.client.resources.clone(),
                token_lifetime_seconds: found.client.token_lifetime_seconds,
                introspect: found.client.introspect,
            })
        })
    }

    fn is_enabled(&self, client_id: &str) -> bool {
        ClientDirectory::is_enabled(self, client_id)
    }
}

/// The current client registry, replaced whole when the configuration is reloaded
/// (SIGHUP): requests in flight keep the registry they started with.
pub struct ClientDirectory(arc_swap::ArcSwap<ClientRegistry>);

impl ClientDirectory {
    /// A directory holding `registry`.
    pub fn new(registry: ClientRegistry) -> Self {
        Self(arc_swap::ArcSwap::from_pointee(registry))
    }

    /// The registry in use now.
    pub fn current(&self) -> Arc<ClientRegistry> {
        self.0.load_full()
    }

    /// As [`ClientRegistry::is_enabled`] on the current registry, without taking a
    /// reference count (this runs on every protected request).
    pub fn is_enabled(&self, client_id: &str) -> bool {
        self.0.load().is_enabled(client_id)
    }

    /// Replaces the registry (a reload): requests under way keep the one they took.
    pub fn replace(&self, registry: ClientRegistry) {
        self.0.store(Arc::new(registry));
    }
}

/// A client that authenticated, and which of its secrets it used (1 or 2; 0 for an
/// assertion), for the audit log during a secret rotation.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated<'a> {
    /// The client.
    pub client: &'a Client,
    /// Which of its secrets matched: 1 or 2.
    pub secret: usize,
}

/// One Argon2 verification, with the parameters the hash names. Slow: run it on a
/// [`HashPool`] thread.
fn verify_argon2(hash: &PasswordHashString, secret: &str) -> bool {
    Argon2::default()
        .verify_password(secret.as_bytes(), &hash.password_hash())
        .is_ok()
}

/// A new client secret, to hand over once, and its Argon2id hash, to keep.
pub struct NewSecret {
    /// The secret: 256 random bits, base64url without padding (so it needs no encoding in
    /// HTTP Basic).
    pub secret: String,
    /// Its Argon2id hash (PHC string format) at the argon2 crate's default cost.
    pub hash: String,
}

/// Generates a client secret and its hash: what a `create-client` command prints.
pub fn generate_secret() -> Result<NewSecret, String> {
    use argon2::{PasswordHasher, password_hash::SaltString};
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| format!("hashing failed: {e}"))?
        .to_string();
    Ok(NewSecret { secret, hash })
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

    /// Authenticates with no throttling, and returns only refusals as errors.
    async fn auth<'a>(
        r: &'a ClientRegistry,
        candidates: &[(&str, &str)],
    ) -> Result<Authenticated<'a>, Refusal> {
        let throttle = Arc::new(Throttle::new(u32::MAX, Duration::from_secs(60)));
        match r
            .authenticate(AuthMethod::ClientSecretPost, candidates, None, &throttle)
            .await
        {
            Ok(found) => Ok(found),
            Err(AuthError::Refused(refusal)) => Err(refusal),
            Err(other) => panic!("{other:?}"),
        }
    }

    /// An enabled client with one scope.
    fn client(id: &str, secrets: Vec<ClientSecret>, scope: &str) -> ClientConfig {
        ClientConfig::with_secrets(id, secrets, vec![scope.to_owned()])
    }

    fn registry() -> ClientRegistry {
        ClientRegistry::new(&[
            client(
                "plain",
                vec![ClientSecret::Plain(SecretString::from("s3cr3t"))],
                "api:write",
            ),
            client(
                "hashed",
                vec![ClientSecret::Argon2id(hash("h4sh3d"))],
                "players:delete",
            ),
        ])
    }

    #[tokio::test]
    async fn plaintext_secrets() {
        let r = registry();
        assert_eq!(
            auth(&r, &[("plain", "s3cr3t")]).await.unwrap().client.id,
            "plain"
        );
        for wrong in ["s3cr3", "s3cr3t ", ""] {
            assert_eq!(
                auth(&r, &[("plain", wrong)]).await.unwrap_err(),
                Refusal::WrongSecret
            );
        }
        assert_eq!(
            auth(&r, &[("nobody", "s3cr3t")]).await.unwrap_err(),
            Refusal::UnknownClient
        );
    }

    #[tokio::test]
    async fn hashed_secrets_verify_then_are_remembered() {
        let r = registry();
        assert_eq!(
            auth(&r, &[("hashed", "nope")]).await.unwrap_err(),
            Refusal::WrongSecret
        );
        assert_eq!(
            auth(&r, &[("hashed", "h4sh3d")]).await.unwrap().client.id,
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
            auth(&r, &[("hashed", "h4sh3d")]).await.unwrap().client.id,
            "hashed"
        );
        assert_eq!(
            auth(&r, &[("hashed", "h4sh3d!")]).await.unwrap_err(),
            Refusal::WrongSecret
        );
        assert_eq!(
            auth(&r, &[("plain", "h4sh3d")]).await.unwrap_err(),
            Refusal::WrongSecret,
            "a remembered secret belongs to its own client only"
        );
    }

    #[tokio::test]
    async fn a_reload_keeps_what_was_verified_for_unchanged_clients() {
        let configs = [client(
            "hashed",
            vec![ClientSecret::Argon2id(hash("h4sh3d"))],
            "api:write",
        )];
        let r = ClientRegistry::new(&configs);
        assert!(auth(&r, &[("hashed", "h4sh3d")]).await.is_ok());
        let remembered = |r: &ClientRegistry| {
            let Check::Hashed { verified, .. } = &r.clients["hashed"].checks[0] else {
                unreachable!()
            };
            verified.lock().unwrap().is_some()
        };
        let reloaded = r.reloaded(&configs);
        assert!(remembered(&reloaded), "same id and hash: still remembered");
        assert!(auth(&reloaded, &[("hashed", "h4sh3d")]).await.is_ok());
        let rehashed = [ClientConfig {
            secrets: vec![ClientSecret::Argon2id(hash("h4sh3d"))],
            ..configs[0].clone()
        }];
        assert!(
            !remembered(&r.reloaded(&rehashed)),
            "a new hash is verified anew"
        );
    }

    #[tokio::test]
    async fn any_candidate_may_match() {
        let r = registry();
        assert!(
            auth(&r, &[("plain", "x"), ("plain", "s3cr3t")])
                .await
                .is_ok()
        );
        assert!(
            auth(&r, &[("hashed", "x"), ("hashed", "h4sh3d")])
                .await
                .is_ok()
        );
        assert!(auth(&r, &[("plain", "x"), ("plain", "y")]).await.is_err());
    }

    #[tokio::test]
    async fn every_failure_is_answered_no_sooner_than_the_slowest_hashed_failure() {
        // A client holding two hashes costs two Argon2 runs when a secret is wrong.
        let r = ClientRegistry::new(&[
            client(
                "plain",
                vec![ClientSecret::Plain(SecretString::from("s3cr3t"))],
                "api:write",
            ),
            client(
                "two-hashes",
                vec![
                    ClientSecret::Argon2id(hash("one")),
                    ClientSecret::Argon2id(hash("two")),
                ],
                "api:write",
            ),
        ]);
        let floor = r.failure_floor();
        assert!(floor > Duration::ZERO);
        for (id, secret) in [("nobody", "x"), ("plain", "wrong"), ("two-hashes", "wrong")] {
            let started = Instant::now();
            assert!(auth(&r, &[(id, secret)]).await.is_err());
            assert!(
                started.elapsed() >= floor,
                "{id}: {:?} < {floor:?}",
                started.elapsed()
            );
        }
        // Two distinct candidates (a Basic header read two ways) wait for two.
        let started = Instant::now();
        assert!(auth(&r, &[("nobody", "x"), ("nobody", "y")]).await.is_err());
        assert!(started.elapsed() >= floor * 2);
        // Success is not delayed: only a failure waits for the floor.
        assert!(auth(&r, &[("plain", "s3cr3t")]).await.is_ok());
        // Without hashed clients there is nothing to wait for.
        assert_eq!(ClientRegistry::new(&[]).failure_floor(), Duration::ZERO);
    }

    #[tokio::test]
    async fn concurrent_checks_of_the_same_credentials_share_one_verification() {
        let r = Arc::new(registry());
        let throttle = Arc::new(Throttle::new(1, Duration::from_secs(60)));
        let source: IpAddr = "192.0.2.1".parse().unwrap();
        // A budget of one: twenty concurrent right secrets must all pass, as one.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (r, throttle) = (r.clone(), throttle.clone());
                tokio::spawn(async move {
                    r.authenticate(
                        AuthMethod::ClientSecretPost,
                        &[("hashed", "h4sh3d")],
                        Some(source),
                        &throttle,
                    )
                    .await
                    .map(|found| found.client.id.clone())
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().as_deref(), Ok("hashed"));
        }
        // Twenty concurrent wrong secrets: one verification, one failure counted.
        let throttle = Arc::new(Throttle::new(2, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (r, throttle) = (r.clone(), throttle.clone());
                tokio::spawn(async move {
                    r.authenticate(
                        AuthMethod::ClientSecretPost,
                        &[("hashed", "wrong")],
                        Some(source),
                        &throttle,
                    )
                    .await
                    .map(|_| ())
                })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Err(AuthError::Refused(Refusal::WrongSecret)) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(refused, 20);
        assert!(throttle.check(source).is_ok(), "one failure of two counted");
    }

    #[test]
    fn a_generated_secret_verifies_against_its_hash() {
        let new = generate_secret().unwrap();
        assert_eq!(new.secret.len(), 43);
        let hash = PasswordHashString::new(&new.hash).unwrap();
        assert_eq!(hash.algorithm().as_str(), "argon2id");
        assert!(
            Argon2::default()
                .verify_password(new.secret.as_bytes(), &hash.password_hash())
                .is_ok()
        );
    }
}
