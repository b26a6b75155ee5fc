//! The connection's side of Dynamic Authorization (RFC 5176) over RadSec ([`crate::links`]):
//! a request is encoded with the connection's secret (classic RADIUS) or with a Token
//! (RADIUS/1.1, RFC 9765 §4.2.1), written, and remembered under its Identifier or Token
//! until the NAS's ACK or NAK comes back on the connection. Those answers never reach the
//! request pipeline.

use std::collections::HashMap;
use std::io;

use bytes::{Bytes, BytesMut};
use proisp_coa::Outcome;
use proisp_radius::authenticator::ReplyError;
use proisp_radius::dictionary::attr::ERROR_CAUSE;
use proisp_radius::dynauth::{self, ErrorCause, Kind, Response, ResponseError};
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::profile::Profile;
use proisp_radius::secret::Secret;
use tokio::sync::oneshot;

use crate::links::Outbound;
use crate::metrics::{DropReason, Metrics};

/// Requests one connection has written and awaits answers to: all 256 Identifiers of
/// classic RADIUS, and as many Tokens under RADIUS/1.1.
const MAX_PENDING: usize = 256;

/// The requests a connection has written and awaits answers to. Dropped with the
/// connection, it answers each of them [`Outcome::Io`].
#[derive(Debug)]
pub(super) struct Pending {
    profile: Profile,
    /// Identifier (classic) or Token (RADIUS/1.1) → the request it was sent with.
    waiting: HashMap<u32, Waiting>,
    /// The Identifier or Token to try next: a counter started at a random value
    /// (RFC 9765 §4.2.1).
    next: u32,
}

#[derive(Debug)]
struct Waiting {
    kind: Kind,
    /// The request as written: a classic answer is verified against it.
    wire: Bytes,
    reply: oneshot::Sender<Outcome>,
}

impl Pending {
    /// Nothing waiting yet, on a connection speaking `profile`.
    pub(super) fn new(profile: Profile) -> Pending {
        Pending {
            profile,
            waiting: HashMap::new(),
            next: rand::random(),
        }
    }

    /// Encodes `outbound` at the end of `output`, for the connection's next write, signed
    /// with `secret` under classic RADIUS.
    pub(super) fn send(&mut self, outbound: Outbound, secret: &Secret, output: &mut Vec<u8>) {
        // A sender that stopped waiting frees its Identifier; an answer to it that comes
        // after is dropped as unexpected.
        self.waiting.retain(|_, w| !w.reply.is_closed());
        let Some(key) = self.free_key() else {
            // Dropping `outbound` tells the sender it was not written.
            tracing::debug!("every Identifier of the RadSec connection awaits an answer");
            return;
        };
        let Outbound { request, reply } = outbound;
        let mut buf = BytesMut::new();
        let encoded = match self.profile {
            Profile::Classic => request
                // The key is masked to the Identifier's eight bits under classic RADIUS.
                .encode(&mut buf, key as u8, secret)
                .map(drop),
            Profile::Radius11 => request
                .encode_radius11(&mut buf, key.to_be_bytes())
                .map(drop),
        };
        match encoded {
            Ok(()) => {
                output.extend_from_slice(&buf);
                let waiting = Waiting {
                    kind: request.kind,
                    wire: buf.freeze(),
                    reply,
                };
                self.waiting.insert(key, waiting);
            }
            Err(e) => {
                let _ = reply.send(Outcome::Encode(e));
            }
        }
    }

    /// An Identifier (classic) or Token (RADIUS/1.1) no written request awaits an answer
    /// with, or `None` when [`MAX_PENDING`] do.
    fn free_key(&mut self) -> Option<u32> {
        if self.waiting.len() >= MAX_PENDING {
            return None;
        }
        let space = match self.profile {
            Profile::Classic => u32::from(u8::MAX),
            Profile::Radius11 => u32::MAX,
        };
        // Fewer than MAX_PENDING keys are taken, so one of the next MAX_PENDING is free.
        (0..=MAX_PENDING).find_map(|_| {
            let key = self.next & space;
            self.next = self.next.wrapping_add(1);
            (!self.waiting.contains_key(&key)).then_some(key)
        })
    }

    /// Takes the answers to this server's requests out of `frames` (the NAS never sends
    /// their codes as requests of its own) and passes each verified one to its sender.
    /// Answers to nothing waiting, or that fail verification with `secret`, are dropped and
    /// counted; the sender of a request answered so keeps waiting, as the UDP client does,
    /// and times out.
    pub(super) fn take_answers(
        &mut self,
        frames: &mut Vec<Bytes>,
        secret: &Secret,
        metrics: &Metrics,
    ) {
        frames.retain(|frame| {
            if !is_answer(frame) {
                return true;
            }
            if let Err(reason) = self.answer(frame, secret) {
                tracing::debug!(
                    ?reason,
                    "dropping a CoA or Disconnect answer on a RadSec connection"
                );
                metrics.drop(reason);
            }
            false
        });
    }

    /// Passes the answer `frame` to the sender of the request it answers.
    fn answer(&mut self, frame: &[u8], secret: &Secret) -> Result<(), DropReason> {
        let packet = Packet::decode(frame).map_err(|_| DropReason::Malformed)?;
        let key = match self.profile {
            Profile::Classic => u32::from(packet.identifier()),
            Profile::Radius11 => u32::from_be_bytes(packet.token()),
        };
        let waiting = self.waiting.get(&key).ok_or(DropReason::UnexpectedCode)?;
        let response = match self.profile {
            Profile::Classic => {
                dynauth::decode_response(&waiting.wire, frame, secret).map_err(|e| match e {
                    ResponseError::Decode(_) => DropReason::Malformed,
                    ResponseError::Unverified(ReplyError::BadResponseAuthenticator) => {
                        DropReason::BadRequestAuthenticator
                    }
                    ResponseError::Unverified(ReplyError::BadMessageAuthenticator(_)) => {
                        DropReason::BadMessageAuthenticator
                    }
                    _ => DropReason::UnexpectedCode,
                })?
            }
            Profile::Radius11 => response_radius11(waiting.kind, &packet)?,
        };
        if let Some(waiting) = self.waiting.remove(&key) {
            let _ = waiting.reply.send(response.into());
        }
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        for (_, waiting) in self.waiting.drain() {
            let _ = waiting.reply.send(Outcome::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the RadSec connection closed before the NAS answered",
            )));
        }
    }
}

/// Whether `frame` is a CoA- or Disconnect-ACK or NAK.
fn is_answer(frame: &[u8]) -> bool {
    matches!(
        frame.first().copied().and_then(Code::from_u8),
        Some(Code::CoaAck | Code::CoaNak | Code::DisconnectAck | Code::DisconnectNak)
    )
}

/// What a RADIUS/1.1 answer to a request of `kind` says; nothing to verify inside TLS
/// (RFC 9765 §4.1).
fn response_radius11(kind: Kind, packet: &Packet<'_>) -> Result<Response, DropReason> {
    let code = packet.code();
    if code == kind.ack_code() {
        Ok(Response::Ack)
    } else if code == kind.nak_code() {
        let error_cause = packet
            .attr(ERROR_CAUSE)
            .and_then(|a| a.as_u32())
            .map(ErrorCause);
        Ok(Response::Nak { error_cause })
    } else {
        Err(DropReason::UnexpectedCode)
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    use proisp_radius::authenticator::verify_request_digest;
    use proisp_radius::dictionary::attr::{ACCT_SESSION_ID, MESSAGE_AUTHENTICATOR, USER_NAME};
    use proisp_radius::dictionary::{mikrotik, vendor};
    use proisp_radius::dynauth::Request;
    use proisp_radius::encode::Encoder;
    use tokio::sync::oneshot::error::TryRecvError;

    use super::*;

    fn metrics() -> (Metrics, PrometheusHandle) {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let metrics = ::metrics::with_local_recorder(&recorder, Metrics::register);
        (metrics, handle)
    }

    fn dropped(prometheus: &PrometheusHandle, reason: &str) -> u64 {
        let series = format!("radius_dropped_packets_total{{reason=\"{reason}\"}} ");
        prometheus
            .render()
            .lines()
            .find_map(|line| line.strip_prefix(&series)?.parse().ok())
            .unwrap_or(0)
    }

    fn coa() -> Request {
        Request::coa("fup1", "f-1").with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, "512k/1M")
    }

    fn outbound(request: Request) -> (Outbound, oneshot::Receiver<Outcome>) {
        let (reply, rx) = oneshot::channel();
        (Outbound { request, reply }, rx)
    }

    /// The NAS's classic answer `code` to `request`, signed with `secret`.
    fn answer(request: &[u8], code: Code, cause: Option<u32>, secret: &[u8]) -> Bytes {
        let request = Packet::decode(request).unwrap();
        let mut buf = BytesMut::new();
        let mut enc = Encoder::reply(&mut buf, &request, code);
        if let Some(cause) = cause {
            enc.u32(ERROR_CAUSE, cause);
        }
        Bytes::copy_from_slice(enc.finish(secret).unwrap())
    }

    #[test]
    fn a_classic_answer_is_matched_by_identifier_and_verified_with_the_connection_secret() {
        let (metrics, prometheus) = metrics();
        let secret = Secret::new(b"radsec");
        let mut pending = Pending::new(Profile::Classic);
        let mut output = Vec::new();
        let (request, mut rx) = outbound(coa());
        pending.send(request, &secret, &mut output);
        let sent = Packet::decode(&output).unwrap();
        assert_eq!(sent.code(), Code::CoaRequest);
        assert!(verify_request_digest(&sent, b"radsec".as_slice()));

        let other = Bytes::from(output.clone());
        let mut frames = vec![
            answer(&output, Code::CoaAck, None, b"testing123"),
            other.clone(),
        ];
        let mut stray = answer(&output, Code::CoaAck, None, b"radsec").to_vec();
        stray[1] = stray[1].wrapping_add(1);
        frames.push(Bytes::from(stray));
        pending.take_answers(&mut frames, &secret, &metrics);
        // Only the request-like frame goes on to the pipeline.
        assert_eq!(frames, vec![other]);
        assert_eq!(dropped(&prometheus, "bad_request_authenticator"), 1);
        assert_eq!(dropped(&prometheus, "unexpected_code"), 1);
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);

        let mut frames = vec![answer(&output, Code::CoaNak, Some(503), b"radsec")];
        pending.take_answers(&mut frames, &secret, &metrics);
        assert!(frames.is_empty());
        match rx.try_recv().unwrap() {
            Outcome::Nak { error_cause } => {
                assert_eq!(error_cause, Some(ErrorCause::SESSION_CONTEXT_NOT_FOUND));
            }
            other => panic!("{other}"),
        }
        // Answered once: the same answer again is unexpected.
        let mut frames = vec![answer(&output, Code::CoaNak, Some(503), b"radsec")];
        pending.take_answers(&mut frames, &secret, &metrics);
        assert_eq!(dropped(&prometheus, "unexpected_code"), 2);
    }

    #[test]
    fn identifiers_are_not_reused_while_awaited_and_a_closed_connection_answers_the_rest() {
        let secret = Secret::new(b"radsec");
        let mut pending = Pending::new(Profile::Classic);
        let mut output = Vec::new();
        let mut waiting = Vec::new();
        for _ in 0..MAX_PENDING {
            let (request, rx) = outbound(coa());
            pending.send(request, &secret, &mut output);
            waiting.push(rx);
        }
        // The requests differ only in their Identifier and authenticators: one length.
        let mut ids: Vec<u8> = output
            .chunks(Packet::decode(&output).unwrap().as_bytes().len())
            .map(|p| Packet::decode(p).unwrap().identifier())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), MAX_PENDING);

        // Every Identifier taken: the next request is not written, and its sender knows.
        let (request, mut refused) = outbound(coa());
        let before = output.len();
        pending.send(request, &secret, &mut output);
        assert_eq!(output.len(), before);
        assert_eq!(refused.try_recv().unwrap_err(), TryRecvError::Closed);

        // A sender that gave up frees its Identifier.
        drop(waiting.pop());
        let (request, rx) = outbound(coa());
        pending.send(request, &secret, &mut output);
        assert!(output.len() > before);

        drop(pending);
        waiting.push(rx);
        for mut rx in waiting {
            let aborted = matches!(
                rx.try_recv(),
                Ok(Outcome::Io(e)) if e.kind() == io::ErrorKind::ConnectionAborted
            );
            assert!(aborted);
        }
    }

    #[test]
    fn radius_1_1_requests_carry_a_token_and_answers_are_matched_by_it() {
        let (metrics, prometheus) = metrics();
        let secret = Secret::new(b"radsec");
        let mut pending = Pending::new(Profile::Radius11);
        let mut output = Vec::new();
        let (request, mut rx) = outbound(Request::disconnect("fup1", "d-1"));
        pending.send(request, &secret, &mut output);
        let sent = Packet::decode(&output).unwrap();
        assert_eq!(sent.code(), Code::DisconnectRequest);
        assert_eq!(sent.identifier(), 0);
        assert!(sent.attr(MESSAGE_AUTHENTICATOR).is_none());
        assert_eq!(sent.value(USER_NAME), Some(&b"fup1"[..]));
        assert_eq!(sent.value(ACCT_SESSION_ID), Some(&b"d-1"[..]));

        let reply = |code, token| {
            let mut buf = BytesMut::new();
            let enc = Encoder::radius11(&mut buf, code, token);
            enc.finish_unsigned().unwrap();
            buf.freeze()
        };
        let token = sent.token();
        let mut other = token;
        other[3] = other[3].wrapping_add(1);
        let mut frames = vec![
            reply(Code::CoaAck, token),
            reply(Code::DisconnectAck, other),
        ];
        pending.take_answers(&mut frames, &secret, &metrics);
        assert!(frames.is_empty());
        assert_eq!(dropped(&prometheus, "unexpected_code"), 2);
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);

        let mut frames = vec![reply(Code::DisconnectAck, token)];
        pending.take_answers(&mut frames, &secret, &metrics);
        assert!(matches!(rx.try_recv(), Ok(Outcome::Ack)));
    }
}
