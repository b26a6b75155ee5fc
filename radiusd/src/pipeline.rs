//! The fate of every request, without a socket (DESIGN.md, auth path and accounting path).
//!
//! Sans-IO, as quinn-proto's `Endpoint` and hickory's `RequestHandler` are (STYLE.md, The
//! protocol core is sans-IO): an [`Endpoint`] is given a batch of datagrams, their sources
//! and when they arrived, and says what to do — replies to send now, and [`Deferred`] work
//! (a request that waits for a backend, an Access-Reject held for the reject delay) for
//! its driver to run. The driver (`crate::server`) owns the socket, runs each deferred
//! piece as a task of its own, and reports what it returned to [`Endpoint::complete`]. The
//! endpoint reads no clock (the driver reads it once per batch) and names no database:
//! the caches and backends are a [`Backend`] the endpoint is generic over (`Shared` in
//! production, an in-memory fake in the tests), so each decision below is tested in
//! memory with a simulated clock.
//!
//! A batch goes through in stages, each over all its requests, because the middle ones
//! are cheaper together: admission (a known NAS, a well-formed packet, a code the port
//! serves) and the duplicate cache; the Message-Authenticator checks, side by side in SIMD
//! lanes; the answers from memory (Status-Server; an Access-Request whose subscriber and
//! open-session count are in the in-process caches: nearly all of them), built one after
//! another in one buffer; their signatures, again side by side; then the replies, the
//! deferred work and the counted drops.
//!
//! Deferred work is bounded: each piece holds an entry of the duplicate cache in flight
//! until it is reported complete, and a request whose bucket holds nothing but entries in
//! flight is dropped (`too_many_in_flight`). So the tasks waiting, and the reports queued
//! for the endpoint, are never more than the cache's entries.

mod answer;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use proisp_model::Nas;
use proisp_radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticators, sign_replies_with,
    verify_request_digest,
};
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::profile::Profile;
use proisp_radius::secret::Secret;

pub(crate) use self::answer::{Deferred, Work};
use self::answer::{Now, answer_now};
use crate::acct::Record;
use crate::auth::PlanTable;
use crate::dedup::{Check, Dedup, Key, Reply, Ticket};
use crate::flood::{log_allowed_at, unix_seconds};
use crate::lookup::{Found, Unavailable};
use crate::metrics::{Answered, DropReason, Metrics};
use crate::mmsg::BATCH;
use crate::nas_table::NasTable;
use crate::rejects::RejectLog;
use crate::writer::{Durable, NotDurable};

/// Which service a socket offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// Access-Request and Status-Server (1812).
    Auth,
    /// Accounting-Request and Status-Server (1813).
    Acct,
    /// Everything, over one connection: RadSec (RFC 6614 §2.3) and RADIUS/TCP.
    Stream,
}

impl Port {
    /// Whether requests with `code` are served on this port.
    fn serves(self, code: Code) -> bool {
        match self {
            Port::Auth => matches!(code, Code::AccessRequest | Code::StatusServer),
            Port::Acct => matches!(code, Code::AccountingRequest | Code::StatusServer),
            Port::Stream => matches!(
                code,
                Code::AccessRequest | Code::AccountingRequest | Code::StatusServer
            ),
        }
    }
}

/// What the pipeline decides with: the NAS and plan snapshots, the metric handles, the
/// in-process caches (read at once) and the backends (waited for by deferred work).
///
/// The endpoint is generic over it, so the request path pays no dynamic dispatch.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The NAS table in force.
    fn nas(&self) -> &ArcSwap<NasTable>;
    /// The plans in force.
    fn plans(&self) -> &ArcSwap<PlanTable>;
    /// The metric handles, created at start-up.
    fn metrics(&self) -> &Metrics;
    /// What the in-process cache knows of `name` at `now`, if it holds an entry still
    /// trusted.
    fn cached(&self, name: &str, now: Instant) -> Option<Found>;
    /// `name`'s open sessions, if a count still trusted at `now` is cached.
    fn cached_count(&self, name: &str, now: Instant) -> Option<u32>;
    /// Finds a subscriber, waiting for Redis or PostgreSQL where memory cannot answer.
    fn find(&self, name: &str) -> impl Future<Output = Result<Found, Unavailable>> + Send;
    /// `name`'s open sessions, from the cache or PostgreSQL (0 when neither knows).
    fn count(&self, name: &str) -> impl Future<Output = u32> + Send;
    /// Makes an accounting record durable: committed to PostgreSQL or spooled.
    fn submit(&self, record: Record) -> impl Future<Output = Result<Durable, NotDurable>> + Send;
    /// The time a request that waited for a backend is decided at (its subscriber may
    /// have expired meanwhile).
    fn wall_clock(&self) -> SystemTime;
    /// Where Access-Rejects of known subscribers are offered for the admin console.
    fn rejects(&self) -> &RejectLog;
}

/// Where a batch's replies go: the driver's send batch, or a test's list.
pub(crate) trait Transmit {
    /// Queues a copy of `reply` for `dst`.
    fn send(&mut self, reply: &[u8], dst: SocketAddr);
}

/// When a batch of requests arrived: the clocks read once, by the driver, for all of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub(crate) at: Instant,
    /// The wall clock: an accounting record's time of arrival.
    pub(crate) wall: SystemTime,
    /// Seconds since the Unix epoch, for expiry checks.
    unix: i64,
}

impl Arrival {
    pub(crate) fn new(at: Instant, wall: SystemTime) -> Arrival {
        Arrival {
            at,
            wall,
            unix: unix_seconds(wall),
        }
    }
}

/// How an endpoint is set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How long an answered request's reply is replayed to its retransmissions.
    pub(crate) duplicate_window: Duration,
    /// How long an Access-Reject is held back; zero sends it at once.
    pub(crate) reject_delay: Duration,
    /// Requests the duplicate cache remembers, about.
    pub(crate) dedup_capacity: usize,
    /// Octets of replies the duplicate cache keeps.
    pub(crate) dedup_arena: usize,
}

static UNKNOWN_NAS_LOG: AtomicI64 = AtomicI64::new(0);
static MALFORMED_LOG: AtomicI64 = AtomicI64::new(0);

/// One socket's or connection's request pipeline: its duplicate cache, and the buffer the
/// replies of a batch answered from memory are built in.
#[derive(Debug)]
pub(crate) struct Endpoint<B> {
    backend: Arc<B>,
    port: Port,
    /// A connection's NAS, known from its certificate or address once for all its
    /// requests; `None` on a UDP socket, where each datagram's source names its NAS.
    peer: Option<Arc<Nas>>,
    /// Classic RADIUS, or RADIUS/1.1 on a TLS connection that negotiated it.
    profile: Profile,
    reject_delay: Duration,
    dedup: Dedup,
    /// Where the replies of a batch answered from memory are built, one after another,
    /// before they are copied to the duplicate cache and the transmit queue.
    out: BytesMut,
    /// The requests of the last batch answered from memory, by NAS id and result, for
    /// [`Endpoint::record_latency`] (ids, not the NAS's metrics: no reference count is
    /// touched per request).
    answered: Vec<(i64, Answered)>,
}

/// A request of the current batch on its way through [`Endpoint::receive`].
struct Admitted<'a> {
    nas: Arc<Nas>,
    packet: Packet<'a>,
    datagram: &'a [u8],
    src: SocketAddr,
    key: Key,
    ticket: Ticket,
    outcome: Fate,
}

/// What became of an admitted request.
enum Fate {
    /// Not decided yet.
    Pending,
    /// Answered from memory: the reply is at this range of [`Endpoint::out`].
    Answered {
        range: std::ops::Range<usize>,
        reject: bool,
    },
    /// Dropped (counted where it was decided).
    Dropped,
    /// Waits for a backend: deferred.
    Wait,
}

impl<B: Backend> Endpoint<B> {
    /// An endpoint for `port`; `now` starts its duplicate cache's clock.
    pub(crate) fn new(backend: Arc<B>, port: Port, settings: Settings, now: Instant) -> Self {
        Endpoint {
            backend,
            port,
            peer: None,
            profile: Profile::Classic,
            reject_delay: settings.reject_delay,
            dedup: Dedup::new(
                settings.duplicate_window,
                settings.dedup_capacity,
                settings.dedup_arena,
                now,
            ),
            out: BytesMut::new(),
            answered: Vec::new(),
        }
    }

    /// An endpoint for one connection from `peer` (RadSec, RADIUS/TCP) speaking
    /// `profile`: every request is `peer`'s, whatever its source, and served whatever its
    /// code.
    pub(crate) fn for_connection(
        backend: Arc<B>,
        peer: Arc<Nas>,
        profile: Profile,
        settings: Settings,
        now: Instant,
    ) -> Self {
        Endpoint {
            peer: Some(peer),
            profile,
            ..Endpoint::new(backend, Port::Stream, settings, now)
        }
    }

    /// The connection's NAS, after the NAS table changed.
    pub(crate) fn set_peer(&mut self, peer: Arc<Nas>) {
        self.peer = Some(peer);
    }

    /// What deferred work runs against.
    pub(crate) fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// Records what deferred work returned at `now`: its reply, replayed to the request's
    /// retransmissions from then on, or `None` (dropped: a retransmission is evaluated
    /// again).
    pub(crate) fn complete(&mut self, ticket: Ticket, reply: Option<&[u8]>, now: Instant) {
        self.dedup.complete(ticket, reply, now);
    }

    /// Records the latency of the requests the last batch answered from memory, `elapsed`
    /// after they arrived: overall, and by NAS and result.
    pub(crate) fn record_latency(&mut self, elapsed: Duration) {
        let backend = &*self.backend;
        backend
            .metrics()
            .duration
            .record_many(elapsed, self.answered.len() as u64);
        if self.answered.is_empty() {
            return;
        }
        // A batch comes mostly from one NAS: one count per run of the same NAS and result.
        let table = backend.nas().load();
        for run in self.answered.chunk_by(|a, b| a == b) {
            let (id, answered) = run[0];
            if let Some(stats) = table.stats(id) {
                stats.record_many(answered, elapsed, run.len() as u64);
            }
        }
        self.answered.clear();
    }

    /// Handles a batch of datagrams and their sources, all arrived at `arrival`: replies
    /// to send now go to `transmit`, work for later to `deferred`. Returns how many
    /// requests were answered from memory (replays of the duplicate cache aside), whose
    /// latency [`Endpoint::record_latency`] records.
    pub(crate) fn receive<'a>(
        &mut self,
        datagrams: impl IntoIterator<Item = (&'a [u8], SocketAddr)>,
        arrival: Arrival,
        transmit: &mut impl Transmit,
        deferred: &mut Vec<Deferred>,
    ) -> u64 {
        let backend = &*self.backend;
        let metrics = backend.metrics();
        let datagrams = datagrams.into_iter();
        let mut admitted: Vec<Admitted<'_>> =
            Vec::with_capacity(datagrams.size_hint().1.unwrap_or(BATCH));
        // Copies of a request that arrived in the same batch as the request itself: they
        // get its reply, as a retransmission after the reply would.
        let mut echoes: Vec<(usize, SocketAddr)> = Vec::new();
        let table = backend.nas().load();
        self.answered.clear();
        for (datagram, src) in datagrams {
            let Some((nas, packet, key)) = admit(
                backend,
                &table,
                self.peer.as_ref(),
                datagram,
                src,
                self.port,
                arrival,
            ) else {
                continue;
            };
            match self.dedup.check(key, arrival.at) {
                Check::New(ticket) => admitted.push(Admitted {
                    nas,
                    packet,
                    datagram,
                    src,
                    key,
                    ticket,
                    outcome: Fate::Pending,
                }),
                Check::InProgress => match admitted.iter().position(|a| a.key == key) {
                    Some(first) => echoes.push((first, src)),
                    None => metrics.drop(DropReason::DuplicateInProgress),
                },
                Check::Replay(reply) => {
                    metrics.duplicates.increment(1);
                    transmit.send(reply, src);
                }
                Check::Full => metrics.drop(DropReason::TooManyInFlight),
            }
        }
        let mut checks = vec![MessageAuthenticatorCheck::Absent; admitted.len()];
        let pairs: Vec<(&Packet<'_>, &Secret)> = admitted
            .iter()
            .map(|a| (&a.packet, &a.nas.secret))
            .collect();
        check_message_authenticators(&pairs, &mut checks);
        for (a, check) in admitted.iter_mut().zip(checks.iter()) {
            if self.profile.signs_packets()
                && !authentic(metrics, &a.nas, &a.packet, a.src, *check, arrival)
            {
                a.outcome = Fate::Dropped;
            }
        }
        self.out.clear();
        for a in &mut admitted {
            if !matches!(a.outcome, Fate::Pending) {
                continue;
            }
            let start = self.out.len();
            a.outcome = match answer_now(
                backend,
                &a.nas,
                &a.packet,
                (self.port, self.profile),
                arrival,
                &mut self.out,
            ) {
                Now::Reply => Fate::Answered {
                    range: start..self.out.len(),
                    reject: false,
                },
                Now::Reject => Fate::Answered {
                    range: start..self.out.len(),
                    reject: true,
                },
                Now::Dropped => Fate::Dropped,
                Now::Wait => Fate::Wait,
            };
        }
        let signing: Vec<(std::ops::Range<usize>, &Secret)> = admitted
            .iter()
            .filter_map(|a| match &a.outcome {
                Fate::Answered { range, .. } => Some((range.clone(), &a.nas.secret)),
                _ => None,
            })
            .collect();
        sign_replies_with(self.profile, &mut self.out, &signing);
        let delay = self.reject_delay;
        let mut answered = 0;
        for a in &admitted {
            match &a.outcome {
                Fate::Answered { range, reject } if *reject && !delay.is_zero() => {
                    deferred.push(Deferred {
                        ticket: a.ticket,
                        dst: a.src,
                        arrived: arrival.at,
                        stats: table.stats(a.nas.id).cloned(),
                        work: Work::Delay {
                            reply: Reply::from(&self.out[range.clone()]),
                            delay,
                        },
                    });
                }
                Fate::Answered { range, .. } => {
                    let reply = &self.out[range.clone()];
                    answered += 1;
                    if let Some(kind) = Answered::of(a.packet.code(), reply) {
                        self.answered.push((a.nas.id, kind));
                    }
                    self.dedup.complete(a.ticket, Some(reply), arrival.at);
                    transmit.send(reply, a.src);
                }
                Fate::Pending | Fate::Dropped => {
                    self.dedup.complete(a.ticket, None, arrival.at);
                }
                Fate::Wait => deferred.push(Deferred {
                    ticket: a.ticket,
                    dst: a.src,
                    arrived: arrival.at,
                    stats: table.stats(a.nas.id).cloned(),
                    work: Work::Wait {
                        nas: a.nas.clone(),
                        datagram: Bytes::copy_from_slice(a.datagram),
                        port: self.port,
                        profile: self.profile,
                        arrived: arrival.wall,
                        reject_delay: delay,
                    },
                }),
            }
        }
        for (first, src) in echoes {
            match &admitted[first].outcome {
                Fate::Answered { range, reject } if !*reject || delay.is_zero() => {
                    metrics.duplicates.increment(1);
                    transmit.send(&self.out[range.clone()], src);
                }
                _ => metrics.drop(DropReason::DuplicateInProgress),
            }
        }
        answered
    }
}

/// The checks made before anything else: known NAS (the connection's `peer`, or the one
/// `src` belongs to), well-formed, a code this port serves. Returns the NAS, the packet
/// and the duplicate-detection key.
fn admit<'a>(
    backend: &impl Backend,
    table: &NasTable,
    peer: Option<&Arc<Nas>>,
    datagram: &'a [u8],
    src: SocketAddr,
    port: Port,
    arrival: Arrival,
) -> Option<(Arc<Nas>, Packet<'a>, Key)> {
    let metrics = backend.metrics();
    let found = match peer {
        Some(nas) => Some(nas.clone()),
        None => table.find(src.ip()).cloned(),
    };
    let Some(nas) = found else {
        metrics.drop(DropReason::UnknownNas);
        if log_allowed_at(&UNKNOWN_NAS_LOG, arrival.unix) {
            tracing::warn!(%src, "dropping packets from an unknown NAS (logged once a second)");
        }
        return None;
    };
    let packet = match Packet::decode(datagram) {
        Ok(p) => p,
        Err(e) => {
            metrics.drop(DropReason::Malformed);
            if log_allowed_at(&MALFORMED_LOG, arrival.unix) {
                tracing::warn!(%src, error = %e, reason = e.reason(), "dropping a malformed packet (logged once a second)");
            }
            return None;
        }
    };
    if !port.serves(packet.code()) {
        metrics.drop(DropReason::UnexpectedCode);
        return None;
    }
    let key = Key {
        src,
        code: packet.code().as_u8(),
        id: packet.identifier(),
        authenticator: *packet.authenticator(),
    };
    Some((nas, packet, key))
}

/// Whether the request is from the NAS it claims: the Request Authenticator of an
/// Accounting-Request, and the Message-Authenticator where present or required.
fn authentic(
    metrics: &Metrics,
    nas: &Nas,
    packet: &Packet<'_>,
    src: SocketAddr,
    check: MessageAuthenticatorCheck,
    arrival: Arrival,
) -> bool {
    if packet.code() == Code::AccountingRequest && !verify_request_digest(packet, &nas.secret) {
        metrics.drop(DropReason::BadRequestAuthenticator);
        if log_allowed_at(&MALFORMED_LOG, arrival.unix) {
            tracing::warn!(%src, nas = %nas.name, "bad Accounting-Request authenticator: wrong secret? (logged once a second)");
        }
        return false;
    }
    match check {
        MessageAuthenticatorCheck::Valid => true,
        MessageAuthenticatorCheck::Absent => {
            // RFC 5997 §3 requires it in Status-Server; BlastRADIUS (CVE-2024-3596) makes it
            // required for Access-Request unless the NAS is marked as too old to send it.
            // Accounting is protected by its Request Authenticator already.
            let required = match packet.code() {
                Code::StatusServer => true,
                Code::AccessRequest => nas.require_message_authenticator,
                _ => false,
            };
            if required {
                metrics.drop(DropReason::MissingMessageAuthenticator);
            }
            !required
        }
        MessageAuthenticatorCheck::Invalid | MessageAuthenticatorCheck::Malformed => {
            metrics.drop(DropReason::BadMessageAuthenticator);
            if log_allowed_at(&MALFORMED_LOG, arrival.unix) {
                tracing::warn!(%src, nas = %nas.name, "bad Message-Authenticator: wrong secret? (logged once a second)");
            }
            false
        }
    }
}
