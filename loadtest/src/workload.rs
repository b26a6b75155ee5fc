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

/// A stream of requests and the rules for their replies.
pub(crate) trait Workload: Sync {
    /// What must be remembered about a request in flight to verify its reply.
    type Pending: Copy + Default + Send;

    /// Encodes request `seq` with Identifier `id` at the end of `buf` (which may hold
    /// other requests of the same batch).
    fn encode(&self, seq: u64, id: u8, buf: &mut BytesMut) -> anyhow::Result<Self::Pending>;

    /// Verifies a reply whose Identifier matched the request `pending`.
    fn check(&self, reply: &Packet<'_>, pending: &Self::Pending) -> Result<Verified, BadReply>;

    /// Called for every reply [`Workload::check`] verified, in time or late: the server
    /// has answered the request `pending`. Nothing by default.
    fn acknowledged(&self, _pending: &Self::Pending) {}

    /// A one-line description for the report ("PAP, Message-Authenticator on").
    fn describe(&self) -> String;
}

/// Handles one reply that arrived at `now` for the requests in flight in `table` (one UDP
/// socket's, or one RadSec connection's): matched by Identifier, verified, counted in
/// `stats` as an answer, a late answer or a bad reply. True if it answered a request in
/// flight.
pub(crate) fn on_reply<W: Workload>(
    workload: &W,
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
    let id = reply.identifier();
    let lookup = table.lookup(id);
    let reason = match lookup.waiting.map(|p| (p, workload.check(&reply, &p))) {
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
    match lookup.ghost.map(|g| (g, workload.check(&reply, &g))) {
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
