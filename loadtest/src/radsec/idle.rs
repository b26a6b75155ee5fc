//! Connections held open and idle: how many a server keeps, and (read by whoever runs
//! this) what they cost it. Every connection is opened (a bounded number of handshakes
//! at a time), all are then held for the hold time while each watches for the server
//! closing it, and all are closed.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};

use super::{ConnError, ConnErrors, Connector, Negotiated, spread};

/// How long a connection waits for the server's side of a clean close.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// An idle run's settings.
#[derive(Debug, Clone)]
pub(crate) struct IdleConfig {
    /// How connections are made.
    pub(crate) connector: Connector,
    /// Connections to open.
    pub(crate) connections: usize,
    /// How long to hold them once all have been tried.
    pub(crate) hold: Duration,
    /// Threads driving them.
    pub(crate) threads: usize,
    /// Handshakes in progress at a time.
    pub(crate) handshakes: usize,
    /// Print progress lines on stderr.
    pub(crate) progress: bool,
}

/// What an idle run saw.
#[derive(Debug, Serialize)]
pub(crate) struct IdleReport {
    /// `idle`.
    pub(crate) command: &'static str,
    /// The server.
    pub(crate) server: SocketAddr,
    /// Connections asked for.
    pub(crate) connections: usize,
    /// Connections whose handshake completed.
    pub(crate) opened: u64,
    /// Connections that failed to open, or that the server ended, by kind (`tls` also
    /// counts a client certificate refused after a TLS 1.3 handshake).
    pub(crate) errors: ConnErrors,
    /// Opened connections the server closed during the hold (also in `errors.lost`).
    pub(crate) closed_by_server: u64,
    /// Connections still open when the hold ended.
    pub(crate) open_at_end: u64,
    /// Seconds from the first connect until every connection had been tried.
    pub(crate) connect_s: f64,
    /// Seconds the connections were held.
    pub(crate) hold_s: f64,
    /// What the first handshake agreed on.
    pub(crate) tls: Option<Negotiated>,
    /// Every connection asked for was open at the end.
    pub(crate) ok: bool,
}

/// How one connection ended.
#[derive(Default)]
struct Held {
    opened: bool,
    open_at_end: bool,
    closed_by_server: bool,
    errors: ConnErrors,
    tls: Option<Negotiated>,
}

struct Idle<'a> {
    cfg: &'a IdleConfig,
    handshakes: Semaphore,
    attempted: AtomicUsize,
    opened: AtomicU64,
    closed: AtomicU64,
    hold_end: watch::Sender<Option<Instant>>,
}

/// Opens, holds and closes the connections; returns what happened to them.
pub(crate) fn idle(cfg: &IdleConfig) -> anyhow::Result<IdleReport> {
    let run = Idle {
        cfg,
        handshakes: Semaphore::new(cfg.handshakes.max(1)),
        attempted: AtomicUsize::new(0),
        opened: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        hold_end: watch::Sender::new(None),
    };
    let start = Instant::now();
    let held = spread(
        cfg.connections,
        cfg.threads,
        |_| run.connection(),
        || {
            if cfg.progress {
                run.progress();
            }
        },
    )?;
    let hold_end = (*run.hold_end.borrow()).unwrap_or(start);
    let mut report = IdleReport {
        command: "idle",
        server: cfg.connector.server,
        connections: cfg.connections,
        opened: 0,
        errors: ConnErrors::default(),
        closed_by_server: 0,
        open_at_end: 0,
        connect_s: (hold_end.checked_sub(cfg.hold).unwrap_or(start) - start).as_secs_f64(),
        hold_s: cfg.hold.as_secs_f64(),
        tls: None,
        ok: false,
    };
    for h in &held {
        report.opened += u64::from(h.opened);
        report.open_at_end += u64::from(h.open_at_end);
        report.closed_by_server += u64::from(h.closed_by_server);
        report.errors.merge(&h.errors);
        if report.tls.is_none() {
            report.tls.clone_from(&h.tls);
        }
    }
    report.ok = report.open_at_end == cfg.connections as u64;
    Ok(report)
}

impl Idle<'_> {
    async fn connection(&self) -> Held {
        let mut h = Held::default();
        let connected = {
            // The semaphore is never closed, so a permit always comes.
            let _permit = self.handshakes.acquire().await;
            self.cfg.connector.connect().await
        };
        let mut stream = match connected {
            Ok(s) => {
                h.tls = Some(Negotiated::of(&s));
                h.opened = true;
                self.opened.fetch_add(1, Ordering::Relaxed);
                Some(s)
            }
            Err((kind, message)) => {
                h.errors.record(kind, message);
                None
            }
        };
        let mut rx = self.hold_end.subscribe();
        if self.attempted.fetch_add(1, Ordering::AcqRel) + 1 == self.cfg.connections {
            let end = Instant::now() + self.cfg.hold;
            if self.cfg.progress {
                eprintln!(
                    "{} of {} connections open; holding them for {:?}",
                    self.opened.load(Ordering::Relaxed),
                    self.cfg.connections,
                    self.cfg.hold
                );
            }
            self.hold_end.send_replace(Some(end));
        }
        // The sender lives in `self`, so the channel cannot close before it is set.
        let end = match rx.wait_for(Option::is_some).await {
            Ok(end) => end.unwrap_or_else(|| unreachable!("waited for Some")),
            Err(_) => return h,
        };
        let Some(stream) = &mut stream else {
            return h;
        };
        // Anything the server sends is read and dropped. Its end of the stream ends the
        // connection early; so does an error, which under TLS 1.3 is how a refused client
        // certificate arrives (an alert after the client's side of the handshake).
        let mut buf = BytesMut::with_capacity(256);
        let ended = loop {
            buf.clear();
            tokio::select! {
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) => break Some((ConnError::Lost, "closed by the server".to_owned())),
                    Ok(_) => {}
                    Err(e) => break Some((ConnError::Tls, e.to_string())),
                },
                () = tokio::time::sleep_until(end.into()) => break None,
            }
        };
        match ended {
            None => {
                h.open_at_end = true;
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
            }
            Some((kind, why)) => {
                h.closed_by_server = kind == ConnError::Lost;
                self.closed.fetch_add(1, Ordering::Relaxed);
                h.errors
                    .record(kind, format!("the server ended an idle connection: {why}"));
            }
        }
        h
    }

    fn progress(&self) {
        let mut line = format!(
            "open {}  tried {} of {}",
            self.opened.load(Ordering::Relaxed),
            self.attempted.load(Ordering::Relaxed),
            self.cfg.connections
        );
        let closed = self.closed.load(Ordering::Relaxed);
        if closed > 0 {
            let _ = write!(line, "  ended by the server {closed}");
        }
        eprintln!("{line}");
    }
}

impl IdleReport {
    /// The human-readable table.
    pub(crate) fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "target           {} (RadSec, idle)", self.server);
        let _ = writeln!(
            t,
            "connections      {} asked, {} opened in {:.2} s, held {:.1} s",
            self.connections, self.opened, self.connect_s, self.hold_s
        );
        if let Some(tls) = &self.tls {
            let _ = writeln!(t, "tls              {} {}", tls.version, tls.cipher);
        }
        let e = &self.errors;
        let _ = writeln!(
            t,
            "failed           tcp {}  tls {}  timeout {}  closed by the server {}",
            e.tcp, e.tls, e.timeout, self.closed_by_server
        );
        if let Some(first) = &e.first {
            let _ = writeln!(t, "first failure    {first}");
        }
        let _ = write!(
            t,
            "result           {} of {} open at the end{}",
            self.open_at_end,
            self.connections,
            if self.ok { " (OK)" } else { " (FAILED)" }
        );
        t
    }
}
