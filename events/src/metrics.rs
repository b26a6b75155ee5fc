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
        Metrics {
            published: counter!(PUBLISHED),
            publish_errors: counter!(PUBLISH_ERRORS),
            duplicates: counter!(DUPLICATES),
            depth: gauge!(OUTBOX_DEPTH),
            oldest_age: gauge!(OUTBOX_OLDEST_AGE),
            leader: gauge!(LEADER),
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
