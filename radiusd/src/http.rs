//! The metrics port: `GET /metrics` (Prometheus text) and `GET /health`.
//!
//! A deliberately small HTTP/1.1 responder — one request per connection, GET only — so the
//! daemon needs no web framework for two read-only endpoints a scraper and a load balancer
//! poll.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
        let (shared, prometheus, readiness) =
            (shared.clone(), prometheus.clone(), readiness.clone());
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                respond(stream, &shared, &prometheus, &readiness),
            )
            .await;
        });
    }
}

async fn respond(
    mut stream: TcpStream,
    shared: &Shared,
    prometheus: &PrometheusHandle,
    readiness: &Readiness,
) -> std::io::Result<()> {
    // The request line may arrive in pieces; read until it is complete (or 1 KiB).
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
    let (status, content_type, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            shared.metrics.cache_entries.set(shared.lookup.len() as f64);
            let mut text = prometheus.render();
            shared.metrics.duration.render(&mut text);
            shared.metrics.per_nas.render(&mut text);
            shared.lanes.render(&mut text);
            ("200 OK", "text/plain; version=0.0.4", text)
        }
        (b"GET", b"/health") => {
            let bound = readiness.sockets_bound.load(Ordering::Acquire);
            if bound && shared.lookup.backend_alive().await {
                ("200 OK", "text/plain", "ok\n".to_owned())
            } else if !bound {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    "sockets not bound\n".to_owned(),
                )
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    "no backend answers\n".to_owned(),
                )
            }
        }
        (b"GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
