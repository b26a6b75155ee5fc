//! The metrics port: `GET /metrics` (Prometheus text) and `GET /health`.
//!
//! The same small HTTP/1.1 responder as radiusd's — one request per connection, GET only:
//! two read-only endpoints for a scraper and a supervisor need no web framework.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use proisp_store::{Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    continue;
                }
            },
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), respond(stream, &endpoint)).await;
        });
    }
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

async fn respond(mut stream: TcpStream, e: &Endpoint) -> std::io::Result<()> {
    let mut request = [0u8; 1024];
    let mut n = 0;
    while n < request.len() && !request[..n].contains(&b'\n') {
        match stream.read(&mut request[n..]).await? {
            0 => break,
            read => n += read,
        }
    }
    let line = request[..n]
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            match outbox_depth(&e.store).await {
                Ok((depth, age)) => {
                    e.metrics.depth.set(depth as f64);
                    e.metrics.oldest_age.set(age);
                }
                Err(err) => tracing::warn!(error = %err, "cannot read the outbox's depth"),
            }
            ("200 OK", e.prometheus.render())
        }
        (b"GET", b"/health") => health(e),
        (b"GET", _) => ("404 Not Found", "not found\n".to_owned()),
        _ => ("405 Method Not Allowed", "GET only\n".to_owned()),
    };
    let content_type = if path == b"/metrics" {
        "text/plain; version=0.0.4"
    } else {
        "text/plain"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// 200 with the role (`leader` or `standby`) while connected to PostgreSQL and NATS; 503
/// saying which is missing otherwise.
fn health(e: &Endpoint) -> (&'static str, String) {
    let role = e.state.role();
    let nats = e.nats.connection_state() == async_nats::connection::State::Connected;
    match (role, nats) {
        (Role::Connecting, _) => (
            "503 Service Unavailable",
            "not connected to PostgreSQL\n".to_owned(),
        ),
        (_, false) => (
            "503 Service Unavailable",
            format!("{}: not connected to NATS\n", role.as_str()),
        ),
        (role, true) => ("200 OK", format!("{}\n", role.as_str())),
    }
}
