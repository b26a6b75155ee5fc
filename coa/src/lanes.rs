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
//! A change names the session it is for; a newer change for the same session replaces a
//! queued older one in its place in the queue ([`Outcome::Superseded`] to the older one's
//! caller), so a NAS that was away never ends with the stale rate.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proisp_radius::dynauth::Request;
use proisp_radius::secret::Secret;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

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
}

enum Command {
    /// A change, boxed: a [`Target`] and a [`Request`] are large beside the other commands.
    Change(Box<Pending>),
    Alive,
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
}

impl<T> Clone for Dispatcher<T> {
    fn clone(&self) -> Self {
        Dispatcher {
            transport: self.transport.clone(),
            config: self.config,
            lanes: self.lanes.clone(),
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
        }
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
            })),
        );
        answer.await.unwrap_or(Outcome::Dropped)
    }

    /// The NAS showed life (accounting for an open session): an unreachable lane
    /// resumes sending.
    pub fn alive(&self, nas_id: i64) {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = lanes.get(&nas_id)
            && handle.stats.unreachable.load(Ordering::Relaxed)
        {
            let _ = handle.commands.send(Command::Alive);
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
        let gauges: [Gauge; 3] = [
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
        let (commands, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Stats::default());
        let lane = Lane::new(self.transport.clone(), self.config, stats.clone());
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

/// A change in a lane's queue or in flight.
struct Pending {
    target: Target,
    session: Option<String>,
    request: Request,
    /// The caller, until it has its answer ([`Outcome::Deferred`] counts).
    reply: Option<oneshot::Sender<Outcome>>,
}

impl Pending {
    fn answer(&mut self, outcome: Outcome) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(outcome);
        }
    }
}

/// One NAS's lane: the task that owns its queue.
struct Lane<T> {
    transport: Arc<T>,
    config: LaneConfig,
    stats: Arc<Stats>,
    next_id: u64,
    /// Ids in sending order; an id no longer in `queued` was superseded.
    order: VecDeque<u64>,
    queued: HashMap<u64, Pending>,
    /// The queued change of each session.
    by_session: HashMap<String, u64>,
    flying: HashMap<u64, Pending>,
    sends: JoinSet<(u64, Outcome)>,
    /// Exchanges in a row that timed out (reset by any answer).
    timeouts: u32,
    /// Changes that timed out while others were still in flight, with their outcomes:
    /// requeued if the NAS turns out unreachable, settled as timeouts if it answers.
    suspects: Vec<(u64, Pending, Outcome)>,
    unreachable: bool,
    /// When the next request may start, under a rate cap.
    next_start: Instant,
    /// When an unreachable NAS is probed next.
    next_probe: Instant,
}

impl<T: Transport> Lane<T> {
    fn new(transport: Arc<T>, config: LaneConfig, stats: Arc<Stats>) -> Lane<T> {
        let now = Instant::now();
        Lane {
            transport,
            config,
            stats,
            next_id: 0,
            order: VecDeque::new(),
            queued: HashMap::new(),
            by_session: HashMap::new(),
            flying: HashMap::new(),
            sends: JoinSet::new(),
            timeouts: 0,
            suspects: Vec::new(),
            unreachable: false,
            next_start: now,
            next_probe: now,
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut open = true;
        loop {
            self.start_ready();
            let wake = self.wake();
            tokio::select! {
                command = commands.recv(), if open => match command {
                    Some(command) => self.handle(command),
                    None => open = false,
                },
                Some(done) = self.sends.join_next(), if !self.sends.is_empty() => {
                    if let Ok((id, outcome)) = done {
                        self.finished(id, outcome);
                    }
                }
                () = sleep_until(wake), if wake.is_some() => {
                    if self.unreachable {
                        self.probe();
                    }
                }
            }
            self.publish();
            // Idle with nobody to send more: end (the next change starts a new lane).
            if !open && self.sends.is_empty() && (self.queued.is_empty() || self.unreachable) {
                return;
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Change(pending) => self.enqueue(*pending),
            Command::Alive => self.reachable(),
            Command::Rebooted => {
                let suspects = std::mem::take(&mut self.suspects);
                for mut pending in self
                    .queued
                    .drain()
                    .map(|(_, p)| p)
                    .chain(suspects.into_iter().map(|(_, p, _)| p))
                {
                    pending.answer(Outcome::Dropped);
                }
                self.order.clear();
                self.by_session.clear();
                self.reachable();
            }
        }
    }

    /// Queues a change, in the place of the queued one of the same session if any.
    fn enqueue(&mut self, mut pending: Pending) {
        if self.unreachable {
            pending.answer(Outcome::Deferred);
        }
        if let Some(session) = &pending.session
            && let Some(&id) = self.by_session.get(session)
            && let Some(older) = self.queued.get_mut(&id)
        {
            older.answer(Outcome::Superseded);
            *older = pending;
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        if let Some(session) = &pending.session {
            self.by_session.insert(session.clone(), id);
        }
        self.queued.insert(id, pending);
        self.order.push_back(id);
    }

    /// Puts a change that timed out back at the head of the queue, unless a newer one for
    /// its session is queued.
    fn requeue(&mut self, id: u64, mut pending: Pending) {
        if let Some(session) = &pending.session {
            if self.by_session.contains_key(session) {
                pending.answer(Outcome::Superseded);
                return;
            }
            self.by_session.insert(session.clone(), id);
        }
        pending.answer(Outcome::Deferred);
        self.queued.insert(id, pending);
        self.order.push_front(id);
    }

    /// The next queued change, taken out of the queue.
    fn pop(&mut self) -> Option<(u64, Pending)> {
        while let Some(id) = self.order.pop_front() {
            if let Some(pending) = self.queued.remove(&id) {
                if let Some(session) = &pending.session
                    && self.by_session.get(session) == Some(&id)
                {
                    self.by_session.remove(session);
                }
                return Some((id, pending));
            }
        }
        None
    }

    fn window(&self) -> usize {
        let window = self
            .order
            .front()
            .and_then(|id| self.queued.get(id))
            .and_then(|p| p.target.window)
            .unwrap_or(self.config.window);
        usize::try_from(window.max(1)).unwrap_or(usize::MAX)
    }

    /// Starts queued changes while the window and the rate cap allow, and the NAS is not
    /// in doubt: after a timeout nothing new starts until an answer comes or what is in
    /// flight has timed out too, so a NAS that died is found out with one window's worth
    /// of requests on it, not two.
    fn start_ready(&mut self) {
        if self.unreachable || !self.suspects.is_empty() {
            return;
        }
        while self.flying.len() < self.window() && Instant::now() >= self.next_start {
            let Some((id, pending)) = self.pop() else {
                return;
            };
            if let Some(rate) = pending.target.rate.filter(|&r| r > 0) {
                self.next_start = Instant::now() + Duration::from_secs(1) / rate;
            }
            self.launch(id, pending);
        }
    }

    fn launch(&mut self, id: u64, pending: Pending) {
        let transport = self.transport.clone();
        let target = pending.target.clone();
        let request = pending.request.clone();
        self.sends
            .spawn(async move { (id, transport.send(&target, &request).await) });
        self.flying.insert(id, pending);
    }

    /// When the loop must wake without a command or an answer: the rate cap's next start,
    /// or the next probe of an unreachable NAS.
    fn wake(&self) -> Option<Instant> {
        if self.order.is_empty() {
            return None;
        }
        if self.unreachable {
            return self.sends.is_empty().then_some(self.next_probe);
        }
        (self.flying.len() < self.window() && Instant::now() < self.next_start)
            .then_some(self.next_start)
    }

    /// One request to an unreachable NAS: the head of its queue.
    fn probe(&mut self) {
        self.next_probe = Instant::now() + self.config.probe_interval;
        if let Some((id, pending)) = self.pop() {
            tracing::debug!(nas = %pending.target.name, "probing an unreachable NAS");
            self.launch(id, pending);
        }
    }

    fn finished(&mut self, id: u64, outcome: Outcome) {
        let Some(mut pending) = self.flying.remove(&id) else {
            return;
        };
        match outcome {
            Outcome::Timeout { .. } if self.unreachable => self.requeue(id, pending),
            Outcome::Timeout { .. } => {
                self.timeouts += 1;
                self.suspects.push((id, pending, outcome));
                if self.timeouts >= self.config.unreachable_after.max(1) {
                    self.mark_unreachable();
                } else if self.flying.is_empty() {
                    // No other request can tell soon whether the NAS is alive: these timed
                    // out, and the count goes on.
                    self.settle_suspects();
                }
            }
            outcome => {
                // An answer: the NAS is alive, and what timed out before it did so for good.
                self.timeouts = 0;
                self.settle_suspects();
                match &outcome {
                    Outcome::Ack => self.stats.ack.fetch_add(1, Ordering::Relaxed),
                    Outcome::Nak { .. } => self.stats.nak.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
                self.reachable();
                pending.answer(outcome);
            }
        }
    }

    /// What timed out since the last answer did so for good.
    fn settle_suspects(&mut self) {
        for (_, mut suspect, timeout) in std::mem::take(&mut self.suspects) {
            self.stats.timeout.fetch_add(1, Ordering::Relaxed);
            suspect.answer(timeout);
        }
    }

    fn mark_unreachable(&mut self) {
        if let Some((_, pending, _)) = self.suspects.first() {
            tracing::warn!(nas = %pending.target.name, timeouts = self.suspects.len(), "NAS does not answer CoA: marked unreachable, its changes wait");
        }
        self.unreachable = true;
        // Published before any caller hears Deferred: an `alive` right after must see it.
        self.stats.unreachable.store(true, Ordering::Relaxed);
        self.next_probe = Instant::now() + self.config.probe_interval;
        // Back at the head, oldest first.
        let mut suspects = std::mem::take(&mut self.suspects);
        suspects.sort_by_key(|(id, _, _)| *id);
        for (id, pending, _) in suspects.into_iter().rev() {
            self.requeue(id, pending);
        }
        for pending in self.queued.values_mut() {
            pending.answer(Outcome::Deferred);
        }
    }

    fn reachable(&mut self) {
        if self.unreachable {
            self.timeouts = 0;
            if let Some(pending) = self.order.front().and_then(|id| self.queued.get(id)) {
                tracing::info!(nas = %pending.target.name, "NAS answers again: its waiting changes go out");
            }
            self.unreachable = false;
            self.stats.unreachable.store(false, Ordering::Relaxed);
        }
    }

    fn publish(&self) {
        let s = &self.stats;
        s.queued.store(self.queued.len() as u64, Ordering::Relaxed);
        s.in_flight
            .store(self.flying.len() as u64, Ordering::Relaxed);
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

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
