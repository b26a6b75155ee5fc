//! Sockets and threads: sends a [`Workload`]'s requests open- or closed-loop and collects
//! verified replies.
//!
//! Each socket (a *lane*) has a thread of its own that reads replies, verifies them,
//! expires timeouts and, in a closed loop, sends the next requests at once. In an open loop
//! a single pacer thread sends on all lanes at the scheduled times. Plain sockets and
//! threads (no async runtime) keep the pacer's timing free of an async timer's
//! millisecond granularity and measured faster than a tokio current-thread runtime on the
//! project's 2-core machine. What makes one core drive well over 150,000 requests/s is
//! batching: a lane drains the replies waiting on its socket before handling them under
//! one lock, and sends the requests they release (or the pacer the requests due at one
//! wakeup) in one UDP GSO system call (see [`crate::gso`]); the server still receives
//! separate datagrams. A lane's table and counters sit behind one mutex; the pacer and
//! the progress line are the only other takers.
//!
//! A run ends on its own: sending stops when the duration elapses or the request count is
//! reached, every request still in flight then gets its timeout, and a hard stop abandons
//! whatever is left (counted as timed out). A server that never answers therefore costs at
//! most `duration + timeout`.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;
use hdrhistogram::Histogram;
use proisp_radius::header::MAX_PACKET_LEN;
use proisp_radius::packet::Packet;
use socket2::{Domain, Protocol, Socket, Type};

use crate::gso;
use crate::schedule::{self, Schedule};
use crate::stats::{BadReply, Percentiles, Stats, micros, new_histogram};
use crate::table::{Expired, IDS, Table};
use crate::workload::Workload;

/// Datagrams a lane reads before it handles them.
const RX_BATCH: usize = 32;

/// Room for one datagram: one octet more than the largest packet, so an oversized
/// datagram is noticed (truncated reads would otherwise pass as valid packets with
/// padding).
const RX_SLOT: usize = MAX_PACKET_LEN + 1;

/// How long a lane's `recv` blocks before it looks at timeouts and the clock. Linux rounds
/// it up to whole jiffies (4 ms at HZ=250), so timeouts are detected within ~12 ms.
const RECV_TICK: Duration = Duration::from_millis(10);

/// Socket buffers asked for (the kernel caps them at `net.core.[rw]mem_max`): a burst of
/// thousands of replies must not overflow the receive queue while a lane is busy.
const SOCKET_BUFFER: usize = 4 << 20;

/// In an open loop the pacer keeps a lane below this many requests in flight before it
/// moves on to the next one, so few lanes (threads) carry a fast server's traffic and
/// more are woken only when replies lag. Half the identifier space: a timed-out
/// identifier then rests for at least 128 requests before it is reused.
const LANE_SOFT_LIMIT: usize = IDS / 2;

/// The pacer spreads requests over at least this many lanes (source ports), so a server
/// with SO_REUSEPORT sockets sees more than one flow.
const MIN_SPREAD: usize = 4;

/// How the load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Load {
    /// Requests at a fixed rate (per second), whatever the replies do.
    Open {
        /// Requests per second.
        rate: f64,
    },
    /// A fixed number of requests in flight: each reply (or timeout) releases the next.
    Closed {
        /// Requests in flight.
        concurrency: usize,
    },
}

/// One run's settings.
#[derive(Debug, Clone)]
pub(crate) struct RunConfig {
    /// Where requests go.
    pub(crate) server: SocketAddr,
    /// Open or closed loop.
    pub(crate) load: Load,
    /// How long requests are sent.
    pub(crate) duration: Duration,
    /// Stop after this many requests.
    pub(crate) requests: Option<u64>,
    /// How long a request waits for its reply (per try).
    pub(crate) timeout: Duration,
    /// Retransmissions of an unanswered request (0: a NAS's retries are not a load test's
    /// business; the timeout is the finding).
    pub(crate) retries: u32,
    /// Source sockets.
    pub(crate) sockets: usize,
    /// Print a progress line to stderr every second.
    pub(crate) progress: bool,
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Counters and latency of all lanes.
    pub(crate) stats: Stats,
    /// How late the pacer sent each request against its schedule, µs (open loop only).
    pub(crate) lag: Option<Histogram<u64>>,
    /// Scheduled requests never sent: the generator fell so far behind, or ran out of
    /// identifiers, that their time passed the end of the run.
    pub(crate) not_sent: u64,
    /// From the start to the last send.
    pub(crate) send_window: Duration,
    /// From the start to the last verified reply.
    pub(crate) reply_window: Duration,
    /// From the start until every lane had finished.
    pub(crate) elapsed: Duration,
}

struct LaneState<P> {
    table: Table<P>,
    stats: Stats,
    last_reply: Option<Instant>,
    last_send: Option<Instant>,
}

struct Lane<P> {
    socket: UdpSocket,
    state: Mutex<LaneState<P>>,
}

impl<P> Lane<P> {
    fn lock(&self) -> MutexGuard<'_, LaneState<P>> {
        // A panicking lane thread aborts the run anyway; its data is still countable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Requests prepared for one send: octets back to back, with their lengths,
/// identifiers and scheduled times.
#[derive(Default)]
struct Batch {
    data: BytesMut,
    lens: Vec<usize>,
    ids: Vec<u8>,
    scheduled: Vec<Instant>,
}

impl Batch {
    fn clear(&mut self) {
        self.data.clear();
        self.lens.clear();
        self.ids.clear();
        self.scheduled.clear();
    }

    fn len(&self) -> usize {
        self.lens.len()
    }
}

struct PacerState {
    lag: Histogram<u64>,
    not_sent: u64,
}

struct Run<'a, W: Workload> {
    cfg: &'a RunConfig,
    workload: &'a W,
    lanes: Vec<Lane<W::Pending>>,
    start: Instant,
    send_end: Instant,
    hard_stop: Instant,
    limit: u64,
    next_seq: AtomicU64,
    sending_done: AtomicBool,
    running: AtomicUsize,
    failure: Mutex<Option<anyhow::Error>>,
    pacer: Mutex<PacerState>,
}

/// Opens a connected UDP socket towards `server`.
fn open_socket(server: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .context("cannot create a UDP socket")?;
    // Best effort: smaller buffers only mean drops under extreme bursts, which show up
    // as timeouts.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    socket
        .bind(&any.into())
        .context("cannot bind a UDP socket")?;
    // Connected: the kernel drops datagrams from anyone but the server, and reports an
    // ICMP port-unreachable as ECONNREFUSED, which is counted.
    socket
        .connect(&server.into())
        .with_context(|| format!("cannot connect a UDP socket to {server}"))?;
    socket.set_read_timeout(Some(RECV_TICK))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Runs `workload` against the server as `cfg` says and returns what was measured.
pub(crate) fn run<W: Workload>(cfg: &RunConfig, workload: &W) -> anyhow::Result<Outcome> {
    let sockets = cfg.sockets.max(1);
    let start = Instant::now();
    let mut lanes = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        lanes.push(Lane {
            socket: open_socket(cfg.server)?,
            state: Mutex::new(LaneState {
                table: Table::new(cfg.timeout, cfg.retries, start),
                stats: Stats::default(),
                last_reply: None,
                last_send: None,
            }),
        });
    }
    let schedule = match cfg.load {
        Load::Open { rate } => Some(Schedule::new(rate, cfg.duration, cfg.requests)),
        Load::Closed { .. } => None,
    };
    // Give the pacer a little grace past the window for requests it is late with, then
    // every request its full timeout with every retry.
    let grace = cfg.timeout.min(Duration::from_millis(250));
    let per_request = cfg.timeout * (cfg.retries + 1);
    let start = Instant::now();
    let send_end = start + cfg.duration;
    let run = Run {
        cfg,
        workload,
        lanes,
        start,
        send_end,
        hard_stop: send_end + grace + per_request + RECV_TICK,
        limit: cfg.requests.unwrap_or(u64::MAX),
        next_seq: AtomicU64::new(0),
        sending_done: AtomicBool::new(false),
        running: AtomicUsize::new(sockets),
        failure: Mutex::new(None),
        pacer: Mutex::new(PacerState {
            lag: new_histogram(),
            not_sent: 0,
        }),
    };
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for i in 0..sockets {
            let share = match cfg.load {
                Load::Closed { concurrency } => {
                    concurrency / sockets + usize::from(i < concurrency % sockets)
                }
                Load::Open { .. } => 0,
            };
            let run = &run;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("lane-{i}"))
                    .spawn_scoped(scope, move || run.lane(i, share))
                    .context("cannot start a lane thread")?,
            );
        }
        if let Some(schedule) = schedule {
            let run = &run;
            handles.push(
                std::thread::Builder::new()
                    .name("pacer".to_owned())
                    .spawn_scoped(scope, move || run.pace(&schedule, grace))
                    .context("cannot start the pacer thread")?,
            );
        }
        run.watch();
        for h in handles {
            if h.join().is_err() {
                run.fail(anyhow::anyhow!("a load generator thread panicked"));
            }
        }
        Ok(())
    })?;
    if let Some(e) = run.failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(e);
    }
    Ok(run.outcome(schedule.is_some()))
}

impl<W: Workload> Run<'_, W> {
    fn fail(&self, error: anyhow::Error) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(error);
        self.sending_done.store(true, Ordering::Relaxed);
    }

    fn failed(&self) -> bool {
        self.failure.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    /// A lane's thread: receive, verify, expire, and in a closed loop keep `share`
    /// requests in flight.
    ///
    /// The socket is non-blocking: the lane drains up to [`RX_BATCH`] replies, handles
    /// them under one lock, answers them with one batch of new requests (one GSO send),
    /// and blocks in `recv` only after finding the socket empty twice in a row (with a
    /// yield between, so the other lanes on this core run first). Under load it rarely
    /// sleeps, which saves the wakeup both sides would otherwise pay per packet.
    fn lane(&self, i: usize, share: usize) {
        let lane = &self.lanes[i];
        let mut rx = vec![0u8; RX_BATCH * RX_SLOT];
        let mut arrivals: Vec<(usize, Instant)> = Vec::with_capacity(RX_BATCH);
        let mut tx = Batch::default();
        let closed = share > 0;
        let mut empty_rounds = 0u32;
        loop {
            let (refused, error) = self.drain(lane, &mut rx, &mut arrivals, empty_rounds >= 2);
            let now = Instant::now();
            let mut state = lane.lock();
            state.stats.port_unreachable += refused;
            for (k, &(len, at)) in arrivals.iter().enumerate() {
                let start = k * RX_SLOT;
                self.on_reply(&mut state, &rx[start..start + len], at);
            }
            self.expire(lane, &mut state, now);
            tx.clear();
            if closed {
                while state.table.in_flight() < share
                    && tx.len() < 2 * gso::MAX_SEGMENTS
                    && self.prepare_next(&mut state, &mut tx)
                {}
            }
            let finished =
                state.table.in_flight() == 0 && self.sending_done.load(Ordering::Relaxed);
            let stop = now >= self.hard_stop || self.failed() || error.is_some();
            if stop {
                let gone = state.table.abandon().len() as u64;
                state.stats.timeouts += gone;
            }
            drop(state);
            if !stop {
                self.transmit(lane, &tx);
            }
            if let Some(e) = error {
                self.fail(anyhow::Error::new(e).context("cannot receive"));
            }
            if finished || stop {
                break;
            }
            if arrivals.is_empty() && refused == 0 {
                empty_rounds += 1;
                if empty_rounds == 1 {
                    std::thread::yield_now();
                }
            } else {
                empty_rounds = 0;
            }
        }
        self.running.fetch_sub(1, Ordering::Relaxed);
    }

    /// Reads up to [`RX_BATCH`] datagrams into `rx` without blocking, or blocking (up to
    /// [`RECV_TICK`]) for the first one when `block`. Returns the ICMP port-unreachable
    /// reports seen and a receive error that should stop the run.
    fn drain(
        &self,
        lane: &Lane<W::Pending>,
        rx: &mut [u8],
        arrivals: &mut Vec<(usize, Instant)>,
        block: bool,
    ) -> (u64, Option<std::io::Error>) {
        arrivals.clear();
        let mut refused = 0;
        let mut blocking = block && lane.socket.set_nonblocking(false).is_ok();
        while arrivals.len() < RX_BATCH {
            let start = arrivals.len() * RX_SLOT;
            let result = lane.socket.recv(&mut rx[start..start + RX_SLOT]);
            if blocking {
                // One blocking read at most; a failure here leaves the socket blocking,
                // which only makes this lane slower, never wrong.
                let _ = lane.socket.set_nonblocking(true);
                blocking = false;
            }
            match result {
                Ok(n) => arrivals.push((n, Instant::now())),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused += 1,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break;
                }
                Err(e) => return (refused, Some(e)),
            }
        }
        (refused, None)
    }

    fn on_reply(&self, state: &mut LaneState<W::Pending>, datagram: &[u8], now: Instant) {
        let reply = match Packet::decode(datagram) {
            Ok(p) if datagram.len() <= MAX_PACKET_LEN => p,
            _ => {
                state.stats.bad(BadReply::Malformed);
                return;
            }
        };
        let id = reply.identifier();
        let lookup = state.table.lookup(id);
        let reason = match lookup.waiting.map(|p| (p, self.workload.check(&reply, &p))) {
            Some((pending, Ok(verified))) => {
                self.workload.acknowledged(&pending);
                if let Some(scheduled) = state.table.complete(id) {
                    state
                        .stats
                        .answered(verified.answer, verified.expect, now - scheduled);
                    if !verified.message_authenticator {
                        state.stats.without_message_authenticator += 1;
                    }
                    state.last_reply = Some(now);
                }
                return;
            }
            Some((_, Err(reason))) => reason,
            None => BadReply::UnknownIdentifier,
        };
        // Perhaps the late answer to the request that last timed out on this identifier.
        match lookup.ghost.map(|g| (g, self.workload.check(&reply, &g))) {
            Some((g, Ok(_))) => {
                self.workload.acknowledged(&g);
                state.stats.late += 1;
                state.table.bury(id);
            }
            _ => state.stats.bad(reason),
        }
    }

    fn expire(&self, lane: &Lane<W::Pending>, state: &mut LaneState<W::Pending>, now: Instant) {
        if state.table.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        loop {
            match state.table.expire(now) {
                Some(Expired::Retransmit(packet)) => {
                    // A failed retransmission is just one try fewer; the request still
                    // times out in the end if nothing comes back.
                    let _ = lane.socket.send(packet);
                    state.stats.retransmits += 1;
                }
                Some(Expired::TimedOut(_)) => state.stats.timeouts += 1,
                None => break,
            }
        }
    }

    /// Adds the next request of a closed loop to the lane's batch; false when there is
    /// none to send (the run is over) or it could not be built.
    fn prepare_next(&self, state: &mut LaneState<W::Pending>, tx: &mut Batch) -> bool {
        if self.sending_done.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= self.send_end {
            self.sending_done.store(true, Ordering::Relaxed);
            return false;
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if seq >= self.limit {
            self.sending_done.store(true, Ordering::Relaxed);
            return false;
        }
        self.prepare(state, tx, seq, now, now)
    }

    /// Encodes request `seq` under a free identifier at the end of `tx` and records it in
    /// flight (and sent: [`Run::transmit`] takes that back if the kernel refuses it).
    /// False if the lane has no free identifier or the request cannot be built.
    fn prepare(
        &self,
        state: &mut LaneState<W::Pending>,
        tx: &mut Batch,
        seq: u64,
        scheduled: Instant,
        now: Instant,
    ) -> bool {
        let Some(id) = state.table.reserve() else {
            return false;
        };
        let start = tx.data.len();
        let pending = match self.workload.encode(seq, id, &mut tx.data) {
            Ok(p) => p,
            Err(e) => {
                tx.data.truncate(start);
                self.fail(e.context(format!("cannot build request {seq}")));
                return false;
            }
        };
        state
            .table
            .insert(id, pending, scheduled, now, &tx.data[start..]);
        state.stats.sent += 1;
        state.last_send = Some(now);
        tx.lens.push(tx.data.len() - start);
        tx.ids.push(id);
        tx.scheduled.push(scheduled);
        true
    }

    /// Sends a prepared batch; requests the kernel refused are taken out of flight and
    /// counted as send errors.
    fn transmit(&self, lane: &Lane<W::Pending>, tx: &Batch) {
        if tx.lens.is_empty() {
            return;
        }
        let (sent, error) = gso::send_all(&lane.socket, None, &tx.data, &tx.lens);
        let Some(error) = error else {
            return;
        };
        let mut state = lane.lock();
        for &id in &tx.ids[sent..] {
            // Not sent, so it cannot time out: free the identifier again.
            state.table.complete(id);
            state.table.bury(id);
            state.stats.sent -= 1;
            state.stats.send_errors += 1;
            if error.kind() == ErrorKind::ConnectionRefused {
                state.stats.port_unreachable += 1;
            }
        }
    }

    /// The open loop: sends request k at `start + k / rate`, on the first lanes with room,
    /// the requests due at one wakeup together.
    fn pace(&self, schedule: &Schedule, grace: Duration) {
        let spin = if schedule::lower_timer_slack() {
            Duration::ZERO
        } else {
            schedule::SPIN_MARGIN
        };
        let mut tx = Batch::default();
        let mut lag = new_histogram();
        let total = schedule.total();
        let give_up = self.send_end + grace;
        let spread = self.lanes.len().min(MIN_SPREAD);
        let mut rr = 0usize;
        let mut k = 0u64;
        let mut last_flush = Instant::now();
        let mut last_wake = self.start;
        'run: while k < total && !self.failed() {
            let next = self.start + schedule.offset(k);
            schedule::wait_until(next.max(last_wake + schedule::QUANTUM), spin);
            last_wake = Instant::now();
            let due = schedule.due(Instant::now() - self.start);
            while k < due {
                let want = (due - k).min(gso::MAX_SEGMENTS as u64) as usize;
                let n = self.send_scheduled(schedule, k, want, &mut rr, spread, &mut tx);
                if n == 0 {
                    // Every identifier of every lane is taken: wait for replies or
                    // timeouts to free one. The wait is charged to these requests.
                    if Instant::now() >= give_up || self.failed() {
                        break 'run;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                let sent_at = Instant::now();
                for &scheduled in &tx.scheduled {
                    lag.saturating_record(micros(sent_at - scheduled));
                }
                k += n as u64;
            }
            if Instant::now() >= give_up {
                break;
            }
            // Hand the lag histogram to the progress line now and then, not per request.
            if last_flush.elapsed() >= Duration::from_millis(250) {
                let mut p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
                let _ = p.lag.add(&lag);
                lag.reset();
                last_flush = Instant::now();
            }
        }
        let mut p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = p.lag.add(&lag);
        p.not_sent = total - k;
        drop(p);
        self.sending_done.store(true, Ordering::Relaxed);
    }

    /// Sends up to `want` requests from `first` on one lane: the first (round-robin over
    /// the first `spread`, then in order) below the soft limit, or else any with a free
    /// identifier. Returns how many were used up (sent, or refused and counted).
    fn send_scheduled(
        &self,
        schedule: &Schedule,
        first: u64,
        want: usize,
        rr: &mut usize,
        spread: usize,
        tx: &mut Batch,
    ) -> usize {
        let n = self.lanes.len();
        let start = *rr;
        let order = (0..spread)
            .map(move |j| (start + j) % spread)
            .chain(spread..n)
            .map(|i| (i, LANE_SOFT_LIMIT))
            .chain((0..n).map(|i| (i, IDS)));
        *rr = (*rr + 1) % spread;
        for (i, limit) in order {
            let lane = &self.lanes[i];
            let mut state = lane.lock();
            let room = limit.saturating_sub(state.table.in_flight()).min(want);
            if room == 0 {
                continue;
            }
            tx.clear();
            let now = Instant::now();
            for j in 0..room as u64 {
                let scheduled = self.start + schedule.offset(first + j);
                if !self.prepare(&mut state, tx, first + j, scheduled, now) {
                    break;
                }
            }
            drop(state);
            if self.failed() {
                return 0;
            }
            self.transmit(lane, tx);
            if !tx.lens.is_empty() {
                return tx.lens.len();
            }
        }
        0
    }

    /// Waits for the lanes to finish, printing a progress line every second if asked.
    fn watch(&self) {
        let mut next = self.start + Duration::from_secs(1);
        let mut last_sent = 0;
        while self.running.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(20));
            let now = Instant::now();
            if !self.cfg.progress || now < next {
                continue;
            }
            let (stats, lag) = self.snapshot();
            let elapsed = now - self.start;
            let rate = (stats.sent - last_sent) as f64
                / (now - (next - Duration::from_secs(1))).as_secs_f64();
            last_sent = stats.sent;
            let p = Percentiles::of(&stats.latency);
            let mut line = format!(
                "[{:>5.1}s] sent {} ({:.0}/s)  answered {}  timeouts {}  bad {}  p99 {} µs",
                elapsed.as_secs_f64(),
                stats.sent,
                rate,
                stats.answered_total(),
                stats.timeouts,
                stats.bad_total(),
                p.p99
            );
            if let Some(lag) = lag {
                line.push_str(&format!("  send lag p99 {} µs", Percentiles::of(&lag).p99));
            }
            eprintln!("{line}");
            next += Duration::from_secs(1);
        }
    }

    fn snapshot(&self) -> (Stats, Option<Histogram<u64>>) {
        let mut stats = Stats::default();
        for lane in &self.lanes {
            stats.merge(&lane.lock().stats);
        }
        let lag = matches!(self.cfg.load, Load::Open { .. }).then(|| {
            self.pacer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .lag
                .clone()
        });
        (stats, lag)
    }

    fn outcome(&self, open: bool) -> Outcome {
        let (stats, lag) = self.snapshot();
        let mut last_send = self.start;
        let mut last_reply = self.start;
        for lane in &self.lanes {
            let s = lane.lock();
            last_send = last_send.max(s.last_send.unwrap_or(self.start));
            last_reply = last_reply.max(s.last_reply.unwrap_or(self.start));
        }
        let not_sent = if open {
            self.pacer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .not_sent
        } else {
            0
        };
        Outcome {
            stats,
            lag,
            not_sent,
            send_window: last_send - self.start,
            reply_window: last_reply - self.start,
            elapsed: self.start.elapsed(),
        }
    }
}
