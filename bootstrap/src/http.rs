//! A daemon's metrics port: `GET /metrics` (Prometheus text) and `GET /health`.
//!
//! A deliberately small HTTP/1.1 responder — one request per connection, GET only — so a
//! daemon needs no web framework for two read-only endpoints a scraper and a supervisor
//! or load balancer poll. The daemon says what each endpoint answers; the request line,
//! the other paths and methods, and the response framing are here.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How long one connection may take, request and answer.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);

/// The endpoint asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /metrics`: the Prometheus text exposition.
    Metrics,
    /// `GET /health`.
    Health,
}

/// A status line's code and reason, and the body.
#[derive(Debug)]
pub struct Reply {
    pub status: &'static str,
    pub body: String,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply {
            status: "200 OK",
            body: body.into(),
        }
    }

    /// 503 with `body` (what is missing).
    pub fn unavailable(body: impl Into<String>) -> Reply {
        Reply {
            status: "503 Service Unavailable",
            body: body.into(),
        }
    }
}

/// Serves `listener` until cancelled, asking `answer` for each endpoint requested.
pub async fn serve<A, F>(listener: TcpListener, cancel: CancellationToken, answer: A)
where
    A: Fn(Endpoint) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send,
{
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
        let answer = answer.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, respond(stream, &answer)).await;
        });
    }
}

async fn respond<A, F>(mut stream: TcpStream, answer: &A) -> std::io::Result<()>
where
    A: Fn(Endpoint) -> F,
    F: Future<Output = Reply>,
{
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
    let (reply, content_type) = match (method, path) {
        (b"GET", b"/metrics") => (answer(Endpoint::Metrics).await, "text/plain; version=0.0.4"),
        (b"GET", b"/health") => (answer(Endpoint::Health).await, "text/plain"),
        (b"GET", _) => (
            Reply {
                status: "404 Not Found",
                body: "not found\n".to_owned(),
            },
            "text/plain",
        ),
        _ => (
            Reply {
                status: "405 Method Not Allowed",
                body: "GET only\n".to_owned(),
            },
            "text/plain",
        ),
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(reply.body.as_bytes()).await?;
    stream.shutdown().await
}
