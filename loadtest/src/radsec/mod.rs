//! RadSec: RADIUS over TLS over TCP (RFC 6614, with the stream rules of RFC 6613).
//!
//! Many TLS connections, each with up to 255 requests in flight (its own Identifier
//! space, replies matched in any order), or many connections held idle. Each of
//! `threads` OS threads runs a current-thread tokio runtime driving its share of the
//! connections, as the UDP engine gives each socket a thread: the connections borrow the
//! workload, and no task hops between threads.
//!
//! Connections are opened first (a bounded number of handshakes at a time); the clock of
//! a load run starts once every connection has been tried, so handshakes are reported
//! apart from requests/s.
//!
//! | module | what it holds |
//! | --- | --- |
//! | this one | connecting, connection failures, the threads |
//! | `tls` | the client's TLS configuration |
//! | `frame` | where a packet ends in the stream |
//! | `load` | requests over the connections, measured as the UDP engine measures them |
//! | `idle` | connections held open and idle, counted |

mod frame;
mod idle;
mod load;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Context;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub(crate) use idle::{IdleConfig, idle};
pub(crate) use load::{LoadConfig, RadsecOutcome, run};
pub(crate) use tls::{client_config, server_name};

/// One RadSec connection.
type Stream = TlsStream<TcpStream>;

/// How connections are made.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    /// The server's address.
    pub(crate) server: SocketAddr,
    /// The name its certificate must carry.
    pub(crate) name: ServerName<'static>,
    /// The TLS client configuration.
    pub(crate) tls: Arc<ClientConfig>,
    /// How long TCP connect and TLS handshake may take together.
    pub(crate) timeout: Duration,
}

/// Why a connection failed or ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnError {
    /// The TCP connection was not established (refused, unreachable).
    Tcp,
    /// The TLS handshake failed, or the server ended the connection before its first
    /// reply: a TLS 1.3 server refuses a client certificate only after the client's side
    /// of the handshake is done, so the refusal arrives as an alert on the first read.
    Tls,
    /// Connect and handshake took longer than the connect timeout.
    Timeout,
    /// The connection failed or was closed by the server after it had answered.
    Lost,
}

/// Connection failures by kind, with the first message seen.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ConnErrors {
    /// TCP connects that failed.
    pub(crate) tcp: u64,
    /// TLS handshakes that failed or were refused.
    pub(crate) tls: u64,
    /// Connects that timed out.
    pub(crate) timeout: u64,
    /// Connections lost after the server had answered on them.
    pub(crate) lost: u64,
    /// The first failure, in words.
    pub(crate) first: Option<String>,
}

impl ConnErrors {
    fn record(&mut self, kind: ConnError, message: String) {
        match kind {
            ConnError::Tcp => self.tcp += 1,
            ConnError::Tls => self.tls += 1,
            ConnError::Timeout => self.timeout += 1,
            ConnError::Lost => self.lost += 1,
        }
        self.first.get_or_insert(message);
    }

    fn merge(&mut self, other: &ConnErrors) {
        self.tcp += other.tcp;
        self.tls += other.tls;
        self.timeout += other.timeout;
        self.lost += other.lost;
        if self.first.is_none() {
            self.first.clone_from(&other.first);
        }
    }

    /// All failures.
    pub(crate) fn total(&self) -> u64 {
        self.tcp + self.tls + self.timeout + self.lost
    }
}

/// What a handshake agreed on.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Negotiated {
    /// `TLSv1_3` or `TLSv1_2`.
    pub(crate) version: String,
    /// The cipher suite.
    pub(crate) cipher: String,
    /// The ALPN protocol the server selected, if any.
    pub(crate) alpn: Option<String>,
}

impl Negotiated {
    fn of(stream: &Stream) -> Negotiated {
        let (_, conn) = stream.get_ref();
        Negotiated {
            version: conn
                .protocol_version()
                .map_or_else(String::new, |v| format!("{v:?}")),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or_else(String::new, |c| format!("{:?}", c.suite())),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }
}

impl Connector {
    /// Opens one connection: TCP, then the TLS handshake, within the connect timeout.
    async fn connect(&self) -> Result<Stream, (ConnError, String)> {
        let attempt = async {
            let tcp = TcpStream::connect(self.server).await.map_err(|e| {
                (
                    ConnError::Tcp,
                    format!("TCP connect to {}: {e}", self.server),
                )
            })?;
            // Requests are written whole; Nagle would hold a lone one back for an ACK.
            let _ = tcp.set_nodelay(true);
            TlsConnector::from(Arc::clone(&self.tls))
                .connect(self.name.clone(), tcp)
                .await
                .map_err(|e| (ConnError::Tls, format!("TLS handshake: {e}")))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err((
                ConnError::Timeout,
                format!(
                    "no TLS connection to {} within {:?}",
                    self.server, self.timeout
                ),
            )),
        }
    }
}

/// Runs `task(i)` for every `i` in `0..n`, spread over `threads` threads (connection `i`
/// on thread `i % threads`), each with a current-thread runtime; calls `tick` about once
/// a second until all are done. Returns the results in no particular order.
fn spread<T, F, Fut>(
    n: usize,
    threads: usize,
    task: F,
    mut tick: impl FnMut(),
) -> anyhow::Result<Vec<T>>
where
    T: Send,
    F: Fn(usize) -> Fut + Sync,
    Fut: Future<Output = T>,
{
    let threads = threads.clamp(1, n.max(1));
    let running = Mutex::new(threads);
    let finished = Condvar::new();
    let results = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let (task, running, finished, results) = (&task, &running, &finished, &results);
            let body = move || -> anyhow::Result<()> {
                let done = Done { running, finished };
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a tokio runtime")?;
                let mine = (t..n).step_by(threads).map(task);
                let out = runtime.block_on(futures_util::future::join_all(mine));
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(out);
                drop(done);
                Ok(())
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("radsec-{t}"))
                    .spawn_scoped(scope, body)
                    .context("cannot start a connection thread")?,
            );
        }
        let mut guard = running.lock().unwrap_or_else(|e| e.into_inner());
        while *guard > 0 {
            let (g, timeout) = finished
                .wait_timeout(guard, Duration::from_secs(1))
                .unwrap_or_else(|e| e.into_inner());
            guard = g;
            if timeout.timed_out() && *guard > 0 {
                drop(guard);
                tick();
                guard = running.lock().unwrap_or_else(|e| e.into_inner());
            }
        }
        drop(guard);
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a connection thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// Counts a thread out when it ends, however it ends, and wakes [`spread`]'s waiting.
struct Done<'a> {
    running: &'a Mutex<usize>,
    finished: &'a Condvar,
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        *running = running.saturating_sub(1);
        self.finished.notify_all();
    }
}
