//! Answers: from memory at once, or after waiting for a backend as deferred work.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use proisp_model::Nas;
use proisp_radius::authenticator::sign_replies;
use proisp_radius::dictionary::attr;
use proisp_radius::encode::Encoder;
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;

use super::{Arrival, Backend, Port};
use crate::acct::{self, Parsed};
use crate::auth::{self, Context, Verdict};
use crate::dedup::{Reply, Ticket};
use crate::flood::unix_seconds;
use crate::lookup::Found;
use crate::metrics::DropReason;
use crate::writer::{Durable, NotDurable};

/// Work a batch leaves for later. Its driver runs [`Work::run`], reports what it returns
/// to [`Endpoint::complete`](super::Endpoint::complete) with `ticket` — also when it
/// returns nothing, or the request's duplicate-cache entry stays in flight — and sends
/// the reply, if any, to `dst`.
#[derive(Debug)]
pub(crate) struct Deferred {
    pub(crate) ticket: Ticket,
    pub(crate) dst: SocketAddr,
    /// When the request arrived, for the latency histogram.
    pub(crate) arrived: Instant,
    pub(crate) work: Work,
}

/// What deferred work waits for.
#[derive(Debug)]
pub(crate) enum Work {
    /// An Access-Reject decided from memory, held back for the reject delay
    /// (FreeRADIUS's `reject_delay`: a password guesser learns nothing faster).
    Delay { reply: Reply, delay: Duration },
    /// A request that needs a backend: a lookup beyond the in-process caches, or an
    /// Accounting-Request, answered once its record is durable.
    Wait {
        nas: Arc<Nas>,
        datagram: Bytes,
        port: Port,
        /// When the request arrived, by the wall clock.
        arrived: SystemTime,
        reject_delay: Duration,
    },
}

impl Work {
    /// Does the waiting and returns the reply to send; `None` drops the request (counted;
    /// the NAS retries).
    pub(crate) async fn run(self, backend: &impl Backend) -> Option<Reply> {
        match self {
            Work::Delay { reply, delay } => {
                tokio::time::sleep(delay).await;
                Some(reply)
            }
            Work::Wait {
                nas,
                datagram,
                port,
                arrived,
                reject_delay,
            } => answer_later(backend, &nas, &datagram, port, arrived, reject_delay).await,
        }
    }
}

thread_local! {
    /// Each worker thread's encoding buffer for replies built by deferred work.
    static REPLY_BUF: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(MAX_PACKET_LEN));
}

/// Builds a reply in this thread's reusable buffer, signs it with `secret` and returns an
/// exact-size copy, for deferred work (one small allocation; the replies of a batch
/// answered from memory are built in their endpoint's buffer and signed together).
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
pub(super) enum Now {
    /// Send the reply.
    Reply,
    /// Send the Access-Reject (after the reject delay).
    Reject,
    /// Drop the request (counted).
    Dropped,
    /// Wait for a backend: the request is deferred.
    Wait,
}

/// Answers an authentic request from memory when it can: Status-Server, and an
/// Access-Request whose subscriber (or unknown name) and open-session count are cached.
pub(super) fn answer_now(
    backend: &impl Backend,
    nas: &Nas,
    packet: &Packet<'_>,
    port: Port,
    arrival: Arrival,
    buf: &mut BytesMut,
) -> Now {
    match packet.code() {
        Code::StatusServer => {
            status_server(backend, packet, port, buf).map_or(Now::Dropped, |()| Now::Reply)
        }
        Code::AccessRequest => {
            let Some(name) = user_name(backend, packet) else {
                return Now::Dropped;
            };
            let Some(found) = backend.cached(name, arrival.at) else {
                return Now::Wait;
            };
            let open_sessions = match &found {
                Found::Subscriber(s) if s.simultaneous_use > 0 => {
                    match backend.cached_count(name, arrival.at) {
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
            match decide(backend, nas, packet, who, arrival.unix, buf) {
                Some(Verdict::Accept) => Now::Reply,
                Some(Verdict::Reject(_)) => Now::Reject,
                None => Now::Dropped,
            }
        }
        _ => Now::Wait,
    }
}

/// Answers what [`answer_now`] could not, waiting for the backends; `None` drops the
/// request (the NAS retries). `arrived` is when the request arrived, by the wall clock.
async fn answer_later(
    backend: &impl Backend,
    nas: &Nas,
    datagram: &[u8],
    port: Port,
    arrived: SystemTime,
    reject_delay: Duration,
) -> Option<Reply> {
    let packet = Packet::decode(datagram).ok()?;
    match packet.code() {
        Code::StatusServer => encode(&nas.secret, |buf| {
            status_server(backend, &packet, port, buf)
        })
        .map(|((), r)| r),
        Code::AccountingRequest => account(backend, nas, &packet, arrived).await,
        _ => {
            let (verdict, reply) = authenticate(backend, nas, &packet).await?;
            if let Verdict::Reject(_) = verdict
                && !reject_delay.is_zero()
            {
                tokio::time::sleep(reject_delay).await;
            }
            Some(reply)
        }
    }
}

/// RFC 5997 §3: Access-Accept on the auth port, Accounting-Response on the accounting
/// port; Access-Accept over a connection that carries both, as on any port that serves
/// authentication (what FreeRADIUS and radsecproxy answer there too), appended to `buf`
/// unsigned.
fn status_server(
    backend: &impl Backend,
    packet: &Packet<'_>,
    port: Port,
    buf: &mut BytesMut,
) -> Option<()> {
    let code = match port {
        Port::Auth | Port::Stream => Code::AccessAccept,
        Port::Acct => Code::AccountingResponse,
    };
    let mut enc = Encoder::reply(buf, packet, code);
    enc.message_authenticator();
    enc.finish_unsigned().ok()?;
    backend.metrics().status_server.increment(1);
    Some(())
}

/// Records an Accounting-Request that arrived at `arrived` durably and builds its
/// response; `None` drops it (the NAS retries). Its copies are dropped by the duplicate
/// cache meanwhile, so the record keeps the first copy's arrival however long it waits.
async fn account(
    backend: &impl Backend,
    nas: &Nas,
    packet: &Packet<'_>,
    arrived: SystemTime,
) -> Option<Reply> {
    let metrics = backend.metrics();
    let status = match acct::parse(packet, nas, arrived) {
        Ok(Parsed::Record(record)) => {
            let status = record.record.status.value();
            match backend.submit(record).await {
                Ok(durable) => {
                    metrics.acct(status, durable == Durable::Committed);
                }
                Err(NotDurable) => {
                    metrics.drop(DropReason::NotDurable);
                    return None;
                }
            }
            status
        }
        Ok(Parsed::Ignore(status)) => {
            metrics.acct(status, true);
            status
        }
        Err(invalid) => {
            metrics.drop(DropReason::BadRequest);
            tracing::debug!(?invalid, nas = %nas.name, "unusable Accounting-Request");
            return None;
        }
    };
    let built = encode(&nas.secret, |buf| {
        acct::respond(packet, buf)
            .map_err(|e| {
                tracing::error!(error = %e, status, "Accounting-Response did not fit in a packet");
            })
            .ok()
    });
    built.map(|((), reply)| reply)
}

/// The User-Name of an Access-Request; `None` (counted) when it has none.
fn user_name<'a>(backend: &impl Backend, packet: &Packet<'a>) -> Option<&'a str> {
    let name = packet.attr(attr::USER_NAME).and_then(|a| a.as_str());
    if name.is_none() {
        backend.metrics().drop(DropReason::BadRequest);
    }
    name
}

/// Looks the subscriber up and decides; `None` drops the request (no User-Name, or no
/// backend could answer).
async fn authenticate(
    backend: &impl Backend,
    nas: &Nas,
    packet: &Packet<'_>,
) -> Option<(Verdict, Reply)> {
    let name = user_name(backend, packet)?;
    let found = match backend.find(name).await {
        Ok(found) => found,
        Err(_) => {
            backend.metrics().drop(DropReason::BackendUnavailable);
            return None;
        }
    };
    let open_sessions = match &found {
        Found::Subscriber(s) if s.simultaneous_use > 0 => backend.count(name).await,
        _ => 0,
    };
    let who = Who {
        name,
        found: &found,
        open_sessions,
    };
    let now = unix_seconds(backend.wall_clock());
    encode(&nas.secret, |buf| {
        decide(backend, nas, packet, who, now, buf)
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
    backend: &impl Backend,
    nas: &Nas,
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
    let metrics = backend.metrics();
    let plans = backend.plans().load();
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
            metrics.drop(DropReason::BadRequest);
            return None;
        }
    };
    match verdict {
        Verdict::Accept => metrics.accept(),
        Verdict::Reject(reason) => {
            metrics.reject(reason);
            tracing::info!(user = name, nas = %nas.name, reason = reason.label(), "Access-Reject");
        }
    }
    Some(verdict)
}
