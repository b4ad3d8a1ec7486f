//! The staleness watcher: notices nodes that stopped reporting and raises one `node.stale` event per
//! silence for the webhook worker to deliver; on the same beat, announces exceptions that reached their end. Several replicas may run it; the database keeps each event
//! single (see `storage::node_events::raise_stale`).

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::storage::node_events::{self, StaleSweep};

#[derive(Debug, Clone)]
pub struct StalenessWatcher {
    pub pool: PgPool,
    /// How long a node may go without a report before it is stale.
    pub stale_after: Duration,
    /// How often to look: often enough that an event follows the silence closely, without a busy loop.
    pub every: Duration,
}

impl StalenessWatcher {
    pub fn new(pool: PgPool, stale_after: Duration) -> Self {
        let every = (stale_after / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        StalenessWatcher {
            pool,
            stale_after,
            every,
        }
    }

    /// Runs until the task is dropped. Once an hour it also forgets browser sessions that ended more than a
    /// day ago, which is housekeeping of the same kind: time passing, not requests.
    pub async fn run(self) {
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            if let Err(err) = self.sweep().await {
                tracing::error!(error = %err, "the staleness check failed; trying again later");
            }
            // Exceptions reaching their end are time passing too: announce them on the feed.
            if let Err(err) = crate::app::governance::sweep_expiries(&self.pool).await {
                tracing::error!(error = %err, "the exception expiry check failed; trying again later");
            }
            if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(std::time::Instant::now());
                match self.pool.acquire().await {
                    Ok(mut conn) => match crate::storage::web_sessions::prune(&mut conn).await {
                        Ok(0) => {}
                        Ok(count) => tracing::info!(sessions = count, "forgot ended sessions"),
                        Err(err) => tracing::warn!(error = %err, "cannot prune ended sessions"),
                    },
                    Err(err) => tracing::warn!(error = %err, "cannot prune ended sessions"),
                }
            }
            tokio::time::sleep(self.every).await;
        }
    }

    /// Raises the events of nodes that have become stale since the last sweep.
    pub async fn sweep(&self) -> Result<StaleSweep, sqlx::Error> {
        let stale_before = OffsetDateTime::now_utc() - self.stale_after;
        let mut conn = self.pool.acquire().await?;
        let sweep = node_events::raise_stale(&mut conn, stale_before).await?;
        if sweep.raised > 0 {
            tracing::warn!(
                nodes = sweep.raised,
                deliveries = sweep.queued,
                "nodes stopped reporting"
            );
        }
        Ok(sweep)
    }
}
