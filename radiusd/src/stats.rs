//! Publishes this radiusd's Access-Accepts and Access-Rejects to Redis, where the admin
//! API's dashboard sums them over every radiusd (there is no authentication log in
//! PostgreSQL, and a login must not cost a write): the last minute's, every 10 s, and
//! each minute's, added every second to a hash per minute that every radiusd adds to
//! (the dashboard's chart of the last hour). Both read the counters the auth path keeps
//! anyway: nothing is added to it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use proisp_store::{AuthStats, unix_minute};
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

/// How often the counts are published.
const INTERVAL: Duration = Duration::from_secs(10);

/// How long a published count lives: an instance that stops drops out of the sum.
const TTL: Duration = Duration::from_secs(30);

/// Samples kept: the window is one minute.
const WINDOW: usize = 6;

/// How often counts are added to the minutes' hashes.
const MINUTE_FLUSH: Duration = Duration::from_secs(1);

/// How long a minute's hash lives after its last update: the chart shows an hour.
const MINUTE_TTL: Duration = Duration::from_secs(2 * 3600);

/// Minutes kept to add again while Redis does not take them; older ones are dropped.
const MINUTES_PENDING: i64 = 60;

/// This instance's name in Redis: host, process and auth address.
fn instance(shared: &Shared) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "radiusd".to_owned());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        shared.config.listen.auth
    )
}

/// Publishes until cancelled; does nothing without Redis.
pub(crate) async fn publish(shared: Arc<Shared>, cancel: CancellationToken) {
    let Some(cache) = shared.store.cache().cloned() else {
        return;
    };
    let name = instance(&shared);
    let totals = shared.metrics.totals.clone();
    let mut samples: VecDeque<AuthStats> = VecDeque::with_capacity(WINDOW + 1);
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = AuthStats {
            accepts: totals.accepts.load(Ordering::Relaxed),
            rejects: totals.rejects.load(Ordering::Relaxed),
        };
        samples.push_back(now);
        if samples.len() > WINDOW + 1 {
            samples.pop_front();
        }
        let oldest = samples.front().copied().unwrap_or_default();
        let last_minute = AuthStats {
            accepts: now.accepts - oldest.accepts,
            rejects: now.rejects - oldest.rejects,
        };
        if let Err(e) = cache.put_auth_stats(&name, last_minute, TTL).await {
            tracing::debug!(error = %e, "could not publish auth counts");
        }
    }
}

/// Adds the accepts and rejects of each second to its minute's hash in Redis until
/// cancelled; does nothing without Redis. What Redis does not take is added again with
/// the next second's, for up to an hour.
pub(crate) async fn count_minutes(shared: Arc<Shared>, cancel: CancellationToken) {
    let Some(cache) = shared.store.cache().cloned() else {
        return;
    };
    let totals = shared.metrics.totals.clone();
    let read = || AuthStats {
        accepts: totals.accepts.load(Ordering::Relaxed),
        rejects: totals.rejects.load(Ordering::Relaxed),
    };
    let mut last = read();
    let mut pending: BTreeMap<i64, AuthStats> = BTreeMap::new();
    let mut tick = tokio::time::interval(MINUTE_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = read();
        let minute = unix_minute(crate::flood::unix_seconds(std::time::SystemTime::now()));
        let added = pending.entry(minute).or_default();
        added.accepts += now.accepts - last.accepts;
        added.rejects += now.rejects - last.rejects;
        last = now;
        pending.retain(|&m, s| m > minute - MINUTES_PENDING && (s.accepts, s.rejects) != (0, 0));
        if pending.is_empty() {
            continue;
        }
        let batch: Vec<(i64, AuthStats)> = pending.iter().map(|(m, s)| (*m, *s)).collect();
        // A batch that timed out after Redis applied it is added again: the chart may
        // count a few requests twice around a Redis stall, never lose them.
        match cache.add_auth_minutes(&batch, MINUTE_TTL).await {
            Ok(()) => pending.clear(),
            Err(e) => tracing::debug!(error = %e, "could not add the auth counts of the minute"),
        }
    }
}
