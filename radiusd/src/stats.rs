//! Publishes this radiusd's Access-Accepts and Access-Rejects of the last minute to Redis,
//! where the admin API's dashboard sums them over every radiusd (there is no
//! authentication log in PostgreSQL, and a login must not cost a write).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use proisp_store::AuthStats;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

/// How often the counts are published.
const INTERVAL: Duration = Duration::from_secs(10);

/// How long a published count lives: an instance that stops drops out of the sum.
const TTL: Duration = Duration::from_secs(30);

/// Samples kept: the window is one minute.
const WINDOW: usize = 6;

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
