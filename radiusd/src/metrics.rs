//! Metric names, described once, and the handles the request path uses.
//!
//! Every labelled series is registered at start-up and its handle stored, so a packet never
//! builds a label string or looks a series up (STYLE.md, Servers).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proisp_coa::Outcome;

use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::auth::RejectReason;

mod nas;

pub(crate) use self::nas::{Answered, NasStats, PerNas};

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
/// Whether PostgreSQL's change feed answered within its deadline on the last poll (1) or
/// not (0).
pub(crate) const FEED_UP: &str = "radius_change_feed_up";
/// Changes read from PostgreSQL's change feed.
pub(crate) const FEED_CHANGES: &str = "radius_change_feed_changes_total";
/// Polls of the change feed that failed or missed their deadline.
pub(crate) const FEED_ERRORS: &str = "radius_change_feed_errors_total";

/// Accounting-Requests answered, by Acct-Status-Type (`start`, `stop`, `interim`, `on`,
/// `off`, `other`) and how they were made durable (`committed`, `spooled`, `journaled`).
pub(crate) const ACCT_REQUESTS: &str = "radius_acct_requests_total";
/// Accounting records waiting in each writer's spool for PostgreSQL.
pub(crate) const ACCT_SPOOLED: &str = "radius_acct_spooled_records";
/// How long the oldest record in each writer's spool (journal) has waited for PostgreSQL.
pub(crate) const ACCT_JOURNAL_LAG: &str = "radius_acct_journal_lag_seconds";
/// Accounting records PostgreSQL refused for good, kept in rejected.jsonl.
pub(crate) const ACCT_REJECTED: &str = "radius_acct_rejected_records_total";
/// Accounting batches PostgreSQL did not commit within `accounting.commit_timeout`
/// (spooled instead).
pub(crate) const ACCT_COMMIT_TIMEOUTS: &str = "radius_acct_commit_timeouts_total";
/// CoA and Disconnect-Requests sent, by kind and outcome.
pub(crate) const COA_REQUESTS: &str = "radius_coa_requests_total";
/// Quota crossings dropped because the fair-usage queue was full.
pub(crate) const FUP_CROSSINGS_DROPPED: &str = "radius_fup_crossings_dropped_total";
/// Access-Rejects recorded in Redis for the admin console.
pub(crate) const REJECT_LOG_WRITTEN: &str = "radius_reject_log_written_total";
/// Access-Rejects not recorded, by reason (`full`: the queue was; `redis`: Redis did not
/// take the batch).
pub(crate) const REJECT_LOG_DROPPED: &str = "radius_reject_log_dropped_total";

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
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
    /// An Accounting-Request whose Request Authenticator does not verify (wrong secret
    /// or forgery).
    BadRequestAuthenticator,
    /// An Accounting-Request neither PostgreSQL nor the spool could take: unanswered, so
    /// the NAS retries.
    NotDurable,
    /// A new request whose duplicate-cache bucket holds only requests in flight: dropped
    /// rather than evaluated where its own retransmissions could not be recognised.
    TooManyInFlight,
}

impl DropReason {
    pub(crate) const ALL: [DropReason; 11] = [
        DropReason::UnknownNas,
        DropReason::Malformed,
        DropReason::UnexpectedCode,
        DropReason::MissingMessageAuthenticator,
        DropReason::BadMessageAuthenticator,
        DropReason::DuplicateInProgress,
        DropReason::BackendUnavailable,
        DropReason::BadRequest,
        DropReason::BadRequestAuthenticator,
        DropReason::NotDurable,
        DropReason::TooManyInFlight,
    ];

    pub(crate) const fn label(self) -> &'static str {
        match self {
            DropReason::UnknownNas => "unknown_nas",
            DropReason::Malformed => "malformed",
            DropReason::UnexpectedCode => "unexpected_code",
            DropReason::MissingMessageAuthenticator => "missing_message_authenticator",
            DropReason::BadMessageAuthenticator => "bad_message_authenticator",
            DropReason::DuplicateInProgress => "duplicate_in_progress",
            DropReason::BackendUnavailable => "backend_unavailable",
            DropReason::BadRequest => "bad_request",
            DropReason::BadRequestAuthenticator => "bad_request_authenticator",
            DropReason::NotDurable => "not_durable",
            DropReason::TooManyInFlight => "too_many_in_flight",
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
pub(crate) enum LookupResult {
    /// Found the subscriber.
    Hit,
    /// Found a remembered "no such user".
    Negative,
    /// Not there; the next level is asked.
    Miss,
    /// The level failed (down or timed out).
    Error,
    /// An entry older than a change the feed announced: the next level is asked.
    Stale,
}

const LEVELS: [(Level, &str); 3] = [
    (Level::Memory, "memory"),
    (Level::Redis, "redis"),
    (Level::Postgres, "postgres"),
];
const OUTCOMES: [(LookupResult, &str); 5] = [
    (LookupResult::Hit, "hit"),
    (LookupResult::Negative, "negative"),
    (LookupResult::Miss, "miss"),
    (LookupResult::Error, "error"),
    (LookupResult::Stale, "stale"),
];

/// Handles for every series the request path touches.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    /// Accepts and rejects so far, readable (Prometheus counters are write-only here):
    /// the admin dashboard's rates are published from them.
    pub(crate) totals: Arc<AuthTotals>,
    accepts: Counter,
    rejects_total: Counter,
    rejects: Vec<Counter>,
    drops: Vec<Counter>,
    lookups: Vec<Counter>,
    pub(crate) duplicates: Counter,
    pub(crate) status_server: Counter,
    pub(crate) duration: Arc<Latency>,
    /// Requests and latency per NAS and result.
    pub(crate) per_nas: Arc<PerNas>,
    pub(crate) nas_clients: Gauge,
    pub(crate) cache_entries: Gauge,
    pub(crate) invalidation_connected: Gauge,
    pub(crate) feed_up: Gauge,
    pub(crate) feed_changes: Counter,
    pub(crate) feed_errors: Counter,
    acct: Vec<Counter>,
    pub(crate) spooled: Vec<Gauge>,
    pub(crate) journal_lag: Vec<Gauge>,
    pub(crate) acct_rejected: Counter,
    pub(crate) acct_commit_timeouts: Counter,
    coa: Vec<Counter>,
    pub(crate) fup_crossings_dropped: Counter,
    pub(crate) reject_log_written: Counter,
    pub(crate) reject_log_dropped_full: Counter,
    pub(crate) reject_log_dropped_redis: Counter,
}

/// Access-Accepts and Access-Rejects sent since start.
#[derive(Debug, Default)]
pub(crate) struct AuthTotals {
    pub(crate) accepts: AtomicU64,
    pub(crate) rejects: AtomicU64,
}

/// Acct-Status-Type labels, in the order [`Metrics::acct`] indexes them.
const ACCT_STATUSES: [&str; 6] = ["start", "stop", "interim", "on", "off", "other"];
/// In the order of `writer::Durable::index`.
const DURABILITY: [&str; 3] = ["committed", "spooled", "journaled"];
/// CoA kinds and outcomes, in the order [`Metrics::coa`] indexes them.
const COA_KINDS: [&str; 2] = ["coa", "disconnect"];
const COA_OUTCOMES: [&str; 7] = [
    "ack",
    "nak",
    "timeout",
    "deferred",
    "superseded",
    "dropped",
    "error",
];

/// Writers whose spool gauge is registered (the configured count is capped to it).
pub(crate) const MAX_WRITERS: usize = 64;

impl Metrics {
    /// Installs the Prometheus recorder and registers every series.
    pub(crate) fn install() -> anyhow::Result<(Metrics, PrometheusHandle)> {
        let handle = PrometheusBuilder::new().install_recorder()?;
        Ok((Metrics::register(), handle))
    }

    /// Registers every series with the current recorder.
    pub(crate) fn register() -> Metrics {
        describe_counter!(AUTH_REQUESTS, "Access-Requests answered, by result");
        describe_counter!(AUTH_REJECTS, "Access-Rejects, by reason");
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
        describe_gauge!(
            FEED_UP,
            "Whether PostgreSQL's change feed answered on the last poll"
        );
        describe_counter!(FEED_CHANGES, "Changes read from PostgreSQL's change feed");
        describe_counter!(
            FEED_ERRORS,
            "Change feed polls that failed or missed their deadline"
        );
        describe_counter!(
            ACCT_REQUESTS,
            "Accounting-Requests answered, by status type and durability"
        );
        describe_gauge!(
            ACCT_SPOOLED,
            "Accounting records waiting in a writer's spool for PostgreSQL"
        );
        describe_gauge!(
            ACCT_JOURNAL_LAG,
            "Seconds the oldest record in a writer's spool has waited for PostgreSQL"
        );
        describe_counter!(
            ACCT_REJECTED,
            "Accounting records PostgreSQL refused, kept in rejected.jsonl"
        );
        describe_counter!(
            ACCT_COMMIT_TIMEOUTS,
            "Accounting batches not committed within the commit timeout, spooled instead"
        );
        describe_counter!(
            COA_REQUESTS,
            "CoA and Disconnect-Requests sent, by kind and outcome"
        );
        describe_counter!(
            FUP_CROSSINGS_DROPPED,
            "Quota crossings dropped because the fair-usage queue was full"
        );
        describe_counter!(
            REJECT_LOG_WRITTEN,
            "Access-Rejects recorded in Redis for the admin console"
        );
        describe_counter!(
            REJECT_LOG_DROPPED,
            "Access-Rejects not recorded for the admin console, by reason"
        );
        Metrics {
            totals: Arc::default(),
            accepts: counter!(AUTH_REQUESTS, "result" => "accept"),
            rejects_total: counter!(AUTH_REQUESTS, "result" => "reject"),
            rejects: RejectReason::ALL
                .iter()
                .map(|r| counter!(AUTH_REJECTS, "reason" => r.label()))
                .collect(),
            drops: DropReason::ALL
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
            duration: Arc::new(Latency::default()),
            per_nas: Arc::default(),
            nas_clients: gauge!(NAS_CLIENTS),
            cache_entries: gauge!(CACHE_ENTRIES),
            invalidation_connected: gauge!(INVALIDATION_CONNECTED),
            feed_up: gauge!(FEED_UP),
            feed_changes: counter!(FEED_CHANGES),
            feed_errors: counter!(FEED_ERRORS),
            acct: ACCT_STATUSES
                .iter()
                .flat_map(|s| {
                    DURABILITY
                        .iter()
                        .map(move |d| counter!(ACCT_REQUESTS, "status" => *s, "durability" => *d))
                })
                .collect(),
            spooled: (0..MAX_WRITERS)
                .map(|i| gauge!(ACCT_SPOOLED, "writer" => i.to_string()))
                .collect(),
            journal_lag: (0..MAX_WRITERS)
                .map(|i| gauge!(ACCT_JOURNAL_LAG, "writer" => i.to_string()))
                .collect(),
            acct_rejected: counter!(ACCT_REJECTED),
            acct_commit_timeouts: counter!(ACCT_COMMIT_TIMEOUTS),
            coa: COA_KINDS
                .iter()
                .flat_map(|k| {
                    COA_OUTCOMES
                        .iter()
                        .map(move |o| counter!(COA_REQUESTS, "kind" => *k, "result" => *o))
                })
                .collect(),
            fup_crossings_dropped: counter!(FUP_CROSSINGS_DROPPED),
            reject_log_written: counter!(REJECT_LOG_WRITTEN),
            reject_log_dropped_full: counter!(REJECT_LOG_DROPPED, "reason" => "full"),
            reject_log_dropped_redis: counter!(REJECT_LOG_DROPPED, "reason" => "redis"),
        }
    }

    pub(crate) fn accept(&self) {
        self.accepts.increment(1);
        self.totals.accepts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reject(&self, reason: RejectReason) {
        self.rejects_total.increment(1);
        self.totals.rejects.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = self.rejects.get(reason as usize) {
            c.increment(1);
        }
    }

    pub(crate) fn drop(&self, why: DropReason) {
        if let Some(c) = self.drops.get(why as usize) {
            c.increment(1);
        }
    }

    /// Counts an answered Accounting-Request: `status` is Acct-Status-Type, `durability`
    /// the index of how it was made durable (`writer::Durable::index`).
    pub(crate) fn acct(&self, status: u32, durability: usize) {
        let s = match status {
            1 => 0,
            2 => 1,
            3 => 2,
            7 => 3,
            8 => 4,
            _ => 5,
        };
        let i = s * DURABILITY.len() + durability;
        if let Some(c) = self.acct.get(i) {
            c.increment(1);
        }
    }

    /// Counts a CoA (`disconnect` false) or Disconnect-Request by its outcome.
    pub(crate) fn coa(&self, disconnect: bool, outcome: &Outcome) {
        let index = match outcome {
            Outcome::Ack => 0,
            Outcome::Nak { .. } => 1,
            Outcome::Timeout { .. } => 2,
            Outcome::Deferred => 3,
            Outcome::Superseded => 4,
            Outcome::Dropped => 5,
            _ => 6,
        };
        let i = usize::from(disconnect) * COA_OUTCOMES.len() + index;
        if let Some(c) = self.coa.get(i) {
            c.increment(1);
        }
    }

    pub(crate) fn lookup(&self, level: Level, outcome: LookupResult) {
        let i = level as usize * OUTCOMES.len() + outcome as usize;
        if let Some(c) = self.lookups.get(i) {
            c.increment(1);
        }
    }
}

/// Upper bounds of the request-duration buckets, in seconds.
const LATENCY_BOUNDS: [f64; 15] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

/// The request-duration histogram, counted with atomics in fixed buckets: recording is
/// three relaxed additions, and nothing is left to fold later (the exporter's own
/// histograms keep every sample until upkeep, hundreds of thousands of them at full
/// load, and folding them held a core for milliseconds). Rendered beside the exporter's
/// series on `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    /// Per bucket (not cumulative); the last one is +Inf.
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Latency {
    pub(crate) fn record(&self, elapsed: Duration) {
        self.record_many(elapsed, 1);
    }

    /// Records `n` requests that each took `elapsed` (a batch answered together).
    pub(crate) fn record_many(&self, elapsed: Duration, n: u64) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BOUNDS.partition_point(|&bound| bound < seconds);
        self.buckets[bucket].fetch_add(n, Ordering::Relaxed);
        self.count.fetch_add(n, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos
            .fetch_add(nanos.saturating_mul(n), Ordering::Relaxed);
    }

    /// Requests recorded.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Appends the histogram in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let name = REQUEST_DURATION;
        let _ = writeln!(
            out,
            "# HELP {name} Time from a request's arrival to its reply (the reject delay \
             excluded)"
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        self.render_series(out, name, "");
    }

    /// Appends the histogram's series as `name` with `labels` (`a="x",b="y"`, or empty),
    /// without the HELP and TYPE lines.
    pub(crate) fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        let (open, sep) = if labels.is_empty() {
            (String::new(), "")
        } else {
            (format!("{{{labels}}}"), ",")
        };
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            match LATENCY_BOUNDS.get(i) {
                Some(bound) => {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
                    );
                }
            }
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{open} {sum}");
        // The buckets' total, not `count`: a scrape racing a record stays consistent.
        let _ = writeln!(out, "{name}_count{open} {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_cumulative_buckets() {
        let latency = Latency::default();
        latency.record(Duration::from_micros(40));
        latency.record(Duration::from_micros(100));
        latency.record(Duration::from_millis(3));
        latency.record(Duration::from_secs(9));
        let mut out = String::new();
        latency.render(&mut out);
        for line in [
            "# TYPE radius_request_duration_seconds histogram",
            "radius_request_duration_seconds_bucket{le=\"0.00005\"} 1",
            "radius_request_duration_seconds_bucket{le=\"0.0001\"} 2",
            "radius_request_duration_seconds_bucket{le=\"0.002\"} 2",
            "radius_request_duration_seconds_bucket{le=\"0.005\"} 3",
            "radius_request_duration_seconds_bucket{le=\"2.5\"} 3",
            "radius_request_duration_seconds_bucket{le=\"+Inf\"} 4",
            "radius_request_duration_seconds_sum 9.00314",
            "radius_request_duration_seconds_count 4",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
    }

    #[test]
    fn a_batch_counts_each_of_its_requests() {
        let latency = Latency::default();
        latency.record_many(Duration::from_micros(80), 32);
        latency.record(Duration::from_micros(30));
        let mut out = String::new();
        latency.render(&mut out);
        for line in [
            "radius_request_duration_seconds_bucket{le=\"0.00005\"} 1",
            "radius_request_duration_seconds_bucket{le=\"0.0001\"} 33",
            "radius_request_duration_seconds_sum 0.00259",
            "radius_request_duration_seconds_count 33",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
    }
}
