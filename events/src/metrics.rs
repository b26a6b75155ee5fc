//! proisp-events' metrics, described once; handles made at start-up.

use metrics::{Counter, Gauge, Unit, counter, describe_counter, describe_gauge, gauge};

/// Events acknowledged by JetStream and deleted from the outbox.
pub const PUBLISHED: &str = "proisp_events_published_total";
/// Publishes that failed (no PubAck in time, no stream, NATS away) and will be retried.
pub const PUBLISH_ERRORS: &str = "proisp_events_publish_errors_total";
/// PubAcks that said "duplicate": an event published before whose row was still there
/// (a relay crashed between PubAck and DELETE).
pub const DUPLICATES: &str = "proisp_events_duplicates_total";
/// Rows waiting in the outbox (read at each scrape).
pub const OUTBOX_DEPTH: &str = "proisp_events_outbox_depth";
/// Age of the oldest row waiting (read at each scrape); 0 when empty.
pub const OUTBOX_OLDEST_AGE: &str = "proisp_events_outbox_oldest_age_seconds";
/// 1 while this relay holds the outbox lock and publishes, else 0 (standby).
pub const LEADER: &str = "proisp_events_leader";
/// Webhook deliveries that got a 2xx answer.
pub const WEBHOOK_DELIVERED: &str = "proisp_events_webhook_delivered_total";
/// Webhook attempts that failed (a status other than 2xx, a timeout, no connection, a
/// refused destination); each is retried or, past the retry period, dead.
pub const WEBHOOK_FAILED: &str = "proisp_events_webhook_failed_attempts_total";
/// Webhook deliveries that ran out of retries (dead-lettered).
pub const WEBHOOK_DEAD: &str = "proisp_events_webhook_dead_total";
/// Webhook deliveries waiting (due or retrying; read at each scrape).
pub const WEBHOOK_PENDING: &str = "proisp_events_webhook_pending";
/// Dead webhook deliveries kept for the API (read at each scrape).
pub const WEBHOOK_DEAD_KEPT: &str = "proisp_events_webhook_dead";

/// The metric handles.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// [`PUBLISHED`].
    pub published: Counter,
    /// [`PUBLISH_ERRORS`].
    pub publish_errors: Counter,
    /// [`DUPLICATES`].
    pub duplicates: Counter,
    /// [`OUTBOX_DEPTH`].
    pub depth: Gauge,
    /// [`OUTBOX_OLDEST_AGE`].
    pub oldest_age: Gauge,
    /// [`LEADER`].
    pub leader: Gauge,
    /// [`WEBHOOK_DELIVERED`].
    pub webhook_delivered: Counter,
    /// [`WEBHOOK_FAILED`].
    pub webhook_failed: Counter,
    /// [`WEBHOOK_DEAD`].
    pub webhook_dead: Counter,
    /// [`WEBHOOK_PENDING`].
    pub webhook_pending: Gauge,
    /// [`WEBHOOK_DEAD_KEPT`].
    pub webhook_dead_kept: Gauge,
}

impl Metrics {
    /// Describes the metrics to the installed recorder and makes the handles.
    pub fn new() -> Metrics {
        describe_counter!(
            PUBLISHED,
            "Events acknowledged by JetStream and deleted from the outbox"
        );
        describe_counter!(PUBLISH_ERRORS, "Publishes that failed and will be retried");
        describe_counter!(DUPLICATES, "PubAcks that reported a duplicate Nats-Msg-Id");
        describe_gauge!(OUTBOX_DEPTH, "Events waiting in the outbox");
        describe_gauge!(
            OUTBOX_OLDEST_AGE,
            Unit::Seconds,
            "Age of the oldest event waiting"
        );
        describe_gauge!(LEADER, "1 while this relay publishes, 0 as a standby");
        describe_counter!(WEBHOOK_DELIVERED, "Webhook deliveries answered with 2xx");
        describe_counter!(WEBHOOK_FAILED, "Webhook attempts that failed");
        describe_counter!(WEBHOOK_DEAD, "Webhook deliveries that ran out of retries");
        describe_gauge!(WEBHOOK_PENDING, "Webhook deliveries waiting or retrying");
        describe_gauge!(WEBHOOK_DEAD_KEPT, "Dead webhook deliveries kept");
        Metrics {
            published: counter!(PUBLISHED),
            publish_errors: counter!(PUBLISH_ERRORS),
            duplicates: counter!(DUPLICATES),
            depth: gauge!(OUTBOX_DEPTH),
            oldest_age: gauge!(OUTBOX_OLDEST_AGE),
            leader: gauge!(LEADER),
            webhook_delivered: counter!(WEBHOOK_DELIVERED),
            webhook_failed: counter!(WEBHOOK_FAILED),
            webhook_dead: counter!(WEBHOOK_DEAD),
            webhook_pending: gauge!(WEBHOOK_PENDING),
            webhook_dead_kept: gauge!(WEBHOOK_DEAD_KEPT),
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
