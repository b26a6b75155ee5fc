//! Authenticators: the header's Request/Response Authenticator and the
//! Message-Authenticator attribute.
//!
//! | packet | Authenticator field | Message-Authenticator computed with the field set to |
//! | --- | --- | --- |
//! | Access-Request, Status-Server | random nonce (RFC 2865 §3) | the nonce (RFC 3579 §3.2) |
//! | Accounting-, CoA-, Disconnect-Request | MD5 over the packet, field zeroed (RFC 2866 §3, RFC 5176 §2.3) | 16 zero octets (RFC 5176 §3.4) |
//! | any response | MD5 over the packet with the request's authenticator (RFC 2865 §3) | the request's authenticator (RFC 3579 §3.2) |
//!
//! Where both are present the Message-Authenticator is computed first, with its own value
//! zeroed, and the MD5 authenticator afterwards over the finished attributes.
//!
//! Every comparison here is constant-time: an early-exit `==` on an authenticator would
//! let an attacker who can time replies learn it octet by octet.
//!
//! A server that receives packets in batches can check and sign a whole batch at once with
//! [`check_message_authenticators`] and [`sign_replies`]: they give exactly what the
//! one-packet functions give, but run the MD5 work of eight packets side by side in SIMD
//! lanes (the crate-private module `md5x`).
//!
//! None of this applies to RADIUS/1.1, where TLS authenticates packets and the Authenticator
//! field holds the Token (RFC 9765 §4.1): see [`Profile::signs_packets`] and
//! [`sign_replies_with`].

use std::array;
use std::ops::Range;

use hmac::Mac;
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

use crate::dictionary::attr::MESSAGE_AUTHENTICATOR;
use crate::header::{AUTHENTICATOR_LEN, AuthenticatorKind, HEADER_LEN};
use crate::md5x::{self, DIGEST_LEN, LANES, Message, State};
use crate::packet::Packet;
use crate::profile::Profile;
use crate::secret::{Secret, SharedSecret};

/// Octets in a Message-Authenticator value (an HMAC-MD5).
pub const MESSAGE_AUTHENTICATOR_LEN: usize = 16;

const ZEROS: [u8; 16] = [0; 16];

/// Compares two byte strings in constant time (for equal lengths).
///
/// The one place the codec compares authenticators, digests and secrets.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A fresh Request Authenticator for an Access-Request or Status-Server: 16 octets from
/// the thread-local CSPRNG, as RFC 2865 §3 requires them to be unpredictable.
pub fn random() -> [u8; AUTHENTICATOR_LEN] {
    rand::random()
}

/// The Message-Authenticator of a request, as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAuthenticatorCheck {
    /// The packet carries none.
    Absent,
    /// It carries exactly one, and it verifies.
    Valid,
    /// It carries one that does not verify: wrong secret or a forged packet.
    Invalid,
    /// It carries one whose length is not 16, or more than one (RFC 3579 §3.2 allows at
    /// most one).
    Malformed,
}

/// Why a reply does not belong to the request it claims to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The packet is not a response code.
    #[error("packet is not a response")]
    NotAResponse,
    /// The Response Authenticator does not verify.
    #[error("Response Authenticator does not verify")]
    BadResponseAuthenticator,
    /// A Message-Authenticator is present and does not verify, is malformed, or is
    /// missing where the caller requires one.
    #[error("Message-Authenticator is {0:?}")]
    BadMessageAuthenticator(MessageAuthenticatorCheck),
}

/// MD5(Code | Identifier | Length | `field` | Attributes | Secret).
fn digest(
    raw: &[u8],
    field: &[u8; AUTHENTICATOR_LEN],
    secret: &(impl SharedSecret + ?Sized),
) -> [u8; AUTHENTICATOR_LEN] {
    let mut h = Md5::new();
    h.update(&raw[..4]);
    h.update(field);
    h.update(&raw[HEADER_LEN..]);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// HMAC-MD5 keyed with the secret over the packet with its Authenticator field replaced by
/// `field` and the Message-Authenticator value at `ma` zeroed (RFC 3579 §3.2).
fn hmac(
    raw: &[u8],
    field: &[u8; AUTHENTICATOR_LEN],
    ma: usize,
    secret: &(impl SharedSecret + ?Sized),
) -> [u8; MESSAGE_AUTHENTICATOR_LEN] {
    let mut m = secret.hmac();
    m.update(&raw[..4]);
    m.update(field);
    m.update(&raw[HEADER_LEN..ma]);
    m.update(&ZEROS);
    m.update(&raw[ma + MESSAGE_AUTHENTICATOR_LEN..]);
    m.finalize().into_bytes().into()
}

/// What the Authenticator field is replaced with while a Message-Authenticator is
/// computed or checked.
fn ma_field<'a>(
    kind: AuthenticatorKind,
    own: &'a [u8; AUTHENTICATOR_LEN],
    request: &'a [u8; AUTHENTICATOR_LEN],
) -> &'a [u8; AUTHENTICATOR_LEN] {
    match kind {
        AuthenticatorKind::Random => own,
        AuthenticatorKind::RequestDigest => &ZEROS,
        AuthenticatorKind::Response => request,
    }
}

/// Signs a finished packet in place: Length must already be right, any
/// Message-Authenticator value at `ma` (offset of the value) must be zero, and for a
/// response the Authenticator field must hold the request's authenticator.
pub(crate) fn sign(
    raw: &mut [u8],
    kind: AuthenticatorKind,
    ma: Option<usize>,
    secret: &(impl SharedSecret + ?Sized),
) {
    let mut field = [0u8; AUTHENTICATOR_LEN];
    field.copy_from_slice(&raw[4..HEADER_LEN]);
    if kind == AuthenticatorKind::RequestDigest {
        field = ZEROS;
        raw[4..HEADER_LEN].copy_from_slice(&ZEROS);
    }
    if let Some(ma) = ma {
        let mac = hmac(raw, &field, ma, secret);
        raw[ma..ma + MESSAGE_AUTHENTICATOR_LEN].copy_from_slice(&mac);
    }
    if kind != AuthenticatorKind::Random {
        let auth = digest(raw, &field, secret);
        raw[4..HEADER_LEN].copy_from_slice(&auth);
    }
}

/// Finds the single Message-Authenticator, as the offset of its value.
fn find_message_authenticator(packet: &Packet<'_>) -> Result<Option<usize>, ()> {
    let mut found = None;
    for a in packet.attrs_of(MESSAGE_AUTHENTICATOR) {
        if found.is_some() || a.value.len() != MESSAGE_AUTHENTICATOR_LEN {
            return Err(());
        }
        found = Some(a.offset + 2);
    }
    Ok(found)
}

fn check(
    packet: &Packet<'_>,
    request: &[u8; AUTHENTICATOR_LEN],
    secret: &(impl SharedSecret + ?Sized),
) -> MessageAuthenticatorCheck {
    let ma = match find_message_authenticator(packet) {
        Ok(Some(ma)) => ma,
        Ok(None) => return MessageAuthenticatorCheck::Absent,
        Err(()) => return MessageAuthenticatorCheck::Malformed,
    };
    let raw = packet.as_bytes();
    let field = ma_field(
        packet.code().authenticator_kind(),
        packet.authenticator(),
        request,
    );
    let expected = hmac(raw, field, ma, secret);
    if ct_eq(&expected, &raw[ma..ma + MESSAGE_AUTHENTICATOR_LEN]) {
        MessageAuthenticatorCheck::Valid
    } else {
        MessageAuthenticatorCheck::Invalid
    }
}

/// Checks the Message-Authenticator of a request (RFC 3579 §3.2; for Accounting-, CoA- and
/// Disconnect-Requests the RFC 5176 §3.4 variant with a zeroed Authenticator field).
///
/// For a response use [`check_reply_message_authenticator`], which needs the request's
/// authenticator.
pub fn check_message_authenticator(
    packet: &Packet<'_>,
    secret: &(impl SharedSecret + ?Sized),
) -> MessageAuthenticatorCheck {
    if packet.code().authenticator_kind() == AuthenticatorKind::Response {
        return MessageAuthenticatorCheck::Invalid;
    }
    check(packet, &ZEROS, secret)
}

/// Checks the Message-Authenticator of a response to a request with authenticator
/// `request`.
pub fn check_reply_message_authenticator(
    reply: &Packet<'_>,
    request: &[u8; AUTHENTICATOR_LEN],
    secret: &(impl SharedSecret + ?Sized),
) -> MessageAuthenticatorCheck {
    if reply.code().authenticator_kind() != AuthenticatorKind::Response {
        return MessageAuthenticatorCheck::Invalid;
    }
    check(reply, request, secret)
}

/// Verifies the Request Authenticator of an Accounting-, CoA- or Disconnect-Request
/// (RFC 2866 §3, RFC 5176 §2.3). False for any other code: their Request Authenticator is
/// a nonce and proves nothing.
pub fn verify_request_digest(packet: &Packet<'_>, secret: &(impl SharedSecret + ?Sized)) -> bool {
    if packet.code().authenticator_kind() != AuthenticatorKind::RequestDigest {
        return false;
    }
    let expected = digest(packet.as_bytes(), &ZEROS, secret);
    ct_eq(&expected, packet.authenticator())
}

/// Verifies the Response Authenticator of a reply (RFC 2865 §3).
pub fn verify_response_authenticator(
    reply: &Packet<'_>,
    request: &[u8; AUTHENTICATOR_LEN],
    secret: &(impl SharedSecret + ?Sized),
) -> bool {
    if reply.code().authenticator_kind() != AuthenticatorKind::Response {
        return false;
    }
    let expected = digest(reply.as_bytes(), request, secret);
    ct_eq(&expected, reply.authenticator())
}

/// Verifies everything a client must about a reply: a response code, the Response
/// Authenticator, and the Message-Authenticator — when present, or always when
/// `require_message_authenticator` (RFC 3579 for EAP, and the BlastRADIUS mitigation of
/// requiring it on every Access-Accept/Reject). Matching the Identifier is the caller's.
pub fn verify_reply(
    reply: &Packet<'_>,
    request: &[u8; AUTHENTICATOR_LEN],
    secret: &(impl SharedSecret + ?Sized),
    require_message_authenticator: bool,
) -> Result<(), ReplyError> {
    if reply.code().authenticator_kind() != AuthenticatorKind::Response {
        return Err(ReplyError::NotAResponse);
    }
    if !verify_response_authenticator(reply, request, secret) {
        return Err(ReplyError::BadResponseAuthenticator);
    }
    match check(reply, request, secret) {
        MessageAuthenticatorCheck::Valid => Ok(()),
        MessageAuthenticatorCheck::Absent if !require_message_authenticator => Ok(()),
        other => Err(ReplyError::BadMessageAuthenticator(other)),
    }
}

/// HMAC-MD5 of each inner message, which starts at its secret's inner pad, finished from
/// the matching outer pad (RFC 2104 §2), [`LANES`] at a time.
fn hmacs(inner: &[Message<'_>], outer: &[State], out: &mut [[u8; DIGEST_LEN]]) {
    for ((inner, outer), out) in inner
        .chunks(LANES)
        .zip(outer.chunks(LANES))
        .zip(out.chunks_mut(LANES))
    {
        let mut digests = [[0u8; DIGEST_LEN]; LANES];
        md5x::digests(inner, &mut digests);
        let mut finish = [Message::new(State::INITIAL, &[]); LANES];
        for ((message, start), digest) in finish.iter_mut().zip(outer).zip(&digests) {
            *message = Message::new(*start, &[digest]);
        }
        md5x::digests(&finish[..outer.len()], out);
    }
}

/// Checks the Message-Authenticators of a batch of requests: `out[i]` becomes exactly what
/// [`check_message_authenticator`] returns for `batch[i]` (RFC 3579 §3.2; the RFC 5176
/// §3.4 zeroed-field variant for Accounting-, CoA- and Disconnect-Requests; `Invalid` for
/// a response).
///
/// Why a batch: one HMAC-MD5 is a chain of dependent MD5 steps that leaves the core mostly
/// idle, while the packets of a receive batch are independent, so their HMACs run side by
/// side in SIMD lanes. Only as many entries as both slices hold are checked (the caller
/// gives `out.len() == batch.len()`); the comparison is constant-time as in the scalar
/// function.
pub fn check_message_authenticators(
    batch: &[(&Packet<'_>, &Secret)],
    out: &mut [MessageAuthenticatorCheck],
) {
    // (index in the batch, offset of the Message-Authenticator value)
    let mut pending = [(0, 0); LANES];
    let mut n = 0;
    for (i, (packet, _)) in batch.iter().enumerate().take(out.len()) {
        if packet.code().authenticator_kind() == AuthenticatorKind::Response {
            out[i] = MessageAuthenticatorCheck::Invalid;
            continue;
        }
        match find_message_authenticator(packet) {
            Ok(Some(ma)) => {
                pending[n] = (i, ma);
                n += 1;
                if n == LANES {
                    verify_lanes(batch, &pending, out);
                    n = 0;
                }
            }
            Ok(None) => out[i] = MessageAuthenticatorCheck::Absent,
            Err(()) => out[i] = MessageAuthenticatorCheck::Malformed,
        }
    }
    verify_lanes(batch, &pending[..n], out);
}

/// Verifies up to [`LANES`] requests known to carry one well-formed Message-Authenticator.
fn verify_lanes(
    batch: &[(&Packet<'_>, &Secret)],
    pending: &[(usize, usize)],
    out: &mut [MessageAuthenticatorCheck],
) {
    if let [(i, _)] = pending {
        // A single busy lane costs more than the scalar code.
        let (packet, secret) = batch[*i];
        out[*i] = check(packet, &ZEROS, secret);
        return;
    }
    let mut inner = [Message::new(State::INITIAL, &[]); LANES];
    let mut outer = [State::INITIAL; LANES];
    for ((message, start), &(i, ma)) in inner.iter_mut().zip(&mut outer).zip(pending) {
        let (packet, secret) = batch[i];
        let raw = packet.as_bytes();
        let after = &raw[ma + MESSAGE_AUTHENTICATOR_LEN..];
        *message = match packet.code().authenticator_kind() {
            // The field the MAC covers is the packet's own: hashed in place, so whole
            // blocks come from one slice.
            AuthenticatorKind::Random => Message::new(secret.inner(), &[&raw[..ma], &ZEROS, after]),
            kind => Message::new(
                secret.inner(),
                &[
                    &raw[..4],
                    ma_field(kind, packet.authenticator(), &ZEROS),
                    &raw[HEADER_LEN..ma],
                    &ZEROS,
                    after,
                ],
            ),
        };
        *start = secret.outer();
    }
    let n = pending.len();
    let mut macs = [[0u8; MESSAGE_AUTHENTICATOR_LEN]; LANES];
    hmacs(&inner[..n], &outer[..n], &mut macs[..n]);
    for (&(i, ma), mac) in pending.iter().zip(&macs) {
        let raw = batch[i].0.as_bytes();
        out[i] = if ct_eq(mac, &raw[ma..ma + MESSAGE_AUTHENTICATOR_LEN]) {
            MessageAuthenticatorCheck::Valid
        } else {
            MessageAuthenticatorCheck::Invalid
        };
    }
}

/// An unsigned packet of a [`sign_replies`] batch, as found in the buffer.
#[derive(Debug, Clone, Copy)]
struct Unsigned {
    start: usize,
    /// `start` plus the Length field.
    end: usize,
    kind: AuthenticatorKind,
    /// Offset of the Message-Authenticator value from `start`.
    ma: Option<usize>,
}

impl Unsigned {
    /// The packet at `range`, if it lies inside the buffer and decodes.
    fn find(buf: &[u8], range: &Range<usize>) -> Option<Unsigned> {
        let packet = Packet::decode(buf.get(range.clone())?).ok()?;
        // The Encoder reserves at most one; an odd packet gets its first well-formed one
        // filled in, as a receiver would find it.
        let ma = packet
            .attrs_of(MESSAGE_AUTHENTICATOR)
            .find(|a| a.value.len() == MESSAGE_AUTHENTICATOR_LEN)
            .map(|a| a.offset + 2);
        Some(Unsigned {
            start: range.start,
            end: range.start + packet.len(),
            kind: packet.code().authenticator_kind(),
            ma,
        })
    }
}

/// Signs a batch of packets encoded into `buf` with
/// [`Encoder::finish_unsigned`](crate::encode::Encoder::finish_unsigned), each
/// with its secret: afterwards `buf` holds, octet for octet, what
/// [`Encoder::finish`](crate::encode::Encoder::finish) would have written.
///
/// Meant for responses (their Authenticator field holding the request's authenticator,
/// RFC 2865 §3): first every Message-Authenticator (RFC 3579 §3.2), then every Response
/// Authenticator over the finished attributes. Other codes are signed as `finish` signs
/// them (a request digest over a zeroed field, RFC 2866 §3; nothing but the
/// Message-Authenticator for Access-Request). The MD5 work of eight packets runs side by
/// side in SIMD lanes, which is why this exists.
///
/// The ranges must not overlap. A range that lies outside `buf` or does not hold a
/// decodable packet is skipped; octets past a packet's Length field are left alone. The
/// Message-Authenticator filled in is the first one with a 16-octet value, the one the
/// Encoder reserved.
pub fn sign_replies(buf: &mut [u8], packets: &[(Range<usize>, &Secret)]) {
    for chunk in packets.chunks(LANES) {
        sign_lanes(buf, chunk);
    }
}

/// Signs a batch as [`sign_replies`] does when `profile` signs packets, and leaves the
/// buffer alone under RADIUS/1.1, whose packets [`Encoder::finish_unsigned`] already
/// finished: signing one would overwrite its Token with an MD5 digest.
///
/// [`Encoder::finish_unsigned`]: crate::encode::Encoder::finish_unsigned
pub fn sign_replies_with(profile: Profile, buf: &mut [u8], packets: &[(Range<usize>, &Secret)]) {
    if profile.signs_packets() {
        sign_replies(buf, packets);
    }
}

/// Signs up to [`LANES`] packets.
fn sign_lanes(buf: &mut [u8], chunk: &[(Range<usize>, &Secret)]) {
    let found: [Option<Unsigned>; LANES] = array::from_fn(|l| {
        chunk
            .get(l)
            .and_then(|(range, _)| Unsigned::find(buf, range))
    });
    if let ([(_, secret)], [Some(p), ..]) = (chunk, &found) {
        // A single busy lane costs more than the scalar code.
        sign(&mut buf[p.start..p.end], p.kind, p.ma, *secret);
        return;
    }
    for p in found.iter().flatten() {
        if p.kind == AuthenticatorKind::RequestDigest {
            buf[p.start + 4..p.start + HEADER_LEN].fill(0);
        }
    }

    let mut inner = [Message::new(State::INITIAL, &[]); LANES];
    let mut outer = [State::INITIAL; LANES];
    let mut owners = [(0, 0); LANES];
    let mut n = 0;
    for (p, (_, secret)) in found.iter().zip(chunk) {
        let Some((p, ma)) = p.and_then(|p| Some((p, p.ma?))) else {
            continue;
        };
        // The Authenticator field already holds what the MAC covers (the request's
        // authenticator, the nonce, or zeros), so only the value itself is swapped out.
        let raw = &buf[p.start..p.end];
        inner[n] = Message::new(
            secret.inner(),
            &[&raw[..ma], &ZEROS, &raw[ma + MESSAGE_AUTHENTICATOR_LEN..]],
        );
        outer[n] = secret.outer();
        owners[n] = (p.start, ma);
        n += 1;
    }
    let mut macs = [[0u8; MESSAGE_AUTHENTICATOR_LEN]; LANES];
    hmacs(&inner[..n], &outer[..n], &mut macs[..n]);
    for ((start, ma), mac) in owners[..n].iter().zip(&macs) {
        buf[start + ma..start + ma + MESSAGE_AUTHENTICATOR_LEN].copy_from_slice(mac);
    }

    let mut messages = [Message::new(State::INITIAL, &[]); LANES];
    let mut n = 0;
    for (p, (_, secret)) in found.iter().zip(chunk) {
        let Some(p) = p.filter(|p| p.kind != AuthenticatorKind::Random) else {
            continue;
        };
        messages[n] = Message::new(State::INITIAL, &[&buf[p.start..p.end], secret.as_bytes()]);
        owners[n] = (p.start, 0);
        n += 1;
    }
    let mut digests = [[0u8; AUTHENTICATOR_LEN]; LANES];
    md5x::digests(&messages[..n], &mut digests[..n]);
    for ((start, _), digest) in owners[..n].iter().zip(&digests) {
        buf[start + 4..start + HEADER_LEN].copy_from_slice(digest);
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;

    use super::*;
    use crate::encode::Encoder;
    use crate::header::{AUTHENTICATOR_OFFSET, Code};

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn random_authenticators_differ() {
        assert_ne!(random(), random());
    }

    /// Secrets around the HMAC block size, and the empty one.
    fn secrets() -> Vec<Secret> {
        [0, 1, 10, 63, 64, 65, 100, 300]
            .iter()
            .map(|&len| Secret::new(&(0..len).map(|i| (i * 7 + len) as u8).collect::<Vec<_>>()))
            .collect()
    }

    fn code() -> impl Strategy<Value = Code> {
        proptest::sample::select(Code::ALL.to_vec())
    }

    /// Attributes other than Message-Authenticator.
    fn attrs() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        proptest::collection::vec(
            (
                any::<u8>().prop_filter("not a Message-Authenticator", |&t| {
                    t != MESSAGE_AUTHENTICATOR
                }),
                proptest::collection::vec(any::<u8>(), 0..60),
            ),
            0..8,
        )
    }

    /// What a request's Message-Authenticator looks like.
    #[derive(Debug, Clone, Copy)]
    enum Ma {
        Absent,
        Valid,
        /// One octet past the header flipped after signing.
        Tampered(usize),
        /// Signed with another secret.
        OtherSecret,
        Duplicated,
        WrongLength(usize),
    }

    fn ma() -> impl Strategy<Value = Ma> {
        prop_oneof![
            Just(Ma::Absent),
            Just(Ma::Valid),
            Just(Ma::Valid),
            any::<usize>().prop_map(Ma::Tampered),
            Just(Ma::OtherSecret),
            Just(Ma::Duplicated),
            (0usize..40)
                .prop_filter("not 16", |&l| l != MESSAGE_AUTHENTICATOR_LEN)
                .prop_map(Ma::WrongLength),
        ]
    }

    /// A request as described, with the Message-Authenticator after `at` attributes.
    fn request(
        code: Code,
        attrs: &[(u8, Vec<u8>)],
        at: usize,
        ma: Ma,
        secret: &Secret,
        other: &Secret,
    ) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, code, 7, &random());
        let at = at % (attrs.len() + 1);
        for n in 0..=attrs.len() {
            if n == at {
                match ma {
                    Ma::Absent => &mut enc,
                    Ma::WrongLength(len) => enc.attr(MESSAGE_AUTHENTICATOR, &vec![0; len]),
                    Ma::Duplicated => enc
                        .attr(MESSAGE_AUTHENTICATOR, &[0; 16])
                        .message_authenticator(),
                    Ma::Valid | Ma::Tampered(_) | Ma::OtherSecret => enc.message_authenticator(),
                };
            }
            if let Some((typ, value)) = attrs.get(n) {
                enc.attr(*typ, value);
            }
        }
        let signer = if let Ma::OtherSecret = ma {
            other
        } else {
            secret
        };
        let mut wire = enc.finish(signer).unwrap().to_vec();
        if let Ma::Tampered(at) = ma {
            let at = AUTHENTICATOR_OFFSET + at % (wire.len() - AUTHENTICATOR_OFFSET);
            wire[at] ^= 0x20;
        }
        wire
    }

    /// A reply: code, attributes, where the Message-Authenticator goes (if any), the
    /// request's authenticator and which secret signs it.
    type Reply = (Code, Vec<(u8, Vec<u8>)>, Option<usize>, [u8; 16], usize);

    fn encode_reply<'b>(buf: &'b mut BytesMut, (code, attrs, ma, auth, _): &Reply) -> Encoder<'b> {
        let mut enc = Encoder::new(buf, *code, 3, auth);
        let at = ma.map(|at| at % (attrs.len() + 1));
        for (n, (typ, value)) in attrs.iter().enumerate() {
            if at == Some(n) {
                enc.message_authenticator();
            }
            enc.attr(*typ, value);
        }
        if at == Some(attrs.len()) {
            enc.message_authenticator();
        }
        enc
    }

    proptest! {
        #[test]
        fn batch_check_equals_scalar_check(
            specs in proptest::collection::vec(
                (code(), attrs(), any::<usize>(), ma(), 0usize..8, 0usize..8),
                1..40,
            )
        ) {
            let secrets = secrets();
            let wires: Vec<Vec<u8>> = specs
                .iter()
                .map(|(code, attrs, at, ma, s, o)| {
                    request(*code, attrs, *at, *ma, &secrets[*s], &secrets[(*s + 1 + *o) % 8])
                })
                .collect();
            // A flipped octet may leave a packet that no longer decodes; it is never checked.
            let packets: Vec<(Packet<'_>, &Secret)> = wires
                .iter()
                .zip(&specs)
                .filter_map(|(w, spec)| Some((Packet::decode(w).ok()?, &secrets[spec.4])))
                .collect();
            let batch: Vec<(&Packet<'_>, &Secret)> = packets.iter().map(|(p, s)| (p, *s)).collect();
            let mut out = vec![MessageAuthenticatorCheck::Absent; batch.len()];
            check_message_authenticators(&batch, &mut out);
            for ((packet, secret), got) in batch.iter().zip(&out) {
                prop_assert_eq!(*got, check_message_authenticator(packet, *secret));
            }
        }

        #[test]
        fn batch_signing_equals_finish(
            replies in proptest::collection::vec(
                (
                    prop_oneof![
                        4 => proptest::sample::select(vec![Code::AccessAccept, Code::AccessReject]),
                        1 => code(),
                    ],
                    attrs(),
                    proptest::option::of(any::<usize>()),
                    any::<[u8; 16]>(),
                    0usize..8,
                ),
                1..40,
            ),
            prefix in proptest::collection::vec(any::<u8>(), 0..30),
        ) {
            let secrets = secrets();
            let mut want = BytesMut::from(&prefix[..]);
            for reply in &replies {
                let mut one = BytesMut::new();
                let wire = encode_reply(&mut one, reply).finish(&secrets[reply.4]).unwrap().to_vec();
                want.extend_from_slice(&wire);
            }
            let mut buf = BytesMut::from(&prefix[..]);
            let mut ranges = Vec::new();
            for reply in &replies {
                let range = encode_reply(&mut buf, reply).finish_unsigned().unwrap();
                ranges.push((range, &secrets[reply.4]));
            }
            sign_replies(&mut buf, &ranges);
            prop_assert_eq!(&buf[..], &want[..]);
        }

        #[test]
        fn batch_signing_never_panics_on_odd_input(
            mut buf in proptest::collection::vec(any::<u8>(), 0..200),
            ranges in proptest::collection::vec((0usize..220, 0usize..220), 0..20),
        ) {
            let secret = Secret::new(b"s");
            let ranges: Vec<(Range<usize>, &Secret)> =
                ranges.into_iter().map(|(a, b)| (a..b, &secret)).collect();
            sign_replies(&mut buf, &ranges);
        }
    }

    #[test]
    fn a_batch_of_one_and_a_short_out_are_handled() {
        let secret = Secret::new(b"testing123");
        let wire = request(Code::AccessRequest, &[], 0, Ma::Valid, &secret, &secret);
        let packet = Packet::decode(&wire).unwrap();
        let mut out = [MessageAuthenticatorCheck::Absent];
        check_message_authenticators(&[(&packet, &secret)], &mut out);
        assert_eq!(out, [MessageAuthenticatorCheck::Valid]);
        let mut out = [MessageAuthenticatorCheck::Absent];
        check_message_authenticators(&[(&packet, &secret), (&packet, &secret)], &mut out);
        assert_eq!(out, [MessageAuthenticatorCheck::Valid]);
        check_message_authenticators(&[(&packet, &secret)], &mut []);
    }
}
