//! The auth and accounting sockets and the request pipeline (DESIGN.md, auth path and
//! accounting path).
//!
//! N UDP sockets share the auth port through SO_REUSEPORT; the kernel hashes each source
//! address and port to one of them, so a NAS's retransmissions reach the socket that saw
//! the original and each socket keeps its own duplicate cache. Each socket is driven by
//! one task that only receives, checks cheap things (known NAS, well-formed, duplicate)
//! and hands the request to a task of its own: one busy NAS sending from one port lands
//! on one socket, and its crypto and lookups must still spread over every core.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use proisp_shared::radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticator, verify_request_digest,
};
use proisp_shared::radius::dictionary::attr;
use proisp_shared::radius::encode::Encoder;
use proisp_shared::radius::header::{Code, MAX_PACKET_LEN};
use proisp_shared::radius::packet::Packet;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::acct::{self, Parsed};
use crate::auth::{self, Context, Verdict};
use crate::dedup::{Check, Dedup, Key};
use crate::lookup::Found;
use crate::metrics::Drop;
use crate::nas_table::NasEntry;
use crate::state::Shared;
use crate::writer::{Durable, NotDurable};

/// Requests remembered per socket for duplicate detection, at most.
const DEDUP_CAPACITY: usize = 1 << 20;

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

/// Logs at most one line a second for floods (unknown NAS, malformed packets), so a flood
/// cannot fill the disk; the counters still count every packet.
fn log_allowed(last: &AtomicU64) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    last.swap(now, Ordering::Relaxed) != now
}

static UNKNOWN_NAS_LOG: AtomicU64 = AtomicU64::new(0);
static MALFORMED_LOG: AtomicU64 = AtomicU64::new(0);

/// Receives on one socket until cancelled, spawning a task per new request.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    port: Port,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Key, Option<Bytes>)>();
    let mut dedup = Dedup::new(shared.config.auth.duplicate_window, DEDUP_CAPACITY);
    // One buffer per socket; each datagram is copied out at its own size (a request is
    // ~150 octets), which is cheaper than carving packets out of a large shared buffer.
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some((key, reply)) = done_rx.recv() => dedup.complete(key, reply),
            received = socket.recv_from(&mut buf) => {
                let (len, src) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        continue;
                    }
                };
                let datagram = Bytes::copy_from_slice(&buf[..len]);
                let arrival = Instant::now();
                let Some(key) = admit(&shared, &datagram, src, port) else { continue };
                match dedup.check(key.1, arrival) {
                    Check::New => {}
                    Check::InProgress => {
                        shared.metrics.drop(Drop::DuplicateInProgress);
                        continue;
                    }
                    Check::Replay(reply) => {
                        shared.metrics.duplicates.increment(1);
                        if let Err(e) = socket.send_to(&reply, src).await {
                            tracing::debug!(error = %e, %src, "resend failed");
                        }
                        continue;
                    }
                }
                let (nas, key) = key;
                let shared = shared.clone();
                let socket = socket.clone();
                let done = done_tx.clone();
                tracker.spawn(async move {
                    let reply = handle(&shared, &nas, datagram, src, &socket, port, arrival).await;
                    // The socket task may be gone at shutdown; the reply was sent anyway.
                    let _ = done.send((key, reply));
                });
            }
        }
    }
}

/// The checks made before a request gets a task: known NAS, well-formed, a code this
/// port serves. Returns the NAS and the duplicate-detection key.
fn admit(
    shared: &Shared,
    datagram: &[u8],
    src: SocketAddr,
    port: Port,
) -> Option<(Arc<NasEntry>, Key)> {
    let Some(nas) = shared.nas.load().find(src.ip()).cloned() else {
        shared.metrics.drop(Drop::UnknownNas);
        if log_allowed(&UNKNOWN_NAS_LOG) {
            tracing::warn!(%src, "dropping packets from an unknown NAS (logged once a second)");
        }
        return None;
    };
    let packet = match Packet::decode(datagram) {
        Ok(p) => p,
        Err(e) => {
            shared.metrics.drop(Drop::Malformed);
            if log_allowed(&MALFORMED_LOG) {
                tracing::warn!(%src, error = %e, reason = e.reason(), "dropping a malformed packet (logged once a second)");
            }
            return None;
        }
    };
    if !port.serves(packet.code()) {
        shared.metrics.drop(Drop::UnexpectedCode);
        return None;
    }
    let key = Key {
        src,
        code: packet.code().as_u8(),
        id: packet.identifier(),
        authenticator: *packet.authenticator(),
    };
    Some((nas, key))
}

thread_local! {
    /// Each worker thread's encoding buffer, reused for every reply it builds.
    static REPLY_BUF: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(MAX_PACKET_LEN));
}

/// Encodes a reply in this thread's reusable buffer and returns an exact-size copy: one
/// small allocation per reply, and the duplicate cache, which keeps replies for seconds,
/// holds no oversized buffers (hundreds of thousands of those churned the allocator into
/// stalls of hundreds of milliseconds).
fn encode<T, E>(build: impl FnOnce(&mut BytesMut) -> Result<T, E>) -> Result<(T, Bytes), E> {
    REPLY_BUF.with_borrow_mut(|buf| {
        buf.clear();
        let value = build(buf)?;
        Ok((value, Bytes::copy_from_slice(buf)))
    })
}

/// Evaluates one request and sends the reply; returns it for the duplicate cache, or
/// `None` when the request was dropped.
async fn handle(
    shared: &Shared,
    nas: &NasEntry,
    datagram: Bytes,
    src: SocketAddr,
    socket: &UdpSocket,
    port: Port,
    arrival: Instant,
) -> Option<Bytes> {
    let packet = Packet::decode(&datagram).ok()?;
    if !authentic(shared, nas, &packet, src) {
        return None;
    }
    let reply = match packet.code() {
        Code::StatusServer => {
            // RFC 5997 §3: Access-Accept on the auth port, Accounting-Response on the
            // accounting port.
            let code = match port {
                Port::Auth => Code::AccessAccept,
                Port::Acct => Code::AccountingResponse,
            };
            let ((), reply) = encode(|buf| {
                let mut enc = Encoder::reply(buf, &packet, code);
                enc.message_authenticator();
                enc.finish(&nas.nas.secret).map(|_| ())
            })
            .ok()?;
            shared.metrics.status_server.increment(1);
            reply
        }
        Code::AccountingRequest => account(shared, nas, &packet).await?,
        _ => {
            let (verdict, reply) = authenticate(shared, nas, &packet).await?;
            if let Verdict::Reject(_) = verdict {
                let delay = shared.config.auth.reject_delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            reply
        }
    };
    if let Err(e) = socket.send_to(&reply, src).await {
        tracing::debug!(error = %e, %src, "send failed");
        return None;
    }
    shared
        .metrics
        .duration
        .record(arrival.elapsed().as_secs_f64());
    Some(reply)
}

/// Whether the request is from the NAS it claims: the Request Authenticator of an
/// Accounting-Request, and the Message-Authenticator where present or required.
fn authentic(shared: &Shared, nas: &NasEntry, packet: &Packet<'_>, src: SocketAddr) -> bool {
    if packet.code() == Code::AccountingRequest && !verify_request_digest(packet, &nas.nas.secret) {
        shared.metrics.drop(Drop::BadRequestAuthenticator);
        if log_allowed(&MALFORMED_LOG) {
            tracing::warn!(%src, nas = %nas.nas.name, "bad Accounting-Request authenticator: wrong secret? (logged once a second)");
        }
        return false;
    }
    match check_message_authenticator(packet, &nas.nas.secret) {
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
                shared.metrics.drop(Drop::MissingMessageAuthenticator);
            }
            !required
        }
        MessageAuthenticatorCheck::Invalid | MessageAuthenticatorCheck::Malformed => {
            shared.metrics.drop(Drop::BadMessageAuthenticator);
            if log_allowed(&MALFORMED_LOG) {
                tracing::warn!(%src, nas = %nas.nas.name, "bad Message-Authenticator: wrong secret? (logged once a second)");
            }
            false
        }
    }
}

/// Records an Accounting-Request durably and builds its response; `None` drops it (the
/// NAS retries).
async fn account(shared: &Shared, nas: &NasEntry, packet: &Packet<'_>) -> Option<Bytes> {
    let status = match acct::parse(packet, nas, SystemTime::now()) {
        Ok(Parsed::Record(record)) => {
            let status = record.status.value();
            match shared.writers.submit(record).await {
                Ok(durable) => {
                    shared.metrics.acct(status, durable == Durable::Committed);
                }
                Err(NotDurable) => {
                    shared.metrics.drop(Drop::NotDurable);
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
            shared.metrics.drop(Drop::BadRequest);
            tracing::debug!(?invalid, nas = %nas.nas.name, "unusable Accounting-Request");
            return None;
        }
    };
    match encode(|buf| acct::respond(packet, nas, buf)) {
        Ok(((), reply)) => Some(reply),
        Err(e) => {
            tracing::error!(error = %e, status, "Accounting-Response did not fit in a packet");
            None
        }
    }
}

/// Looks the subscriber up and decides; `None` drops the request (no User-Name, or no
/// backend could answer).
async fn authenticate(
    shared: &Shared,
    nas: &NasEntry,
    packet: &Packet<'_>,
) -> Option<(Verdict, Bytes)> {
    let Some(name) = packet.attr(attr::USER_NAME).and_then(|a| a.as_str()) else {
        shared.metrics.drop(Drop::BadRequest);
        return None;
    };
    let found = match shared.lookup.find(name).await {
        Ok(found) => found,
        Err(_) => {
            shared.metrics.drop(Drop::BackendUnavailable);
            return None;
        }
    };
    let subscriber = match &found {
        Found::Subscriber(s) => Some(s.as_ref()),
        Found::Unknown => None,
    };
    let open_sessions = match subscriber {
        Some(s) if s.simultaneous_use > 0 => shared.counts.count(&shared.store, name).await,
        _ => 0,
    };
    let plans = shared.plans.load();
    let ctx = Context {
        nas,
        subscriber,
        plan: subscriber.and_then(|s| plans.get(&s.plan_id)),
        open_sessions,
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    };
    let (verdict, reply) = match encode(|buf| auth::respond(packet, &ctx, buf)) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, user = name, "reply did not fit in a packet");
            shared.metrics.drop(Drop::BadRequest);
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
    Some((verdict, reply))
}
