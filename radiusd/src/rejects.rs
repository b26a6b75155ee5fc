//! Each known subscriber's last Access-Rejects, recorded in Redis for the admin console
//! ("why was I refused?" on the phone with support), across every radiusd.
//!
//! The auth path only builds the record and offers it to a bounded queue (`try_send`):
//! it never waits for Redis. A background task writes what the queue holds in batches,
//! one pipeline each (LPUSH, LTRIM to [`KEEP`], PEXPIRE [`TTL`]). A full queue, or a
//! batch Redis does not take, drops the records, counted
//! (`radius_reject_log_dropped_total{reason}`): the log is best effort, the answer to
//! the NAS is not. Unknown names are not recorded, so a flood of random names cannot
//! fill Redis; each subscriber's list is bounded.

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use proisp_model::{Nas, Subscriber};
use proisp_radius::dictionary::attr;
use proisp_radius::packet::Packet;
use proisp_store::{Cache, RejectRecord};
use tokio::sync::mpsc;

use crate::auth::RejectReason;
use crate::metrics::Metrics;

/// Rejects kept per subscriber.
pub(crate) const KEEP: usize = 20;

/// How long a subscriber's list lives after their last reject.
pub(crate) const TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Records waiting for the writer; more are dropped (a password-guessing storm).
pub(crate) const QUEUE: usize = 4096;

/// Records written in one pipeline, at most.
const BATCH: usize = 256;

/// The auth path's side of the log.
#[derive(Debug)]
pub(crate) struct RejectLog {
    /// `None` without Redis: nothing is recorded.
    tx: Option<mpsc::Sender<RejectRecord>>,
    dropped_full: Counter,
}

impl RejectLog {
    /// A log that records nothing (no Redis configured).
    pub(crate) fn off(metrics: &Metrics) -> RejectLog {
        RejectLog {
            tx: None,
            dropped_full: metrics.reject_log_dropped_full.clone(),
        }
    }

    /// A log whose records wait in a queue of `capacity` for [`write`].
    pub(crate) fn new(
        capacity: usize,
        metrics: &Metrics,
    ) -> (RejectLog, mpsc::Receiver<RejectRecord>) {
        let (tx, rx) = mpsc::channel(capacity);
        let log = RejectLog {
            tx: Some(tx),
            dropped_full: metrics.reject_log_dropped_full.clone(),
        };
        (log, rx)
    }

    /// Offers the reject of `sub`'s request `packet` from `nas` at `now` (Unix seconds);
    /// dropped, counted, when the queue is full. Never waits.
    pub(crate) fn record(
        &self,
        sub: &Subscriber,
        nas: &Nas,
        packet: &Packet<'_>,
        reason: RejectReason,
        now: i64,
    ) {
        let Some(tx) = &self.tx else {
            return;
        };
        let text = |a| {
            packet
                .value(a)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let record = RejectRecord {
            subscriber_id: sub.id,
            at: now,
            username: text(attr::USER_NAME).unwrap_or_else(|| sub.username.clone()),
            nas: nas.name.clone(),
            calling_station_id: text(attr::CALLING_STATION_ID),
            reason: reason.label().to_owned(),
            reply_message: reason.message().to_owned(),
        };
        if tx.try_send(record).is_err() {
            self.dropped_full.increment(1);
        }
    }
}

/// Writes what the queue holds to Redis until every sender is gone.
pub(crate) async fn write(
    cache: Arc<dyn Cache>,
    mut rx: mpsc::Receiver<RejectRecord>,
    metrics: Metrics,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let n = batch.len() as u64;
        match cache.push_rejects(&batch, KEEP, TTL).await {
            Ok(()) => metrics.reject_log_written.increment(n),
            Err(e) => {
                metrics.reject_log_dropped_redis.increment(n);
                tracing::debug!(error = %e, records = n, "could not record Access-Rejects");
            }
        }
        batch.clear();
    }
}
