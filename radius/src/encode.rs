//! Encoding packets into a caller's `BytesMut`.
//!
//! An [`Encoder`] writes the header with a placeholder Length, appends attributes, and on
//! [`Encoder::finish`] back-patches Length, computes the Message-Authenticator (if one was
//! reserved) and then the Authenticator field the packet's code calls for. Nothing is
//! allocated beyond the buffer's own growth, so a server can reuse one buffer per socket.
//!
//! Under RADIUS/1.1 ([`Profile::Radius11`]) the header carries the Token instead of an
//! Identifier and an Authenticator, [`Encoder::message_authenticator`] reserves nothing and
//! `finish` only back-patches Length: nothing is signed (RFC 9765 §4.1, §5.2).
//!
//! Errors are sticky: the first attribute that does not fit is remembered, later writes
//! are skipped, and `finish` reports it and truncates the buffer back to where the packet
//! began — a caller can never send half a packet.
//!
//! ```
//! use bytes::BytesMut;
//! use proisp_radius::dictionary::{attr, mikrotik, vendor};
//! use proisp_radius::encode::Encoder;
//! use proisp_radius::header::Code;
//! use proisp_radius::packet::Packet;
//!
//! let request_authenticator = [7u8; 16];
//! let mut buf = BytesMut::new();
//! let mut enc = Encoder::new(&mut buf, Code::AccessAccept, 42, &request_authenticator);
//! enc.message_authenticator();
//! enc.vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, b"10M/20M");
//! enc.u32(attr::SESSION_TIMEOUT, 3600);
//! let wire = enc.finish(b"testing123").unwrap();
//! let reply = Packet::decode(wire).unwrap();
//! assert_eq!(reply.code(), Code::AccessAccept);
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use bytes::{BufMut, BytesMut};

use crate::attr::{ATTR_HEADER_LEN, Ipv6Prefix, MAX_VALUE_LEN};
use crate::authenticator::{self, MESSAGE_AUTHENTICATOR_LEN};
use crate::dictionary::attr::{MESSAGE_AUTHENTICATOR, VENDOR_SPECIFIC};
use crate::header::{AUTHENTICATOR_LEN, AuthenticatorKind, Code, HEADER_LEN, MAX_PACKET_LEN};
use crate::packet::Packet;
use crate::profile::{Profile, TOKEN_LEN};
use crate::secret::SharedSecret;
use crate::vsa::{MAX_VENDOR_VALUE_LEN, VENDOR_ID_LEN};

/// Why a packet could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An attribute value longer than one attribute can carry.
    #[error("value of {len} octets for attribute {typ} exceeds the attribute limit")]
    ValueTooLong {
        /// The attribute (or vendor sub-attribute) type.
        typ: u8,
        /// The value's length.
        len: usize,
    },
    /// The packet would exceed 4096 octets.
    #[error("packet would exceed 4096 octets")]
    PacketTooLong,
    /// A second Message-Authenticator was reserved.
    #[error("a packet carries at most one Message-Authenticator")]
    DuplicateMessageAuthenticator,
}

/// Builds one packet at the end of a `BytesMut`.
#[derive(Debug)]
pub struct Encoder<'b> {
    buf: &'b mut BytesMut,
    start: usize,
    kind: AuthenticatorKind,
    profile: Profile,
    /// Offset of the Message-Authenticator value from `start`, once reserved.
    ma: Option<usize>,
    error: Option<EncodeError>,
}

impl<'b> Encoder<'b> {
    /// Starts a packet.
    ///
    /// `authenticator` depends on the code's [`AuthenticatorKind`]: for Access-Request and
    /// Status-Server the random Request Authenticator (from
    /// [`authenticator::random`]); for a response the authenticator of the request it
    /// answers; for Accounting-, CoA- and Disconnect-Requests it is ignored, because the
    /// authenticator is computed from the packet at `finish`.
    pub fn new(
        buf: &'b mut BytesMut,
        code: Code,
        identifier: u8,
        authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> Encoder<'b> {
        let start = buf.len();
        buf.reserve(MAX_PACKET_LEN.min(1024));
        buf.put_u8(code.as_u8());
        buf.put_u8(identifier);
        buf.put_u16(0);
        buf.put_slice(authenticator);
        Encoder {
            buf,
            start,
            kind: code.authenticator_kind(),
            profile: Profile::Classic,
            ma: None,
            error: None,
        }
    }

    /// Starts a RADIUS/1.1 packet (RFC 9765 §4.1): Reserved-1 zero, `token` in the Token
    /// field, Reserved-2 zero. A client picks a fresh Token per request (RFC 9765 §4.2.1
    /// asks for a per-connection counter started at a random value); a server copies the
    /// request's ([`Encoder::reply_with`]).
    pub fn radius11(buf: &'b mut BytesMut, code: Code, token: [u8; TOKEN_LEN]) -> Encoder<'b> {
        let mut field = [0; AUTHENTICATOR_LEN];
        field[..TOKEN_LEN].copy_from_slice(&token);
        let mut enc = Encoder::new(buf, code, 0, &field);
        enc.profile = Profile::Radius11;
        enc
    }

    /// Starts the response `code` to `request`: same Identifier, signed over the request's
    /// authenticator.
    pub fn reply(buf: &'b mut BytesMut, request: &Packet<'_>, code: Code) -> Encoder<'b> {
        Encoder::new(buf, code, request.identifier(), request.authenticator())
    }

    /// Starts the response `code` to `request` in `profile`: [`Encoder::reply`] for
    /// classic RADIUS; for RADIUS/1.1 the request's Token copied, Reserved-1 and
    /// Reserved-2 zero, and nothing to sign (RFC 9765 §4.1).
    pub fn reply_with(
        buf: &'b mut BytesMut,
        request: &Packet<'_>,
        code: Code,
        profile: Profile,
    ) -> Encoder<'b> {
        match profile {
            Profile::Classic => Encoder::reply(buf, request, code),
            Profile::Radius11 => Encoder::radius11(buf, code, request.token()),
        }
    }

    /// The profile the packet is encoded in.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    fn fail(&mut self, error: EncodeError) {
        self.error.get_or_insert(error);
    }

    /// Reserves room for `total` more octets, or records the error and returns false.
    fn room(&mut self, total: usize) -> bool {
        if self.error.is_some() {
            return false;
        }
        if self.buf.len() - self.start + total > MAX_PACKET_LEN {
            self.fail(EncodeError::PacketTooLong);
            return false;
        }
        true
    }

    /// Appends an attribute with a raw value of at most 253 octets.
    pub fn attr(&mut self, typ: u8, value: &[u8]) -> &mut Self {
        if value.len() > MAX_VALUE_LEN {
            self.fail(EncodeError::ValueTooLong {
                typ,
                len: value.len(),
            });
        } else if self.room(ATTR_HEADER_LEN + value.len()) {
            self.buf.put_u8(typ);
            self.buf.put_u8((ATTR_HEADER_LEN + value.len()) as u8);
            self.buf.put_slice(value);
        }
        self
    }

    /// Appends a 32-bit integer, enum or date attribute (RFC 8044 §3.1, §3.4).
    pub fn u32(&mut self, typ: u8, value: u32) -> &mut Self {
        self.attr(typ, &value.to_be_bytes())
    }

    /// Appends an IPv4 address attribute (RFC 8044 §3.8).
    pub fn ipv4(&mut self, typ: u8, addr: Ipv4Addr) -> &mut Self {
        self.attr(typ, &addr.octets())
    }

    /// Appends an IPv6 address attribute (RFC 8044 §3.9).
    pub fn ipv6(&mut self, typ: u8, addr: Ipv6Addr) -> &mut Self {
        self.attr(typ, &addr.octets())
    }

    /// Appends an IPv6 prefix attribute (RFC 3162 §2.3, RFC 4818).
    pub fn ipv6_prefix(&mut self, typ: u8, prefix: &Ipv6Prefix) -> &mut Self {
        let (value, len) = prefix.encode();
        self.attr(typ, &value[..len])
    }

    /// Appends one Vendor-Specific attribute holding one sub-attribute in the RFC 2865 §5.26
    /// recommended layout; the value holds at most 247 octets.
    pub fn vsa(&mut self, vendor: u32, typ: u8, value: &[u8]) -> &mut Self {
        if value.len() > MAX_VENDOR_VALUE_LEN {
            self.fail(EncodeError::ValueTooLong {
                typ,
                len: value.len(),
            });
            return self;
        }
        let total = ATTR_HEADER_LEN + VENDOR_ID_LEN + ATTR_HEADER_LEN + value.len();
        if self.room(total) {
            self.buf.put_u8(VENDOR_SPECIFIC);
            self.buf.put_u8(total as u8);
            self.buf.put_u32(vendor);
            self.buf.put_u8(typ);
            self.buf.put_u8((ATTR_HEADER_LEN + value.len()) as u8);
            self.buf.put_slice(value);
        }
        self
    }

    /// Appends a vendor sub-attribute holding a 32-bit integer.
    pub fn vsa_u32(&mut self, vendor: u32, typ: u8, value: u32) -> &mut Self {
        self.vsa(vendor, typ, &value.to_be_bytes())
    }

    /// Copies every attribute of type `typ` from `from`, in order — how Proxy-State is
    /// echoed into a reply (RFC 2865 §5.33).
    pub fn copy_attrs(&mut self, from: &Packet<'_>, typ: u8) -> &mut Self {
        for a in from.attrs_of(typ) {
            self.attr(typ, a.value);
        }
        self
    }

    /// Reserves the Message-Authenticator, filled in by [`Encoder::finish`].
    ///
    /// Call it before any other attribute to make it the first one: since the BlastRADIUS
    /// attack (CVE-2024-3596) servers put it first so an attacker cannot choose the prefix
    /// MD5 runs over, and RouterOS 7.15+ drops replies that lack it.
    ///
    /// Under RADIUS/1.1 it does nothing: the attribute MUST NOT be sent there (RFC 9765
    /// §5.2), and a no-op lets one reply path serve both profiles.
    pub fn message_authenticator(&mut self) -> &mut Self {
        if self.profile == Profile::Radius11 {
            return self;
        }
        if self.ma.is_some() {
            self.fail(EncodeError::DuplicateMessageAuthenticator);
        } else if self.room(ATTR_HEADER_LEN + MESSAGE_AUTHENTICATOR_LEN) {
            self.buf.put_u8(MESSAGE_AUTHENTICATOR);
            self.buf
                .put_u8((ATTR_HEADER_LEN + MESSAGE_AUTHENTICATOR_LEN) as u8);
            self.ma = Some(self.buf.len() - self.start);
            self.buf.put_slice(&[0; MESSAGE_AUTHENTICATOR_LEN]);
        }
        self
    }

    /// Octets written so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether nothing past the header has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN
    }

    /// Back-patches Length, signs the packet with `secret` and returns its octets; on an
    /// earlier error, truncates the buffer to where the packet began and returns it.
    ///
    /// Under RADIUS/1.1 only Length is written and `secret` is not used: TLS protects
    /// the packet (RFC 9765 §4.1).
    pub fn finish(self, secret: &(impl SharedSecret + ?Sized)) -> Result<&'b [u8], EncodeError> {
        let kind = self.kind;
        let ma = self.ma;
        let profile = self.profile;
        let (buf, range) = self.close()?;
        if profile.signs_packets() {
            authenticator::sign(&mut buf[range.clone()], kind, ma, secret);
        }
        Ok(&buf[range])
    }

    /// Like [`Encoder::finish`] but leaves the packet unsigned, and returns where it lies in
    /// the buffer; on an earlier error, truncates the buffer to where the packet began and
    /// returns it.
    ///
    /// For signing many replies at once with
    /// [`authenticator::sign_replies`], which hashes them side by side: encode each one
    /// after the other into one buffer, keep the ranges, sign them together. Until then the
    /// Authenticator field holds what [`Encoder::new`] was given and any
    /// Message-Authenticator value is zero. A RADIUS/1.1 packet is complete here: sign
    /// batches with [`authenticator::sign_replies_with`], which leaves it alone.
    pub fn finish_unsigned(self) -> Result<Range<usize>, EncodeError> {
        self.close().map(|(_, range)| range)
    }

    /// Back-patches Length, or truncates the buffer on an earlier error.
    fn close(self) -> Result<(&'b mut BytesMut, Range<usize>), EncodeError> {
        let Encoder {
            buf, start, error, ..
        } = self;
        if let Some(error) = error {
            buf.truncate(start);
            return Err(error);
        }
        let end = buf.len();
        let len = (end - start) as u16;
        buf[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok((buf, start..end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticator::{
        MessageAuthenticatorCheck, check_message_authenticator, verify_reply, verify_request_digest,
    };

    const SECRET: &[u8] = b"xyzzy5461";

    #[test]
    fn message_authenticator_goes_first_and_verifies() {
        let mut buf = BytesMut::new();
        let nonce = authenticator::random();
        let mut enc = Encoder::new(&mut buf, Code::AccessRequest, 1, &nonce);
        enc.message_authenticator().attr(1, b"bob");
        let wire = enc.finish(SECRET).unwrap().to_vec();
        let p = Packet::decode(&wire).unwrap();
        assert_eq!(p.attrs().next().map(|a| a.typ), Some(MESSAGE_AUTHENTICATOR));
        assert_eq!(p.authenticator(), &nonce);
        assert_eq!(
            check_message_authenticator(&p, SECRET),
            MessageAuthenticatorCheck::Valid
        );
        assert_eq!(
            check_message_authenticator(&p, b"wrong"),
            MessageAuthenticatorCheck::Invalid
        );
        let mut tampered = wire.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            check_message_authenticator(&Packet::decode(&tampered).unwrap(), SECRET),
            MessageAuthenticatorCheck::Invalid
        );
    }

    #[test]
    fn replies_verify_against_their_request() {
        let mut req_buf = BytesMut::new();
        let mut enc = Encoder::new(
            &mut req_buf,
            Code::AccessRequest,
            9,
            &authenticator::random(),
        );
        enc.message_authenticator()
            .attr(33, b"state-1")
            .attr(33, b"state-2");
        let request = Packet::decode(enc.finish(SECRET).unwrap()).unwrap();

        let mut buf = BytesMut::new();
        let mut enc = Encoder::reply(&mut buf, &request, Code::AccessAccept);
        enc.message_authenticator()
            .u32(27, 600)
            .copy_attrs(&request, 33);
        let reply = Packet::decode(enc.finish(SECRET).unwrap()).unwrap();
        assert_eq!(reply.identifier(), 9);
        let states: Vec<&[u8]> = reply.attrs_of(33).map(|a| a.value).collect();
        assert_eq!(states, vec![&b"state-1"[..], &b"state-2"[..]]);
        assert_eq!(
            verify_reply(&reply, request.authenticator(), SECRET, true),
            Ok(())
        );
        assert!(verify_reply(&reply, request.authenticator(), b"other", false).is_err());
        assert!(verify_reply(&reply, &[0; 16], SECRET, false).is_err());
        assert_eq!(
            verify_reply(&request, request.authenticator(), SECRET, false),
            Err(authenticator::ReplyError::NotAResponse)
        );
    }

    #[test]
    fn reply_without_message_authenticator_is_refused_only_when_required() {
        let request_auth = [3u8; 16];
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessReject, 2, &request_auth);
        enc.attr(18, b"no");
        let reply = Packet::decode(enc.finish(SECRET).unwrap()).unwrap();
        assert_eq!(verify_reply(&reply, &request_auth, SECRET, false), Ok(()));
        assert_eq!(
            verify_reply(&reply, &request_auth, SECRET, true),
            Err(authenticator::ReplyError::BadMessageAuthenticator(
                MessageAuthenticatorCheck::Absent
            ))
        );
    }

    #[test]
    fn request_digests_cover_accounting_and_coa() {
        for code in [
            Code::AccountingRequest,
            Code::CoaRequest,
            Code::DisconnectRequest,
        ] {
            let mut buf = BytesMut::new();
            let mut enc = Encoder::new(&mut buf, code, 5, &[0xFF; 16]);
            enc.message_authenticator().u32(40, 1).attr(44, b"sess-1");
            let p = Packet::decode(enc.finish(SECRET).unwrap()).unwrap();
            assert!(verify_request_digest(&p, SECRET), "{code}");
            assert!(!verify_request_digest(&p, b"nope"), "{code}");
            assert_eq!(
                check_message_authenticator(&p, SECRET),
                MessageAuthenticatorCheck::Valid,
                "{code}"
            );
        }
    }

    #[test]
    fn oversized_values_and_packets_fail_without_leaving_bytes() {
        let mut buf = BytesMut::from(&b"prefix"[..]);
        let mut enc = Encoder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        enc.attr(18, &[b'x'; 254]).attr(18, b"later");
        assert_eq!(
            enc.finish(SECRET),
            Err(EncodeError::ValueTooLong { typ: 18, len: 254 })
        );
        assert_eq!(&buf[..], b"prefix");

        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        for _ in 0..15 {
            enc.attr(18, &[b'x'; 253]);
        }
        enc.attr(18, &[b'x'; 249]);
        assert_eq!(enc.len(), MAX_PACKET_LEN);
        enc.attr(18, &[]);
        assert_eq!(enc.finish(SECRET), Err(EncodeError::PacketTooLong));
        assert!(buf.is_empty());

        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        enc.message_authenticator().message_authenticator();
        assert_eq!(
            enc.finish(SECRET),
            Err(EncodeError::DuplicateMessageAuthenticator)
        );
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        enc.vsa(14988, 8, &[b'x'; 248]);
        assert!(enc.finish(SECRET).is_err());
    }

    #[test]
    fn typed_values_encode_as_rfc_8044_says() {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        let prefix = Ipv6Prefix::new("2001:db8::".parse().unwrap(), 56).unwrap();
        enc.ipv4(8, Ipv4Addr::new(100, 64, 0, 1))
            .ipv6(168, "2001:db8::1".parse().unwrap())
            .ipv6_prefix(123, &prefix)
            .vsa_u32(14988, 1, 5_000_000);
        assert!(!enc.is_empty());
        let p = Packet::decode(enc.finish(SECRET).unwrap()).unwrap();
        assert_eq!(
            p.attr(8).unwrap().as_ipv4(),
            Some(Ipv4Addr::new(100, 64, 0, 1))
        );
        assert_eq!(
            p.attr(168).unwrap().as_ipv6(),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(p.attr(123).unwrap().as_ipv6_prefix(), Some(prefix));
        assert_eq!(
            p.vendor_value(14988, 1),
            Some(&5_000_000u32.to_be_bytes()[..])
        );
    }

    /// A RADIUS/1.1 Access-Request with Token 0xDEADBEEF and a stray non-zero Reserved-1.
    fn radius11_request() -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::radius11(&mut buf, Code::AccessRequest, [0xDE, 0xAD, 0xBE, 0xEF]);
        enc.attr(1, b"bob").attr(33, b"state");
        let mut wire = enc.finish(b"").unwrap().to_vec();
        wire[1] = 0x5A;
        wire
    }

    #[test]
    fn radius11_header_carries_the_token_and_zeros() {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::radius11(&mut buf, Code::AccessRequest, [1, 2, 3, 4]);
        assert_eq!(enc.profile(), Profile::Radius11);
        enc.message_authenticator().attr(1, b"bob");
        let wire = enc.finish(SECRET).unwrap();
        // Code, Reserved-1, Length, Token, Reserved-2, then only User-Name: the
        // Message-Authenticator was not reserved and nothing was signed (RFC 9765 §4.1, §5.2).
        let mut expected = vec![1, 0, 0, 25, 1, 2, 3, 4];
        expected.extend_from_slice(&[0; 12]);
        expected.extend_from_slice(&[1, 5, b'b', b'o', b'b']);
        assert_eq!(wire, &expected[..]);
        assert_eq!(Packet::decode(wire).unwrap().token(), [1, 2, 3, 4]);
    }

    #[test]
    fn radius11_reply_copies_the_token_and_ignores_reserved_octets() {
        let raw = radius11_request();
        let request = Packet::decode(&raw).unwrap();
        assert_eq!(request.token(), [0xDE, 0xAD, 0xBE, 0xEF]);
        for code in [Code::AccessAccept, Code::AccessReject, Code::ProtocolError] {
            let mut buf = BytesMut::from(&b"earlier"[..]);
            let mut enc = Encoder::reply_with(&mut buf, &request, code, Profile::Radius11);
            enc.message_authenticator()
                .message_authenticator()
                .copy_attrs(&request, 33);
            let range = enc.finish_unsigned().unwrap();
            let reply = Packet::decode(&buf[range.clone()]).unwrap();
            assert_eq!(reply.code(), code);
            assert_eq!(reply.identifier(), 0, "Reserved-1 is sent as zero");
            assert_eq!(reply.token(), request.token());
            assert_eq!(&reply.authenticator()[4..], &[0; 12]);
            assert_eq!(reply.attr(MESSAGE_AUTHENTICATOR), None);
            assert_eq!(reply.value(33), Some(&b"state"[..]));
            assert_eq!(reply.len(), 20 + 7);
            // Batch signing leaves a RADIUS/1.1 reply exactly as finished.
            let before = buf.to_vec();
            let secret = crate::secret::Secret::new(SECRET);
            authenticator::sign_replies_with(Profile::Radius11, &mut buf, &[(range, &secret)]);
            assert_eq!(&buf[..], &before[..]);
            assert_eq!(&buf[..7], b"earlier");
        }
    }

    #[test]
    fn classic_reply_with_is_the_classic_reply() {
        let mut req_buf = BytesMut::new();
        let mut enc = Encoder::new(&mut req_buf, Code::AccessRequest, 9, &[7; 16]);
        enc.message_authenticator().attr(1, b"bob");
        let request = Packet::decode(enc.finish(SECRET).unwrap()).unwrap();
        let secret = crate::secret::Secret::new(SECRET);
        let mut one = BytesMut::new();
        let mut enc = Encoder::reply(&mut one, &request, Code::AccessAccept);
        enc.message_authenticator().u32(27, 600);
        let range = enc.finish_unsigned().unwrap();
        authenticator::sign_replies(&mut one, &[(range, &secret)]);
        let mut other = BytesMut::new();
        let mut enc =
            Encoder::reply_with(&mut other, &request, Code::AccessAccept, Profile::Classic);
        assert_eq!(enc.profile(), Profile::Classic);
        enc.message_authenticator().u32(27, 600);
        let range = enc.finish_unsigned().unwrap();
        authenticator::sign_replies_with(Profile::Classic, &mut other, &[(range, &secret)]);
        assert_eq!(one, other);
        assert_eq!(
            verify_reply(
                &Packet::decode(&other).unwrap(),
                request.authenticator(),
                SECRET,
                true
            ),
            Ok(())
        );
    }
}
