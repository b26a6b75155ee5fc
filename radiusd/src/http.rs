//! The metrics port: `GET /metrics` (Prometheus text) and `GET /health`, answered by
//! [`proisp_bootstrap::http`]'s small responder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::PrometheusHandle;
use proisp_bootstrap::http::{self, Endpoint, Reply};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

/// Whether the auth sockets are bound; `/health` is 200 only then.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    pub(crate) sockets_bound: AtomicBool,
}

/// Serves the metrics port until cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    prometheus: PrometheusHandle,
    readiness: Arc<Readiness>,
    cancel: CancellationToken,
) {
    let answer = move |endpoint| {
        let (shared, prometheus, readiness) =
            (shared.clone(), prometheus.clone(), readiness.clone());
        async move {
            match endpoint {
                Endpoint::Metrics => Reply::ok(metrics(&shared, &prometheus)),
                Endpoint::Health => health(&shared, &readiness).await,
            }
        }
    };
    http::serve(listener, cancel, answer).await;
}

fn metrics(shared: &Shared, prometheus: &PrometheusHandle) -> String {
    shared.metrics.cache_entries.set(shared.lookup.len() as f64);
    let mut text = prometheus.render();
    shared.metrics.duration.render(&mut text);
    shared.metrics.per_nas.render(&mut text);
    shared.lanes.render(&mut text);
    text
}

async fn health(shared: &Shared, readiness: &Readiness) -> Reply {
    if !readiness.sockets_bound.load(Ordering::Acquire) {
        Reply::unavailable("sockets not bound\n")
    } else if shared.lookup.backend_alive().await {
        Reply::ok("ok\n")
    } else {
        Reply::unavailable("no backend answers\n")
    }
}
