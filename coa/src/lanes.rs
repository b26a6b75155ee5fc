//! One dispatcher, a lane per NAS (DESIGN.md, "Changes to live sessions").
//!
//! Every CoA- and Disconnect-Request goes through a [`Dispatcher`], which keeps a lane per
//! NAS: its own queue, its own in-flight window and optional rate cap. A slow NAS answers
//! slower and so gets fewer requests per second; a dead one fills only its own window,
//! never another NAS's.
//!
//! A lane whose requests time out [`LaneConfig::unreachable_after`] times in a row (no
//! answer in between) marks its NAS unreachable: nothing more is sent to it but one probe
//! (the head of its queue) every [`LaneConfig::probe_interval`], and its changes wait —
//! those that timed out on the way back at the head — until it shows life: a probe
//! answered, or [`Dispatcher::alive`] (accounting from the NAS). Callers of a waiting
//! change hear [`Outcome::Deferred`] at once instead of waiting with it. An
//! Accounting-On means the NAS rebooted and its sessions are gone: [`Dispatcher::rebooted`]
//! drops its queued changes ([`Outcome::Dropped`]).
//!
//! With a [`Parking`] ([`Dispatcher::with_parking`]: PostgreSQL) the changes of an
//! unreachable NAS wait there instead of in memory, their callers hearing Deferred once
//! they are written, so a restart loses none; a lane whose NAS shows life claims them back
//! in batches and forgets each once answered, and a process that knows every NAS
//! ([`Dispatcher::with_targets`]: radiusd) picks up the changes any process kept
//! ([`Dispatcher::waiting`]), probing their NAS at once.
//!
//! A change names the session it is for; a newer change for the same session replaces a
//! queued older one in its place in the queue ([`Outcome::Superseded`] to the older one's
//! caller), so a NAS that was away never ends with the stale rate.

mod lane;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use proisp_radius::dynauth::Request;
use proisp_radius::secret::Secret;
use tokio::sync::{mpsc, oneshot};

use self::lane::{Lane, Pending};
use crate::park::Parking;
use crate::{Client, Outcome};

/// In-flight requests per NAS unless its entry says otherwise.
pub const DEFAULT_WINDOW: u32 = 32;

/// Timeouts in a row that mark a NAS unreachable.
pub const DEFAULT_UNREACHABLE_AFTER: u32 = 5;

/// How often an unreachable NAS is probed.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// A boxed future of an [`Outcome`], what a [`Transport`] returns.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// How a lane's requests reach the NAS: UDP ([`Client`]), or a binary's own choice per
/// request (radiusd: the NAS's RadSec connection when it has one).
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and waits for its answer, retransmitting as the transport does.
    fn send<'a>(&'a self, nas: &'a Target, request: &'a Request) -> Sending<'a>;
}

impl Transport for Client {
    fn send<'a>(&'a self, nas: &'a Target, request: &'a Request) -> Sending<'a> {
        Box::pin(async move {
            match nas.addr {
                Some(addr) => Client::send(self, addr, &nas.secret, request).await,
                None => Outcome::Io(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    "the NAS is configured as a range: no address to send to",
                )),
            }
        })
    }
}

/// The NAS a change goes to, as the caller knows it now.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its id: one lane per id.
    pub nas_id: i64,
    /// Its name, for logs.
    pub name: String,
    /// Its dynamic-authorization address and port (usually 3799); `None` for a NAS
    /// configured as a range, which only a connection of its own can reach.
    pub addr: Option<SocketAddr>,
    /// The secret requests are signed with.
    pub secret: Secret,
    /// Its own in-flight window (`None`: [`LaneConfig::window`]).
    pub window: Option<u32>,
    /// At most this many requests a second (`None`: as fast as the window allows).
    pub rate: Option<u32>,
    /// Whether the NAS takes requests over a connection of its own (RadSec's `tls_coa`):
    /// a transport holding such connections tries them first.
    pub stream: bool,
}

/// What a lane knows a change's session by: a newer change with the same key replaces a
/// queued older one. The same in every binary, so their changes to one session compare.
pub fn session_key(nas_id: i64, acct_session_id: &str) -> String {
    format!("{nas_id}/{acct_session_id}")
}

/// The dispatcher's settings, shared by every lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneConfig {
    /// In-flight requests per NAS unless its [`Target::window`] says otherwise.
    pub window: u32,
    /// Timeouts in a row that mark a NAS unreachable.
    pub unreachable_after: u32,
    /// How often an unreachable NAS gets one request as a probe.
    pub probe_interval: Duration,
}

impl Default for LaneConfig {
    fn default() -> LaneConfig {
        LaneConfig {
            window: DEFAULT_WINDOW,
            unreachable_after: DEFAULT_UNREACHABLE_AFTER,
            probe_interval: DEFAULT_PROBE_INTERVAL,
        }
    }
}

/// What one lane has done and holds, for metrics and the NAS view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LaneHealth {
    /// The NAS.
    pub nas_id: i64,
    /// Its name, as the last change for it gave it.
    pub name: String,
    /// Changes waiting in its queue.
    pub queued: u64,
    /// Requests sent and not answered yet.
    pub in_flight: u64,
    /// ACKs so far.
    pub ack: u64,
    /// NAKs so far.
    pub nak: u64,
    /// Requests that timed out for good (an answer came to another since).
    pub timeout: u64,
    /// Whether the NAS is marked unreachable.
    pub unreachable: bool,
    /// Whether PostgreSQL may hold changes for the NAS that no lane has claimed.
    pub waiting: bool,
}

/// A lane's counters, shared with [`Dispatcher::health`].
#[derive(Debug, Default)]
struct Stats {
    queued: AtomicU64,
    in_flight: AtomicU64,
    ack: AtomicU64,
    nak: AtomicU64,
    timeout: AtomicU64,
    unreachable: AtomicBool,
    parked: AtomicBool,
}

enum Command {
    /// A change, boxed: a [`Target`] and a [`Request`] are large beside the other commands.
    Change(Box<Pending>),
    /// The NAS showed life.
    Alive,
    /// PostgreSQL holds changes for the NAS.
    Waiting,
    /// A new lane for a NAS with changes in PostgreSQL and no sign of life yet.
    Adopt,
    Rebooted,
}

struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Stats>,
    /// The NAS's name, for metrics.
    name: String,
}

/// Sends every CoA- and Disconnect-Request through a lane per NAS. Cheap to clone.
pub struct Dispatcher<T> {
    transport: Arc<T>,
    config: LaneConfig,
    lanes: Arc<Mutex<HashMap<i64, Handle>>>,
    parking: Option<Arc<dyn Parking>>,
    targets: Option<Targets>,
}

/// Where a NAS's changes go, by its id, as the process knows it now.
pub type Targets = Arc<dyn Fn(i64) -> Option<Target> + Send + Sync>;

impl<T> Clone for Dispatcher<T> {
    fn clone(&self) -> Self {
        Dispatcher {
            transport: self.transport.clone(),
            config: self.config,
            lanes: self.lanes.clone(),
            parking: self.parking.clone(),
            targets: self.targets.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Dispatcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Dispatcher<T> {
    /// A dispatcher sending through `transport`. Lanes start with the first change for
    /// their NAS, inside the calling tokio runtime.
    pub fn new(transport: T, config: LaneConfig) -> Dispatcher<T> {
        Dispatcher {
            transport: Arc::new(transport),
            config,
            lanes: Arc::default(),
            parking: None,
            targets: None,
        }
    }

    /// Keeps the changes of unreachable NASes in `parking` rather than in memory.
    #[must_use]
    pub fn with_parking(mut self, parking: Arc<dyn Parking>) -> Dispatcher<T> {
        self.parking = Some(parking);
        self
    }

    /// Knows every NAS by id through `targets`, so that [`Dispatcher::waiting`] can start
    /// lanes for NASes it has sent nothing to yet.
    #[must_use]
    pub fn with_targets(mut self, targets: Targets) -> Dispatcher<T> {
        self.targets = Some(targets);
        self
    }

    /// Sends `request` to `target` through its NAS's lane and waits for the outcome:
    /// the answer, [`Outcome::Deferred`] once the NAS is marked unreachable (the change
    /// stays queued), [`Outcome::Superseded`] when a newer change for the same `session`
    /// took its place, [`Outcome::Dropped`] when the NAS rebooted first.
    pub async fn send(&self, target: &Target, session: Option<&str>, request: Request) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.command(
            target,
            Command::Change(Box::new(Pending {
                target: target.clone(),
                session: session.map(str::to_owned),
                request,
                reply: Some(reply),
                made: SystemTime::now(),
                kept: false,
            })),
        );
        answer.await.unwrap_or(Outcome::Dropped)
    }

    /// The NAS showed life (accounting for an open session): an unreachable lane
    /// resumes sending, and claims the changes kept for it.
    pub fn alive(&self, nas_id: i64) {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = lanes.get(&nas_id)
            && (handle.stats.unreachable.load(Ordering::Relaxed)
                || handle.stats.parked.load(Ordering::Relaxed))
        {
            let _ = handle.commands.send(Command::Alive);
        }
    }

    /// PostgreSQL holds changes for each of `nas_ids` (kept by this process or another):
    /// a lane that answers claims them; a NAS without a lane gets one, probed at once,
    /// when [`Dispatcher::with_targets`] knows it.
    pub fn waiting(&self, nas_ids: &[i64]) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        for &nas_id in nas_ids {
            if let Some(handle) = lanes.get(&nas_id) {
                let _ = handle.commands.send(Command::Waiting);
            } else if let Some(target) = self.targets.as_ref().and_then(|t| t(nas_id)) {
                self.start(&mut lanes, &target, Command::Adopt);
            }
        }
    }

    /// The NAS rebooted (Accounting-On): its sessions are gone, and with them its
    /// queued changes.
    pub fn rebooted(&self, nas_id: i64) {
        self.notify(nas_id, Command::Rebooted);
    }

    /// Every lane's state, by NAS id.
    pub fn health(&self) -> Vec<LaneHealth> {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<LaneHealth> = lanes
            .iter()
            .map(|(&nas_id, handle)| {
                let s = &handle.stats;
                LaneHealth {
                    nas_id,
                    name: handle.name.clone(),
                    queued: s.queued.load(Ordering::Relaxed),
                    in_flight: s.in_flight.load(Ordering::Relaxed),
                    ack: s.ack.load(Ordering::Relaxed),
                    nak: s.nak.load(Ordering::Relaxed),
                    timeout: s.timeout.load(Ordering::Relaxed),
                    unreachable: s.unreachable.load(Ordering::Relaxed),
                    waiting: s.parked.load(Ordering::Relaxed),
                }
            })
            .collect();
        all.sort_by_key(|h| h.nas_id);
        all
    }

    /// Appends every lane's state to `out` in Prometheus's text format, by NAS name:
    /// `proisp_coa_lane_queued`, `proisp_coa_lane_in_flight`, `proisp_coa_lane_unreachable`
    /// (gauges) and `proisp_coa_lane_answers_total{result="ack"|"nak"|"timeout"}`.
    pub fn render(&self, out: &mut String) {
        let lanes = self.health();
        let gauges: [Gauge; 4] = [
            ("queued", "Changes waiting in the NAS's CoA lane", |h| {
                h.queued
            }),
            (
                "in_flight",
                "CoA requests sent to the NAS and not answered yet",
                |h| h.in_flight,
            ),
            (
                "unreachable",
                "1 while the NAS is marked unreachable for CoA",
                |h| u64::from(h.unreachable),
            ),
            (
                "waiting",
                "1 while PostgreSQL may hold changes for the NAS that no lane has claimed",
                |h| u64::from(h.waiting),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP proisp_coa_lane_{name} {help}");
            let _ = writeln!(out, "# TYPE proisp_coa_lane_{name} gauge");
            for h in &lanes {
                let _ = writeln!(
                    out,
                    "proisp_coa_lane_{name}{{nas=\"{}\"}} {}",
                    escape(&h.name),
                    value(h)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP proisp_coa_lane_answers_total CoA exchanges with the NAS by how they ended"
        );
        let _ = writeln!(out, "# TYPE proisp_coa_lane_answers_total counter");
        for h in &lanes {
            for (result, n) in [("ack", h.ack), ("nak", h.nak), ("timeout", h.timeout)] {
                let _ = writeln!(
                    out,
                    "proisp_coa_lane_answers_total{{nas=\"{}\",result=\"{result}\"}} {n}",
                    escape(&h.name)
                );
            }
        }
    }

    /// A command for an existing lane only: a NAS without one has nothing to resume or
    /// drop.
    fn notify(&self, nas_id: i64, command: Command) {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = lanes.get(&nas_id) {
            let _ = handle.commands.send(command);
        }
    }

    fn command(&self, target: &Target, command: Command) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let command = match lanes.get_mut(&target.nas_id) {
            Some(handle) => {
                if handle.name != target.name {
                    handle.name.clone_from(&target.name);
                }
                match handle.commands.send(command) {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(command)) => command,
                }
            }
            None => command,
        };
        // No lane yet, or its task ended (nothing was left to do): start one.
        self.start(&mut lanes, target, command);
    }

    /// Starts the lane of `target`'s NAS with `command` first.
    fn start(&self, lanes: &mut HashMap<i64, Handle>, target: &Target, command: Command) {
        let (commands, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Stats::default());
        let lane = Lane::new(
            self.transport.clone(),
            self.parking.clone(),
            self.config,
            stats.clone(),
            target.clone(),
        );
        tokio::spawn(lane.run(rx));
        let _ = commands.send(command);
        lanes.insert(
            target.nas_id,
            Handle {
                commands,
                stats,
                name: target.name.clone(),
            },
        );
    }
}

/// A gauge of [`Dispatcher::render`]: its name's end, its help, its value.
type Gauge = (&'static str, &'static str, fn(&LaneHealth) -> u64);

/// A Prometheus label value: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
