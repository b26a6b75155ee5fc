//! One NAS's lane: the task that owns its queue, its window, and — with a [`Parking`] —
//! the changes kept in PostgreSQL while the NAS does not answer.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use proisp_radius::dynauth::Request;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Command, LaneConfig, Stats, Target, Transport, session_key};
use crate::Outcome;
use crate::park::{Kept, ParkError, Parking};

/// How long a lane waits after PostgreSQL failed it before the next attempt.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// A change in a lane's queue or in flight.
pub(super) struct Pending {
    pub(super) target: Target,
    pub(super) session: Option<String>,
    pub(super) request: Request,
    /// The caller, until it has its answer ([`Outcome::Deferred`] counts).
    pub(super) reply: Option<oneshot::Sender<Outcome>>,
    /// When the change was made.
    pub(super) made: SystemTime,
    /// Whether PostgreSQL holds it (or an older change of its session) until it is
    /// settled.
    pub(super) kept: bool,
}

impl Pending {
    fn answer(&mut self, outcome: Outcome) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(outcome);
        }
    }

    fn kept(&self) -> Kept {
        Kept {
            request: self.request.clone(),
            made: self.made,
        }
    }
}

/// What a PostgreSQL operation of the lane came back with.
enum Stored {
    Kept(Result<(), ParkError>),
    Claimed {
        probe: bool,
        limit: u32,
        result: Result<Vec<Kept>, ParkError>,
    },
    Settled(Result<(), ParkError>),
}

pub(super) struct Lane<T> {
    transport: Arc<T>,
    parking: Option<Arc<dyn Parking>>,
    config: LaneConfig,
    stats: Arc<Stats>,
    /// The NAS as the newest change gave it: where claimed changes go.
    target: Target,
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
    /// Whether PostgreSQL may hold changes for the NAS that nobody has claimed.
    parked: bool,
    /// Changes being written to PostgreSQL; their callers hear Deferred when they are.
    keeping: Vec<Pending>,
    /// Kept changes answered, to forget in PostgreSQL.
    settling: Vec<Kept>,
    /// The PostgreSQL operation under way: one at a time.
    store: JoinSet<Stored>,
    /// No PostgreSQL operation but settling before this (after a failure).
    store_after: Instant,
}

impl<T: Transport> Lane<T> {
    pub(super) fn new(
        transport: Arc<T>,
        parking: Option<Arc<dyn Parking>>,
        config: LaneConfig,
        stats: Arc<Stats>,
        target: Target,
    ) -> Lane<T> {
        let now = Instant::now();
        Lane {
            transport,
            parking,
            config,
            stats,
            target,
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
            parked: false,
            keeping: Vec::new(),
            settling: Vec::new(),
            store: JoinSet::new(),
            store_after: now,
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut open = true;
        loop {
            self.start_ready();
            self.start_store();
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
                Some(done) = self.store.join_next(), if !self.store.is_empty() => {
                    if let Ok(done) = done {
                        self.stored(done);
                    }
                }
                () = sleep_until(wake), if wake.is_some() => {
                    if self.unreachable && Instant::now() >= self.next_probe {
                        self.probe();
                    }
                }
            }
            self.publish();
            // Idle with nobody to send more: end (the next change starts a new lane).
            if !open
                && self.sends.is_empty()
                && self.store.is_empty()
                && self.settling.is_empty()
                && (self.queued.is_empty() || self.unreachable)
            {
                return;
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Change(pending) => {
                self.target.clone_from(&pending.target);
                self.enqueue(*pending);
            }
            Command::Alive => self.reachable(),
            Command::Waiting => self.parked = true,
            Command::Adopt => {
                // A NAS found with changes kept and no lane: probe it at once.
                self.parked = true;
                self.mark(true);
            }
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

    /// Queues a change, in the place of the queued one of the same session if any: the
    /// later made of the two stays, and is kept in PostgreSQL if either was.
    fn enqueue(&mut self, mut pending: Pending) {
        if self.unreachable && self.parking.is_none() {
            pending.answer(Outcome::Deferred);
        }
        if let Some(session) = &pending.session
            && let Some(&id) = self.by_session.get(session)
            && let Some(queued) = self.queued.get_mut(&id)
        {
            if queued.made > pending.made {
                queued.kept |= pending.kept;
                pending.answer(Outcome::Superseded);
            } else {
                pending.kept |= queued.kept;
                queued.answer(Outcome::Superseded);
                *queued = pending;
            }
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
            if let Some(queued) = self
                .by_session
                .get(session)
                .and_then(|i| self.queued.get_mut(i))
            {
                queued.kept |= pending.kept;
                pending.answer(Outcome::Superseded);
                return;
            }
            self.by_session.insert(session.clone(), id);
        }
        if self.parking.is_none() {
            pending.answer(Outcome::Deferred);
        }
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
        let window = self.target.window.unwrap_or(self.config.window);
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

    /// Starts the PostgreSQL operation that is due, if none is under way: keeping what
    /// waits in memory for an unreachable NAS, forgetting what was answered, or claiming
    /// kept changes for a NAS that answers and has room in its window.
    fn start_store(&mut self) {
        let Some(parking) = self.parking.clone() else {
            return;
        };
        if !self.store.is_empty() {
            return;
        }
        let nas = self.target.nas_id;
        let now = Instant::now();
        if self.unreachable && !self.order.is_empty() && now >= self.store_after {
            while let Some((_, pending)) = self.pop() {
                self.keeping.push(pending);
            }
            let kept: Vec<Kept> = self.keeping.iter().map(Pending::kept).collect();
            self.store
                .spawn(async move { Stored::Kept(parking.keep(nas, &kept).await) });
        } else if !self.settling.is_empty() {
            let settling = std::mem::take(&mut self.settling);
            self.store
                .spawn(async move { Stored::Settled(parking.settle(nas, &settling).await) });
        } else if !self.unreachable
            && self.parked
            && self.suspects.is_empty()
            && self.queued.len() < self.window()
            && now >= self.store_after
        {
            let limit = u32::try_from(self.window() * 2).unwrap_or(u32::MAX);
            self.store.spawn(async move {
                let result = parking.claim(nas, limit).await;
                Stored::Claimed {
                    probe: false,
                    limit,
                    result,
                }
            });
        }
    }

    fn stored(&mut self, done: Stored) {
        match done {
            Stored::Kept(Ok(())) => {
                self.parked = true;
                for mut pending in std::mem::take(&mut self.keeping) {
                    pending.answer(Outcome::Deferred);
                }
            }
            Stored::Kept(Err(e)) => {
                tracing::warn!(nas = %self.target.name, error = %e, "cannot keep the changes of an unreachable NAS in PostgreSQL: they wait in memory");
                self.store_after = Instant::now() + STORE_RETRY;
                let keeping = std::mem::take(&mut self.keeping);
                for mut pending in keeping.into_iter().rev() {
                    pending.answer(Outcome::Deferred);
                    let id = self.next_id;
                    self.next_id += 1;
                    self.requeue(id, pending);
                }
            }
            Stored::Settled(Ok(())) => {}
            Stored::Settled(Err(e)) => {
                // Sent again when their lease runs out: a CoA setting the rate a session
                // has, or a Disconnect for a session gone, changes nothing.
                tracing::warn!(nas = %self.target.name, error = %e, "cannot mark kept changes as delivered");
            }
            Stored::Claimed {
                probe,
                limit,
                result,
            } => match result {
                Ok(kept) => {
                    if (probe && kept.is_empty()) || (!probe && kept.len() < limit as usize) {
                        self.parked = false;
                    }
                    for k in kept {
                        let pending = self.claimed(k);
                        if probe {
                            tracing::debug!(nas = %self.target.name, "probing an unreachable NAS");
                            let id = self.next_id;
                            self.next_id += 1;
                            self.launch(id, pending);
                        } else {
                            self.enqueue(pending);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(nas = %self.target.name, error = %e, "cannot claim the kept changes of a NAS");
                    self.store_after = Instant::now() + STORE_RETRY;
                }
            },
        }
    }

    /// A kept change claimed from PostgreSQL, as a queued one.
    fn claimed(&self, k: Kept) -> Pending {
        let session = String::from_utf8_lossy(&k.request.acct_session_id);
        Pending {
            target: self.target.clone(),
            session: Some(session_key(self.target.nas_id, &session)),
            request: k.request,
            reply: None,
            made: k.made,
            kept: true,
        }
    }

    /// When the loop must wake without a command or an answer: the rate cap's next start,
    /// the next probe of an unreachable NAS, or the retry of a failed PostgreSQL write.
    fn wake(&self) -> Option<Instant> {
        let retry = (self.store.is_empty() && self.unreachable && !self.order.is_empty())
            .then_some(self.store_after);
        let own = if self.unreachable {
            (self.sends.is_empty()
                && self.store.is_empty()
                && (!self.order.is_empty() || self.parked))
                .then_some(self.next_probe)
        } else {
            (!self.order.is_empty()
                && self.flying.len() < self.window()
                && Instant::now() < self.next_start)
                .then_some(self.next_start)
        };
        match (retry, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One request to an unreachable NAS: the head of its queue, or a kept change.
    fn probe(&mut self) {
        self.next_probe = Instant::now() + self.config.probe_interval;
        if let Some((id, pending)) = self.pop() {
            tracing::debug!(nas = %self.target.name, "probing an unreachable NAS");
            self.launch(id, pending);
        } else if let Some(parking) = self.parking.clone().filter(|_| self.parked) {
            let nas = self.target.nas_id;
            self.store.spawn(async move {
                let result = parking.claim(nas, 1).await;
                Stored::Claimed {
                    probe: true,
                    limit: 1,
                    result,
                }
            });
        }
    }

    fn finished(&mut self, id: u64, outcome: Outcome) {
        let Some(mut pending) = self.flying.remove(&id) else {
            return;
        };
        match outcome {
            outcome if outcome.unanswered() && self.unreachable => self.requeue(id, pending),
            outcome if outcome.unanswered() => {
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
                self.delivered(&pending);
                pending.answer(outcome);
            }
        }
    }

    /// A kept change is done with: PostgreSQL forgets it.
    fn delivered(&mut self, pending: &Pending) {
        if pending.kept {
            self.settling.push(pending.kept());
        }
    }

    /// What timed out since the last answer did so for good.
    fn settle_suspects(&mut self) {
        for (_, mut suspect, timeout) in std::mem::take(&mut self.suspects) {
            self.stats.timeout.fetch_add(1, Ordering::Relaxed);
            self.delivered(&suspect);
            suspect.answer(timeout);
        }
    }

    fn mark_unreachable(&mut self) {
        tracing::warn!(nas = %self.target.name, timeouts = self.suspects.len(), "NAS does not answer CoA: marked unreachable, its changes wait");
        self.mark(false);
        // Back at the head, oldest first.
        let mut suspects = std::mem::take(&mut self.suspects);
        suspects.sort_by_key(|(id, _, _)| *id);
        for (id, pending, _) in suspects.into_iter().rev() {
            self.requeue(id, pending);
        }
        if self.parking.is_none() {
            for pending in self.queued.values_mut() {
                pending.answer(Outcome::Deferred);
            }
        }
    }

    /// Marks the NAS unreachable, with its first probe now or after the interval.
    fn mark(&mut self, probe_now: bool) {
        self.unreachable = true;
        // Published before any caller hears Deferred: an `alive` right after must see it.
        self.stats.unreachable.store(true, Ordering::Relaxed);
        self.next_probe = Instant::now();
        if !probe_now {
            self.next_probe += self.config.probe_interval;
        }
    }

    fn reachable(&mut self) {
        if self.unreachable {
            self.timeouts = 0;
            tracing::info!(nas = %self.target.name, "NAS answers again: its waiting changes go out");
            self.unreachable = false;
            self.stats.unreachable.store(false, Ordering::Relaxed);
        }
    }

    fn publish(&self) {
        let s = &self.stats;
        s.queued.store(
            (self.queued.len() + self.keeping.len()) as u64,
            Ordering::Relaxed,
        );
        s.in_flight
            .store(self.flying.len() as u64, Ordering::Relaxed);
        s.parked.store(self.parked, Ordering::Relaxed);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
