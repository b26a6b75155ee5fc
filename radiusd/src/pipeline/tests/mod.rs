//! The pipeline in memory: every drop reason and every kind of reply, against a fake
//! backend, on a simulated clock (an origin and offsets from it; tokio's paused clock for
//! the deferred work's timers). Deferred work is polled by hand, so a test sees exactly
//! when it waits and when it finishes.

use std::collections::HashMap;
use std::pin::{Pin, pin};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::UNIX_EPOCH;

use bytes::BytesMut;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use proisp_model::AcctStatus;
use proisp_model::{
    FupAction, Nas, NasVendor, Password, Plan, QuotaPeriod, RateLimit, Status, Subscriber,
};
use proisp_radius::authenticator::verify_reply;
use proisp_radius::dictionary::attr;
use proisp_radius::encode::Encoder;
use proisp_radius::password;
use tokio::sync::watch;

use super::*;
use crate::auth::PlanEntry;
use crate::dedup::WAYS;

const SECRET: &[u8] = b"testing123";
/// Seconds since the epoch when every test begins, by the wall clock.
const NOW: u64 = 1_800_000_000;
const WINDOW: Duration = Duration::from_secs(5);
const REJECT_DELAY: Duration = Duration::from_secs(1);
/// A NAS that requires the Message-Authenticator (the default).
const NAS: &str = "192.0.2.1:40000";
/// A NAS marked as too old to send one.
const OLD_NAS: &str = "192.0.2.2:40000";
/// No NAS.
const STRANGER: &str = "198.51.100.7:40000";
const PLAN: i64 = 7;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The caches and backends, in memory. Each can answer, answer later (held until the
/// test releases it), be unavailable, or refuse durability.
struct Fake {
    nas: ArcSwap<NasTable>,
    plans: ArcSwap<PlanTable>,
    metrics: Metrics,
    /// Reads the counters `metrics` writes.
    prometheus: PrometheusHandle,
    /// What the in-process cache holds.
    memory: Mutex<HashMap<String, Found>>,
    /// Open-session counts, cached.
    counts: Mutex<HashMap<String, u32>>,
    /// What Redis and PostgreSQL hold; a name missing is unknown.
    stored: Mutex<HashMap<String, Found>>,
    /// Whether Redis or PostgreSQL answers.
    available: AtomicBool,
    /// Whether the backends answer now: while false, lookups and submits wait.
    open: watch::Sender<bool>,
    /// What a submit gets.
    durability: Mutex<Result<Durable, NotDurable>>,
    /// The records submitted.
    records: Mutex<Vec<Record>>,
    /// Where Access-Rejects are offered: a queue of [`REJECT_QUEUE`].
    rejects: RejectLog,
    /// What was offered to it.
    rejected: Mutex<tokio::sync::mpsc::Receiver<proisp_store::RejectRecord>>,
}

/// The fake's reject queue: small, so a test fills it.
const REJECT_QUEUE: usize = 2;

impl Fake {
    fn new() -> Fake {
        let recorder = PrometheusBuilder::new().build_recorder();
        let prometheus = recorder.handle();
        let metrics = ::metrics::with_local_recorder(&recorder, Metrics::register);
        let nas = |id, network: &str, require_message_authenticator| Nas {
            id,
            name: format!("bras-{id}"),
            network: network.parse().unwrap(),
            prefix_len: 32,
            secret: Secret::new(SECRET),
            vendor: NasVendor::Mikrotik,
            coa_port: 3799,
            require_message_authenticator,
            tls: proisp_model::NasTls::default(),
            coa_lane: proisp_model::CoaLane::default(),
            version: 1,
        };
        let plan = Plan {
            id: PLAN,
            name: "home-20".into(),
            rate: RateLimit {
                download_kbps: 20_000,
                upload_kbps: 10_000,
                ..RateLimit::default()
            },
            quota_bytes: None,
            quota_period: QuotaPeriod::Month,
            fup_rate: None,
            fup_action: FupAction::Throttle,
            session_timeout_secs: Some(86_400),
            idle_timeout_secs: Some(600),
            interim_interval_secs: 300,
            pool: None,
            validity_days: 30,
            price_cents: 1500,
            version: 1,
        };
        let (rejects, rejected) = RejectLog::new(REJECT_QUEUE, &metrics);
        Fake {
            nas: ArcSwap::from_pointee(NasTable::new(
                vec![nas(1, "192.0.2.1", true), nas(2, "192.0.2.2", false)],
                &metrics.per_nas,
            )),
            plans: ArcSwap::from_pointee(PlanTable::from([(PLAN, Arc::new(PlanEntry::new(plan)))])),
            metrics,
            prometheus,
            memory: Mutex::default(),
            counts: Mutex::default(),
            stored: Mutex::default(),
            available: AtomicBool::new(true),
            open: watch::Sender::new(true),
            durability: Mutex::new(Ok(Durable::Committed)),
            records: Mutex::default(),
            rejects,
            rejected: Mutex::new(rejected),
        }
    }

    /// Puts `name` in the in-process cache, with its open sessions counted.
    fn remember(&self, name: &str, found: Found) {
        self.memory.lock().unwrap().insert(name.into(), found);
        self.counts.lock().unwrap().insert(name.into(), 0);
    }

    /// Puts `name` in Redis and PostgreSQL only.
    fn store(&self, name: &str, found: Found) {
        self.stored.lock().unwrap().insert(name.into(), found);
    }

    /// Makes the backends wait (`false`) or answer (`true`).
    fn answer(&self, open: bool) {
        self.open.send_replace(open);
    }

    async fn wait_until_open(&self) {
        let mut open = self.open.subscribe();
        // The sender lives as long as `self`, so this ends only when opened.
        let _ = open.wait_for(|&open| open).await;
    }

    /// A counter's value, 0 when it was never registered.
    fn counter(&self, series: &str) -> u64 {
        self.prometheus
            .render()
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    /// Every drop counted, by reason.
    fn drops(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|&why| {
                let series = format!("radius_dropped_packets_total{{reason=\"{}\"}}", why.label());
                (why, self.counter(&series))
            })
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    fn accepts(&self) -> u64 {
        self.metrics.totals.accepts.load(Ordering::Relaxed)
    }

    fn rejects(&self) -> u64 {
        self.metrics.totals.rejects.load(Ordering::Relaxed)
    }

    fn duplicates(&self) -> u64 {
        self.counter("radius_duplicate_requests_total")
    }
}

impl Backend for Fake {
    fn nas(&self) -> &ArcSwap<NasTable> {
        &self.nas
    }

    fn plans(&self) -> &ArcSwap<PlanTable> {
        &self.plans
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn cached(&self, name: &str, _now: Instant) -> Option<Found> {
        self.memory.lock().unwrap().get(name).cloned()
    }

    fn cached_count(&self, name: &str, _now: Instant) -> Option<u32> {
        self.counts.lock().unwrap().get(name).copied()
    }

    async fn find(&self, name: &str) -> Result<Found, Unavailable> {
        self.wait_until_open().await;
        if !self.available.load(Ordering::Relaxed) {
            return Err(Unavailable);
        }
        let stored = self.stored.lock().unwrap().get(name).cloned();
        Ok(stored.unwrap_or(Found::Unknown))
    }

    async fn count(&self, name: &str) -> u32 {
        self.counts.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    async fn submit(&self, record: Record) -> Result<Durable, NotDurable> {
        self.wait_until_open().await;
        let durability = *self.durability.lock().unwrap();
        if durability.is_ok() {
            self.records.lock().unwrap().push(record);
        }
        durability
    }

    fn wall_clock(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn rejects(&self) -> &RejectLog {
        &self.rejects
    }
}

impl Transmit for Vec<(Vec<u8>, SocketAddr)> {
    fn send(&mut self, reply: &[u8], dst: SocketAddr) {
        self.push((reply.to_vec(), dst));
    }
}

/// What one batch produced.
#[derive(Debug, Default)]
struct Batch {
    sent: Vec<(Vec<u8>, SocketAddr)>,
    deferred: Vec<Deferred>,
    answered: u64,
}

/// An endpoint and its fake backend on a simulated clock: every time a test gives is an
/// offset from `origin` (quinn-proto's `Pair`, one side of it).
struct Pipe {
    fake: Arc<Fake>,
    endpoint: Endpoint<Fake>,
    origin: Instant,
}

impl Pipe {
    fn new(port: Port) -> Pipe {
        Pipe::with(port, REJECT_DELAY, 1 << 12)
    }

    fn with(port: Port, reject_delay: Duration, dedup_capacity: usize) -> Pipe {
        let fake = Arc::new(Fake::new());
        let origin = Instant::now();
        let settings = Settings {
            duplicate_window: WINDOW,
            reject_delay,
            dedup_capacity,
            dedup_arena: 1 << 16,
        };
        Pipe {
            endpoint: Endpoint::new(fake.clone(), port, settings, origin),
            fake,
            origin,
        }
    }

    /// Hands the endpoint a batch that arrived `at` after the origin.
    fn receive(&mut self, at: Duration, datagrams: &[(&[u8], &str)]) -> Batch {
        let arrival = Arrival::new(self.origin + at, UNIX_EPOCH + Duration::from_secs(NOW) + at);
        let mut batch = Batch::default();
        batch.answered = self.endpoint.receive(
            datagrams.iter().map(|&(d, src)| (d, addr(src))),
            arrival,
            &mut batch.sent,
            &mut batch.deferred,
        );
        batch
    }

    /// Reports what deferred work returned, `at` after the origin.
    fn complete(&mut self, at: Duration, ticket: Ticket, reply: Option<&[u8]>) {
        self.endpoint.complete(ticket, reply, self.origin + at);
    }

    /// Runs deferred work whose backends answer at once, and reports what it returned.
    async fn finish(&mut self, at: Duration, deferred: Deferred) -> Option<Reply> {
        let reply = deferred
            .work
            .run(&*self.fake, deferred.arrived, deferred.stats.as_deref())
            .await;
        self.complete(at, deferred.ticket, reply.as_deref());
        reply
    }
}

/// Polls `work` once, as the runtime would after a wake-up.
fn poll_once<F: Future>(work: Pin<&mut F>) -> Poll<F::Output> {
    work.poll(&mut Context::from_waker(Waker::noop()))
}

/// An Access-Request from a NAS: PAP, with a Message-Authenticator unless told otherwise.
struct Login<'a> {
    id: u8,
    user: Option<&'a str>,
    password: &'a str,
    message_authenticator: bool,
    secret: &'a [u8],
}

impl<'a> Login<'a> {
    fn new(id: u8, user: &'a str, password: &'a str) -> Login<'a> {
        Login {
            id,
            user: Some(user),
            password,
            message_authenticator: true,
            secret: SECRET,
        }
    }

    fn encode(&self) -> Vec<u8> {
        // The Request Authenticator is random on the wire; a fixed one per identifier
        // keeps the test deterministic.
        let authenticator = [self.id ^ 0x5a; 16];
        let hidden = password::hide(self.password.as_bytes(), self.secret, &authenticator).unwrap();
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessRequest, self.id, &authenticator);
        if self.message_authenticator {
            enc.message_authenticator();
        }
        if let Some(user) = self.user {
            enc.attr(attr::USER_NAME, user.as_bytes());
        }
        enc.attr(attr::USER_PASSWORD, hidden.as_bytes());
        enc.finish(self.secret).unwrap().to_vec()
    }
}

fn status_server(id: u8, message_authenticator: bool) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::StatusServer, id, &[id; 16]);
    if message_authenticator {
        enc.message_authenticator();
    }
    enc.finish(SECRET).unwrap().to_vec()
}

/// An Accounting-Request for alice's session; `status` is Acct-Status-Type.
fn accounting(id: u8, status: Option<u32>, secret: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccountingRequest, id, &[0; 16]);
    if let Some(status) = status {
        enc.u32(attr::ACCT_STATUS_TYPE, status);
    }
    enc.attr(attr::USER_NAME, b"alice")
        .attr(attr::ACCT_SESSION_ID, b"81a00001")
        .attr(attr::PROXY_STATE, b"ps");
    enc.finish(secret).unwrap().to_vec()
}

fn alice() -> Found {
    Found::Subscriber(Arc::new(Subscriber {
        id: 1,
        username: "alice".into(),
        password: Password::new("pw-alice"),
        status: Status::Active,
        plan_id: PLAN,
        expires_at: None,
        mac: None,
        ipv4: None,
        ipv6_prefix: None,
        delegated_ipv6_prefix: None,
        simultaneous_use: 1,
        fup_until: None,
        version: 1,
    }))
}

/// Asserts that `reply` answers `request` with `code`: same Identifier, Response
/// Authenticator and Message-Authenticator (when `signed`) right under the NAS's secret.
fn assert_answers(reply: &[u8], request: &[u8], code: Code, signed: bool) {
    let request = Packet::decode(request).unwrap();
    let reply = Packet::decode(reply).unwrap();
    assert_eq!(reply.code(), code);
    assert_eq!(reply.identifier(), request.identifier());
    verify_reply(&reply, request.authenticator(), SECRET, signed).unwrap();
}

/// The one reply of a batch, to `dst`.
fn one_reply(batch: &Batch, dst: &str) -> Vec<u8> {
    assert_eq!(batch.sent.len(), 1, "one reply expected: {:?}", batch.sent);
    assert_eq!(batch.sent[0].1, addr(dst));
    batch.sent[0].0.clone()
}

/// The one piece of deferred work of a batch, which nothing was sent for.
fn deferred(mut batch: Batch) -> Deferred {
    assert!(
        batch.sent.is_empty(),
        "nothing sent at once: {:?}",
        batch.sent
    );
    assert_eq!(batch.deferred.len(), 1, "deferred: {:?}", batch.deferred);
    batch.deferred.remove(0)
}

/// Asserts a batch produced nothing at all.
fn assert_silent(batch: &Batch) {
    assert!(batch.sent.is_empty(), "sent: {:?}", batch.sent);
    assert!(batch.deferred.is_empty(), "deferred: {:?}", batch.deferred);
}

mod drops;
mod rejects;
mod replies;
