//! Answers: from memory at once, or after waiting for a backend as deferred work.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use proisp_model::Nas;
use proisp_radius::authenticator::sign_replies_with;
use proisp_radius::dictionary::{attr, values};
use proisp_radius::encode::Encoder;
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use proisp_radius::profile::Profile;
use proisp_radius::secret::Secret;

use super::{Arrival, Backend, Port};
use crate::acct::{self, Parsed};
use crate::auth::{self, Context, Verdict};
use crate::dedup::{Reply, Ticket};
use crate::flood::unix_seconds;
use crate::lookup::Found;
use crate::metrics::{Answered, DropReason, NasStats};
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
    /// Its NAS's request metrics.
    pub(crate) stats: Option<Arc<NasStats>>,
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
        profile: Profile,
        /// When the request arrived, by the wall clock.
        arrived: SystemTime,
        reject_delay: Duration,
    },
}

/// What deferred work decided: the reply, and how long to hold it back before it leaves
/// (the reject delay of an Access-Reject; zero otherwise).
#[derive(Debug)]
struct Answer {
    reply: Reply,
    delay: Duration,
    /// What the reply answered (none for a RADIUS/1.1 Protocol-Error).
    answered: Option<Answered>,
}

impl Work {
    /// Does the waiting and returns the reply to send, once the reject delay (if any) is
    /// over; `None` drops the request (counted; the NAS retries). The request's latency,
    /// from `arrived`, is recorded when it is decided, overall and in its NAS's `stats`:
    /// the reject delay is not in it.
    pub(crate) async fn run(
        self,
        backend: &impl Backend,
        arrived: Instant,
        stats: Option<&NasStats>,
    ) -> Option<Reply> {
        let Answer {
            reply,
            delay,
            answered,
        } = self.decide(backend).await?;
        let elapsed = arrived.elapsed();
        backend.metrics().duration.record(elapsed);
        if let (Some(stats), Some(answered)) = (stats, answered) {
            stats.record(answered, elapsed);
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some(reply)
    }

    async fn decide(self, backend: &impl Backend) -> Option<Answer> {
        match self {
            Work::Delay { reply, delay } => Some(Answer {
                reply,
                delay,
                answered: Some(Answered::Reject),
            }),
            Work::Wait {
                nas,
                datagram,
                port,
                profile,
                arrived,
                reject_delay,
            } => {
                let packet = Packet::decode(&datagram).ok()?;
                let later = Later {
                    nas: &nas,
                    packet: &packet,
                    port,
                    profile,
                };
                later.answer(backend, arrived, reject_delay).await
            }
        }
    }
}

thread_local! {
    /// Each worker thread's encoding buffer for replies built by deferred work.
    static REPLY_BUF: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(MAX_PACKET_LEN));
}

/// Builds a reply in this thread's reusable buffer, signs it with `secret` (classic
/// RADIUS; nothing is signed under RADIUS/1.1) and returns an exact-size copy, for
/// deferred work (one small allocation; the replies of a batch answered from memory are
/// built in their endpoint's buffer and signed together).
fn encode<T>(
    secret: &Secret,
    profile: Profile,
    build: impl FnOnce(&mut BytesMut) -> Option<T>,
) -> Option<(T, Reply)> {
    REPLY_BUF.with_borrow_mut(|buf| {
        buf.clear();
        let value = build(buf)?;
        let len = buf.len();
        sign_replies_with(profile, buf, &[(0..len, secret)]);
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
    (port, profile): (Port, Profile),
    arrival: Arrival,
    buf: &mut BytesMut,
) -> Now {
    match packet.code() {
        Code::StatusServer => {
            status_server(backend, packet, port, profile, buf).map_or(Now::Dropped, |()| Now::Reply)
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
            match decide(backend, nas, packet, who, (arrival.unix, profile), buf) {
                Some(Verdict::Accept) => Now::Reply,
                Some(Verdict::Reject(_)) => Now::Reject,
                None => Now::Dropped,
            }
        }
        _ => Now::Wait,
    }
}

/// A request [`answer_now`] could not answer, and where it came from.
struct Later<'a> {
    nas: &'a Nas,
    packet: &'a Packet<'a>,
    port: Port,
    profile: Profile,
}

impl Later<'_> {
    /// Answers, waiting for the backends; `None` drops the request (the NAS retries).
    /// `arrived` is when the request arrived, by the wall clock.
    async fn answer(
        &self,
        backend: &impl Backend,
        arrived: SystemTime,
        reject_delay: Duration,
    ) -> Option<Answer> {
        let (nas, packet) = (self.nas, self.packet);
        let reply = match packet.code() {
            Code::StatusServer => encode(&nas.secret, self.profile, |buf| {
                status_server(backend, packet, self.port, self.profile, buf)
            })
            .map(|((), r)| r),
            Code::AccountingRequest => self.account(backend, arrived).await,
            _ => {
                let (verdict, reply) = self.authenticate(backend).await?;
                let delay = match verdict {
                    Some(Verdict::Reject(_)) => reject_delay,
                    _ => Duration::ZERO,
                };
                return Some(Answer {
                    answered: Answered::of(packet.code(), &reply),
                    reply,
                    delay,
                });
            }
        };
        reply.map(|reply| Answer {
            answered: Answered::of(packet.code(), &reply),
            reply,
            delay: Duration::ZERO,
        })
    }

    /// Under RADIUS/1.1, the answer to a request this server cannot process now (no
    /// backend answered, no durable place for a record): Protocol-Error with Error-Cause
    /// Resources-Unavailable (RFC 9765 §6.1), so the client fails over at once rather
    /// than waiting out its timeout. Classic RADIUS has no such answer: `None`, dropped.
    fn unavailable(&self) -> Option<Reply> {
        if self.profile != Profile::Radius11 {
            return None;
        }
        encode(&self.nas.secret, self.profile, |buf| {
            let mut enc = Encoder::reply_with(buf, self.packet, Code::ProtocolError, self.profile);
            enc.u32(
                attr::ERROR_CAUSE,
                values::error_cause::RESOURCES_UNAVAILABLE,
            );
            enc.finish_unsigned().ok().map(|_| ())
        })
        .map(|((), r)| r)
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
    profile: Profile,
    buf: &mut BytesMut,
) -> Option<()> {
    let code = match port {
        Port::Auth | Port::Stream => Code::AccessAccept,
        Port::Acct => Code::AccountingResponse,
    };
    let mut enc = Encoder::reply_with(buf, packet, code, profile);
    enc.message_authenticator();
    enc.finish_unsigned().ok()?;
    backend.metrics().status_server.increment(1);
    Some(())
}

/// The User-Name of an Access-Request; `None` (counted) when it has none.
fn user_name<'a>(backend: &impl Backend, packet: &Packet<'a>) -> Option<&'a str> {
    let name = packet.attr(attr::USER_NAME).and_then(|a| a.as_str());
    if name.is_none() {
        backend.metrics().drop(DropReason::BadRequest);
    }
    name
}

impl Later<'_> {
    /// Records an Accounting-Request that arrived at `arrived` durably and builds its
    /// response; `None` drops it (the NAS retries). Its copies are dropped by the duplicate
    /// cache meanwhile, so the record keeps the first copy's arrival however long it waits.
    async fn account(&self, backend: &impl Backend, arrived: SystemTime) -> Option<Reply> {
        let (nas, packet) = (self.nas, self.packet);
        let metrics = backend.metrics();
        let status = match acct::parse(packet, nas, arrived) {
            Ok(Parsed::Record(record)) => {
                let status = record.record.status.value();
                match backend.submit(record).await {
                    Ok(durable) => {
                        metrics.acct(status, durable.index());
                    }
                    Err(NotDurable) => {
                        metrics.drop(DropReason::NotDurable);
                        return self.unavailable();
                    }
                }
                status
            }
            Ok(Parsed::Ignore(status)) => {
                metrics.acct(status, Durable::Committed.index());
                status
            }
            Err(invalid) => {
                metrics.drop(DropReason::BadRequest);
                tracing::debug!(?invalid, nas = %nas.name, "unusable Accounting-Request");
                return None;
            }
        };
        let built = encode(&nas.secret, self.profile, |buf| {
            acct::respond(packet, self.profile, buf)
            .map_err(|e| {
                tracing::error!(error = %e, status, "Accounting-Response did not fit in a packet");
            })
            .ok()
        });
        built.map(|((), reply)| reply)
    }

    /// Looks the subscriber up and decides: the verdict (none for a Protocol-Error) and the
    /// reply; `None` drops the request (no User-Name, or no backend could answer).
    async fn authenticate(&self, backend: &impl Backend) -> Option<(Option<Verdict>, Reply)> {
        let (nas, packet) = (self.nas, self.packet);
        let name = user_name(backend, packet)?;
        let found = match backend.find(name).await {
            Ok(found) => found,
            Err(_) => {
                backend.metrics().drop(DropReason::BackendUnavailable);
                return self.unavailable().map(|reply| (None, reply));
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
        encode(&nas.secret, self.profile, |buf| {
            decide(backend, nas, packet, who, (now, self.profile), buf)
        })
        .map(|(verdict, reply)| (Some(verdict), reply))
    }
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
    (now, profile): (i64, Profile),
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
        profile,
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
            if let Some(sub) = subscriber {
                backend.rejects().record(sub, nas, packet, reason, now);
            }
            tracing::info!(user = name, nas = %nas.name, reason = reason.label(), "Access-Reject");
        }
    }
    Some(verdict)
}
