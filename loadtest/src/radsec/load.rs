//! Load over RadSec connections, each with its own Identifiers. In a closed loop each
//! connection keeps `pipeline` requests in flight and every verified reply releases the
//! next request. In an open loop request `k` is due at `start + k / rate` (see
//! [`crate::schedule`]) and goes on connection `k mod connections`, which sends whatever
//! is due when it wakes, up to `pipeline` in flight; latency counts from the scheduled
//! time and the send lag is reported. tokio's timers tick in milliseconds, so a
//! connection wakes up to a millisecond late and sends what fell due meanwhile at once:
//! that lag is measured and reported like any other.
//!
//! A connection on which the server selected radius/1.1 by ALPN speaks RADIUS/1.1
//! ([`Framing::Radius11`]); its Tokens carry the table slot in their low octet, so it
//! too has at most 255 requests in flight.
//!
//! Over TCP a NAS does not retransmit (RFC 6613 §2.6.1: the transport is reliable), so a
//! request without a reply within the timeout counts as timed out and its Identifier
//! rests, as on UDP. A connection the server closes or breaks takes its requests in
//! flight with it (counted as timed out) and is not reopened: a load test reports the
//! loss rather than hiding it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use proisp_radius::header::MAX_PACKET_LEN;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};

use super::frame::{self, BadLength};
use super::tls::ALPN_RADIUS_1_1;
use super::{ConnError, ConnErrors, Connector, Negotiated, Stream, spread};
use crate::engine::{Load, Outcome, RunConfig};
use crate::schedule::Schedule;
use crate::stats::{BadReply, Stats, micros, new_histogram};
use crate::table::{Expired, Table};
use crate::workload::{self, Framing, Workload};

/// How long a connection waits for the server's side of a clean close.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The RadSec side of a load run.
#[derive(Debug, Clone)]
pub(crate) struct LoadConfig {
    /// How connections are made.
    pub(crate) connector: Connector,
    /// TLS connections.
    pub(crate) connections: usize,
    /// Requests in flight per connection (at most 255: one Identifier space each); in an
    /// open loop, the most.
    pub(crate) pipeline: usize,
    /// Threads driving the connections.
    pub(crate) threads: usize,
    /// Handshakes in progress at a time.
    pub(crate) handshakes: usize,
}

/// What a RadSec run saw of its connections.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RadsecOutcome {
    /// Connections asked for.
    pub(crate) connections: usize,
    /// Requests in flight per connection.
    pub(crate) pipeline: usize,
    /// Threads that drove them.
    pub(crate) threads: usize,
    /// Connections whose handshake completed.
    pub(crate) opened: u64,
    /// Connections that failed, by kind.
    pub(crate) errors: ConnErrors,
    /// Seconds from the first connect to the last handshake's end (not in requests/s).
    pub(crate) connect_s: f64,
    /// What the first handshake agreed on.
    pub(crate) tls: Option<Negotiated>,
}

/// When the connections send and stop, fixed once every connection has been tried.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    send_end: Instant,
    /// An open loop sends nothing after this.
    give_up: Instant,
    hard_stop: Instant,
}

/// One connection's share of the results.
struct Conn {
    /// RADIUS/1.1 when the server selected it by ALPN.
    framing: Framing,
    /// RADIUS/1.1 Tokens handed out: a request's Token is this count (before it) in the
    /// upper 24 bits and its table slot in the low octet, so no Token repeats while its
    /// predecessor may still be answered.
    tokens: u32,
    stats: Stats,
    /// How late it sent against the schedule, µs (open loop).
    lag: Option<Histogram<u64>>,
    /// Its scheduled requests never sent (open loop).
    not_sent: u64,
    errors: ConnErrors,
    opened: bool,
    tls: Option<Negotiated>,
    last_send: Option<Instant>,
    last_reply: Option<Instant>,
}

struct Run<'a, W: Workload> {
    cfg: &'a RunConfig,
    /// The open loop's schedule.
    schedule: Option<Schedule>,
    radsec: &'a LoadConfig,
    workload: &'a W,
    handshakes: Semaphore,
    attempted: AtomicUsize,
    clock: watch::Sender<Option<Clock>>,
    next_seq: AtomicU64,
    limit: u64,
    sending_done: AtomicBool,
    answered: AtomicU64,
}

/// Runs `workload` over RadSec as `cfg` and `radsec` say: open loop at `cfg.load`'s rate,
/// or a closed loop of `connections × pipeline` (a closed `cfg.load` only describes it).
pub(crate) fn run<W: Workload>(
    cfg: &RunConfig,
    radsec: &LoadConfig,
    workload: &W,
) -> anyhow::Result<(Outcome, RadsecOutcome)> {
    let run = Run {
        cfg,
        schedule: match cfg.load {
            Load::Open { rate } => Some(Schedule::new(rate, cfg.duration, cfg.requests)),
            Load::Closed { .. } => None,
        },
        radsec,
        workload,
        handshakes: Semaphore::new(radsec.handshakes.max(1)),
        attempted: AtomicUsize::new(0),
        clock: watch::Sender::new(None),
        next_seq: AtomicU64::new(0),
        limit: cfg.requests.unwrap_or(u64::MAX),
        sending_done: AtomicBool::new(false),
        answered: AtomicU64::new(0),
    };
    let connecting = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let conns = spread(
        radsec.connections,
        radsec.threads,
        |i| run.connection(i),
        || {
            if cfg.progress {
                last = run.progress(last);
            }
        },
    )?;
    let clock = (*run.clock.borrow()).unwrap_or(Clock {
        start: connecting,
        send_end: connecting,
        give_up: connecting,
        hard_stop: connecting,
    });
    let mut stats = Stats::default();
    let mut lag = run.schedule.map(|_| new_histogram());
    let mut not_sent = 0;
    let mut errors = ConnErrors::default();
    let (mut opened, mut tls) = (0, None);
    let (mut last_send, mut last_reply) = (clock.start, clock.start);
    for c in &conns {
        stats.merge(&c.stats);
        if let (Some(all), Some(l)) = (&mut lag, &c.lag) {
            // Same bounds everywhere, so adding cannot fail.
            let _ = all.add(l);
        }
        not_sent += c.not_sent;
        errors.merge(&c.errors);
        opened += u64::from(c.opened);
        if tls.is_none() {
            tls.clone_from(&c.tls);
        }
        last_send = last_send.max(c.last_send.unwrap_or(clock.start));
        last_reply = last_reply.max(c.last_reply.unwrap_or(clock.start));
    }
    let outcome = Outcome {
        stats,
        lag,
        not_sent,
        send_window: last_send - clock.start,
        reply_window: last_reply - clock.start,
        elapsed: clock.start.elapsed(),
    };
    let radsec_outcome = RadsecOutcome {
        connections: radsec.connections,
        pipeline: radsec.pipeline,
        threads: radsec.threads,
        opened,
        errors,
        connect_s: (clock.start - connecting).as_secs_f64(),
        tls,
    };
    Ok((outcome, radsec_outcome))
}

impl<W: Workload> Run<'_, W> {
    /// Connection `i` from connect to close.
    async fn connection(&self, i: usize) -> Conn {
        let mut c = Conn {
            framing: Framing::Radius10,
            tokens: 0,
            stats: Stats::default(),
            lag: self.schedule.map(|_| new_histogram()),
            not_sent: 0,
            errors: ConnErrors::default(),
            opened: false,
            tls: None,
            last_send: None,
            last_reply: None,
        };
        let connected = {
            // The semaphore is never closed, so a permit always comes.
            let _permit = self.handshakes.acquire().await;
            self.radsec.connector.connect().await
        };
        let mut stream = match connected {
            Ok(s) => {
                let negotiated = Negotiated::of(&s);
                if negotiated.alpn.as_deref() == Some(ALPN_RADIUS_1_1) {
                    c.framing = Framing::Radius11;
                }
                c.tls = Some(negotiated);
                c.opened = true;
                Some(s)
            }
            Err((kind, message)) => {
                c.errors.record(kind, message);
                None
            }
        };
        let clock = self.tried();
        let mut rx = self.clock.subscribe();
        let clock = match clock {
            Some(clock) => clock,
            // The last connection to be tried has set the clock (the sender lives in
            // `self`, so the channel cannot close first).
            None => match rx.wait_for(Option::is_some).await {
                Ok(clock) => clock.unwrap_or_else(|| unreachable!("waited for Some")),
                Err(_) => return c,
            },
        };
        if let Some(stream) = &mut stream {
            if let Err((kind, message)) = self.drive(stream, &clock, i, &mut c).await {
                c.errors.record(kind, message);
            }
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
        }
        c
    }

    /// Counts a connection as tried; the last one fixes the clock and returns it.
    fn tried(&self) -> Option<Clock> {
        if self.attempted.fetch_add(1, Ordering::AcqRel) + 1 < self.radsec.connections {
            return None;
        }
        let start = Instant::now();
        let send_end = start + self.cfg.duration;
        // An open loop's connections may send a little past the window what they are
        // late with; then every request gets its timeout.
        let grace = self.cfg.timeout.min(Duration::from_millis(250));
        let clock = Clock {
            start,
            send_end,
            give_up: send_end + grace,
            hard_stop: send_end + grace + self.cfg.timeout + Duration::from_millis(10),
        };
        self.clock.send_replace(Some(clock));
        Some(clock)
    }

    /// Connection `i`'s share of the load, closed or open loop, until the run ends; an
    /// error ends the connection, and its requests in flight count as timed out.
    async fn drive(
        &self,
        stream: &mut Stream,
        clock: &Clock,
        i: usize,
        c: &mut Conn,
    ) -> Result<(), (ConnError, String)> {
        let mut table = Table::new(self.cfg.timeout, 0, clock.start);
        // Open loop: this connection's next request number (every `connections`-th).
        let mut next_k = i as u64;
        let mut tx = BytesMut::new();
        let mut rx = BytesMut::with_capacity(2 * MAX_PACKET_LEN);
        let mut answered_any = false;
        let result = loop {
            let now = Instant::now();
            while let Some(expired) = table.expire(now) {
                if let Expired::TimedOut(_) = expired {
                    c.stats.timeouts += 1;
                }
            }
            if now >= clock.hard_stop {
                break Ok(());
            }
            tx.clear();
            match &self.schedule {
                Some(schedule) => {
                    self.prepare_due(schedule, &mut next_k, &mut table, &mut tx, clock, c);
                }
                None => while self.prepare_next(&mut table, &mut tx, clock, c) {},
            }
            if !tx.is_empty()
                && let Err(e) = write(stream, &tx).await
            {
                break Err(ended(answered_any, &e));
            }
            let done = match &self.schedule {
                Some(schedule) => {
                    next_k >= schedule.total()
                        || now >= clock.give_up
                        || self.sending_done.load(Ordering::Relaxed)
                }
                None => self.sending_done.load(Ordering::Relaxed),
            };
            if table.in_flight() == 0 && done {
                break Ok(());
            }
            let mut wake = table
                .next_deadline()
                .map_or(clock.hard_stop, |d| d.min(clock.hard_stop));
            if let Some(schedule) = &self.schedule
                && !done
                && table.in_flight() < self.radsec.pipeline
            {
                wake = wake.min(clock.start + schedule.offset(next_k));
            }
            rx.reserve(MAX_PACKET_LEN);
            tokio::select! {
                read = stream.read_buf(&mut rx) => match read {
                    Ok(0) => break Err(ended(answered_any, &"closed by the server")),
                    Ok(_) => {
                        let now = Instant::now();
                        match self.replies(&mut rx, &mut table, c, now) {
                            Ok(answered) => answered_any |= answered,
                            Err(BadLength(len)) => {
                                c.stats.bad(BadReply::Malformed);
                                break Err((
                                    ConnError::Lost,
                                    format!("a reply with Length {len}: the stream is lost"),
                                ));
                            }
                        }
                    }
                    Err(e) => break Err(ended(answered_any, &e)),
                },
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        };
        c.stats.timeouts += table.abandon().len() as u64;
        if let Some(schedule) = &self.schedule {
            let step = self.radsec.connections as u64;
            c.not_sent = schedule.total().saturating_sub(next_k).div_ceil(step);
        }
        result
    }

    /// Handles the whole replies at the front of `rx`; true if one answered a request.
    fn replies(
        &self,
        rx: &mut BytesMut,
        table: &mut Table<W::Pending>,
        c: &mut Conn,
        now: Instant,
    ) -> Result<bool, BadLength> {
        let mut answered = false;
        while let Some(len) = frame::complete(rx)? {
            if workload::on_reply(
                self.workload,
                c.framing,
                table,
                &mut c.stats,
                &rx[..len],
                now,
            ) {
                answered = true;
                c.last_reply = Some(now);
                self.answered.fetch_add(1, Ordering::Relaxed);
            }
            rx.advance(len);
        }
        Ok(answered)
    }

    /// Closed loop: adds the next request to `tx` if the connection has room; false when
    /// it has none, the run sends no more, or the request could not be built.
    fn prepare_next(
        &self,
        table: &mut Table<W::Pending>,
        tx: &mut BytesMut,
        clock: &Clock,
        c: &mut Conn,
    ) -> bool {
        if table.in_flight() >= self.radsec.pipeline || self.sending_done.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= clock.send_end {
            self.sending_done.store(true, Ordering::Relaxed);
            return false;
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if seq >= self.limit {
            self.sending_done.store(true, Ordering::Relaxed);
            return false;
        }
        self.prepare(seq, now, now, table, tx, c)
    }

    /// Open loop: adds this connection's requests that are due (every `connections`-th
    /// from `next_k`) to `tx`, as far as the connection has room.
    fn prepare_due(
        &self,
        schedule: &Schedule,
        next_k: &mut u64,
        table: &mut Table<W::Pending>,
        tx: &mut BytesMut,
        clock: &Clock,
        c: &mut Conn,
    ) {
        let now = Instant::now();
        if now >= clock.give_up || self.sending_done.load(Ordering::Relaxed) {
            return;
        }
        let step = self.radsec.connections as u64;
        while *next_k < schedule.total() && table.in_flight() < self.radsec.pipeline {
            let scheduled = clock.start + schedule.offset(*next_k);
            if scheduled > now || !self.prepare(*next_k, scheduled, now, table, tx, c) {
                return;
            }
            if let Some(lag) = &mut c.lag {
                lag.saturating_record(micros(now - scheduled));
            }
            self.next_seq.fetch_add(1, Ordering::Relaxed);
            *next_k += step;
        }
    }

    /// Encodes request `seq` into `tx` under a free Identifier and records it in flight;
    /// false if no Identifier is free or the request could not be built (which stops
    /// the run's sending).
    fn prepare(
        &self,
        seq: u64,
        scheduled: Instant,
        now: Instant,
        table: &mut Table<W::Pending>,
        tx: &mut BytesMut,
        c: &mut Conn,
    ) -> bool {
        let Some(id) = table.reserve() else {
            return false;
        };
        let start = tx.len();
        let encoded = match c.framing {
            Framing::Radius10 => self.workload.encode(seq, id, tx),
            Framing::Radius11 => {
                let token = (c.tokens << 8) | u32::from(id);
                c.tokens = c.tokens.wrapping_add(1) & 0x00ff_ffff;
                self.workload.encode_v11(seq, token, tx)
            }
        };
        match encoded {
            Ok(pending) => {
                table.insert(id, pending, scheduled, now, &tx[start..]);
                c.stats.sent += 1;
                c.last_send = Some(now);
                true
            }
            Err(e) => {
                // main builds request 0 before the run, so this is rare: stop sending
                // and say why.
                tx.truncate(start);
                self.sending_done.store(true, Ordering::Relaxed);
                c.errors
                    .first
                    .get_or_insert(format!("cannot build request {seq}: {e:#}"));
                false
            }
        }
    }

    /// Prints the progress line; returns the time and count it was made at.
    fn progress(&self, (at, sent): (Instant, u64)) -> (Instant, u64) {
        let now = Instant::now();
        let Some(clock) = *self.clock.borrow() else {
            eprintln!(
                "connecting: {} of {} tried",
                self.attempted.load(Ordering::Relaxed),
                self.radsec.connections
            );
            return (now, 0);
        };
        let total = self.next_seq.load(Ordering::Relaxed).min(self.limit);
        let since = now.duration_since(at.max(clock.start)).as_secs_f64();
        let rate = if since > 0.0 {
            total.saturating_sub(sent) as f64 / since
        } else {
            0.0
        };
        eprintln!(
            "[{:>5.1}s] sent {total} ({rate:.0}/s)  answered {}",
            (now - clock.start).as_secs_f64(),
            self.answered.load(Ordering::Relaxed)
        );
        (now, total)
    }
}

/// Writes a batch of requests, each in a TLS record of its own, and pushes them to the
/// socket. One packet per record is what RadSec clients customarily send, and FreeRADIUS
/// 3.2 depends on it: it takes one RADIUS packet from each record and closes the
/// connection when a record holds more ("Received bad packet: Length 652 contents 163").
async fn write(stream: &mut Stream, mut tx: &[u8]) -> std::io::Result<()> {
    while let Ok(Some(len)) = frame::complete(tx) {
        // rustls seals every write of plaintext into records of its own.
        stream.write_all(&tx[..len]).await?;
        tx = &tx[len..];
    }
    stream.flush().await
}

/// Classifies the end of a connection: before any reply it is a refusal (a TLS 1.3
/// server's verdict on the client certificate arrives here as an alert), after one a
/// lost connection.
fn ended(answered_any: bool, why: &dyn std::fmt::Display) -> (ConnError, String) {
    if answered_any {
        (ConnError::Lost, format!("connection lost: {why}"))
    } else {
        (
            ConnError::Tls,
            format!("the server ended the connection before any reply: {why}"),
        )
    }
}
