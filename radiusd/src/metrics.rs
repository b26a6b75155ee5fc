//! Metric names, described once, and the handles the request path uses.
//!
//! Every labelled series is registered at start-up and its handle stored, so a packet never
//! builds a label string or looks a series up (STYLE.md, Servers).

use metrics::{Counter, Gauge, Histogram, counter, describe_counter, describe_gauge};
use metrics::{Unit, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::auth::RejectReason;

/// Access-Requests answered, by result (`accept`, `reject`).
pub(crate) const AUTH_REQUESTS: &str = "radius_auth_requests_total";
/// Access-Rejects by reason.
pub(crate) const AUTH_REJECTS: &str = "radius_auth_rejects_total";
/// Seconds from a request's arrival to its reply leaving.
pub(crate) const REQUEST_DURATION: &str = "radius_request_duration_seconds";
/// Packets dropped without an answer, by reason.
pub(crate) const DROPPED: &str = "radius_dropped_packets_total";
/// Subscriber lookups, by cache level (`memory`, `redis`, `postgres`) and result.
pub(crate) const CACHE_LOOKUPS: &str = "radius_cache_lookups_total";
/// Retransmissions answered from the duplicate cache.
pub(crate) const DUPLICATES: &str = "radius_duplicate_requests_total";
/// Status-Server requests answered.
pub(crate) const STATUS_SERVER: &str = "radius_status_server_total";
/// NAS clients in the loaded table.
pub(crate) const NAS_CLIENTS: &str = "radius_nas_clients";
/// Subscribers in the in-process cache.
pub(crate) const CACHE_ENTRIES: &str = "radius_cache_entries";
/// Whether the Redis invalidation channel is connected (1) or not (0).
pub(crate) const INVALIDATION_CONNECTED: &str = "radius_invalidation_connected";

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drop {
    /// Source address is no configured NAS.
    UnknownNas,
    /// Not a RADIUS packet (see `DecodeError::reason`).
    Malformed,
    /// A code the auth port does not serve.
    UnexpectedCode,
    /// Message-Authenticator missing where the NAS requires it.
    MissingMessageAuthenticator,
    /// Message-Authenticator present but wrong (wrong secret or forgery).
    BadMessageAuthenticator,
    /// A retransmission of a request still being worked on.
    DuplicateInProgress,
    /// Neither cache nor database could answer in time.
    BackendUnavailable,
    /// The request is malformed in a way only its content shows (no User-Name…).
    BadRequest,
}

impl Drop {
    const ALL: [Drop; 8] = [
        Drop::UnknownNas,
        Drop::Malformed,
        Drop::UnexpectedCode,
        Drop::MissingMessageAuthenticator,
        Drop::BadMessageAuthenticator,
        Drop::DuplicateInProgress,
        Drop::BackendUnavailable,
        Drop::BadRequest,
    ];

    const fn label(self) -> &'static str {
        match self {
            Drop::UnknownNas => "unknown_nas",
            Drop::Malformed => "malformed",
            Drop::UnexpectedCode => "unexpected_code",
            Drop::MissingMessageAuthenticator => "missing_message_authenticator",
            Drop::BadMessageAuthenticator => "bad_message_authenticator",
            Drop::DuplicateInProgress => "duplicate_in_progress",
            Drop::BackendUnavailable => "backend_unavailable",
            Drop::BadRequest => "bad_request",
        }
    }
}

/// Cache levels of the subscriber lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The in-process cache.
    Memory,
    /// Redis.
    Redis,
    /// PostgreSQL.
    Postgres,
}

/// Lookup results at one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Found the subscriber.
    Hit,
    /// Found a remembered "no such user".
    Negative,
    /// Not there; the next level is asked.
    Miss,
    /// The level failed (down or timed out).
    Error,
}

const LEVELS: [(Level, &str); 3] = [
    (Level::Memory, "memory"),
    (Level::Redis, "redis"),
    (Level::Postgres, "postgres"),
];
const OUTCOMES: [(Outcome, &str); 4] = [
    (Outcome::Hit, "hit"),
    (Outcome::Negative, "negative"),
    (Outcome::Miss, "miss"),
    (Outcome::Error, "error"),
];

/// Handles for every series the request path touches.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    accepts: Counter,
    rejects_total: Counter,
    rejects: Vec<Counter>,
    drops: Vec<Counter>,
    lookups: Vec<Counter>,
    pub(crate) duplicates: Counter,
    pub(crate) status_server: Counter,
    pub(crate) duration: Histogram,
    pub(crate) nas_clients: Gauge,
    pub(crate) cache_entries: Gauge,
    pub(crate) invalidation_connected: Gauge,
}

impl Metrics {
    /// Installs the Prometheus recorder and registers every series.
    pub(crate) fn install() -> anyhow::Result<(Metrics, PrometheusHandle)> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(REQUEST_DURATION.into()),
                &[
                    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            )?
            .install_recorder()?;
        Ok((Metrics::register(), handle))
    }

    /// Registers every series with the current recorder.
    pub(crate) fn register() -> Metrics {
        describe_counter!(AUTH_REQUESTS, "Access-Requests answered, by result");
        describe_counter!(AUTH_REJECTS, "Access-Rejects, by reason");
        describe_histogram!(
            REQUEST_DURATION,
            Unit::Seconds,
            "Time from a request's arrival to its reply"
        );
        describe_counter!(DROPPED, "Packets dropped without an answer, by reason");
        describe_counter!(
            CACHE_LOOKUPS,
            "Subscriber lookups, by cache level and result"
        );
        describe_counter!(
            DUPLICATES,
            "Retransmissions answered from the duplicate cache"
        );
        describe_counter!(STATUS_SERVER, "Status-Server requests answered");
        describe_gauge!(NAS_CLIENTS, "NAS clients in the loaded table");
        describe_gauge!(CACHE_ENTRIES, "Subscribers in the in-process cache");
        describe_gauge!(
            INVALIDATION_CONNECTED,
            "Whether the Redis invalidation channel is connected"
        );
        Metrics {
            accepts: counter!(AUTH_REQUESTS, "result" => "accept"),
            rejects_total: counter!(AUTH_REQUESTS, "result" => "reject"),
            rejects: RejectReason::ALL
                .iter()
                .map(|r| counter!(AUTH_REJECTS, "reason" => r.label()))
                .collect(),
            drops: Drop::ALL
                .iter()
                .map(|d| counter!(DROPPED, "reason" => d.label()))
                .collect(),
            lookups: LEVELS
                .iter()
                .flat_map(|(_, l)| {
                    OUTCOMES
                        .iter()
                        .map(move |(_, o)| counter!(CACHE_LOOKUPS, "level" => *l, "result" => *o))
                })
                .collect(),
            duplicates: counter!(DUPLICATES),
            status_server: counter!(STATUS_SERVER),
            duration: histogram!(REQUEST_DURATION),
            nas_clients: gauge!(NAS_CLIENTS),
            cache_entries: gauge!(CACHE_ENTRIES),
            invalidation_connected: gauge!(INVALIDATION_CONNECTED),
        }
    }

    pub(crate) fn accept(&self) {
        self.accepts.increment(1);
    }

    pub(crate) fn reject(&self, reason: RejectReason) {
        self.rejects_total.increment(1);
        if let Some(c) = self.rejects.get(reason as usize) {
            c.increment(1);
        }
    }

    pub(crate) fn drop(&self, why: Drop) {
        if let Some(c) = self.drops.get(why as usize) {
            c.increment(1);
        }
    }

    pub(crate) fn lookup(&self, level: Level, outcome: Outcome) {
        let i = level as usize * OUTCOMES.len() + outcome as usize;
        if let Some(c) = self.lookups.get(i) {
            c.increment(1);
        }
    }
}
