//! Webhook delivery (issue 22): every queued `webhook_deliveries` row POSTed to its
//! webhook, signed as Standard Webhooks specifies ([`proisp_store::webhook`]), retried with
//! exponential backoff and full jitter until `delivery.retry_for` after its first attempt,
//! then dead.
//!
//! # Where the rows come from
//!
//! The relay's DELETE of a wave's acknowledged outbox rows inserts, in the same statement,
//! one row per (event, enabled webhook whose `events` holds the event's kind): a published
//! event is a queued delivery for each such webhook, exactly once, whenever either step's
//! process dies ([`crate::relay`]). Admins add more through the API (a test delivery, a
//! redelivery).
//!
//! # Claims
//!
//! A worker claims due rows with `FOR UPDATE SKIP LOCKED`, each webhook's through a
//! `LATERAL` scan limited to the slots that webhook has free in this process
//! (`delivery.concurrency` minus its attempts in flight), and pushes their
//! `next_attempt_at` past the attempt's timeout: a lease. Two proisp-events therefore never
//! send the same row at once, and a row whose worker died mid-attempt is due again when its
//! lease runs out (its receiver may then see the `webhook-id` twice, which Standard
//! Webhooks receivers de-duplicate on).
//!
//! # Isolation
//!
//! A slow or dead endpoint holds at most its own `concurrency` attempts, each bounded by
//! `delivery.timeout`; the other webhooks' rows are claimed by their own LATERAL scans and
//! sent on their own connections, and the relay publishes on its own connection and tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proisp_store::webhook::{Outcome, Secret, Sender};
use proisp_store::{Keyring, Store, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::DeliveryConfig;
use crate::metrics::Metrics;

/// Slack added to the attempt's timeout in a claim's lease: the time to record the outcome.
const LEASE_SLACK: Duration = Duration::from_secs(30);
/// How often delivered and dead rows past their retention are removed.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Rows removed per statement, so a purge never holds many locks.
const PURGE_BATCH: i64 = 10_000;

/// Pending and dead deliveries (for the metrics).
pub async fn backlog(store: &Store) -> Result<(i64, i64), StoreError> {
    let client = store.client().await?;
    let row = client
        .query_one(
            // Each count reads its partial index, never the delivered rows.
            "SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'), \
                    (SELECT count(*) FROM webhook_deliveries WHERE state = 'dead')",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// The delivery workers of one process.
#[derive(Debug, Clone)]
pub struct Deliverer {
    /// Where the webhooks and deliveries are.
    pub store: Store,
    /// The key the webhooks' secrets are sealed with.
    pub keys: Arc<Keyring>,
    /// The HTTP client.
    pub sender: Sender,
    /// Concurrency, timeout, schedule.
    pub config: DeliveryConfig,
    /// Counters.
    pub metrics: Metrics,
    /// Signalled when new rows are queued (by this process's relay).
    pub wake: Arc<Notify>,
}

/// A claimed delivery.
struct Claimed {
    id: i64,
    webhook_id: i64,
    url: String,
    secret_enc: Vec<u8>,
    event_id: String,
    event: String,
    attempts: i32,
}

/// Attempts in flight per webhook, in this process.
type InFlight = Arc<Mutex<HashMap<i64, u32>>>;

impl Deliverer {
    /// Claims and sends until `cancel`, then waits for the attempts in flight (each
    /// bounded by the timeout).
    pub async fn run(self, cancel: CancellationToken) {
        let in_flight: InFlight = Arc::default();
        let done = Arc::new(Notify::new());
        let mut attempts = JoinSet::new();
        let mut last_purge = tokio::time::Instant::now();
        while !cancel.is_cancelled() {
            match self.claim(&in_flight).await {
                Ok(claimed) => {
                    for c in claimed {
                        *lock(&in_flight).entry(c.webhook_id).or_default() += 1;
                        let (me, in_flight, done) = (self.clone(), in_flight.clone(), done.clone());
                        attempts.spawn(async move {
                            let webhook_id = c.webhook_id;
                            me.attempt(c).await;
                            let mut map = lock(&in_flight);
                            if let Some(n) = map.get_mut(&webhook_id) {
                                *n -= 1;
                                if *n == 0 {
                                    map.remove(&webhook_id);
                                }
                            }
                            drop(map);
                            done.notify_one();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim webhook deliveries"),
            }
            while attempts.try_join_next().is_some() {}
            if last_purge.elapsed() >= PURGE_EVERY {
                last_purge = tokio::time::Instant::now();
                if let Err(e) = self.purge().await {
                    tracing::warn!(error = %e, "cannot remove old webhook deliveries");
                }
            }
            tokio::select! {
                () = cancel.cancelled() => {}
                () = done.notified() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        while attempts.join_next().await.is_some() {}
    }

    /// Due rows, at most each webhook's free slots, leased for one attempt.
    async fn claim(&self, in_flight: &InFlight) -> Result<Vec<Claimed>, StoreError> {
        let (busy_ids, busy_counts): (Vec<i64>, Vec<i32>) = lock(in_flight)
            .iter()
            .map(|(id, n)| (*id, i32::try_from(*n).unwrap_or(i32::MAX)))
            .unzip();
        let concurrency = i32::try_from(self.config.concurrency).unwrap_or(i32::MAX);
        let lease = (self.config.timeout + LEASE_SLACK).as_secs_f64();
        let client = self.store.client().await?;
        // `= ANY (ARRAY(…))`: the claimed ids as one array, which the planner looks up by
        // primary key (joined to the CTE, it hashed the whole table).
        let stmt = client
            .prepare_cached(
                "WITH free AS ( \
                     SELECT w.id, greatest($3::int4 - coalesce(b.n, 0), 0) AS slots \
                     FROM webhooks w \
                     LEFT JOIN unnest($1::int8[], $2::int4[]) AS b(webhook_id, n) \
                            ON b.webhook_id = w.id \
                     WHERE w.enabled), \
                 due AS ( \
                     SELECT d.id FROM free f CROSS JOIN LATERAL ( \
                         SELECT d.id FROM webhook_deliveries d \
                         WHERE d.webhook_id = f.id AND d.state = 'pending' \
                           AND d.next_attempt_at <= now() \
                         ORDER BY d.next_attempt_at LIMIT f.slots \
                         FOR UPDATE SKIP LOCKED) d) \
                 UPDATE webhook_deliveries d \
                 SET attempts = d.attempts + 1, \
                     next_attempt_at = now() + make_interval(secs => $4), \
                     first_attempt_at = coalesce(d.first_attempt_at, now()), \
                     updated_at = now() \
                 FROM webhooks w \
                 WHERE d.id = ANY (ARRAY(SELECT id FROM due)) AND w.id = d.webhook_id \
                 RETURNING d.id, d.webhook_id, w.url, w.secret_enc, d.event_id, d.event::text, \
                           d.attempts",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&busy_ids, &busy_counts, &concurrency, &lease])
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                id: r.get(0),
                webhook_id: r.get(1),
                url: r.get(2),
                secret_enc: r.get(3),
                event_id: r.get(4),
                event: r.get(5),
                attempts: r.get(6),
            })
            .collect())
    }

    /// Sends one claimed delivery and records what came of it.
    async fn attempt(&self, c: Claimed) {
        let outcome = match Secret::open(&self.keys, &c.secret_enc) {
            Ok(secret) => {
                self.sender
                    .send(&c.url, &secret, &c.event_id, &c.event)
                    .await
            }
            Err(_) => Outcome {
                status: None,
                error: Some(
                    "cannot decrypt the webhook's secret: proisp-events' key_file is not \
                     adminapi's"
                        .to_owned(),
                ),
            },
        };
        let delay = retry_delay(&self.config, c.attempts, &mut rand::rng());
        match record(&self.store, c.id, &outcome, delay, self.config.retry_for).await {
            Ok(state) => match (state.as_deref(), &outcome.error) {
                (Some("delivered"), _) => self.metrics.webhook_delivered.increment(1),
                (Some("dead"), Some(error)) => {
                    self.metrics.webhook_failed.increment(1);
                    self.metrics.webhook_dead.increment(1);
                    tracing::warn!(delivery = c.id, webhook = c.webhook_id, attempts = c.attempts,
                        %error, "webhook delivery dead: out of retries");
                }
                (_, Some(error)) => {
                    self.metrics.webhook_failed.increment(1);
                    tracing::debug!(delivery = c.id, webhook = c.webhook_id, attempts = c.attempts,
                        %error, "webhook attempt failed; retrying");
                }
                _ => {}
            },
            // The lease runs out and the row is tried again.
            Err(e) => tracing::warn!(delivery = c.id, error = %e,
                "cannot record a webhook attempt; it will be retried"),
        }
    }

    /// Removes delivered and dead rows past their retention, a batch of each.
    async fn purge(&self) -> Result<u64, StoreError> {
        let client = self.store.client().await?;
        let delivered = client
            .execute(
                "DELETE FROM webhook_deliveries WHERE id IN ( \
                     SELECT id FROM webhook_deliveries \
                     WHERE state = 'delivered' \
                       AND delivered_at < now() - make_interval(secs => $1) \
                     LIMIT $2)",
                &[&self.config.keep_delivered.as_secs_f64(), &PURGE_BATCH],
            )
            .await?;
        let dead = client
            .execute(
                "DELETE FROM webhook_deliveries WHERE id IN ( \
                     SELECT id FROM webhook_deliveries \
                     WHERE state = 'dead' AND updated_at < now() - make_interval(secs => $1) \
                     LIMIT $2)",
                &[&self.config.keep_dead.as_secs_f64(), &PURGE_BATCH],
            )
            .await?;
        Ok(delivered + dead)
    }
}

/// Records `outcome` of delivery `id`: delivered; or pending again after `delay`; or dead
/// when its first attempt is more than `retry_for` ago. Returns the state it is in, `None`
/// if the row is gone (its webhook deleted meanwhile).
pub async fn record(
    store: &Store,
    id: i64,
    outcome: &Outcome,
    delay: Duration,
    retry_for: Duration,
) -> Result<Option<String>, StoreError> {
    let client = store.client().await?;
    let status = outcome.status.map(i32::from);
    let row = match &outcome.error {
        None => {
            client
                .query_opt(
                    "UPDATE webhook_deliveries SET state = 'delivered', last_status = $2, \
                     last_error = NULL, delivered_at = now(), updated_at = now() \
                     WHERE id = $1 RETURNING state",
                    &[&id, &status],
                )
                .await?
        }
        Some(error) => {
            client
                .query_opt(
                    "UPDATE webhook_deliveries SET \
                       state = CASE WHEN now() >= coalesce(first_attempt_at, now()) \
                                                + make_interval(secs => $5) \
                                    THEN 'dead' ELSE 'pending' END, \
                       next_attempt_at = now() + make_interval(secs => $3), \
                       last_status = $2, last_error = $4, updated_at = now() \
                     WHERE id = $1 RETURNING state",
                    &[
                        &id,
                        &status,
                        &delay.as_secs_f64(),
                        &truncated(error),
                        &retry_for.as_secs_f64(),
                    ],
                )
                .await?
        }
    };
    Ok(row.map(|r| r.get(0)))
}

/// The pause after the `attempts`th failed attempt: uniform in [0, min(max, first × 2^(n−1))]
/// (full jitter: retries of many deliveries that failed together spread out instead of
/// hitting the endpoint again all at once).
pub fn retry_delay(config: &DeliveryConfig, attempts: i32, rng: &mut impl rand::Rng) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(40);
    let ceiling = config
        .first_retry_interval
        .saturating_mul(2u32.saturating_pow(doublings.min(31)))
        .min(config.max_retry_interval);
    ceiling.mul_f64(rng.random::<f64>())
}

/// An error text fit for a column: at most 500 characters.
fn truncated(error: &str) -> &str {
    match error.char_indices().nth(500) {
        Some((i, _)) => &error[..i],
        None => error,
    }
}

fn lock(m: &Mutex<HashMap<i64, u32>>) -> std::sync::MutexGuard<'_, HashMap<i64, u32>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_to_their_cap_under_full_jitter() {
        let config = DeliveryConfig {
            first_retry_interval: Duration::from_secs(5),
            max_retry_interval: Duration::from_secs(60),
            ..DeliveryConfig::default()
        };
        let mut rng = rand::rng();
        for (attempts, ceiling) in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (50, 60)] {
            let delays: Vec<Duration> = (0..200)
                .map(|_| retry_delay(&config, attempts, &mut rng))
                .collect();
            let max = *delays.iter().max().unwrap();
            assert!(max <= Duration::from_secs(ceiling), "{attempts}: {max:?}");
            assert!(
                max > Duration::from_secs(ceiling) / 2,
                "{attempts}: jitter spans the range"
            );
        }
    }

    #[test]
    fn the_default_schedule_retries_for_a_day() {
        let config = DeliveryConfig::default();
        assert!(config.retry_for >= Duration::from_secs(24 * 3600));
        assert_eq!(truncated(&"é".repeat(600)).chars().count(), 500);
    }
}
