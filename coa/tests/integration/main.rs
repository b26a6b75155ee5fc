//! The CoA / Disconnect client against a fake NAS on the loopback: what it sends, what it
//! accepts, and how it retries. The retransmission timer runs on tokio's paused clock where
//! no reply is involved (a reply crosses the kernel, which the paused clock does not wait
//! for).

mod kept;
mod lanes;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use proisp_coa::{Client, ClientConfig, Outcome};
use proisp_radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticator, verify_request_digest,
};
use proisp_radius::dictionary::{attr, mikrotik, values, vendor};
use proisp_radius::dynauth::{ErrorCause, Kind, Request};
use proisp_radius::encode::Encoder;
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) const SECRET: &[u8] = b"testing123";
const USER: &str = "user000001";
const SESSION: &str = "81a00001";
const FRAMED_IP: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 7);
const RATE: &str = "2M/4M";

/// How the fake NAS answers each request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Behaviour {
    /// The ACK of the request's kind, with a Message-Authenticator.
    Ack,
    /// The NAK of the request's kind with this Error-Cause and no Message-Authenticator,
    /// as many NASes send it.
    Nak(u32),
    /// Nothing.
    Silent,
    /// An ACK signed with another secret.
    WrongSecret,
    /// A CoA-ACK whatever the request.
    CoaAck,
    /// Junk, a reply to another Identifier, a forged reply and an Access-Accept, then the
    /// ACK.
    HostileThenAck,
}

/// A NAS on 127.0.0.1 that records every datagram it receives.
struct FakeNas {
    addr: SocketAddr,
    received: watch::Receiver<Vec<Vec<u8>>>,
    task: JoinHandle<()>,
}

/// What [`FakeNas::received_until_now`] sends: no RADIUS packet, so it is never answered.
const MARKER: &[u8] = b"marker";

impl FakeNas {
    async fn start(behaviour: Behaviour) -> FakeNas {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (log, received) = watch::channel(Vec::new());
        let task = tokio::spawn(async move {
            let mut buf = vec![0; MAX_PACKET_LEN];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let datagram = buf[..len].to_vec();
                // Recorded before it is answered: a client holding the answer finds the
                // request in `received`.
                log.send_modify(|all| all.push(datagram.clone()));
                for reply in answers(&datagram, behaviour) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        FakeNas {
            addr,
            received,
            task,
        }
    }

    /// Every datagram received so far.
    fn received(&self) -> Vec<Vec<u8>> {
        self.received.borrow().clone()
    }

    /// Every datagram sent to the NAS before this call, including those it has not read
    /// yet: sends [`MARKER`] from a socket of its own and waits until the NAS has it. The
    /// loopback queues datagrams in the order they are sent, whatever the sending socket.
    async fn received_until_now(&self) -> Vec<Vec<u8>> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(MARKER, self.addr).await.unwrap();
        let mut received = self.received.clone();
        let all = received
            .wait_for(|all| all.iter().any(|d| d == MARKER))
            .await
            .unwrap()
            .clone();
        let marker = all.iter().position(|d| d == MARKER).unwrap();
        all[..marker].to_vec()
    }
}

impl Drop for FakeNas {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the NAS sends back for one datagram.
pub(crate) fn answers(datagram: &[u8], behaviour: Behaviour) -> Vec<Vec<u8>> {
    let Ok(request) = Packet::decode(datagram) else {
        return Vec::new();
    };
    let Some(kind) = Kind::of_request(request.code()) else {
        return Vec::new();
    };
    match behaviour {
        Behaviour::Ack => vec![reply(&request, kind.ack_code(), true, None, SECRET)],
        Behaviour::Nak(cause) => vec![reply(&request, kind.nak_code(), false, Some(cause), SECRET)],
        Behaviour::Silent => Vec::new(),
        Behaviour::WrongSecret => vec![reply(&request, kind.ack_code(), true, None, b"wrong")],
        Behaviour::CoaAck => vec![reply(&request, Code::CoaAck, true, None, SECRET)],
        Behaviour::HostileThenAck => {
            let good = reply(&request, kind.ack_code(), true, None, SECRET);
            let mut other_id = good.clone();
            other_id[1] = other_id[1].wrapping_add(1);
            let mut forged = good.clone();
            forged[4] ^= 0x80;
            vec![
                b"\x2c\x01\x00".to_vec(),
                vec![0xff; 40],
                other_id,
                forged,
                reply(&request, Code::AccessAccept, false, None, SECRET),
                good,
            ]
        }
    }
}

/// A reply of `code` to `request`, signed with `secret`.
fn reply(request: &Packet<'_>, code: Code, ma: bool, cause: Option<u32>, secret: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::reply(&mut buf, request, code);
    if ma {
        enc.message_authenticator();
    }
    if let Some(cause) = cause {
        enc.u32(attr::ERROR_CAUSE, cause);
    }
    enc.finish(secret).unwrap().to_vec()
}

/// A client that gives up quickly: three tries of 150 ms.
fn client() -> Client {
    Client::new(ClientConfig {
        timeout: Duration::from_millis(150),
        retries: 2,
        ..ClientConfig::default()
    })
}

fn rate_limit_coa() -> Request {
    Request::coa(USER, SESSION)
        .with_framed_ip(FRAMED_IP)
        .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, RATE)
}

/// What a NAS checks of a request before acting: the RFC 5176 §2.3 Request Authenticator,
/// the Message-Authenticator (first), and the session identification.
fn assert_valid_request(datagram: &[u8], code: Code) {
    let p = Packet::decode(datagram).unwrap();
    assert_eq!(p.code(), code);
    assert!(verify_request_digest(&p, SECRET));
    assert_eq!(
        check_message_authenticator(&p, SECRET),
        MessageAuthenticatorCheck::Valid
    );
    assert_eq!(
        p.attrs().next().map(|a| a.typ),
        Some(attr::MESSAGE_AUTHENTICATOR)
    );
    assert_eq!(p.attr(attr::USER_NAME).unwrap().as_str(), Some(USER));
    assert_eq!(
        p.attr(attr::ACCT_SESSION_ID).unwrap().as_str(),
        Some(SESSION)
    );
}

#[tokio::test]
async fn coa_ack_carries_rate_limit_and_identification() {
    let nas = FakeNas::start(Behaviour::Ack).await;
    let outcome = client()
        .send(nas.addr, &Secret::new(SECRET), &rate_limit_coa())
        .await;
    assert!(outcome.is_ack(), "{outcome}");
    assert_eq!(outcome.to_string(), "ACK");
    let received = nas.received();
    assert_eq!(received.len(), 1);
    assert_valid_request(&received[0], Code::CoaRequest);
    let p = Packet::decode(&received[0]).unwrap();
    assert_eq!(
        p.attr(attr::FRAMED_IP_ADDRESS).unwrap().as_ipv4(),
        Some(FRAMED_IP)
    );
    assert_eq!(
        p.vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT),
        Some(RATE.as_bytes())
    );
}

#[tokio::test]
async fn nak_reports_its_error_cause() {
    let nas = FakeNas::start(Behaviour::Nak(
        values::error_cause::SESSION_CONTEXT_NOT_FOUND,
    ))
    .await;
    let outcome = client()
        .send(nas.addr, &Secret::new(SECRET), &rate_limit_coa())
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Nak {
                error_cause: Some(ErrorCause::SESSION_CONTEXT_NOT_FOUND)
            }
        ),
        "{outcome}"
    );
    assert_eq!(outcome.to_string(), "NAK: Session-Context-Not-Found (503)");
    // A NAK is final: no retransmission.
    assert_eq!(nas.received().len(), 1);
}

#[tokio::test]
async fn disconnect_is_answered_with_disconnect_codes() {
    let nas = FakeNas::start(Behaviour::Ack).await;
    let request = Request::disconnect(USER, SESSION).with_framed_ip(FRAMED_IP);
    let outcome = client()
        .send(nas.addr, &Secret::new(SECRET), &request)
        .await;
    assert!(outcome.is_ack(), "{outcome}");
    let received = nas.received();
    assert_valid_request(&received[0], Code::DisconnectRequest);
    assert!(
        Packet::decode(&received[0])
            .unwrap()
            .attr(attr::VENDOR_SPECIFIC)
            .is_none()
    );
}

#[tokio::test]
async fn coa_ack_does_not_answer_a_disconnect() {
    let nas = FakeNas::start(Behaviour::CoaAck).await;
    let outcome = client()
        .send(
            nas.addr,
            &Secret::new(SECRET),
            &Request::disconnect(USER, SESSION),
        )
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Timeout {
                tries: 3,
                ignored: 3
            }
        ),
        "{outcome}"
    );
}

#[tokio::test(start_paused = true)]
async fn silence_times_out_after_identical_retransmissions() {
    let nas = FakeNas::start(Behaviour::Silent).await;
    let started = Instant::now();
    let outcome = client()
        .send(nas.addr, &Secret::new(SECRET), &rate_limit_coa())
        .await;
    // Three tries, each given its full 150 ms, and not a moment more.
    assert_eq!(started.elapsed(), Duration::from_millis(450));
    assert!(
        matches!(
            outcome,
            Outcome::Timeout {
                tries: 3,
                ignored: 0
            }
        ),
        "{outcome}"
    );
    assert_eq!(outcome.to_string(), "no answer after 3 tries");
    let received = nas.received_until_now().await;
    assert_eq!(received.len(), 3);
    // RFC 5080 §2.2.1: a retransmission is the same packet, Identifier and Authenticator
    // included.
    assert!(received.iter().all(|d| d == &received[0]));
    assert_valid_request(&received[0], Code::CoaRequest);
}

#[tokio::test]
async fn replies_under_another_secret_are_ignored() {
    let nas = FakeNas::start(Behaviour::WrongSecret).await;
    let outcome = client()
        .send(nas.addr, &Secret::new(SECRET), &rate_limit_coa())
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Timeout {
                tries: 3,
                ignored: 3
            }
        ),
        "{outcome}"
    );
    assert!(outcome.to_string().contains("wrong secret"), "{outcome}");
}

#[tokio::test]
async fn hostile_replies_are_skipped_until_the_valid_one() {
    let nas = FakeNas::start(Behaviour::HostileThenAck).await;
    let outcome = client()
        .send(nas.addr, &Secret::new(SECRET), &rate_limit_coa())
        .await;
    assert!(outcome.is_ack(), "{outcome}");
    assert_eq!(nas.received().len(), 1);
}

#[tokio::test]
async fn a_closed_port_is_a_socket_error() {
    let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let outcome = client()
        .send(addr, &Secret::new(SECRET), &rate_limit_coa())
        .await;
    // Linux reports the ICMP port unreachable on the connected socket.
    assert!(
        matches!(&outcome, Outcome::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{outcome}"
    );
}

#[tokio::test]
async fn an_unencodable_request_is_not_sent() {
    let nas = FakeNas::start(Behaviour::Ack).await;
    let request = Request::coa(USER, SESSION).with_attr(attr::FILTER_ID, vec![b'x'; 254]);
    let outcome = client()
        .send(nas.addr, &Secret::new(SECRET), &request)
        .await;
    assert!(matches!(outcome, Outcome::Encode(_)), "{outcome}");
    assert!(nas.received_until_now().await.is_empty());
}
