//! Periodic jobs: stale sessions, ended fair usage, history partitions, the change feed's
//! old rows, CoA changes kept for unreachable NASes, and the accounting tables' planner
//! statistics.
//!
//! Each job claims its rows in PostgreSQL (`FOR UPDATE SKIP LOCKED`, `UPDATE …
//! RETURNING`), so every radiusd of a deployment may run them at once without doing
//! anything twice. A failure is logged and retried on the next tick; PostgreSQL being
//! away just postpones them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db;
use crate::fup::{self, Change};
use crate::state::Shared;

/// Stale sessions closed per statement; the sweep repeats while it finds this many.
const STALE_BATCH: u32 = 10_000;

/// How often history partitions are created ahead and old ones dropped.
const PARTITION_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// How soon retention tries again when a reader held session_history (or PostgreSQL
/// failed).
const PARTITION_RETRY: Duration = Duration::from_secs(30);

/// Longest wait for the lock a partition's creation or drop needs; every accounting
/// writer queues behind that wait, so it is kept far below a NAS's retransmission timer.
const PARTITION_LOCK_WAIT: Duration = Duration::from_millis(50);

/// How often the accounting tables' row counts are compared with the planner's.
const STATISTICS_INTERVAL: Duration = Duration::from_secs(10);

/// Monthly history partitions kept ready from the current month.
const MONTHS_AHEAD: u32 = 3;

/// Runs the jobs until cancelled. Retention has a loop of its own: its paced usage trim
/// may take a minute, and the others must not wait for it.
pub(crate) async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    tokio::join!(retention(&shared, &cancel), frequent(&shared, &cancel));
}

/// History partitions and usage retention, at once on start and then every
/// `PARTITION_INTERVAL` (`PARTITION_RETRY` when something was postponed).
async fn retention(shared: &Shared, cancel: &CancellationToken) {
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = maintain_history(shared) => next,
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(next) => {}
        }
    }
}

/// The short jobs, each on its own interval.
async fn frequent(shared: &Arc<Shared>, cancel: &CancellationToken) {
    let mut sweep = tokio::time::interval(shared.config.accounting.sweep_interval);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // At once on start: changes kept before a restart, or by adminapi, are picked up.
    let mut kept = tokio::time::interval(shared.config.coa.probe_interval);
    kept.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut statistics = tokio::time::interval(STATISTICS_INTERVAL);
    statistics.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = kept.tick() => pick_up_kept_changes(shared).await,
            _ = statistics.tick() => refresh_statistics(shared).await,
            _ = sweep.tick() => {
                close_stale(shared).await;
                trim_feed(shared).await;
                match db::end_fair_usage(&shared.store).await {
                    Ok(users) => fup::enforce_all(shared, users, Change::PeriodOver).await,
                    Err(e) => tracing::debug!(error = %e, "fair-usage period check postponed"),
                }
            }
        }
    }
}

/// Tells the CoA lanes which NASes PostgreSQL keeps changes for, whoever kept them: a
/// lane that answers claims them, a NAS without one is probed.
async fn pick_up_kept_changes(shared: &Shared) {
    match shared.store.deferred_counts().await {
        Ok(counts) if counts.is_empty() => {}
        Ok(counts) => {
            let nas: Vec<i64> = counts.iter().map(|c| c.nas_id).collect();
            tracing::debug!(?nas, "CoA changes kept for these NASes");
            shared.lanes.waiting(&nas);
        }
        Err(e) => tracing::debug!(error = %e, "kept CoA changes not looked for"),
    }
}

async fn close_stale(shared: &Shared) {
    loop {
        match db::close_stale_sessions(&shared.store, STALE_BATCH).await {
            Ok(0) => return,
            Ok(n) => {
                tracing::info!(sessions = n, "closed stale sessions (no update in time)");
                shared.counts.all_changed();
                if n < STALE_BATCH {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "stale-session sweep postponed");
                return;
            }
        }
    }
}

/// Keeps the planner's idea of the accounting tables' sizes close to the truth
/// ([`db::refresh_statistics`]).
async fn refresh_statistics(shared: &Shared) {
    match db::refresh_statistics(&shared.store).await {
        Ok(tables) if tables.is_empty() => {}
        Ok(tables) => tracing::debug!(?tables, "planner statistics refreshed"),
        Err(e) => tracing::debug!(error = %e, "planner statistics refresh postponed"),
    }
}

/// Deletes change-feed rows past `cache.feed_retention`; idempotent, so every radiusd of a
/// deployment may run it.
async fn trim_feed(shared: &Shared) {
    match shared
        .store
        .trim_feed(shared.config.cache.feed_retention)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "old change-feed rows deleted"),
        Err(e) => tracing::debug!(error = %e, "change-feed trim postponed"),
    }
}

/// One round of retention; returns when the next is due.
async fn maintain_history(shared: &Shared) -> Duration {
    let acct = &shared.config.accounting;
    match db::maintain_history(
        &shared.store,
        acct.history_retention,
        acct.usage_retention,
        MONTHS_AHEAD,
        PARTITION_LOCK_WAIT,
    )
    .await
    {
        Ok(done) => {
            if done.created.unwrap_or(0) > 0 || !done.dropped.is_empty() || done.usage_rows > 0 {
                tracing::info!(
                    created = done.created,
                    dropped = ?done.dropped,
                    usage_rows = done.usage_rows,
                    "session history partitions and usage maintained"
                );
            }
            if done.postponed() {
                tracing::info!(
                    postponed = ?done.postponed,
                    "session history is being read; partition changes retried shortly"
                );
                return PARTITION_RETRY;
            }
            PARTITION_INTERVAL
        }
        Err(e) => {
            tracing::warn!(error = %e, "session history maintenance postponed");
            PARTITION_RETRY
        }
    }
}
