//! What a run sends: a [`Workload`] turns request numbers into packets and judges replies.
//!
//! Request `seq` is a pure function of `seq` (which subscriber, right or wrong password,
//! which accounting phase), so two runs with the same arguments send the same logins and
//! the counts of accepts and rejects are known in advance.

use std::time::Instant;

use bytes::BytesMut;
use proisp_radius::authenticator::{self, ReplyError};
use proisp_radius::dictionary::attr::MESSAGE_AUTHENTICATOR;
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use proisp_radius::secret::SharedSecret;

use crate::stats::{Answer, BadReply, Expect, Stats};
use crate::table::Table;

/// A reply that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verified {
    /// What the server answered.
    pub(crate) answer: Answer,
    /// What it should have answered.
    pub(crate) expect: Expect,
    /// Whether the reply carried a (valid) Message-Authenticator.
    pub(crate) message_authenticator: bool,
}

/// How packets are matched and protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// RADIUS as RFC 2865 has it (UDP, and RadSec by default): replies matched by
    /// Identifier, authenticators and hidden passwords computed with the shared secret.
    Radius10,
    /// RADIUS/1.1 (RFC 9765), negotiated by ALPN inside TLS: the Identifier octet is zero
    /// and the first four octets of the Authenticator field carry a Token that the reply
    /// copies (the other twelve are zero); no MD5 anywhere, so no Message-Authenticator
    /// and User-Password in clear, TLS protecting both.
    Radius11,
}

impl Framing {
    /// The table slot a reply belongs to: its Identifier, or under RADIUS/1.1 the low
    /// octet of its Token (the generator numbers Tokens so).
    fn slot(self, reply: &Packet<'_>) -> u8 {
        match self {
            Framing::Radius10 => reply.identifier(),
            Framing::Radius11 => reply.authenticator()[3],
        }
    }
}

/// The Authenticator field of a RADIUS/1.1 packet carrying `token` (RFC 9765 §4).
pub(crate) fn v11_authenticator(token: u32) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&token.to_be_bytes());
    a
}

/// A stream of requests and the rules for their replies.
pub(crate) trait Workload: Sync {
    /// What must be remembered about a request in flight to verify its reply.
    type Pending: Copy + Default + Send;

    /// Encodes request `seq` with Identifier `id` at the end of `buf` (which may hold
    /// other requests of the same batch).
    fn encode(&self, seq: u64, id: u8, buf: &mut BytesMut) -> anyhow::Result<Self::Pending>;

    /// Verifies a reply whose Identifier matched the request `pending`.
    fn check(&self, reply: &Packet<'_>, pending: &Self::Pending) -> Result<Verified, BadReply>;

    /// Encodes request `seq` as RADIUS/1.1 with `token` (see [`Framing::Radius11`]).
    fn encode_v11(&self, seq: u64, token: u32, buf: &mut BytesMut)
    -> anyhow::Result<Self::Pending>;

    /// Verifies a RADIUS/1.1 reply to the request `pending`: its Token and its code.
    fn check_v11(&self, reply: &Packet<'_>, pending: &Self::Pending) -> Result<Verified, BadReply>;

    /// Called for every reply [`Workload::check`] verified, in time or late: the server
    /// has answered the request `pending`. Nothing by default.
    fn acknowledged(&self, _pending: &Self::Pending) {}

    /// A one-line description for the report ("PAP, Message-Authenticator on").
    fn describe(&self) -> String;
}

/// Handles one reply that arrived at `now` for the requests in flight in `table` (one UDP
/// socket's, or one RadSec connection's): matched by Identifier (or Token), verified,
/// counted in `stats` as an answer, a late answer or a bad reply. True if it answered a
/// request in flight.
pub(crate) fn on_reply<W: Workload>(
    workload: &W,
    framing: Framing,
    table: &mut Table<W::Pending>,
    stats: &mut Stats,
    packet: &[u8],
    now: Instant,
) -> bool {
    let reply = match Packet::decode(packet) {
        Ok(p) if packet.len() <= MAX_PACKET_LEN => p,
        _ => {
            stats.bad(BadReply::Malformed);
            return false;
        }
    };
    let check = |p: &W::Pending| match framing {
        Framing::Radius10 => workload.check(&reply, p),
        Framing::Radius11 => workload.check_v11(&reply, p),
    };
    let id = framing.slot(&reply);
    let lookup = table.lookup(id);
    let reason = match lookup.waiting.map(|p| (p, check(&p))) {
        Some((pending, Ok(verified))) => {
            workload.acknowledged(&pending);
            let Some(scheduled) = table.complete(id) else {
                return false;
            };
            stats.answered(verified.answer, verified.expect, now - scheduled);
            if !verified.message_authenticator {
                stats.without_message_authenticator += 1;
            }
            return true;
        }
        Some((_, Err(reason))) => reason,
        None => BadReply::UnknownIdentifier,
    };
    // Perhaps the late answer to the request that last timed out on this identifier.
    match lookup.ghost.map(|g| (g, check(&g))) {
        Some((g, Ok(_))) => {
            workload.acknowledged(&g);
            stats.late += 1;
            table.bury(id);
        }
        _ => stats.bad(reason),
    }
    false
}

/// The checks every reply gets: a code that answers the request, the Response
/// Authenticator, and the Message-Authenticator (verified when present, and demanded when
/// `require_message_authenticator`). Returns the answer and whether a
/// Message-Authenticator was present.
pub(crate) fn verify(
    reply: &Packet<'_>,
    request_authenticator: &[u8; 16],
    secret: &(impl SharedSecret + ?Sized),
    request_code: Code,
    require_message_authenticator: bool,
) -> Result<(Answer, bool), BadReply> {
    let answer = match (request_code, reply.code()) {
        (Code::AccessRequest, Code::AccessAccept) => Answer::Accept,
        (Code::AccessRequest, Code::AccessReject) => Answer::Reject,
        (Code::AccessRequest, Code::AccessChallenge) => Answer::Challenge,
        (Code::AccountingRequest, Code::AccountingResponse) => Answer::AccountingResponse,
        _ => return Err(BadReply::WrongCode),
    };
    authenticator::verify_reply(
        reply,
        request_authenticator,
        secret,
        require_message_authenticator,
    )
    .map_err(|e| match e {
        ReplyError::NotAResponse => BadReply::WrongCode,
        ReplyError::BadMessageAuthenticator(_) => BadReply::MessageAuthenticator,
        _ => BadReply::ResponseAuthenticator,
    })?;
    Ok((answer, reply.attr(MESSAGE_AUTHENTICATOR).is_some()))
}

/// The checks every RADIUS/1.1 reply gets (RFC 9765 §4): a code that answers the
/// request, and the request's Token in the first four octets of its Authenticator field
/// (a reply with another Token answers no request of ours). No authenticator is
/// computed; a Message-Authenticator, which RADIUS/1.1 does not use, is ignored.
pub(crate) fn verify_v11(
    reply: &Packet<'_>,
    request_authenticator: &[u8; 16],
    request_code: Code,
) -> Result<Answer, BadReply> {
    if reply.authenticator()[..4] != request_authenticator[..4] {
        return Err(BadReply::UnknownIdentifier);
    }
    match (request_code, reply.code()) {
        (Code::AccessRequest, Code::AccessAccept) => Ok(Answer::Accept),
        (Code::AccessRequest, Code::AccessReject) => Ok(Answer::Reject),
        (Code::AccessRequest, Code::AccessChallenge) => Ok(Answer::Challenge),
        (Code::AccountingRequest, Code::AccountingResponse) => Ok(Answer::AccountingResponse),
        _ => Err(BadReply::WrongCode),
    }
}

/// Whether request `seq` is one of the `percent` % that carry a wrong password.
///
/// Spread evenly and exactly: among the first `n` requests, `floor(n · percent / 100)`
/// are wrong, so a test can predict the reject count.
pub(crate) fn is_wrong(seq: u64, percent: u8) -> bool {
    let p = u128::from(percent);
    let s = u128::from(seq);
    (s + 1) * p / 100 > s * p / 100
}

#[cfg(test)]
mod tests {
    use proisp_radius::encode::Encoder;

    use super::*;

    const SECRET: &[u8] = b"s3cret";

    fn reply(code: Code, request_auth: &[u8; 16], with_ma: bool, secret: &[u8]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, code, 1, request_auth);
        if with_ma {
            enc.message_authenticator();
        }
        enc.finish(secret).unwrap().to_vec()
    }

    #[test]
    fn replies_are_verified_before_they_count() {
        let auth = [9u8; 16];
        let ok = reply(Code::AccessAccept, &auth, true, SECRET);
        let p = Packet::decode(&ok).unwrap();
        assert_eq!(
            verify(&p, &auth, SECRET, Code::AccessRequest, true),
            Ok((Answer::Accept, true))
        );
        assert_eq!(
            verify(&p, &[8; 16], SECRET, Code::AccessRequest, false),
            Err(BadReply::ResponseAuthenticator)
        );
        assert_eq!(
            verify(&p, &auth, b"other", Code::AccessRequest, false),
            Err(BadReply::ResponseAuthenticator)
        );
        assert_eq!(
            verify(&p, &auth, SECRET, Code::AccountingRequest, false),
            Err(BadReply::WrongCode)
        );

        let bare = reply(Code::AccessReject, &auth, false, SECRET);
        let p = Packet::decode(&bare).unwrap();
        assert_eq!(
            verify(&p, &auth, SECRET, Code::AccessRequest, false),
            Ok((Answer::Reject, false))
        );
        assert_eq!(
            verify(&p, &auth, SECRET, Code::AccessRequest, true),
            Err(BadReply::MessageAuthenticator)
        );

        let acct = reply(Code::AccountingResponse, &auth, false, SECRET);
        let p = Packet::decode(&acct).unwrap();
        assert_eq!(
            verify(&p, &auth, SECRET, Code::AccountingRequest, false),
            Ok((Answer::AccountingResponse, false))
        );
    }

    #[test]
    fn a_request_is_not_a_reply() {
        let auth = [1u8; 16];
        let mut buf = BytesMut::new();
        let enc = Encoder::new(&mut buf, Code::AccessRequest, 1, &auth);
        let raw = enc.finish(SECRET).unwrap().to_vec();
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(
            verify(&p, &auth, SECRET, Code::AccessRequest, false),
            Err(BadReply::WrongCode)
        );
    }

    #[test]
    fn wrong_passwords_are_spread_exactly() {
        for percent in [0u8, 1, 10, 33, 50, 99, 100] {
            for n in [0u64, 1, 7, 100, 1000, 12345] {
                let wrong = (0..n).filter(|&s| is_wrong(s, percent)).count() as u64;
                assert_eq!(wrong, n * u64::from(percent) / 100, "{percent}% of {n}");
            }
        }
        // Evenly: 10 % means one in every ten, not the first tenth.
        let first: Vec<bool> = (0..20).map(|s| is_wrong(s, 10)).collect();
        assert_eq!(first.iter().filter(|&&w| w).count(), 2);
        assert!(first[9] && first[19]);
    }
}
