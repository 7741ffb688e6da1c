//! Token revocation (RFC 7009): `POST /auth/revoke` ([`RevocationApi`]), and where
//! revocations are kept ([`RevocationStore`]).
//!
//! A revocation is the `jti` of one of this server's active tokens, kept until the token
//! would have expired anyway (its `exp` and the validator's leeway), then forgotten. The
//! validator looks every token of this server up among them
//! ([`poem_bearer::ValidatorBuilder::revocation_check`]), so checking must cost no I/O: a
//! store answers [`RevocationStore::is_revoked`] from memory and writes through to
//! wherever it persists. [`MemoryRevocations`] keeps them in this process only;
//! [`RevocationSet`] is the in-memory index a persistent store builds on.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, RwLock},
};

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use poem_bearer::{LEEWAY_SECONDS, token::now_seconds};

use crate::{
    clients::BoxFuture,
    endpoint::{ClientAddress, OAuthBody, OAuthForm, OAuthTag, Operation, TokenEndpoint},
    error::{OAuthCode, OAuthErrorBody, TokenError},
    events::{Revoked, bounded_id},
};

/// Where the revocation endpoint is served.
pub const REVOCATION_PATH: &str = "/auth/revoke";

/// How many live revocations a client may hold by default
/// ([`MemoryRevocations::new`]'s usual argument).
pub const DEFAULT_MAX_LIVE_PER_CLIENT: usize = 10_000;

/// One revocation: a token's `jti`, whose client it was issued to, and when it expires
/// for good (`exp` plus the leeway writes allow), after which it is forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation<'a> {
    /// The token's `jti`.
    pub jti: &'a str,
    /// Its client; `None` for an operator's revocation of a `jti` alone, which counts
    /// against no client's limit.
    pub client_id: Option<&'a str>,
    /// Seconds since the Unix epoch after which the token is expired anyway.
    pub until: u64,
}

/// Why a revocation was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeError {
    /// The client holds as many live revocations as it may: retry after `retry_after`
    /// seconds, when its oldest one lapses. Nothing was stored.
    TooMany {
        /// Seconds until the client's oldest revocation lapses.
        retry_after: u64,
    },
    /// The store could not commit it (its database is down): nothing may be assumed.
    Unavailable,
}

/// Where revocations are kept: shared by every instance that must refuse a revoked token.
///
/// An implementation must keep the promises the endpoint makes: `revoke` returns `Ok`
/// only once the revocation is committed where it persists and
/// [`is_revoked`](RevocationStore::is_revoked) says so in this process;
/// `is_revoked` answers from memory, since it runs on every protected request; a client's
/// live revocations are capped (stopping one client from growing every instance's memory
/// without bound).
pub trait RevocationStore: Send + Sync + 'static {
    /// Whether the token with this `jti` is revoked. No I/O.
    fn is_revoked(&self, jti: &str) -> bool;

    /// Records `revocation`, or says why not.
    fn revoke<'a>(&'a self, revocation: Revocation<'a>) -> BoxFuture<'a, Result<(), RevokeError>>;
}

/// Live revocations in memory: a set of `jti`s, each client's count and oldest one, and
/// their expiry order, so a lookup is a hash probe and forgetting the lapsed ones costs
/// only what lapsed.
#[derive(Debug, Default)]
pub struct RevocationSet {
    index: RwLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    by_jti: HashMap<Arc<str>, Live>,
    /// Per client: its live revocations in expiry order.
    by_client: HashMap<Arc<str>, BTreeSet<(u64, Arc<str>)>>,
    /// Every live revocation in expiry order.
    by_expiry: BTreeSet<(u64, Arc<str>)>,
    /// Per client: revocations reserved ([`RevocationSet::reserve`]) and not yet inserted
    /// or released, counted against its limit.
    pending: HashMap<Arc<str>, usize>,
}

#[derive(Debug)]
struct Live {
    client: Option<Arc<str>>,
    until: u64,
}

/// A client's live revocations at some moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveRevocations {
    /// How many.
    pub count: usize,
    /// When the oldest lapses (seconds since the Unix epoch), if there is one.
    pub oldest_lapses_at: Option<u64>,
}

impl Index {
    fn live_for(&self, client_id: &str, now: u64) -> LiveRevocations {
        let Some(live) = self.by_client.get(client_id) else {
            return LiveRevocations::default();
        };
        let mut current = live.range((now + 1, Arc::from(""))..);
        let first = current.next().map(|(until, _)| *until);
        LiveRevocations {
            count: first.map_or(0, |_| 1 + current.count()),
            oldest_lapses_at: first,
        }
    }
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `jti` is held (lapsed entries not yet forgotten included: their tokens
    /// are expired anyway).
    pub fn contains(&self, jti: &str) -> bool {
        self.index
            .read()
            .map(|index| index.by_jti.contains_key(jti))
            .unwrap_or(true)
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.index.read().map(|i| i.by_jti.len()).unwrap_or(0)
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `revocation` unless it has lapsed by `now`; a `jti` already held keeps its
    /// entry.
    pub fn insert(&self, revocation: Revocation<'_>, now: u64) {
        if revocation.until <= now {
            return;
        }
        let Ok(mut index) = self.index.write() else {
            return;
        };
        if index.by_jti.contains_key(revocation.jti) {
            return;
        }
        let jti: Arc<str> = Arc::from(revocation.jti);
        let client: Option<Arc<str>> = revocation.client_id.map(Arc::from);
        if let Some(client) = &client {
            index
                .by_client
                .entry(client.clone())
                .or_default()
                .insert((revocation.until, jti.clone()));
        }
        index.by_expiry.insert((revocation.until, jti.clone()));
        index.by_jti.insert(
            jti,
            Live {
                client,
                until: revocation.until,
            },
        );
    }

    /// The client's live revocations at `now`.
    pub fn live_for(&self, client_id: &str, now: u64) -> LiveRevocations {
        match self.index.read() {
            Ok(index) => index.live_for(client_id, now),
            Err(_) => LiveRevocations::default(),
        }
    }

    /// Reserves a place for one more revocation of `client_id` if it holds fewer than
    /// `max` live ones (those reserved and not yet inserted included), or says how long
    /// until its oldest lapses. Checking and reserving under one lock, concurrent
    /// requests cannot all pass the check; [`release`](Self::release) the place once
    /// the revocation is inserted or given up.
    pub fn reserve(&self, client_id: &str, max: usize, now: u64) -> Result<(), RevokeError> {
        let Ok(mut index) = self.index.write() else {
            return Err(RevokeError::Unavailable);
        };
        let live = index.live_for(client_id, now);
        let pending = index.pending.get(client_id).copied().unwrap_or(0);
        check_limit(
            LiveRevocations {
                count: live.count + pending,
                ..live
            },
            max,
            now,
        )?;
        *index.pending.entry(Arc::from(client_id)).or_insert(0) += 1;
        Ok(())
    }

    /// Gives back a place [`reserve`](Self::reserve) took.
    pub fn release(&self, client_id: &str) {
        let Ok(mut index) = self.index.write() else {
            return;
        };
        if let Some(pending) = index.pending.get_mut(client_id) {
            *pending = pending.saturating_sub(1);
            if *pending == 0 {
                index.pending.remove(client_id);
            }
        }
    }

    /// Forgets every revocation that lapsed by `now`.
    pub fn forget_lapsed(&self, now: u64) {
        let Ok(mut index) = self.index.write() else {
            return;
        };
        while let Some((until, jti)) = index.by_expiry.first().cloned() {
            if until > now {
                break;
            }
            index.by_expiry.pop_first();
            if let Some(live) = index.by_jti.remove(&jti)
                && let Some(client) = live.client
            {
                let emptied = index.by_client.get_mut(&client).is_some_and(|set| {
                    set.remove(&(live.until, jti.clone()));
                    set.is_empty()
                });
                if emptied {
                    index.by_client.remove(&client);
                }
            }
        }
    }
}

/// Revocations kept in this process only: lost on restart and not seen by other
/// instances. For a single instance, tests and examples; a deployment of several keeps
/// them in a shared store built on [`RevocationSet`].
#[derive(Debug)]
pub struct MemoryRevocations {
    set: RevocationSet,
    max_live_per_client: usize,
}

impl MemoryRevocations {
    /// An empty store holding at most `max_live_per_client` live revocations per client.
    pub fn new(max_live_per_client: usize) -> Self {
        Self {
            set: RevocationSet::new(),
            max_live_per_client,
        }
    }
}

impl RevocationStore for MemoryRevocations {
    fn is_revoked(&self, jti: &str) -> bool {
        self.set.contains(jti)
    }

    fn revoke<'a>(&'a self, revocation: Revocation<'a>) -> BoxFuture<'a, Result<(), RevokeError>> {
        Box::pin(async move {
            let now = now_seconds();
            self.set.forget_lapsed(now);
            if let Some(client) = revocation.client_id {
                check_limit(
                    self.set.live_for(client, now),
                    self.max_live_per_client,
                    now,
                )?;
            }
            self.set.insert(revocation, now);
            Ok(())
        })
    }
}

/// Refuses one more revocation for a client holding `live` when that would pass `max`.
pub fn check_limit(live: LiveRevocations, max: usize, now: u64) -> Result<(), RevokeError> {
    if live.count < max {
        return Ok(());
    }
    let retry_after = live
        .oldest_lapses_at
        .map_or(1, |oldest| oldest.saturating_sub(now).max(1));
    Err(RevokeError::TooMany { retry_after })
}

/// When a token whose `exp` is `exp` is expired for good: the validator's leeway past it.
pub fn lapses_at(exp: u64) -> u64 {
    exp.saturating_add(LEEWAY_SECONDS)
}

// The documented schema only: the body is read by `OAuthBody`.
/// A revocation request (RFC 7009 §2.1), as a form or as JSON. The client authenticates
/// as at the token endpoint.
#[derive(Debug, Object)]
pub struct RevocationRequest {
    /// The access token to revoke (an empty one is a missing one).
    #[oai(validator(min_length = 1))]
    pub token: String,
    /// Ignored: the token says what it is.
    pub token_type_hint: Option<String>,
    /// The client id, when the client does not authenticate with HTTP Basic.
    pub client_id: Option<String>,
    /// The client secret, when the client does not authenticate with HTTP Basic.
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, with `client_assertion`.
    pub client_assertion_type: Option<String>,
    /// A JWT signed with the client's private key (`private_key_jwt`): `aud` the issuer
    /// identifier or this endpoint's URL.
    pub client_assertion: Option<String>,
}

impl OAuthForm for RevocationRequest {
    const OPERATION: Operation = Operation::Revoke;
}

/// The revocation endpoint's documented answers.
#[derive(ApiResponse)]
pub enum RevocationResponses {
    /// Revoked, or nothing to revoke: the token was not an active token of this server
    /// (RFC 7009 §2.2). Empty body.
    #[oai(status = 200)]
    Ok(
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `invalid_request` (missing `token`, a malformed or repeated parameter, two
    /// authentication methods) or `unauthorized_client` (an active token issued to
    /// another client: nothing revoked).
    #[oai(status = 400)]
    #[allow(dead_code)]
    BadRequest(
        Json<OAuthErrorBody>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `invalid_client`, as at the token endpoint.
    #[oai(status = 401)]
    #[allow(dead_code)]
    Unauthorized(
        Json<OAuthErrorBody>,
        /// `Basic realm="..."`, except for a browser's script.
        #[oai(header = "WWW-Authenticate")]
        Option<String>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `invalid_request`: the body is larger than the server's limit.
    #[oai(status = 413)]
    #[allow(dead_code)]
    PayloadTooLarge(
        Json<OAuthErrorBody>,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `too_many_requests`: the address failed client authentication too often (on any
    /// of the token, revocation and introspection endpoints), or the client holds as many
    /// live revocations as it may; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    #[allow(dead_code)]
    TooManyRequests(
        Json<OAuthErrorBody>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `temporarily_unavailable`: the revocation could not be committed, or the client
    /// could not be checked in time; nothing may be assumed revoked.
    #[oai(status = 503)]
    #[allow(dead_code)]
    Unavailable(
        Json<OAuthErrorBody>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// The revocation endpoint as a poem-openapi API: combine it with [`TokenApi`] and the
/// API's own, with the same [`TokenEndpoint`] attached.
///
/// [`TokenApi`]: crate::TokenApi
pub struct RevocationApi;

#[OpenApi]
impl RevocationApi {
    /// Revoke an access token
    ///
    /// Token revocation (RFC 7009). The client authenticates as at the token endpoint and
    /// names one of its own tokens in `token`; the token is refused from then on. A token
    /// that is not active (expired, malformed, already revoked, another issuer's) is
    /// answered 200 too, with nothing stored.
    #[oai(
        path = "/auth/revoke",
        method = "post",
        operation_id = "revokeToken",
        tag = "OAuthTag::Auth"
    )]
    async fn revoke_token(
        &self,
        request: &Request,
        endpoint: Data<&Arc<TokenEndpoint>>,
        address: ClientAddress,
        body: OAuthBody<RevocationRequest>,
    ) -> Result<RevocationResponses, TokenError> {
        let endpoint = endpoint.as_ref();
        let params = body.0;
        let source = address.0;
        let (token, refuser, caller) = endpoint
            .token_request(request, source, &params, Operation::Revoke)
            .await?;
        let claims = endpoint.validator().inspect(token);
        let report = |outcome: RevocationOutcome, claims: Option<&poem_bearer::Claims>| {
            let token_client = claims.map(|c| bounded_id(&c.client_id));
            endpoint.events().token_revoked(&Revoked {
                outcome,
                client_id: &caller.client_id,
                token_client_id: token_client.as_deref(),
                jti: claims.and_then(|c| c.jti.as_deref()),
                source,
            });
        };
        // A client assertion is used up by a request carried out, as at the token
        // endpoint: one refused (another client's token, the limit, the store down) leaves
        // it usable for the retry.
        let (claims, jti) = match &claims {
            Ok(claims) if claims.client_id != caller.client_id => {
                report(RevocationOutcome::OtherClient, Some(claims));
                return Err(TokenError::new(
                    OAuthCode::UnauthorizedClient,
                    "The token was issued to another client",
                ));
            }
            Ok(claims) => match claims.jti.as_deref() {
                Some(jti) => (claims, jti),
                // Every token of this server has one; without it there is nothing to key on.
                None => {
                    endpoint.use_assertion(&refuser, &caller).await?;
                    report(RevocationOutcome::NotRevoked, Some(claims));
                    return Ok(RevocationResponses::Ok("no-store".to_owned()));
                }
            },
            // Not active, or not this server's: nothing to store (RFC 7009 §2.2).
            Err(_) => {
                endpoint.use_assertion(&refuser, &caller).await?;
                report(RevocationOutcome::NotRevoked, None);
                return Ok(RevocationResponses::Ok("no-store".to_owned()));
            }
        };
        endpoint.use_assertion(&refuser, &caller).await?;
        let revocation = Revocation {
            jti,
            client_id: Some(&claims.client_id),
            until: lapses_at(claims.expires_at),
        };
        let refused = match endpoint.revocations().revoke(revocation).await {
            Ok(()) => {
                report(RevocationOutcome::Revoked, Some(claims));
                return Ok(RevocationResponses::Ok("no-store".to_owned()));
            }
            Err(RevokeError::TooMany { retry_after }) => {
                report(RevocationOutcome::TooMany, Some(claims));
                TokenError::too_many_revocations(retry_after)
            }
            Err(RevokeError::Unavailable) => {
                report(RevocationOutcome::Unavailable, Some(claims));
                TokenError::revocation_unavailable()
            }
        };
        endpoint.forget_assertion(&caller).await;
        Err(refused)
    }
}

/// How a revocation request was answered: what [`Revoked`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationOutcome {
    /// The token was revoked (200).
    Revoked,
    /// Nothing to revoke: the token was not an active token of this server (200).
    NotRevoked,
    /// An active token issued to another client (400 `unauthorized_client`).
    OtherClient,
    /// The client holds as many live revocations as it may (429).
    TooMany,
    /// The store could not commit it (503).
    Unavailable,
}

impl RevocationOutcome {
    /// `revoked`, `not_revoked`, or `refused` for the three refusals: the audit log's
    /// `outcome` and a bounded metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationOutcome::Revoked => "revoked",
            RevocationOutcome::NotRevoked => "not_revoked",
            _ => "refused",
        }
    }

    /// Why a refusal was one: `other_client`, `too_many`, `unavailable`.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            RevocationOutcome::OtherClient => Some("other_client"),
            RevocationOutcome::TooMany => Some("too_many"),
            RevocationOutcome::Unavailable => Some("unavailable"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocation<'a>(jti: &'a str, client: &'a str, until: u64) -> Revocation<'a> {
        Revocation {
            jti,
            client_id: Some(client),
            until,
        }
    }

    #[test]
    fn a_set_counts_per_client_and_forgets_what_lapsed() {
        let set = RevocationSet::new();
        set.insert(revocation("a", "c1", 100), 10);
        set.insert(revocation("b", "c1", 50), 10);
        set.insert(revocation("c", "c2", 70), 10);
        set.insert(revocation("lapsed", "c2", 10), 10);
        set.insert(revocation("a", "c1", 500), 10);
        assert!(set.contains("a") && set.contains("b") && !set.contains("lapsed"));
        assert_eq!(set.len(), 3);
        let live = |count, oldest_lapses_at| LiveRevocations {
            count,
            oldest_lapses_at,
        };
        assert_eq!(set.live_for("c1", 10), live(2, Some(50)));
        assert_eq!(set.live_for("c1", 60), live(1, Some(100)));
        assert_eq!(set.live_for("nobody", 10), live(0, None));
        set.forget_lapsed(70);
        assert!(!set.contains("b") && !set.contains("c") && set.contains("a"));
        assert_eq!(set.live_for("c2", 10), live(0, None));
        set.forget_lapsed(1000);
        assert!(set.is_empty());
    }

    #[test]
    fn the_limit_answers_with_the_wait_for_the_oldest() {
        let live = |count, oldest_lapses_at| LiveRevocations {
            count,
            oldest_lapses_at,
        };
        assert_eq!(check_limit(live(1, Some(50)), 2, 10), Ok(()));
        assert_eq!(
            check_limit(live(2, Some(50)), 2, 10),
            Err(RevokeError::TooMany { retry_after: 40 })
        );
        assert_eq!(
            check_limit(live(0, None), 0, 10),
            Err(RevokeError::TooMany { retry_after: 1 })
        );
    }

    #[test]
    fn reserved_places_count_until_released() {
        let set = RevocationSet::new();
        set.insert(revocation("a", "c", 100), 10);
        set.reserve("c", 2, 10).unwrap();
        assert_eq!(
            set.reserve("c", 2, 10),
            Err(RevokeError::TooMany { retry_after: 90 })
        );
        set.release("c");
        set.reserve("c", 2, 10).unwrap();
        set.insert(revocation("b", "c", 200), 10);
        set.release("c");
        assert!(set.reserve("c", 2, 10).is_err());
        assert!(set.reserve("other", 2, 10).is_ok());
    }

    #[tokio::test]
    async fn a_memory_store_refuses_past_its_limit_and_stores_nothing() {
        let store = MemoryRevocations::new(2);
        let now = now_seconds();
        store.revoke(revocation("a", "c", now + 100)).await.unwrap();
        store.revoke(revocation("b", "c", now + 50)).await.unwrap();
        let refused = store.revoke(revocation("x", "c", now + 100)).await;
        assert!(
            matches!(refused, Err(RevokeError::TooMany { retry_after }) if (49..=50).contains(&retry_after))
        );
        assert!(!store.is_revoked("x"));
        store
            .revoke(revocation("y", "other", now + 100))
            .await
            .unwrap();
        // An operator's revocation counts against no client.
        let operator = Revocation {
            jti: "z",
            client_id: None,
            until: now + 100,
        };
        store.revoke(operator).await.unwrap();
        assert!(store.is_revoked("z") && store.is_revoked("y"));
    }
}
