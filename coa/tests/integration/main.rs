//! The CoA / Disconnect client against a fake NAS on the loopback: what it sends, what it
//! accepts, and how it retries. The retransmission timer runs on tokio's paused clock where
//! no reply is involved (a reply crosses the kernel, which the paused clock does not wait
//! for).

mod kept;
mod lanes;

use std::net::Ipv4Addr;
use std::time::Duration;

use proisp_coa::{Client, ClientConfig, Outcome};
use proisp_radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticator, verify_request_digest,
};
use proisp_radius::dictionary::{attr, mikrotik, values, vendor};
use proisp_radius::dynauth::{ErrorCause, Kind, Request};
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;
use proisp_testing::FakeNas;
use proisp_testing::fake_nas::{Answer, reply};
use tokio::net::UdpSocket;
use tokio::time::Instant;

pub(crate) const SECRET: &[u8] = b"testing123";
const USER: &str = "user000001";
const SESSION: &str = "81a00001";
const FRAMED_IP: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 7);
const RATE: &str = "2M/4M";

/// A NAS on 127.0.0.1 sharing [`SECRET`].
pub(crate) fn fake_nas(answer: Answer) -> FakeNas {
    FakeNas::start("127.0.0.1", SECRET, answer)
}

/// Every datagram the NAS has read.
fn received(nas: &FakeNas) -> Vec<Vec<u8>> {
    nas.seen()
        .requests
        .into_iter()
        .map(|r| r.datagram)
        .collect()
}

/// Every datagram sent to the NAS before this call, including those it had not read yet.
async fn received_until_now(nas: &FakeNas) -> Vec<Vec<u8>> {
    nas.sync().await;
    received(nas)
}

/// An ACK signed with another secret.
fn wrong_secret(request: &Packet<'_>, _: &[u8]) -> Vec<Vec<u8>> {
    let kind = Kind::of_request(request.code()).unwrap();
    vec![reply(request, kind.ack_code(), true, None, b"wrong")]
}

/// A CoA-ACK whatever the request.
fn coa_ack(request: &Packet<'_>, secret: &[u8]) -> Vec<Vec<u8>> {
    vec![reply(request, Code::CoaAck, true, None, secret)]
}

/// Junk, a reply to another Identifier, a forged reply and an Access-Accept, then the ACK.
fn hostile_then_ack(request: &Packet<'_>, secret: &[u8]) -> Vec<Vec<u8>> {
    let kind = Kind::of_request(request.code()).unwrap();
    let good = reply(request, kind.ack_code(), true, None, secret);
    let mut other_id = good.clone();
    other_id[1] = other_id[1].wrapping_add(1);
    let mut forged = good.clone();
    forged[4] ^= 0x80;
    vec![
        b"\x2c\x01\x00".to_vec(),
        vec![0xff; 40],
        other_id,
        forged,
        reply(request, Code::AccessAccept, false, None, secret),
        good,
    ]
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
    let nas = fake_nas(Answer::Ack);
    let outcome = client()
        .send(nas.addr(), &Secret::new(SECRET), &rate_limit_coa())
        .await;
    assert!(outcome.is_ack(), "{outcome}");
    assert_eq!(outcome.to_string(), "ACK");
    let received = received(&nas);
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
    let nas = fake_nas(Answer::Nak(values::error_cause::SESSION_CONTEXT_NOT_FOUND));
    let outcome = client()
        .send(nas.addr(), &Secret::new(SECRET), &rate_limit_coa())
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
    assert_eq!(received(&nas).len(), 1);
}

#[tokio::test]
async fn disconnect_is_answered_with_disconnect_codes() {
    let nas = fake_nas(Answer::Ack);
    let request = Request::disconnect(USER, SESSION).with_framed_ip(FRAMED_IP);
    let outcome = client()
        .send(nas.addr(), &Secret::new(SECRET), &request)
        .await;
    assert!(outcome.is_ack(), "{outcome}");
    let received = received(&nas);
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
    let nas = fake_nas(Answer::With(coa_ack));
    let outcome = client()
        .send(
            nas.addr(),
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
    let nas = fake_nas(Answer::Silence);
    let started = Instant::now();
    let outcome = client()
        .send(nas.addr(), &Secret::new(SECRET), &rate_limit_coa())
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
    let received = received_until_now(&nas).await;
    assert_eq!(received.len(), 3);
    // RFC 5080 §2.2.1: a retransmission is the same packet, Identifier and Authenticator
    // included.
    assert!(received.iter().all(|d| d == &received[0]));
    assert_valid_request(&received[0], Code::CoaRequest);
}

#[tokio::test]
async fn replies_under_another_secret_are_ignored() {
    let nas = fake_nas(Answer::With(wrong_secret));
    let outcome = client()
        .send(nas.addr(), &Secret::new(SECRET), &rate_limit_coa())
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
    let nas = fake_nas(Answer::With(hostile_then_ack));
    let outcome = client()
        .send(nas.addr(), &Secret::new(SECRET), &rate_limit_coa())
        .await;
    assert!(outcome.is_ack(), "{outcome}");
    assert_eq!(received(&nas).len(), 1);
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
    let nas = fake_nas(Answer::Ack);
    let request = Request::coa(USER, SESSION).with_attr(attr::FILTER_ID, vec![b'x'; 254]);
    let outcome = client()
        .send(nas.addr(), &Secret::new(SECRET), &request)
        .await;
    assert!(matches!(outcome, Outcome::Encode(_)), "{outcome}");
    assert!(received_until_now(&nas).await.is_empty());
}
