//! A NAS's Dynamic Authorization server (RFC 5176) on the loopback, for the tests of
//! everything that sends CoA- and Disconnect-Requests: proisp-coa's client and lanes,
//! radiusd's fair-usage and period changes, adminapi's kicks and live plan changes.
//!
//! It reads on a thread of its own, so it serves a blocking test, a multi-threaded runtime
//! and a current-thread or paused-clock one alike. Each request is recorded before it is
//! answered ([`Seen`]), then answered as [`Answer`] says. [`Answer::Hold`] plays a slow
//! router without a clock: every request waits until the test releases it
//! ([`FakeNas::release`], [`FakeNas::pace`]), so a test sees a sender's in-flight window
//! fill by the requests themselves, not by a latency it guessed.
//!
//! As a real NAS does (RFC 5080 §2.2.2), a retransmission of a request it already answered
//! gets the same answer again, and one of a request it holds joins it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proisp_radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticator, verify_request_digest,
};
use proisp_radius::dictionary::{attr, mikrotik, vendor};
use proisp_radius::dynauth::Kind;
use proisp_radius::encode::Encoder;
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use tokio::sync::watch;

/// The replies of an [`Answer::With`] NAS to one request, given the NAS's secret.
pub type Replies = fn(&Packet<'_>, &[u8]) -> Vec<Vec<u8>>;

/// How the NAS answers a request whose signatures verify (one that does not is recorded
/// and dropped, as RFC 5176 §3.5 asks).
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// The ACK of the request's kind, with a Message-Authenticator.
    Ack,
    /// The NAK of the request's kind with this Error-Cause and no Message-Authenticator,
    /// as many NASes send it.
    Nak(u32),
    /// Nothing: a NAS whose CoA server is down.
    Silence,
    /// An ACK, once the test releases the request.
    Hold,
    /// Whatever the function makes of the request: hostile or odd replies.
    With(Replies),
}

/// What one request carried.
#[derive(Debug, Clone)]
pub struct Request {
    pub datagram: Vec<u8>,
    pub code: Code,
    pub user: String,
    pub session: String,
    pub framed_ip: Option<Ipv4Addr>,
    pub rate_limit: Option<String>,
    /// The RFC 5176 §2.3 Request Authenticator and the Message-Authenticator verify.
    pub signed: bool,
}

/// Everything the NAS has seen.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Every request, in the order it came, retransmissions included.
    pub requests: Vec<Request>,
    /// Per session, the Mikrotik-Rate-Limit (or "") of every request it acknowledged.
    pub acked: HashMap<String, Vec<String>>,
    /// Requests held now, and the most there ever were at once.
    pub held: usize,
    pub most_held: usize,
    /// Datagrams that were no RADIUS packet ([`FakeNas::sync`] sends one).
    junk: usize,
}

/// A request's identity for duplicate detection (RFC 5080 §2.2.2): where it came from,
/// its Identifier and Authenticator.
type Key = (SocketAddr, Vec<u8>);

struct State {
    seen: Seen,
    answer: Answer,
    /// Held requests, oldest first.
    held: Vec<(Key, Vec<u8>)>,
    /// The replies sent to each request, for its retransmissions.
    answered: HashMap<Key, Vec<Vec<u8>>>,
    /// How many of `seen.requests` [`FakeNas::next`] has handed out.
    taken: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Woken on every change, for blocking waits.
    changed: Condvar,
    /// Bumped on every change, for async waits.
    tick: watch::Sender<u64>,
    socket: UdpSocket,
    secret: Vec<u8>,
    stop: AtomicBool,
}

/// A NAS's CoA server on a UDP port of a loopback address; stops when dropped.
pub struct FakeNas {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl FakeNas {
    /// A NAS on a free port of `ip` (127.0.0.x) sharing `secret` with the sender.
    pub fn start(ip: &str, secret: &[u8], answer: Answer) -> FakeNas {
        let socket = UdpSocket::bind((ip, 0)).expect("bind the fake NAS");
        let addr = socket.local_addr().expect("the fake NAS's address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                seen: Seen::default(),
                answer,
                held: Vec::new(),
                answered: HashMap::new(),
                taken: 0,
            }),
            changed: Condvar::new(),
            tick: watch::Sender::new(0),
            socket,
            secret: secret.to_vec(),
            stop: AtomicBool::new(false),
        });
        let reader = shared.clone();
        std::thread::spawn(move || reader.serve());
        FakeNas { shared, addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How requests from now on are answered (held ones stay held).
    pub fn set_answer(&self, answer: Answer) {
        self.shared.lock().answer = answer;
    }

    /// What the NAS has seen so far.
    pub fn seen(&self) -> Seen {
        self.shared.lock().seen.clone()
    }

    /// The next request not handed out yet, waiting up to `within` for it to come.
    pub fn next(&self, within: Duration) -> Option<Request> {
        let deadline = Instant::now() + within;
        let mut state = self.shared.lock();
        loop {
            if let Some(request) = state.seen.requests.get(state.taken).cloned() {
                state.taken += 1;
                return Some(request);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until `done` holds of what the NAS has seen (checked on every change).
    pub async fn until(&self, done: impl Fn(&Seen) -> bool) {
        let mut tick = self.shared.tick.subscribe();
        let _ = tick.wait_for(|_| done(&self.shared.lock().seen)).await;
    }

    /// Waits until the NAS has read every datagram sent to it before this call: sends it
    /// a datagram that is no RADIUS packet and waits until it was read. The loopback
    /// delivers datagrams to a socket in the order they were sent, whatever their sender.
    pub async fn sync(&self) {
        let junk = self.seen().junk;
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the marker's socket");
        socket.send_to(b"sync", self.addr).expect("send the marker");
        self.until(|seen| seen.junk > junk).await;
    }

    /// ACKs up to `n` held requests, oldest first; says how many.
    pub fn release(&self, n: usize) -> usize {
        let mut state = self.shared.lock();
        let n = n.min(state.held.len());
        let released: Vec<_> = state.held.drain(..n).collect();
        for (key, datagram) in released {
            let request = Packet::decode(&datagram).expect("a held request decodes");
            let replies = self.shared.ack(&mut state, &request);
            self.shared.send(&replies, key.0);
            state.answered.insert(key, replies);
        }
        state.seen.held = state.held.len();
        drop(state);
        self.shared.notify();
        n
    }

    /// Plays a router that takes `window` requests at a time, for `total` distinct
    /// requests: each time the sender has as many outstanding as it may (`window`, or what
    /// is left), ACKs them all. Waits for ever if the sender never fills its window: give
    /// the test a timeout.
    pub async fn pace(&self, window: usize, total: usize) {
        loop {
            let mut tick = self.shared.tick.subscribe();
            let full = tick.wait_for(|_| {
                let state = self.shared.lock();
                let answered = state.answered.len();
                answered >= total || state.held.len() >= window.min(total - answered)
            });
            let _ = full.await;
            if self.shared.lock().answered.len() >= total {
                return;
            }
            self.release(usize::MAX);
        }
    }
}

impl std::fmt::Debug for FakeNas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeNas").field("addr", &self.addr).finish()
    }
}

impl Drop for FakeNas {
    fn drop(&mut self) {
        // The reader blocks in recv_from: a datagram wakes it to see the flag.
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Ok(socket) = UdpSocket::bind("127.0.0.1:0") {
            let _ = socket.send_to(b"stop", self.addr);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self) {
        self.changed.notify_all();
        self.tick.send_modify(|n| *n += 1);
    }

    fn send(&self, replies: &[Vec<u8>], to: SocketAddr) {
        for reply in replies {
            let _ = self.socket.send_to(reply, to);
        }
    }

    fn serve(&self) {
        let mut buf = vec![0; MAX_PACKET_LEN];
        while let Ok((len, from)) = self.socket.recv_from(&mut buf) {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            self.receive(&buf[..len], from);
            self.notify();
        }
    }

    fn receive(&self, datagram: &[u8], from: SocketAddr) {
        let mut state = self.lock();
        let Ok(request) = Packet::decode(datagram) else {
            state.seen.junk += 1;
            return;
        };
        let seen = self.describe(&request, datagram);
        let signed = seen.signed;
        state.seen.requests.push(seen);
        let key = (from, datagram[1..20].to_vec());
        if let Some(replies) = state.answered.get(&key) {
            self.send(replies, from);
            return;
        }
        if !signed || state.held.iter().any(|(k, _)| *k == key) {
            return;
        }
        let replies = match state.answer {
            Answer::Silence => return,
            Answer::Hold => {
                state.held.push((key, datagram.to_vec()));
                state.seen.held = state.held.len();
                state.seen.most_held = state.seen.most_held.max(state.seen.held);
                return;
            }
            Answer::Ack => self.ack(&mut state, &request),
            Answer::Nak(cause) => match Kind::of_request(request.code()) {
                Some(kind) => vec![reply(
                    &request,
                    kind.nak_code(),
                    false,
                    Some(cause),
                    &self.secret,
                )],
                None => Vec::new(),
            },
            Answer::With(replies) => replies(&request, &self.secret),
        };
        self.send(&replies, from);
        state.answered.insert(key, replies);
    }

    /// The ACK to `request`, recorded in [`Seen::acked`].
    fn ack(&self, state: &mut State, request: &Packet<'_>) -> Vec<Vec<u8>> {
        let Some(kind) = Kind::of_request(request.code()) else {
            return Vec::new();
        };
        state
            .seen
            .acked
            .entry(text(request, attr::ACCT_SESSION_ID))
            .or_default()
            .push(rate_limit(request).unwrap_or_default());
        vec![reply(request, kind.ack_code(), true, None, &self.secret)]
    }

    fn describe(&self, request: &Packet<'_>, datagram: &[u8]) -> Request {
        Request {
            datagram: datagram.to_vec(),
            code: request.code(),
            user: text(request, attr::USER_NAME),
            session: text(request, attr::ACCT_SESSION_ID),
            framed_ip: request
                .attr(attr::FRAMED_IP_ADDRESS)
                .and_then(|a| a.as_ipv4()),
            rate_limit: rate_limit(request),
            signed: verify_request_digest(request, self.secret.as_slice())
                && check_message_authenticator(request, self.secret.as_slice())
                    == MessageAuthenticatorCheck::Valid,
        }
    }
}

/// Attribute `typ` of `request` as text ("" when absent).
fn text(request: &Packet<'_>, typ: u8) -> String {
    request
        .value(typ)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn rate_limit(request: &Packet<'_>) -> Option<String> {
    request
        .vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// A reply of `code` to `request` signed with `secret`: with a Message-Authenticator
/// (`ma`) and an Error-Cause if asked.
pub fn reply(
    request: &Packet<'_>,
    code: Code,
    ma: bool,
    cause: Option<u32>,
    secret: &[u8],
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::reply(&mut buf, request, code);
    if ma {
        enc.message_authenticator();
    }
    if let Some(cause) = cause {
        enc.u32(attr::ERROR_CAUSE, cause);
    }
    enc.finish(secret).expect("encode the reply").to_vec()
}

#[cfg(test)]
mod tests {
    use proisp_radius::dynauth::{Request as Change, decode_response};

    use super::*;

    const SECRET: &[u8] = b"fake-nas";

    /// Sends a CoA-Request for `session` with Identifier `id` from `client`.
    fn send(client: &UdpSocket, nas: &FakeNas, session: &str, id: u8) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let wire = Change::coa("user", session)
            .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, "1M/1M")
            .encode(&mut buf, id, SECRET)
            .unwrap()
            .to_vec();
        client.send_to(&wire, nas.addr()).unwrap();
        wire
    }

    fn client() -> UdpSocket {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
    }

    #[test]
    fn acks_what_verifies_and_answers_a_retransmission_again() {
        let nas = FakeNas::start("127.0.0.1", SECRET, Answer::Ack);
        let client = client();
        let wire = send(&client, &nas, "s1", 1);
        let mut buf = [0; 4096];
        let len = client.recv(&mut buf).unwrap();
        assert!(decode_response(&wire, &buf[..len], SECRET).is_ok());
        client.send_to(&wire, nas.addr()).unwrap();
        let again = client.recv(&mut buf).unwrap();
        assert_eq!(again, len);
        let seen = nas.next(Duration::from_secs(5)).unwrap();
        assert!(seen.signed);
        assert_eq!((seen.session.as_str(), seen.code), ("s1", Code::CoaRequest));
        assert!(nas.next(Duration::from_secs(5)).is_some(), "the copy");
        assert_eq!(nas.seen().acked["s1"], ["1M/1M"], "acknowledged once");
    }

    #[test]
    fn drops_a_request_signed_with_another_secret() {
        let nas = FakeNas::start("127.0.0.1", b"other", Answer::Ack);
        let client = client();
        send(&client, &nas, "s1", 1);
        let seen = nas.next(Duration::from_secs(5)).unwrap();
        assert!(!seen.signed);
        assert!(nas.seen().acked.is_empty());
    }

    #[tokio::test]
    async fn holds_each_request_until_released() {
        let nas = FakeNas::start("127.0.0.1", SECRET, Answer::Hold);
        let client = client();
        let first = send(&client, &nas, "s1", 1);
        send(&client, &nas, "s2", 2);
        // A copy of a held request joins it.
        client.send_to(&first, nas.addr()).unwrap();
        nas.sync().await;
        let seen = nas.seen();
        assert_eq!((seen.requests.len(), seen.held, seen.most_held), (3, 2, 2));
        assert!(seen.acked.is_empty());
        assert_eq!(nas.release(1), 1);
        let mut buf = [0; 4096];
        let len = client.recv(&mut buf).unwrap();
        assert!(decode_response(&first, &buf[..len], SECRET).is_ok());
        assert_eq!(nas.seen().held, 1);
        assert_eq!(nas.release(5), 1);
        assert_eq!(nas.seen().acked.len(), 2);
    }
}
