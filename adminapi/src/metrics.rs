//! adminapi's metrics, rendered by `GET /metrics` in the Prometheus text format.
//!
//! The recorder is owned by [`HttpMetrics`] rather than installed globally, so several
//! servers (the tests start one per test) each count their own requests.

use metrics::{Key, KeyName, Label, Level, Metadata, Recorder as _, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use proisp_store::ReadStats;

/// Request latency by route pattern (`/api/v1/plans/{id}`), method and status.
pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";

/// Reads of the routes a replica may serve, by `target` (`replica`, `primary`) and
/// `reason` (`ok`; for the primary: `lagging`, `down`, `busy`, `unconfigured`).
pub const DB_READS: &str = "proisp_db_reads_total";

/// The replica's lag behind the primary at its last check; NaN while it is down.
pub const DB_REPLICA_LAG: &str = "proisp_db_replica_lag_seconds";

/// 1 when the replica answered its last check, else 0.
pub const DB_REPLICA_UP: &str = "proisp_db_replica_up";

/// Histogram buckets, seconds: the API's goals are p95 under 10-50 ms.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The recorder and what reads it.
pub struct HttpMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpMetrics")
    }
}

impl Default for HttpMetrics {
    fn default() -> HttpMetrics {
        HttpMetrics::new()
    }
}

impl HttpMetrics {
    /// A recorder with the histogram described.
    pub fn new() -> HttpMetrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.to_owned()), BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        recorder.describe_histogram(
            KeyName::from_const_str(HTTP_REQUEST_DURATION),
            Some(Unit::Seconds),
            SharedString::const_str("HTTP request latency by route pattern, method and status"),
        );
        recorder.describe_counter(
            KeyName::from_const_str(DB_READS),
            Some(Unit::Count),
            SharedString::const_str(
                "Reads that a replica may serve, by the server that served them and why",
            ),
        );
        recorder.describe_gauge(
            KeyName::from_const_str(DB_REPLICA_LAG),
            Some(Unit::Seconds),
            SharedString::const_str("PostgreSQL replica's lag behind the primary, last check"),
        );
        recorder.describe_gauge(
            KeyName::from_const_str(DB_REPLICA_UP),
            None,
            SharedString::const_str("Whether the PostgreSQL replica answered its last check"),
        );
        let handle = recorder.handle();
        HttpMetrics { recorder, handle }
    }

    /// Copies the read routing's figures in, before a render: they are counted by the
    /// store, which has no recorder of its own.
    pub fn observe_reads(&self, stats: &ReadStats) {
        for (route, n) in stats.served {
            let key = Key::from_parts(
                DB_READS,
                vec![
                    Label::from_static_parts("target", route.target()),
                    Label::from_static_parts("reason", route.reason()),
                ],
            );
            self.recorder.register_counter(&key, &METADATA).absolute(n);
        }
        if !stats.configured {
            return;
        }
        let up = Key::from_static_name(DB_REPLICA_UP);
        self.recorder
            .register_gauge(&up, &METADATA)
            .set(if stats.up { 1.0 } else { 0.0 });
        let lag = stats.lag.map_or(f64::NAN, |lag| lag.as_secs_f64());
        self.recorder
            .register_gauge(&Key::from_static_name(DB_REPLICA_LAG), &METADATA)
            .set(lag);
    }

    /// Records one request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let key = Key::from_parts(
            HTTP_REQUEST_DURATION,
            vec![
                Label::new("route", route.to_owned()),
                Label::new("method", method.to_owned()),
                Label::new("status", status.to_string()),
            ],
        );
        self.recorder
            .register_histogram(&key, &METADATA)
            .record(seconds);
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram buffers; call every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}
