//! The auth and accounting sockets and the request pipeline (DESIGN.md, auth path and
//! accounting path).
//!
//! N UDP sockets share each port through SO_REUSEPORT; the kernel hashes each source
//! address and port to one of them, so a NAS's retransmissions reach the socket that saw
//! the original and each socket keeps its own duplicate cache. Each socket is driven by
//! one task that takes up to 32 requests per `recvmmsg`, answers every one it can from
//! memory at once (Status-Server; an Access-Request whose subscriber and open-session
//! count are in the in-process caches: nearly all of them) and sends those replies with
//! one `sendmmsg`. A request that must wait — a lookup in Redis or PostgreSQL, an
//! Accounting-Request (made durable first), a reject delay — gets a task of its own, so
//! a slow backend never holds up the socket.
//!
//! A consequence: one NAS sending everything from one source port is answered by one
//! socket task, so by one core at a time (well over 100,000 requests/s here); many NASes,
//! or a NAS using several ports, spread over every socket.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use proisp_radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticators, sign_replies, verify_request_digest,
};
use proisp_radius::dictionary::attr;
use proisp_radius::encode::Encoder;
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::acct::{self, Parsed};
use crate::auth::{self, Context, Verdict};
use crate::dedup::{Check, Claim, Dedup, Done, Key, Reply, Ticket};
use crate::lookup::Found;
use crate::metrics::DropReason;
use crate::mmsg::{BATCH, RecvBatch, SendBatch};
use crate::nas_table::NasEntry;
use crate::state::Shared;
use crate::writer::{Durable, NotDurable};

/// Requests remembered per socket for duplicate detection: 12 MiB of entries, the whole
/// `duplicate_window` (5 s) at up to 52,000 requests/s per socket; the oldest answered go
/// first past that (requests in flight stay until answered or given up).
const DEDUP_CAPACITY: usize = 1 << 18;

/// Octets of replies kept per socket for retransmissions: about as many replies as
/// [`DEDUP_CAPACITY`] at an Access-Accept's usual 100–150 octets.
const DEDUP_ARENA: usize = 32 << 20;

/// Socket receive buffer: a burst of requests (a NAS reboot) must queue, not drop.
const RECV_BUFFER: usize = 8 << 20;

/// Which service a socket offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// Access-Request and Status-Server (1812).
    Auth,
    /// Accounting-Request and Status-Server (1813).
    Acct,
}

impl Port {
    /// Whether requests with `code` are served on this port.
    fn serves(self, code: Code) -> bool {
        match self {
            Port::Auth => matches!(code, Code::AccessRequest | Code::StatusServer),
            Port::Acct => matches!(code, Code::AccountingRequest | Code::StatusServer),
        }
    }
}

/// Binds `count` sockets to `addr` with SO_REUSEPORT.
pub(crate) fn bind(addr: SocketAddr, count: usize) -> std::io::Result<Vec<UdpSocket>> {
    (0..count.max(1))
        .map(|_| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_reuse_port(true)?;
            if addr.is_ipv6() {
                // Accept IPv4 too on [::] (NASes on either family).
                socket.set_only_v6(false)?;
            }
            // The kernel may cap it (net.core.rmem_max); a smaller buffer still works.
            let _ = socket.set_recv_buffer_size(RECV_BUFFER);
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            UdpSocket::from_std(socket.into())
        })
        .collect()
}

/// Logs at most one line a second for floods (unknown NAS, malformed packets, a full
/// spool disk), so a flood cannot fill the disk; the counters still count every event.
pub(crate) fn log_allowed(last: &AtomicI64) -> bool {
    log_allowed_at(last, unix_now())
}

/// [`log_allowed`] at `now`, seconds since the epoch.
fn log_allowed_at(last: &AtomicI64, now: i64) -> bool {
    last.swap(now, Ordering::Relaxed) != now
}

static UNKNOWN_NAS_LOG: AtomicI64 = AtomicI64::new(0);
static MALFORMED_LOG: AtomicI64 = AtomicI64::new(0);

/// What one socket's task owns and shares while it serves.
struct Server {
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    port: Port,
    dedup: Dedup,
    replies: SendBatch,
    done: Done,
    tracker: TaskTracker,
    /// Requests of the current batch answered from memory, for the latency histogram.
    answered: u64,
    /// Where the replies of a batch answered from memory are built, one after another,
    /// before they are copied to the duplicate cache and the send batch.
    out: BytesMut,
}

/// A request of the current batch on its way through [`Server::receive`].
struct Admitted<'a> {
    nas: Arc<NasEntry>,
    packet: Packet<'a>,
    datagram: &'a [u8],
    src: SocketAddr,
    key: Key,
    ticket: Ticket,
    outcome: Outcome,
}

/// What became of an admitted request.
enum Outcome {
    /// Not decided yet.
    Pending,
    /// Answered from memory: the reply is at this range of [`Server::out`].
    Answered {
        range: std::ops::Range<usize>,
        reject: bool,
    },
    /// Dropped (counted where it was decided).
    Dropped,
    /// Waits for a backend in a task of its own.
    Wait,
}

/// When a batch of requests arrived: the clocks read once for all of them.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Instant,
    /// The wall clock: an accounting record's time of arrival.
    wall: SystemTime,
    /// Seconds since the Unix epoch, for expiry checks.
    unix: i64,
}

impl Arrival {
    fn now() -> Arrival {
        let wall = SystemTime::now();
        Arrival {
            at: Instant::now(),
            wall,
            unix: unix_seconds(wall),
        }
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn unix_now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// Serves one socket until cancelled: batches of requests in, batches of replies out.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    port: Port,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let (done, mut done_rx) = mpsc::unbounded_channel::<(Ticket, Option<Reply>)>();
    let replies = SendBatch::new(socket.as_fd());
    let mut this = Server {
        dedup: Dedup::new(
            shared.config.auth.duplicate_window,
            DEDUP_CAPACITY,
            DEDUP_ARENA,
        ),
        shared,
        socket,
        port,
        replies,
        done,
        tracker,
        answered: 0,
        out: BytesMut::with_capacity(BATCH * 512),
    };
    let mut batch = RecvBatch::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some((ticket, reply)) = done_rx.recv() => {
                this.dedup.complete(ticket, reply.as_deref(), Instant::now());
            }
            ready = this.socket.readable() => {
                if let Err(e) = ready {
                    tracing::warn!(error = %e, "socket not readable");
                    continue;
                }
                // Requests answered meanwhile by their own tasks: a retransmission in
                // this batch gets the reply.
                let now = Instant::now();
                while let Ok((ticket, reply)) = done_rx.try_recv() {
                    this.dedup.complete(ticket, reply.as_deref(), now);
                }
                let received = this
                    .socket
                    .try_io(Interest::READABLE, || batch.recv(this.socket.as_fd()));
                let count = match received {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        continue;
                    }
                };
                let arrival = Arrival::now();
                this.receive(&batch, count, arrival);
                let answered = std::mem::take(&mut this.answered);
                if answered > 0 {
                    this.shared.metrics.duration.record_many(arrival.at.elapsed(), answered);
                }
                this.flush().await;
            }
        }
    }
}

impl Server {
    /// Handles a received batch in stages, each over all its requests: admission and the
    /// duplicate cache; the Message-Authenticator checks; the answers from memory; then
    /// replies queued for the batch, tasks of their own for what must wait (a lookup
    /// beyond the in-process cache, accounting, a reject delay), and counted drops.
    fn receive(&mut self, batch: &RecvBatch, count: usize, arrival: Arrival) {
        let shared = &*self.shared;
        let mut admitted: Vec<Admitted<'_>> = Vec::with_capacity(count);
        // Copies of a request that arrived in the same batch as the request itself: they
        // get its reply, as a retransmission after the reply would.
        let mut echoes: Vec<(usize, SocketAddr)> = Vec::new();
        for i in 0..count {
            let (datagram, Some(src)) = batch.get(i) else {
                continue;
            };
            let Some((nas, packet, key)) = admit(shared, datagram, src, self.port) else {
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
                    outcome: Outcome::Pending,
                }),
                Check::InProgress => match admitted.iter().position(|a| a.key == key) {
                    Some(first) => echoes.push((first, src)),
                    None => shared.metrics.drop(DropReason::DuplicateInProgress),
                },
                Check::Replay(reply) => {
                    shared.metrics.duplicates.increment(1);
                    self.replies.push(reply, src);
                }
                Check::Full => shared.metrics.drop(DropReason::TooManyInFlight),
            }
        }
        let mut checks = vec![MessageAuthenticatorCheck::Absent; admitted.len()];
        let pairs: Vec<(&Packet<'_>, &Secret)> = admitted
            .iter()
            .map(|a| (&a.packet, &a.nas.nas.secret))
            .collect();
        check_message_authenticators(&pairs, &mut checks);
        for (a, check) in admitted.iter_mut().zip(checks.iter()) {
            if !authentic(shared, &a.nas, &a.packet, a.src, *check) {
                a.outcome = Outcome::Dropped;
            }
        }
        self.out.clear();
        for a in &mut admitted {
            if !matches!(a.outcome, Outcome::Pending) {
                continue;
            }
            let start = self.out.len();
            a.outcome =
                match answer_now(shared, &a.nas, &a.packet, self.port, arrival, &mut self.out) {
                    Now::Reply => Outcome::Answered {
                        range: start..self.out.len(),
                        reject: false,
                    },
                    Now::Reject => Outcome::Answered {
                        range: start..self.out.len(),
                        reject: true,
                    },
                    Now::Drop => Outcome::Dropped,
                    Now::Wait => Outcome::Wait,
                };
        }
        let signing: Vec<(std::ops::Range<usize>, &Secret)> = admitted
            .iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Answered { range, .. } => Some((range.clone(), &a.nas.nas.secret)),
                _ => None,
            })
            .collect();
        sign_replies(&mut self.out, &signing);
        let delay = shared.config.auth.reject_delay;
        for a in &admitted {
            match &a.outcome {
                Outcome::Answered { range, reject } if *reject && !delay.is_zero() => {
                    let reply = Reply::from(&self.out[range.clone()]);
                    self.spawn(a.ticket, a.src, arrival.at, async move {
                        tokio::time::sleep(delay).await;
                        Some(reply)
                    });
                }
                Outcome::Answered { range, .. } => {
                    let reply = &self.out[range.clone()];
                    self.answered += 1;
                    self.dedup.complete(a.ticket, Some(reply), arrival.at);
                    self.replies.push(reply, a.src);
                }
                Outcome::Pending | Outcome::Dropped => {
                    self.dedup.complete(a.ticket, None, arrival.at);
                }
                Outcome::Wait => {
                    let shared = self.shared.clone();
                    let nas = a.nas.clone();
                    let port = self.port;
                    let datagram = Bytes::copy_from_slice(a.datagram);
                    self.spawn(a.ticket, a.src, arrival.at, async move {
                        answer_later(&shared, &nas, &datagram, port, arrival.wall).await
                    });
                }
            }
        }
        for (first, src) in echoes {
            match &admitted[first].outcome {
                Outcome::Answered { range, reject } if !*reject || delay.is_zero() => {
                    shared.metrics.duplicates.increment(1);
                    self.replies.push(&self.out[range.clone()], src);
                }
                _ => shared.metrics.drop(DropReason::DuplicateInProgress),
            }
        }
    }

    /// Runs `reply` in a task of its own, reports what it returns to the duplicate cache
    /// (also when the task ends otherwise: see [`Claim`]), then sends it.
    fn spawn(
        &self,
        ticket: Ticket,
        src: SocketAddr,
        arrival: Instant,
        reply: impl Future<Output = Option<Reply>> + Send + 'static,
    ) {
        let shared = self.shared.clone();
        let socket = self.socket.clone();
        let claim = Claim::new(ticket, self.done.clone());
        self.tracker.spawn(async move {
            let Some(reply) = reply.await else {
                claim.finish(None);
                return;
            };
            // Reported before it leaves: a copy the NAS sends once it has this reply finds
            // it in the cache (the socket task takes reports in before it receives),
            // rather than dropped as in progress. A reply that could not be sent is
            // replayed to the retransmission.
            claim.finish(Some(reply.clone()));
            match socket.send_to(&reply, src).await {
                Ok(_) => shared.metrics.duration.record(arrival.elapsed()),
                Err(e) => tracing::debug!(error = %e, %src, "send failed"),
            }
        });
    }

    /// Sends the batch's replies.
    async fn flush(&mut self) {
        while !self.replies.is_empty() {
            let socket = &self.socket;
            let replies = &mut self.replies;
            match socket
                .async_io(Interest::WRITABLE, || replies.send(socket.as_fd()))
                .await
            {
                Ok(()) => break,
                // One reply could not be sent (it was skipped); the rest go on.
                Err(e) => tracing::debug!(error = %e, "send failed"),
            }
        }
        self.replies.clear();
    }
}

/// The checks made before anything else: known NAS, well-formed, a code this port
/// serves. Returns the NAS, the packet and the duplicate-detection key.
fn admit<'a>(
    shared: &Shared,
    datagram: &'a [u8],
    src: SocketAddr,
    port: Port,
) -> Option<(Arc<NasEntry>, Packet<'a>, Key)> {
    let Some(nas) = shared.nas.load().find(src.ip()).cloned() else {
        shared.metrics.drop(DropReason::UnknownNas);
        if log_allowed(&UNKNOWN_NAS_LOG) {
            tracing::warn!(%src, "dropping packets from an unknown NAS (logged once a second)");
        }
        return None;
    };
    let packet = match Packet::decode(datagram) {
        Ok(p) => p,
        Err(e) => {
            shared.metrics.drop(DropReason::Malformed);
            if log_allowed(&MALFORMED_LOG) {
                tracing::warn!(%src, error = %e, reason = e.reason(), "dropping a malformed packet (logged once a second)");
            }
            return None;
        }
    };
    if !port.serves(packet.code()) {
        shared.metrics.drop(DropReason::UnexpectedCode);
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

thread_local! {
    /// Each worker thread's encoding buffer for replies built by a request's own task.
    static REPLY_BUF: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(MAX_PACKET_LEN));
}

/// Builds a reply in this thread's reusable buffer, signs it with `secret` and returns an
/// exact-size copy, for a request's own task (one small allocation; the replies of a
/// batch answered from memory are built in their socket's buffer and signed together).
fn encode<T>(
    secret: &Secret,
    build: impl FnOnce(&mut BytesMut) -> Option<T>,
) -> Option<(T, Reply)> {
    REPLY_BUF.with_borrow_mut(|buf| {
        buf.clear();
        let value = build(buf)?;
        let len = buf.len();
        sign_replies(buf, &[(0..len, secret)]);
        Some((value, Reply::from(&buf[..])))
    })
}

/// What can be answered without waiting. A reply is in the buffer given to
/// [`answer_now`].
enum Now {
    /// Send the reply.
    Reply,
    /// Send the Access-Reject (after the reject delay).
    Reject,
    /// Drop the request (counted).
    Drop,
    /// Wait for a backend: the request gets a task of its own.
    Wait,
}

/// Answers an authentic request from memory when it can: Status-Server, and an
/// Access-Request whose subscriber (or unknown name) and open-session count are cached.
fn answer_now(
    shared: &Shared,
    nas: &NasEntry,
    packet: &Packet<'_>,
    port: Port,
    arrival: Arrival,
    buf: &mut BytesMut,
) -> Now {
    match packet.code() {
        Code::StatusServer => {
            status_server(shared, packet, port, buf).map_or(Now::Drop, |()| Now::Reply)
        }
        Code::AccessRequest => {
            let Some(name) = user_name(shared, packet) else {
                return Now::Drop;
            };
            let Some(found) = shared.lookup.cached_at(name, arrival.at) else {
                return Now::Wait;
            };
            let open_sessions = match &found {
                Found::Subscriber(s) if s.simultaneous_use > 0 => {
                    match shared.counts.cached_at(name, arrival.at) {
                        Some(n) => n,
                        None => return Now::Wait,
                    }
                }
                _ => 0,
            };
            let who = Who {
                name,
                found: &found,
                open_sessions,
            };
            match decide(shared, nas, packet, who, arrival.unix, buf) {
                Some(Verdict::Accept) => Now::Reply,
                Some(Verdict::Reject(_)) => Now::Reject,
                None => Now::Drop,
            }
        }
        _ => Now::Wait,
    }
}

/// Answers what [`answer_now`] could not, waiting for the backends; `None` drops the
/// request (the NAS retries). `arrived` is when the request arrived, by the wall clock.
async fn answer_later(
    shared: &Shared,
    nas: &NasEntry,
    datagram: &[u8],
    port: Port,
    arrived: SystemTime,
) -> Option<Reply> {
    let packet = Packet::decode(datagram).ok()?;
    match packet.code() {
        Code::StatusServer => encode(&nas.nas.secret, |buf| {
            status_server(shared, &packet, port, buf)
        })
        .map(|((), r)| r),
        Code::AccountingRequest => account(shared, nas, &packet, arrived).await,
        _ => {
            let (verdict, reply) = authenticate(shared, nas, &packet).await?;
            if let Verdict::Reject(_) = verdict {
                let delay = shared.config.auth.reject_delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            Some(reply)
        }
    }
}

/// RFC 5997 §3: Access-Accept on the auth port, Accounting-Response on the accounting
/// port, appended to `buf` unsigned.
fn status_server(
    shared: &Shared,
    packet: &Packet<'_>,
    port: Port,
    buf: &mut BytesMut,
) -> Option<()> {
    let code = match port {
        Port::Auth => Code::AccessAccept,
        Port::Acct => Code::AccountingResponse,
    };
    let mut enc = Encoder::reply(buf, packet, code);
    enc.message_authenticator();
    enc.finish_unsigned().ok()?;
    shared.metrics.status_server.increment(1);
    Some(())
}

/// Whether the request is from the NAS it claims: the Request Authenticator of an
/// Accounting-Request, and the Message-Authenticator where present or required.
fn authentic(
    shared: &Shared,
    nas: &NasEntry,
    packet: &Packet<'_>,
    src: SocketAddr,
    check: MessageAuthenticatorCheck,
) -> bool {
    if packet.code() == Code::AccountingRequest && !verify_request_digest(packet, &nas.nas.secret) {
        shared.metrics.drop(DropReason::BadRequestAuthenticator);
        if log_allowed(&MALFORMED_LOG) {
            tracing::warn!(%src, nas = %nas.nas.name, "bad Accounting-Request authenticator: wrong secret? (logged once a second)");
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
                Code::AccessRequest => nas.nas.require_message_authenticator,
                _ => false,
            };
            if required {
                shared.metrics.drop(DropReason::MissingMessageAuthenticator);
            }
            !required
        }
        MessageAuthenticatorCheck::Invalid | MessageAuthenticatorCheck::Malformed => {
            shared.metrics.drop(DropReason::BadMessageAuthenticator);
            if log_allowed(&MALFORMED_LOG) {
                tracing::warn!(%src, nas = %nas.nas.name, "bad Message-Authenticator: wrong secret? (logged once a second)");
            }
            false
        }
    }
}

/// Records an Accounting-Request that arrived at `arrived` durably and builds its
/// response; `None` drops it (the NAS retries). Its copies are dropped by the duplicate
/// cache meanwhile, so the record keeps the first copy's arrival however long it waits.
async fn account(
    shared: &Shared,
    nas: &NasEntry,
    packet: &Packet<'_>,
    arrived: SystemTime,
) -> Option<Reply> {
    let status = match acct::parse(packet, nas, arrived) {
        Ok(Parsed::Record(record)) => {
            let status = record.record.status.value();
            match shared.writers.submit(record).await {
                Ok(durable) => {
                    shared.metrics.acct(status, durable == Durable::Committed);
                }
                Err(NotDurable) => {
                    shared.metrics.drop(DropReason::NotDurable);
                    return None;
                }
            }
            status
        }
        Ok(Parsed::Ignore(status)) => {
            shared.metrics.acct(status, true);
            status
        }
        Err(invalid) => {
            shared.metrics.drop(DropReason::BadRequest);
            tracing::debug!(?invalid, nas = %nas.nas.name, "unusable Accounting-Request");
            return None;
        }
    };
    let built = encode(&nas.nas.secret, |buf| {
        acct::respond(packet, buf)
            .map_err(|e| {
                tracing::error!(error = %e, status, "Accounting-Response did not fit in a packet");
            })
            .ok()
    });
    built.map(|((), reply)| reply)
}

/// The User-Name of an Access-Request; `None` (counted) when it has none.
fn user_name<'a>(shared: &Shared, packet: &Packet<'a>) -> Option<&'a str> {
    let name = packet.attr(attr::USER_NAME).and_then(|a| a.as_str());
    if name.is_none() {
        shared.metrics.drop(DropReason::BadRequest);
    }
    name
}

/// Looks the subscriber up and decides; `None` drops the request (no User-Name, or no
/// backend could answer).
async fn authenticate(
    shared: &Shared,
    nas: &NasEntry,
    packet: &Packet<'_>,
) -> Option<(Verdict, Reply)> {
    let name = user_name(shared, packet)?;
    let found = match shared.lookup.find(name).await {
        Ok(found) => found,
        Err(_) => {
            shared.metrics.drop(DropReason::BackendUnavailable);
            return None;
        }
    };
    let open_sessions = match &found {
        Found::Subscriber(s) if s.simultaneous_use > 0 => {
            shared.counts.count(&shared.store, name).await
        }
        _ => 0,
    };
    let who = Who {
        name,
        found: &found,
        open_sessions,
    };
    encode(&nas.nas.secret, |buf| {
        decide(shared, nas, packet, who, unix_now(), buf)
    })
}

/// Whom a request is for: the user name, what the lookup found, and the open sessions.
#[derive(Clone, Copy)]
struct Who<'a> {
    name: &'a str,
    found: &'a Found,
    open_sessions: u32,
}

/// Decides on what was found and appends the reply to `buf`, unsigned; `None` drops the
/// request (the reply would not fit in a packet).
fn decide(
    shared: &Shared,
    nas: &NasEntry,
    packet: &Packet<'_>,
    who: Who<'_>,
    now: i64,
    buf: &mut BytesMut,
) -> Option<Verdict> {
    let Who {
        name,
        found,
        open_sessions,
    } = who;
    let subscriber = match found {
        Found::Subscriber(s) => Some(s.as_ref()),
        Found::Unknown => None,
    };
    let plans = shared.plans.load();
    let ctx = Context {
        nas,
        subscriber,
        plan: subscriber.and_then(|s| plans.get(&s.plan_id)),
        open_sessions,
        now,
    };
    let verdict = match auth::respond(packet, &ctx, buf) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, user = name, "reply did not fit in a packet");
            shared.metrics.drop(DropReason::BadRequest);
            return None;
        }
    };
    match verdict {
        Verdict::Accept => shared.metrics.accept(),
        Verdict::Reject(reason) => {
            shared.metrics.reject(reason);
            tracing::info!(user = name, nas = %nas.nas.name, reason = reason.label(), "Access-Reject");
        }
    }
    Some(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_logged_once_a_second() {
        let last = AtomicI64::new(0);
        let logged = (0..10_000)
            .filter(|_| log_allowed_at(&last, 1_800_000_000))
            .count();
        assert_eq!(logged, 1);
        assert!(log_allowed_at(&last, 1_800_000_001));
        assert!(!log_allowed_at(&last, 1_800_000_001));
        // Each limiter on its own.
        assert!(log_allowed_at(&AtomicI64::new(0), 1_800_000_001));
    }
}
