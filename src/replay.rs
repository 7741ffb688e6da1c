//! Client assertion `jti`s on PostgreSQL: every instance sharing the database refuses an
//! assertion any of them accepted (RFC 7523 §3 item 7). With SQLite there is one
//! instance, and `poem_bearer`'s in-memory cache does.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use poem_bearer::{
    replay::{BoxFuture, MemoryReplayCache, ReplayCache, ReplayError},
    token::now_seconds,
};
use sqlx::PgPool;

use crate::players::PlayerStore;

/// How many entries the in-memory cache holds: about 75 MB when full (BENCHMARKS.md).
pub const MEMORY_CAPACITY: usize = 1_000_000;

/// How often (at most) the ended rows are deleted, in seconds.
const PURGE_INTERVAL_SECONDS: u64 = 60;

/// The cache for `store`'s database: shared in PostgreSQL, or in this process.
pub fn for_store(store: &PlayerStore) -> Arc<dyn ReplayCache> {
    match store.postgres_pool() {
        Some(pool) => Arc::new(PgReplayCache {
            pool,
            last_purge: AtomicU64::new(0),
        }),
        None => Arc::new(MemoryReplayCache::new(MEMORY_CAPACITY)),
    }
}

/// `jti`s in the `used_jtis` table.
pub struct PgReplayCache {
    pool: PgPool,
    last_purge: AtomicU64,
}

impl PgReplayCache {
    async fn record_now(&self, scope: &str, id: &str, until: u64) -> Result<(), ReplayError> {
        let now = now_seconds();
        let last = self.last_purge.load(Ordering::Relaxed);
        if now >= last + PURGE_INTERVAL_SECONDS
            && self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let purged = sqlx::query("DELETE FROM used_jtis WHERE expires_at <= $1")
                .bind(now as i64)
                .execute(&self.pool)
                .await;
            if let Err(cause) = purged {
                tracing::warn!(%cause, "deleting ended client assertion jtis failed");
            }
        }
        // One statement: a new row, or a row whose window ended taken over; a live row
        // is left alone and nothing is returned (a replay).
        let recorded = sqlx::query(
            "INSERT INTO used_jtis (scope, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE used_jtis.expires_at <= $4",
        )
        .bind(scope)
        .bind(id)
        .bind(until.min(i64::MAX as u64) as i64)
        .bind(now as i64)
        .execute(&self.pool)
        .await
        .map_err(|cause| {
            tracing::error!(%cause, "recording a client assertion jti failed");
            ReplayError::Unavailable
        })?;
        if recorded.rows_affected() == 1 {
            Ok(())
        } else {
            Err(ReplayError::Replayed)
        }
    }
}

impl ReplayCache for PgReplayCache {
    fn record<'a>(
        &'a self,
        scope: &'a str,
        id: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<(), ReplayError>> {
        Box::pin(self.record_now(scope, id, until))
    }

    fn forget<'a>(&'a self, scope: &'a str, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let forgotten = sqlx::query("DELETE FROM used_jtis WHERE scope = $1 AND jti = $2")
                .bind(scope)
                .bind(id)
                .execute(&self.pool)
                .await;
            if let Err(cause) = forgotten {
                tracing::warn!(%cause, "taking back a client assertion jti failed");
            }
        })
    }
}
