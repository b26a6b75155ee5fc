//! A RADIUS server that does no work: every Access-Request and Status-Server gets an
//! Access-Accept, every Accounting-Request an Accounting-Response, every CoA-Request a
//! CoA-ACK and every Disconnect-Request a Disconnect-ACK, correctly signed, with no lookup
//! and no password check.
//!
//! It calibrates the generator — what the tool can drive when the server costs nothing —
//! and shows the ceiling this machine puts on any RADIUS server: decode, sign, and two
//! system calls per request. Listening on a NAS's CoA port (3799), it plays the NAS for
//! the CoA benchmarks (bench/coa-apply.sh): a router that applies every change at once.
//!
//! Each listening address gets `threads` sockets bound with SO_REUSEPORT and a blocking
//! thread per socket; the kernel spreads clients over them by source address and port.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;
use proisp_radius::dictionary::attr::PROXY_STATE;
use proisp_radius::encode::Encoder;
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;
use socket2::{Domain, Protocol, Socket, Type};

use crate::gso;

/// How long a blocked `recv` waits before the thread checks whether its time is up.
const TICK: Duration = Duration::from_millis(50);

/// Requests read before they are answered.
const BATCH: usize = 32;

/// The null server's settings.
#[derive(Debug)]
pub(crate) struct NullServer {
    /// Addresses to answer on.
    pub(crate) listen: Vec<SocketAddr>,
    /// The shared secret replies are signed with.
    pub(crate) secret: Secret,
    /// Sockets (and threads) per address.
    pub(crate) threads: usize,
    /// Stop after this long (None: until killed).
    pub(crate) duration: Option<Duration>,
}

/// The reply to `request`, appended to `buf`, or None for a packet that gets none.
pub(crate) fn answer<'b>(
    request: &Packet<'_>,
    secret: &Secret,
    buf: &'b mut BytesMut,
) -> Option<&'b [u8]> {
    let code = match request.code() {
        Code::AccessRequest | Code::StatusServer => Code::AccessAccept,
        Code::AccountingRequest => Code::AccountingResponse,
        // RFC 5176 §3: the NAS acknowledges the change (or the disconnection).
        Code::CoaRequest => Code::CoaAck,
        Code::DisconnectRequest => Code::DisconnectAck,
        _ => return None,
    };
    // RFC 5176 §2.3 signs CoA and Disconnect answers as RFC 2866 does accounting's: over
    // the request's authenticator, which the encoder's reply does for every code here.
    let mut enc = Encoder::reply(buf, request, code);
    // First, as BlastRADIUS (CVE-2024-3596) mitigations place it.
    enc.message_authenticator();
    // RFC 2865 §5.33: Proxy-State is echoed unmodified, in order.
    enc.copy_attrs(request, PROXY_STATE);
    enc.finish(secret).ok()
}

fn bind(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on {addr}"))?;
    socket.set_read_timeout(Some(TICK))?;
    Ok(socket.into())
}

impl NullServer {
    /// Answers until the duration is up (or forever); reports counts to stderr at the end.
    pub(crate) fn run(&self) -> anyhow::Result<()> {
        let mut sockets = Vec::new();
        for &addr in &self.listen {
            for _ in 0..self.threads.max(1) {
                sockets.push(bind(addr)?);
            }
        }
        let answered = AtomicU64::new(0);
        let dropped = AtomicU64::new(0);
        let stop = self.duration.map(|d| Instant::now() + d);
        // Printed once every socket is bound, so a script can wait for this line.
        eprintln!(
            "null-server: answering on {} with {} thread(s) each",
            self.listen
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.threads.max(1)
        );
        std::thread::scope(|scope| {
            for socket in &sockets {
                let (answered, dropped) = (&answered, &dropped);
                scope.spawn(move || self.serve(socket, stop, answered, dropped));
            }
        });
        eprintln!(
            "null-server: answered {}, dropped {}",
            answered.load(Ordering::Relaxed),
            dropped.load(Ordering::Relaxed)
        );
        Ok(())
    }

    /// One socket's loop: drain up to [`BATCH`] requests without blocking (blocking only
    /// after finding the socket empty twice), answer them, and send the answers to each
    /// client in one GSO batch.
    fn serve(
        &self,
        socket: &UdpSocket,
        stop: Option<Instant>,
        answered: &AtomicU64,
        dropped: &AtomicU64,
    ) {
        let mut rx = vec![0u8; BATCH * MAX_PACKET_LEN];
        let mut requests: Vec<(usize, SocketAddr)> = Vec::with_capacity(BATCH);
        let mut out = BytesMut::with_capacity(BATCH * 64);
        let mut replies: Vec<(SocketAddr, usize, usize)> = Vec::with_capacity(BATCH);
        let mut grouped = Vec::with_capacity(BATCH * 64);
        let mut lens = Vec::with_capacity(BATCH);
        // Counted locally and published once, so threads do not share a cache line.
        let (mut ok, mut bad) = (0u64, 0u64);
        let mut empty_rounds = 0u32;
        let _ = socket.set_nonblocking(true);
        loop {
            drain(socket, &mut rx, &mut requests, empty_rounds >= 2);
            if requests.is_empty() {
                if stop.is_some_and(|s| Instant::now() >= s) {
                    break;
                }
                empty_rounds += 1;
                if empty_rounds == 1 {
                    std::thread::yield_now();
                }
                continue;
            }
            empty_rounds = 0;
            out.clear();
            replies.clear();
            for (k, &(len, from)) in requests.iter().enumerate() {
                let start = out.len();
                let datagram = &rx[k * MAX_PACKET_LEN..k * MAX_PACKET_LEN + len];
                match Packet::decode(datagram)
                    .ok()
                    .and_then(|p| answer(&p, &self.secret, &mut out))
                {
                    Some(reply) => replies.push((from, start, reply.len())),
                    None => bad += 1,
                }
            }
            // One batch per client, in arrival order within it.
            replies.sort_by_key(|&(from, _, _)| from);
            for group in replies.chunk_by(|a, b| a.0 == b.0) {
                grouped.clear();
                lens.clear();
                for &(_, start, len) in group {
                    grouped.extend_from_slice(&out[start..start + len]);
                    lens.push(len);
                }
                let (sent, _) = gso::send_all(socket, Some(group[0].0), &grouped, &lens);
                ok += sent as u64;
                bad += (group.len() - sent) as u64;
            }
        }
        answered.fetch_add(ok, Ordering::Relaxed);
        dropped.fetch_add(bad, Ordering::Relaxed);
    }
}

/// Reads up to [`BATCH`] datagrams into `rx` (one per `MAX_PACKET_LEN` slot), blocking up
/// to [`TICK`] for the first one when `block`.
fn drain(socket: &UdpSocket, rx: &mut [u8], requests: &mut Vec<(usize, SocketAddr)>, block: bool) {
    requests.clear();
    let mut blocking = block && socket.set_nonblocking(false).is_ok();
    while requests.len() < BATCH {
        let start = requests.len() * MAX_PACKET_LEN;
        let result = socket.recv_from(&mut rx[start..start + MAX_PACKET_LEN]);
        if blocking {
            let _ = socket.set_nonblocking(true);
            blocking = false;
        }
        match result {
            Ok((n, from)) => requests.push((n, from)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Would block, timed out, or an ICMP error from a client gone away.
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use proisp_radius::authenticator::{self, verify_reply};
    use proisp_radius::dynauth::{self, Response};

    use super::*;

    #[test]
    fn every_request_gets_a_signed_reply() {
        let secret = Secret::new(b"xyzzy");
        for (code, reply_code) in [
            (Code::AccessRequest, Code::AccessAccept),
            (Code::StatusServer, Code::AccessAccept),
            (Code::AccountingRequest, Code::AccountingResponse),
            (Code::CoaRequest, Code::CoaAck),
            (Code::DisconnectRequest, Code::DisconnectAck),
        ] {
            let mut req = BytesMut::new();
            let mut enc = Encoder::new(&mut req, code, 42, &authenticator::random());
            enc.message_authenticator().attr(PROXY_STATE, b"hop-1");
            let wire = enc.finish(&secret).unwrap().to_vec();
            let request = Packet::decode(&wire).unwrap();
            let mut out = BytesMut::new();
            let raw = answer(&request, &secret, &mut out).unwrap();
            if matches!(code, Code::CoaRequest | Code::DisconnectRequest) {
                // What the CoA client (proisp-coa) checks before counting an ACK.
                assert!(matches!(
                    dynauth::decode_response(&wire, raw, &secret),
                    Ok(Response::Ack)
                ));
            }
            let reply = Packet::decode(raw).unwrap();
            assert_eq!(reply.code(), reply_code);
            assert_eq!(reply.identifier(), 42);
            assert_eq!(reply.value(PROXY_STATE), Some(&b"hop-1"[..]));
            assert_eq!(
                verify_reply(&reply, request.authenticator(), &secret, true),
                Ok(())
            );
        }
    }

    #[test]
    fn replies_get_no_reply() {
        let secret = Secret::new(b"xyzzy");
        let mut raw = BytesMut::new();
        let enc = Encoder::new(&mut raw, Code::AccessAccept, 1, &[0; 16]);
        let accept = Packet::decode(enc.finish(&secret).unwrap()).unwrap();
        assert!(answer(&accept, &secret, &mut BytesMut::new()).is_none());
    }
}
