//! Single-use identifiers: the `jti` of a client assertion (RFC 7523 §3 item 7) or of a
//! DPoP proof (RFC 9449 §11.1) may be used once while it is valid. A [`ReplayCache`]
//! remembers each one until its window ends.
//!
//! [`MemoryReplayCache`] keeps them in this process, bounded: a full cache refuses to
//! record ([`ReplayError::Full`]) rather than forget a live entry, since a forgotten
//! `jti` could be replayed. Several instances behind one load balancer share nothing
//! through it; an app that runs several implements the trait on a shared store (the
//! players API does, on PostgreSQL).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    future::Future,
    pin::Pin,
    sync::Mutex,
};

use sha2::{Digest, Sha256};

use crate::token::now_seconds;

/// A boxed, sendable future: what [`ReplayCache::record`] returns, so a cache can be a
/// trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an identifier could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// It is recorded already, and its window has not ended: a replay.
    Replayed,
    /// The cache is full: nothing was recorded, so the request must be refused (503).
    Full,
    /// The shared store could not be reached (503).
    Unavailable,
}

/// Remembers identifiers until their window ends.
pub trait ReplayCache: Send + Sync + 'static {
    /// Records `id` within `scope` (a client id, a key thumbprint: identifiers of
    /// different scopes never collide) until `until` (Unix seconds). `Ok` only when it
    /// was not recorded before, or only with a window that has ended.
    fn record<'a>(
        &'a self,
        scope: &'a str,
        id: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<(), ReplayError>>;

    /// Takes back an identifier just recorded, when the request it came with is refused
    /// for another reason after all (a token request whose DPoP proof turns out to be a
    /// replay leaves its client assertion usable).
    fn forget<'a>(&'a self, scope: &'a str, id: &'a str) -> BoxFuture<'a, ()>;
}

/// The key an entry is kept under: 128 bits of SHA-256 over the scope and the id, so
/// every entry has the same small size whatever a client sends, and a collision is out
/// of reach.
type Key = [u8; 16];

/// A bounded in-memory [`ReplayCache`].
pub struct MemoryReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    until: HashMap<Key, u64>,
    /// Every entry by the end of its window, earliest first, to drop them in order.
    expiries: BinaryHeap<Reverse<(u64, Key)>>,
}

impl MemoryReplayCache {
    /// A cache holding at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        MemoryReplayCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The live entries now.
    pub fn len(&self) -> usize {
        self.lock().until.len()
    }

    /// Whether no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`ReplayCache::record`] at `now`.
    pub fn record_at(
        &self,
        scope: &str,
        id: &str,
        until: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        let key = key(scope, id);
        let mut inner = self.lock();
        while let Some(Reverse((end, expired))) = inner.expiries.peek().copied() {
            if end > now {
                break;
            }
            inner.expiries.pop();
            if inner.until.get(&expired) == Some(&end) {
                inner.until.remove(&expired);
            }
        }
        if inner.until.get(&key).is_some_and(|end| *end > now) {
            return Err(ReplayError::Replayed);
        }
        if until <= now {
            // Its window is over: nothing to remember.
            return Ok(());
        }
        if inner.until.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        inner.until.insert(key, until);
        inner.expiries.push(Reverse((until, key)));
        Ok(())
    }
}

impl ReplayCache for MemoryReplayCache {
    fn record<'a>(
        &'a self,
        scope: &'a str,
        id: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<(), ReplayError>> {
        let recorded = self.record_at(scope, id, until, now_seconds());
        Box::pin(std::future::ready(recorded))
    }

    fn forget<'a>(&'a self, scope: &'a str, id: &'a str) -> BoxFuture<'a, ()> {
        // Its place in the expiry order is dropped when that comes up: an entry is
        // removed only when its end matches.
        self.lock().until.remove(&key(scope, id));
        Box::pin(std::future::ready(()))
    }
}

fn key(scope: &str, id: &str) -> Key {
    let digest = Sha256::new()
        .chain_update((scope.len() as u64).to_be_bytes())
        .chain_update(scope)
        .chain_update(id)
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_refused_while_its_window_lasts_and_free_after() {
        let cache = MemoryReplayCache::new(10);
        assert_eq!(cache.record_at("client", "j", 110, 100), Ok(()));
        assert_eq!(
            cache.record_at("client", "j", 120, 109),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            cache.record_at("other", "j", 110, 100),
            Ok(()),
            "scopes are apart"
        );
        // The scope's length is hashed too: ("ab", "c") is not ("a", "bc").
        assert_eq!(cache.record_at("ab", "c", 110, 100), Ok(()));
        assert_eq!(cache.record_at("a", "bc", 110, 100), Ok(()));
        assert_eq!(
            cache.record_at("client", "j", 130, 110),
            Ok(()),
            "window over"
        );
        assert_eq!(cache.len(), 1, "the ended entries are dropped");
        assert_eq!(cache.record_at("client", "late", 100, 110), Ok(()));
        assert_eq!(cache.len(), 1, "an id whose window is over is not kept");
    }

    #[test]
    fn a_forgotten_id_can_be_recorded_again() {
        let cache = MemoryReplayCache::new(10);
        assert_eq!(cache.record_at("c", "j", 200, 100), Ok(()));
        futures_executor(cache.forget("c", "j"));
        assert_eq!(cache.record_at("c", "j", 200, 100), Ok(()));
        assert_eq!(
            cache.record_at("c", "j", 200, 100),
            Err(ReplayError::Replayed)
        );
    }

    /// Runs a future that is ready at once.
    fn futures_executor<T>(future: BoxFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_full_cache_refuses_to_record_until_entries_end() {
        let cache = MemoryReplayCache::new(2);
        assert_eq!(cache.record_at("c", "1", 200, 100), Ok(()));
        assert_eq!(cache.record_at("c", "2", 150, 100), Ok(()));
        assert_eq!(cache.record_at("c", "3", 200, 100), Err(ReplayError::Full));
        assert_eq!(
            cache.record_at("c", "1", 200, 100),
            Err(ReplayError::Replayed)
        );
        assert_eq!(cache.record_at("c", "3", 200, 150), Ok(()), "2 has ended");
        assert_eq!(
            cache.record_at("c", "3", 300, 160),
            Err(ReplayError::Replayed)
        );
    }
}
