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

use hmac::Mac;
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

use crate::radius::dictionary::attr::MESSAGE_AUTHENTICATOR;
use crate::radius::header::{AUTHENTICATOR_LEN, AuthenticatorKind, HEADER_LEN};
use crate::radius::packet::Packet;
use crate::radius::secret::SharedSecret;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
