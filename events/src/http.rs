//! The metrics port: `GET /metrics` (Prometheus text) and `GET /health`.
//!
//! Answered by [`proisp_bootstrap::http`]'s small responder, as radiusd's.

use metrics_exporter_prometheus::PrometheusHandle;
use proisp_bootstrap::http::{self, Reply};
use proisp_store::{Store, StoreError};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::relay::{Role, State};

/// What the endpoint reads.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The outbox's database (depth and age at each scrape).
    pub store: Store,
    /// The NATS connection (health).
    pub nats: async_nats::Client,
    /// The relay's role.
    pub state: Arc<State>,
    /// The gauges set at each scrape.
    pub metrics: Metrics,
    /// The recorder's renderer.
    pub prometheus: PrometheusHandle,
}

/// Serves `listener` until cancelled.
pub async fn serve(listener: TcpListener, endpoint: Endpoint, cancel: CancellationToken) {
    let answer = move |asked| {
        let endpoint = endpoint.clone();
        async move {
            match asked {
                http::Endpoint::Metrics => Reply::ok(metrics(&endpoint).await),
                http::Endpoint::Health => health(&endpoint),
            }
        }
    };
    http::serve(listener, cancel, answer).await;
}

/// Outbox depth and the age of its oldest row, seconds.
pub async fn outbox_depth(store: &Store) -> Result<(i64, f64), StoreError> {
    let client = store.client().await?;
    let row = client
        .query_one(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 \
             FROM event_outbox",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

async fn metrics(e: &Endpoint) -> String {
    match outbox_depth(&e.store).await {
        Ok((depth, age)) => {
            e.metrics.depth.set(depth as f64);
            e.metrics.oldest_age.set(age);
        }
        Err(err) => tracing::warn!(error = %err, "cannot read the outbox's depth"),
    }
    match crate::webhooks::backlog(&e.store).await {
        Ok((pending, dead)) => {
            e.metrics.webhook_pending.set(pending as f64);
            e.metrics.webhook_dead_kept.set(dead as f64);
        }
        Err(err) => tracing::warn!(error = %err, "cannot read the webhook deliveries"),
    }
    e.prometheus.render()
}

/// 200 with the role (`leader` or `standby`) while connected to PostgreSQL and NATS; 503
/// saying which is missing otherwise.
fn health(e: &Endpoint) -> Reply {
    let role = e.state.role();
    let nats = e.nats.connection_state() == async_nats::connection::State::Connected;
    match (role, nats) {
        (Role::Connecting, _) => Reply::unavailable("not connected to PostgreSQL\n"),
        (_, false) => Reply::unavailable(format!("{}: not connected to NATS\n", role.as_str())),
        (role, true) => Reply::ok(format!("{}\n", role.as_str())),
    }
}
