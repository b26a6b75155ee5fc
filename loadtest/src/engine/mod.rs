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
//!
//! | module | what it holds |
//! | --- | --- |
//! | this one | the run's settings and outcome, its sockets, and building and sending requests |
//! | `lane` | a lane's thread: receiving, verifying, expiring, and the closed loop |
//! | `pacer` | the open loop's pacer thread |
//! | `watch` | waiting for the lanes, the progress line, and what the run measured |

mod lane;
mod pacer;
mod watch;

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;
use hdrhistogram::Histogram;
use socket2::{Domain, Protocol, Socket, Type};

use crate::gso;
use crate::schedule::Schedule;
use crate::stats::{Stats, new_histogram};
use crate::table::Table;
use crate::workload::Workload;

/// How long a lane's `recv` blocks before it looks at timeouts and the clock. Linux rounds
/// it up to whole jiffies (4 ms at HZ=250), so timeouts are detected within ~12 ms.
const RECV_TICK: Duration = Duration::from_millis(10);

/// Socket buffers asked for (the kernel caps them at `net.core.[rw]mem_max`): a burst of
/// thousands of replies must not overflow the receive queue while a lane is busy.
const SOCKET_BUFFER: usize = 4 << 20;

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
    /// The NAS's second server: retransmissions go there instead of to `server`.
    pub(crate) fallback: Option<SocketAddr>,
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
    /// Connected to [`RunConfig::fallback`], when there is one: retransmissions leave
    /// from here, and its replies are read as the primary's are.
    fallback: Option<UdpSocket>,
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
    /// Lane threads still running; [`Run::watch`] waits on `finished` until none is.
    running: Mutex<usize>,
    finished: Condvar,
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
            fallback: cfg.fallback.map(open_socket).transpose()?,
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
        running: Mutex::new(sockets),
        finished: Condvar::new(),
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
        if lane.fallback.is_some() && error.kind() == ErrorKind::ConnectionRefused {
            // The primary is gone (an ICMP port unreachable reported on this send). A NAS
            // does not read ICMP: the requests wait out their timeout and their retries
            // go to the fallback.
            state.stats.port_unreachable += 1;
            return;
        }
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
}
