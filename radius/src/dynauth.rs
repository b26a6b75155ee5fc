//! Dynamic Authorization (RFC 5176): the CoA- and Disconnect-Requests this server sends to
//! a NAS, and the ACKs and NAKs that answer them.
//!
//! A [`Request`] names one session the way RFC 5176 §3 asks: by session identification
//! attributes (User-Name, Acct-Session-Id and, where known, Framed-IP-Address) and,
//! optionally, the NAS it lives on (NAS-IP-Address). A CoA-Request adds the authorization
//! changes to apply, such as a new Mikrotik-Rate-Limit. [`Request::encode`] signs it the
//! RFC 5176 §2.3 way (Request Authenticator as for Accounting-Request) with a
//! Message-Authenticator as first attribute (RFC 5176 §3.4, BlastRADIUS);
//! [`decode_response`] checks an answer against the request it claims to answer.
//!
//! ```
//! use bytes::BytesMut;
//! use proisp_radius::dictionary::{mikrotik, vendor};
//! use proisp_radius::dynauth::{Request, decode_response};
//!
//! let request = Request::coa("user000001", "81a00001")
//!     .with_framed_ip("100.64.0.7".parse().unwrap())
//!     .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, "1M/1M");
//! let mut buf = BytesMut::new();
//! let wire = request.encode(&mut buf, 42, b"testing123").unwrap();
//! // A reply that is not a CoA-ACK or CoA-NAK for identifier 42 signed with the secret
//! // is refused.
//! assert!(decode_response(wire, wire, b"testing123").is_err());
//! ```
//!
//! Nothing here performs I/O: `proisp-coa` sends, retries and waits.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;

use bytes::BytesMut;

use crate::authenticator::{self, ReplyError};
use crate::dictionary::attr::{
    ACCT_SESSION_ID, ERROR_CAUSE, FRAMED_IP_ADDRESS, MESSAGE_AUTHENTICATOR, NAS_IP_ADDRESS,
    NAS_IPV6_ADDRESS, USER_NAME,
};
use crate::dictionary::{self, values};
use crate::encode::{EncodeError, Encoder};
use crate::header::{AUTHENTICATOR_LEN, Code};
use crate::packet::{DecodeError, Packet};
use crate::profile::TOKEN_LEN;
use crate::secret::SharedSecret;

/// The UDP port a NAS listens on for Dynamic Authorization (RFC 5176 §2.1, §2.2).
pub const DEFAULT_PORT: u16 = 3799;

/// Which request: end the session, or change its authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Disconnect-Request (RFC 5176 §2.1): terminate the session and discard its context.
    Disconnect,
    /// CoA-Request (RFC 5176 §2.2): change the session's authorization (rate, filters).
    Coa,
}

impl Kind {
    /// The request code.
    pub const fn request_code(self) -> Code {
        match self {
            Kind::Disconnect => Code::DisconnectRequest,
            Kind::Coa => Code::CoaRequest,
        }
    }

    /// The positive answer: Disconnect-ACK or CoA-ACK.
    pub const fn ack_code(self) -> Code {
        match self {
            Kind::Disconnect => Code::DisconnectAck,
            Kind::Coa => Code::CoaAck,
        }
    }

    /// The negative answer: Disconnect-NAK or CoA-NAK.
    pub const fn nak_code(self) -> Code {
        match self {
            Kind::Disconnect => Code::DisconnectNak,
            Kind::Coa => Code::CoaNak,
        }
    }

    /// The kind of a request code, or `None` for any other code.
    pub const fn of_request(code: Code) -> Option<Kind> {
        match code {
            Code::DisconnectRequest => Some(Kind::Disconnect),
            Code::CoaRequest => Some(Kind::Coa),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.request_code().name())
    }
}

/// An attribute a CoA-Request carries besides the session identification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// A standard attribute: Type and raw value (at most 253 octets).
    Standard {
        /// The attribute type (see [`dictionary::attr`]).
        typ: u8,
        /// The value as it goes on the wire.
        value: Vec<u8>,
    },
    /// A vendor sub-attribute in its own Vendor-Specific attribute (RFC 2865 §5.26), such
    /// as Mikrotik-Rate-Limit (vendor 14988, type 8); at most 247 octets of value.
    Vendor {
        /// The SMI Private Enterprise Code (see [`dictionary::vendor`]).
        vendor: u32,
        /// The vendor's attribute type.
        typ: u8,
        /// The value as it goes on the wire.
        value: Vec<u8>,
    },
}

/// A CoA- or Disconnect-Request for one session, before it is encoded.
///
/// The identification follows RFC 5176 §3: Acct-Session-Id alone is unique only per NAS,
/// so User-Name goes with it, and Framed-IP-Address narrows it further where known.
/// Values should be the ones the NAS reported in accounting, octet for octet, and not
/// empty (an empty string attribute is malformed, RFC 2865 §5).
///
/// RFC 5176 §3.6 allows a Disconnect-Request little beyond identification; [`attrs`]
/// are meant for CoA-Requests and a NAS may answer a Disconnect-Request carrying them
/// with a NAK (Error-Cause 401, Unsupported-Attribute).
///
/// [`attrs`]: Request::attrs
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Disconnect or CoA.
    pub kind: Kind,
    /// User-Name (RFC 2865 §5.1), as the NAS sent it in Accounting-Requests.
    pub user_name: Vec<u8>,
    /// Acct-Session-Id (RFC 2866 §5.5), as the NAS sent it.
    pub acct_session_id: Vec<u8>,
    /// Framed-IP-Address (RFC 2865 §5.8), the subscriber's address, where known.
    pub framed_ip: Option<Ipv4Addr>,
    /// NAS-IP-Address (RFC 2865 §5.4) or, for an IPv6 address, NAS-IPv6-Address (RFC 3162
    /// §2.1): which NAS the session is on, for a NAS that checks it is the one meant
    /// (Error-Cause 403, NAS-Identification-Mismatch).
    pub nas_ip: Option<IpAddr>,
    /// Further attributes, in order: the authorization changes of a CoA-Request.
    pub attrs: Vec<Attribute>,
}

impl Request {
    /// A request of `kind` for the session `acct_session_id` of `user_name`.
    pub fn new(
        kind: Kind,
        user_name: impl Into<Vec<u8>>,
        acct_session_id: impl Into<Vec<u8>>,
    ) -> Request {
        Request {
            kind,
            user_name: user_name.into(),
            acct_session_id: acct_session_id.into(),
            framed_ip: None,
            nas_ip: None,
            attrs: Vec::new(),
        }
    }

    /// A Disconnect-Request for a session.
    pub fn disconnect(
        user_name: impl Into<Vec<u8>>,
        acct_session_id: impl Into<Vec<u8>>,
    ) -> Request {
        Request::new(Kind::Disconnect, user_name, acct_session_id)
    }

    /// A CoA-Request for a session; add the changes with [`Request::with_attr`] and
    /// [`Request::with_vsa`].
    pub fn coa(user_name: impl Into<Vec<u8>>, acct_session_id: impl Into<Vec<u8>>) -> Request {
        Request::new(Kind::Coa, user_name, acct_session_id)
    }

    /// Adds Framed-IP-Address to the identification.
    pub fn with_framed_ip(mut self, addr: Ipv4Addr) -> Request {
        self.framed_ip = Some(addr);
        self
    }

    /// Adds NAS-IP-Address (or NAS-IPv6-Address) to the identification.
    pub fn with_nas_ip(mut self, addr: IpAddr) -> Request {
        self.nas_ip = Some(addr);
        self
    }

    /// Appends a standard attribute.
    pub fn with_attr(mut self, typ: u8, value: impl Into<Vec<u8>>) -> Request {
        self.attrs.push(Attribute::Standard {
            typ,
            value: value.into(),
        });
        self
    }

    /// Appends a vendor sub-attribute, e.g.
    /// `.with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, "10M/20M")`.
    pub fn with_vsa(mut self, vendor: u32, typ: u8, value: impl Into<Vec<u8>>) -> Request {
        self.attrs.push(Attribute::Vendor {
            vendor,
            typ,
            value: value.into(),
        });
        self
    }

    /// Encodes the request at the end of `buf` and returns its octets.
    ///
    /// Message-Authenticator comes first (see [`Encoder::message_authenticator`]), then
    /// NAS-IP-Address, User-Name, Acct-Session-Id, Framed-IP-Address and [`Request::attrs`].
    /// The Request Authenticator is the RFC 5176 §2.3 digest, so the octets depend only on
    /// the request, `identifier` and `secret`: a retransmission resends them unchanged.
    ///
    /// Fails, leaving `buf` as it was, when a value is too long for its attribute, the
    /// packet would exceed 4096 octets, or [`Request::attrs`] holds a Message-Authenticator
    /// of its own.
    pub fn encode<'b>(
        &self,
        buf: &'b mut BytesMut,
        identifier: u8,
        secret: &(impl SharedSecret + ?Sized),
    ) -> Result<&'b [u8], EncodeError> {
        let own_ma = |a: &Attribute| {
            matches!(
                a,
                Attribute::Standard {
                    typ: MESSAGE_AUTHENTICATOR,
                    ..
                }
            )
        };
        if self.attrs.iter().any(own_ma) {
            return Err(EncodeError::DuplicateMessageAuthenticator);
        }
        // The field is ignored for a request digest; finish() computes it.
        let code = self.kind.request_code();
        let mut enc = Encoder::new(buf, code, identifier, &[0; AUTHENTICATOR_LEN]);
        enc.message_authenticator();
        self.write_attributes(&mut enc);
        enc.finish(secret)
    }

    /// Encodes the request as RADIUS/1.1 (RFC 9765 §4.1) at the end of `buf`, with
    /// `token`: the attributes of [`Request::encode`] in its order, without a
    /// Message-Authenticator (RADIUS/1.1 never sends one, §5.2, so one in
    /// [`Request::attrs`] is left out), and unsigned. Returns where it is in `buf`.
    pub fn encode_radius11(
        &self,
        buf: &mut BytesMut,
        token: [u8; TOKEN_LEN],
    ) -> Result<Range<usize>, EncodeError> {
        let mut enc = Encoder::radius11(buf, self.kind.request_code(), token);
        self.write_attributes(&mut enc);
        enc.finish_unsigned()
    }

    /// The request as octets to keep (a change waiting in PostgreSQL for its NAS): its
    /// RADIUS/1.1 form with a zero token, unsigned, which [`Request::from_octets`] reads
    /// back.
    pub fn to_octets(&self) -> Result<Vec<u8>, EncodeError> {
        let mut buf = BytesMut::new();
        let range = self.encode_radius11(&mut buf, [0; TOKEN_LEN])?;
        Ok(buf[range].to_vec())
    }

    /// A request kept by [`Request::to_octets`]. The identification comes back in its
    /// fields; every other attribute (a Vendor-Specific one whole, as it went on the wire)
    /// in [`Request::attrs`], so encoding it again gives the same octets. Fails on octets
    /// that are no CoA- or Disconnect-Request, and on one without User-Name or
    /// Acct-Session-Id.
    pub fn from_octets(octets: &[u8]) -> Result<Request, KeptError> {
        let packet = Packet::decode(octets)?;
        let kind = Kind::of_request(packet.code()).ok_or(KeptError::NotARequest)?;
        let (mut user_name, mut acct_session_id) = (None, None);
        let mut request = Request::new(kind, Vec::new(), Vec::new());
        for a in packet.attrs() {
            match a.typ {
                USER_NAME if user_name.is_none() => user_name = Some(a.value.to_vec()),
                ACCT_SESSION_ID if acct_session_id.is_none() => {
                    acct_session_id = Some(a.value.to_vec());
                }
                FRAMED_IP_ADDRESS if request.framed_ip.is_none() && a.as_ipv4().is_some() => {
                    request.framed_ip = a.as_ipv4();
                }
                NAS_IP_ADDRESS if request.nas_ip.is_none() && a.as_ipv4().is_some() => {
                    request.nas_ip = a.as_ipv4().map(IpAddr::V4);
                }
                NAS_IPV6_ADDRESS if request.nas_ip.is_none() && a.as_ipv6().is_some() => {
                    request.nas_ip = a.as_ipv6().map(IpAddr::V6);
                }
                typ => request.attrs.push(Attribute::Standard {
                    typ,
                    value: a.value.to_vec(),
                }),
            }
        }
        request.user_name = user_name.ok_or(KeptError::Unidentified)?;
        request.acct_session_id = acct_session_id.ok_or(KeptError::Unidentified)?;
        Ok(request)
    }

    /// NAS-IP-Address, User-Name, Acct-Session-Id, Framed-IP-Address and
    /// [`Request::attrs`] (but a Message-Authenticator, which the encoder writes itself or,
    /// under RADIUS/1.1, never).
    fn write_attributes(&self, enc: &mut Encoder<'_>) {
        match self.nas_ip {
            Some(IpAddr::V4(addr)) => {
                enc.ipv4(NAS_IP_ADDRESS, addr);
            }
            Some(IpAddr::V6(addr)) => {
                enc.ipv6(NAS_IPV6_ADDRESS, addr);
            }
            None => {}
        }
        enc.attr(USER_NAME, &self.user_name)
            .attr(ACCT_SESSION_ID, &self.acct_session_id);
        if let Some(addr) = self.framed_ip {
            enc.ipv4(FRAMED_IP_ADDRESS, addr);
        }
        for a in &self.attrs {
            match a {
                Attribute::Standard {
                    typ: MESSAGE_AUTHENTICATOR,
                    ..
                } => {}
                Attribute::Standard { typ, value } => {
                    enc.attr(*typ, value);
                }
                Attribute::Vendor { vendor, typ, value } => {
                    enc.vsa(*vendor, *typ, value);
                }
            }
        }
    }
}

/// Why kept octets are no [`Request`] ([`Request::from_octets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeptError {
    /// Not a RADIUS packet.
    #[error("not a RADIUS packet: {0}")]
    Decode(#[from] DecodeError),
    /// A packet, but no CoA- or Disconnect-Request.
    #[error("not a CoA- or Disconnect-Request")]
    NotARequest,
    /// A request without User-Name or Acct-Session-Id.
    #[error("a request without User-Name or Acct-Session-Id")]
    Unidentified,
}

/// An Error-Cause value (RFC 5176 §3.5): why a NAS refused a request, or, in an ACK, a
/// remark on its success.
///
/// RFC 5176 §3.5 groups the values by hundreds (see [`ErrorClass`]) and calls every 4xx
/// and 5xx error fatal: resending the same request will not succeed, which is why a NAK is
/// final and never retransmitted. What a caller does next depends on the value — for a
/// Disconnect-Request, 503 (Session-Context-Not-Found) means the session is already gone.
///
/// Values outside the RFC's list are kept as they came, so a log shows what the NAS sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCause(pub u32);

impl ErrorCause {
    /// 201: the session context was removed (in a Disconnect-ACK).
    pub const RESIDUAL_SESSION_CONTEXT_REMOVED: ErrorCause =
        ErrorCause(values::error_cause::RESIDUAL_SESSION_CONTEXT_REMOVED);
    /// 202: an EAP packet in the request was ignored.
    pub const INVALID_EAP_PACKET: ErrorCause = ErrorCause(values::error_cause::INVALID_EAP_PACKET);
    /// 401: the request carries an attribute the NAS does not support.
    pub const UNSUPPORTED_ATTRIBUTE: ErrorCause =
        ErrorCause(values::error_cause::UNSUPPORTED_ATTRIBUTE);
    /// 402: a required attribute is missing.
    pub const MISSING_ATTRIBUTE: ErrorCause = ErrorCause(values::error_cause::MISSING_ATTRIBUTE);
    /// 403: NAS-IP-Address or NAS-Identifier names another NAS.
    pub const NAS_IDENTIFICATION_MISMATCH: ErrorCause =
        ErrorCause(values::error_cause::NAS_IDENTIFICATION_MISMATCH);
    /// 404: the request is otherwise invalid.
    pub const INVALID_REQUEST: ErrorCause = ErrorCause(values::error_cause::INVALID_REQUEST);
    /// 405: the Service-Type asked for is not supported.
    pub const UNSUPPORTED_SERVICE: ErrorCause =
        ErrorCause(values::error_cause::UNSUPPORTED_SERVICE);
    /// 406: an extension the request relies on is not supported.
    pub const UNSUPPORTED_EXTENSION: ErrorCause =
        ErrorCause(values::error_cause::UNSUPPORTED_EXTENSION);
    /// 407: an attribute has a value the NAS does not accept.
    pub const INVALID_ATTRIBUTE_VALUE: ErrorCause =
        ErrorCause(values::error_cause::INVALID_ATTRIBUTE_VALUE);
    /// 501: the NAS is configured to refuse such requests.
    pub const ADMINISTRATIVELY_PROHIBITED: ErrorCause =
        ErrorCause(values::error_cause::ADMINISTRATIVELY_PROHIBITED);
    /// 502: a proxy could not route the request.
    pub const REQUEST_NOT_ROUTABLE: ErrorCause =
        ErrorCause(values::error_cause::REQUEST_NOT_ROUTABLE);
    /// 503: no session matches the identification attributes.
    pub const SESSION_CONTEXT_NOT_FOUND: ErrorCause =
        ErrorCause(values::error_cause::SESSION_CONTEXT_NOT_FOUND);
    /// 504: the session exists but cannot be removed.
    pub const SESSION_CONTEXT_NOT_REMOVABLE: ErrorCause =
        ErrorCause(values::error_cause::SESSION_CONTEXT_NOT_REMOVABLE);
    /// 505: a proxy failed otherwise.
    pub const OTHER_PROXY_PROCESSING_ERROR: ErrorCause =
        ErrorCause(values::error_cause::OTHER_PROXY_PROCESSING_ERROR);
    /// 506: the NAS lacks the resources to act.
    pub const RESOURCES_UNAVAILABLE: ErrorCause =
        ErrorCause(values::error_cause::RESOURCES_UNAVAILABLE);
    /// 507: the NAS answers a request it initiated itself.
    pub const REQUEST_INITIATED: ErrorCause = ErrorCause(values::error_cause::REQUEST_INITIATED);
    /// 508: the identification matches several sessions and the NAS will not act on all.
    pub const MULTIPLE_SESSION_SELECTION_UNSUPPORTED: ErrorCause =
        ErrorCause(values::error_cause::MULTIPLE_SESSION_SELECTION_UNSUPPORTED);

    /// The value's name as the dictionary spells it (FreeRADIUS's, which for 201, 502 and
    /// 505 is shorter than the RFC's wording), or `None` for a value RFC 5176 does not list.
    pub fn name(self) -> Option<&'static str> {
        dictionary::lookup(0, ERROR_CAUSE)?.value_name(self.0)
    }

    /// The RFC 5176 §3.5 range the value falls in.
    pub const fn class(self) -> ErrorClass {
        match self.0 {
            200..=299 => ErrorClass::Success,
            400..=499 => ErrorClass::ClientError,
            500..=599 => ErrorClass::NasError,
            _ => ErrorClass::Unassigned,
        }
    }
}

impl fmt::Display for ErrorCause {
    /// `Session-Context-Not-Found (503)`, or `Error-Cause 999` for an unlisted value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "Error-Cause {}", self.0),
        }
    }
}

/// The ranges of RFC 5176 §3.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 200–299: successful completion; sent only in ACKs.
    Success,
    /// 400–499: a fatal error committed by the requester (this server): a wrong or
    /// unsupported attribute, a NAS mismatch.
    ClientError,
    /// 500–599: a fatal error on the NAS or a proxy: no such session, prohibited by
    /// configuration, out of resources.
    NasError,
    /// 0–199 and 300–399 (reserved) or above 599.
    Unassigned,
}

/// A NAS's verified answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// Disconnect-ACK or CoA-ACK: the NAS acted on the request.
    Ack,
    /// Disconnect-NAK or CoA-NAK: it did not.
    Nak {
        /// The first Error-Cause in the NAK; `None` when there is none, or when its value
        /// is not four octets — the NAK itself verified, so a malformed cause does not
        /// make it less of a refusal.
        error_cause: Option<ErrorCause>,
    },
}

/// Why a datagram is not the answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The octets passed as the request are not an encoded CoA- or Disconnect-Request: a
    /// caller's mistake, not the NAS's.
    #[error("the request octets are not a CoA- or Disconnect-Request")]
    NotARequest,
    /// The reply is not a RADIUS packet.
    #[error("reply does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The reply is a packet, but not an ACK or NAK of the request's kind.
    #[error("a {got} does not answer a {request}")]
    UnexpectedCode {
        /// The request's code.
        request: Code,
        /// The reply's code.
        got: Code,
    },
    /// The reply answers another Identifier.
    #[error("reply has Identifier {got}, the request {expected}")]
    IdentifierMismatch {
        /// The request's Identifier.
        expected: u8,
        /// The reply's.
        got: u8,
    },
    /// The Response Authenticator or the Message-Authenticator does not verify: another
    /// secret, or a forgery.
    #[error("reply fails verification: {0}")]
    Unverified(#[from] ReplyError),
}

impl ResponseError {
    /// A short, fixed label for logs and metrics.
    pub const fn reason(&self) -> &'static str {
        match self {
            ResponseError::NotARequest => "not_a_request",
            ResponseError::Decode(_) => "malformed",
            ResponseError::UnexpectedCode { .. } => "unexpected_code",
            ResponseError::IdentifierMismatch { .. } => "identifier_mismatch",
            ResponseError::Unverified(_) => "unverified",
        }
    }
}

/// Checks that `reply` answers `request` (the octets [`Request::encode`] returned) and
/// says how.
///
/// The reply must carry the ACK or NAK code of the request's kind, its Identifier, and a
/// Response Authenticator computed over the request's authenticator with `secret`
/// (RFC 5176 §2.3, RFC 2865 §3). A Message-Authenticator is checked when present but not
/// required: RFC 5176 §3.4 makes it a MAY in CoA-ACK/NAK and Disconnect-ACK/NAK, and NASes
/// in the field leave it out of their answers, so requiring it would turn their every
/// answer into a timeout. The Response Authenticator still ties the reply to this request
/// and secret, and the answer can grant nothing beyond what the request asked for.
///
/// Never panics, whatever `reply` holds.
pub fn decode_response(
    request: &[u8],
    reply: &[u8],
    secret: &(impl SharedSecret + ?Sized),
) -> Result<Response, ResponseError> {
    let request = Packet::decode(request).map_err(|_| ResponseError::NotARequest)?;
    let kind = Kind::of_request(request.code()).ok_or(ResponseError::NotARequest)?;
    let reply = Packet::decode(reply)?;
    let got = reply.code();
    if got != kind.ack_code() && got != kind.nak_code() {
        return Err(ResponseError::UnexpectedCode {
            request: request.code(),
            got,
        });
    }
    if reply.identifier() != request.identifier() {
        return Err(ResponseError::IdentifierMismatch {
            expected: request.identifier(),
            got: reply.identifier(),
        });
    }
    authenticator::verify_reply(&reply, request.authenticator(), secret, false)?;
    if got == kind.ack_code() {
        return Ok(Response::Ack);
    }
    let error_cause = reply
        .attr(ERROR_CAUSE)
        .and_then(|a| a.as_u32())
        .map(ErrorCause);
    Ok(Response::Nak { error_cause })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::authenticator::{
        MessageAuthenticatorCheck, check_message_authenticator, verify_request_digest,
    };
    use crate::dictionary::{mikrotik, vendor};

    const SECRET: &[u8] = b"testing123";
    const RADCLIENT_DISCONNECT: &str =
        include_str!("../tests/vectors/rfc5176_3_4_disconnect_request_radclient.hex");

    /// A hex vector file: `#` starts a comment line, whitespace is ignored.
    fn hex_vector(text: &str) -> Vec<u8> {
        let digits: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        hex::decode(digits).expect("hex vector")
    }

    fn rate_limit_coa() -> Request {
        Request::coa("user000001", "81a00001")
            .with_framed_ip(Ipv4Addr::new(100, 64, 0, 7))
            .with_nas_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)))
            .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, "1M/1M")
    }

    /// The NAS's side: a reply of `code` to `request`, optionally signed with a
    /// Message-Authenticator and carrying an Error-Cause.
    fn answer(request: &[u8], code: Code, ma: bool, cause: Option<u32>, secret: &[u8]) -> Vec<u8> {
        let request = Packet::decode(request).unwrap();
        let mut buf = BytesMut::new();
        let mut enc = Encoder::reply(&mut buf, &request, code);
        if ma {
            enc.message_authenticator();
        }
        if let Some(cause) = cause {
            enc.u32(ERROR_CAUSE, cause);
        }
        enc.finish(secret).unwrap().to_vec()
    }

    #[test]
    fn kept_octets_read_back_as_the_same_request() {
        let requests = [
            Request::coa("alice", "81a00001")
                .with_framed_ip(Ipv4Addr::new(10, 1, 2, 3))
                .with_nas_ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
                .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, "10M/20M")
                .with_attr(
                    dictionary::attr::SESSION_TIMEOUT,
                    3600u32.to_be_bytes().to_vec(),
                ),
            Request::disconnect("bob", "x").with_nas_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        for request in requests {
            let kept = request.to_octets().unwrap();
            let back = Request::from_octets(&kept).unwrap();
            assert_eq!(back.kind, request.kind);
            assert_eq!(back.user_name, request.user_name);
            assert_eq!(back.acct_session_id, request.acct_session_id);
            assert_eq!(back.framed_ip, request.framed_ip);
            assert_eq!(back.nas_ip, request.nas_ip);
            // The same octets on the wire, signed with the same secret and identifier.
            let secret = crate::secret::Secret::new(b"s3cret");
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            assert_eq!(
                back.encode(&mut a, 7, &secret).unwrap(),
                request.encode(&mut b, 7, &secret).unwrap()
            );
        }
    }

    #[test]
    fn kept_octets_that_are_no_request_are_refused() {
        assert!(matches!(
            Request::from_octets(b"\x2b"),
            Err(KeptError::Decode(_))
        ));
        let mut accept = Request::coa("a", "b").to_octets().unwrap();
        accept[0] = 2;
        assert_eq!(Request::from_octets(&accept), Err(KeptError::NotARequest));
        let mut buf = BytesMut::new();
        let mut enc = Encoder::radius11(&mut buf, Code::CoaRequest, [0; TOKEN_LEN]);
        enc.attr(USER_NAME, b"a");
        let range = enc.finish_unsigned().unwrap();
        assert_eq!(
            Request::from_octets(&buf[range]),
            Err(KeptError::Unidentified)
        );
    }

    #[test]
    fn encodes_a_signed_coa_with_message_authenticator_first() {
        let mut buf = BytesMut::new();
        let wire = rate_limit_coa().encode(&mut buf, 7, SECRET).unwrap();
        let p = Packet::decode(wire).unwrap();
        assert_eq!(p.code(), Code::CoaRequest);
        assert_eq!(p.identifier(), 7);
        assert!(verify_request_digest(&p, SECRET));
        assert_eq!(
            check_message_authenticator(&p, SECRET),
            MessageAuthenticatorCheck::Valid
        );
        let types: Vec<u8> = p.attrs().map(|a| a.typ).collect();
        assert_eq!(types, [80, 4, 1, 44, 8, 26]);
        assert_eq!(p.value(USER_NAME), Some(&b"user000001"[..]));
        assert_eq!(p.value(ACCT_SESSION_ID), Some(&b"81a00001"[..]));
        assert_eq!(
            p.attr(FRAMED_IP_ADDRESS).unwrap().as_ipv4(),
            Some(Ipv4Addr::new(100, 64, 0, 7))
        );
        assert_eq!(
            p.attr(NAS_IP_ADDRESS).unwrap().as_ipv4(),
            Some(Ipv4Addr::new(192, 0, 2, 10))
        );
        assert_eq!(
            p.vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT),
            Some(&b"1M/1M"[..])
        );

        // Encoding again gives the same octets: what a retransmission relies on.
        let mut again = BytesMut::new();
        assert_eq!(
            rate_limit_coa().encode(&mut again, 7, SECRET).unwrap(),
            &buf[..]
        );
    }

    #[test]
    fn nas_ipv6_and_disconnect_codes() {
        let nas: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let request = Request::disconnect("bob", "s-1").with_nas_ip(IpAddr::V6(nas));
        let mut buf = BytesMut::new();
        let p = Packet::decode(request.encode(&mut buf, 1, SECRET).unwrap()).unwrap();
        assert_eq!(p.code(), Code::DisconnectRequest);
        assert_eq!(p.attr(NAS_IPV6_ADDRESS).unwrap().as_ipv6(), Some(nas));
        assert!(p.attr(NAS_IP_ADDRESS).is_none());
        assert_eq!(Kind::Disconnect.to_string(), "Disconnect-Request");
        assert_eq!(Kind::of_request(Code::CoaRequest), Some(Kind::Coa));
        assert_eq!(Kind::of_request(Code::CoaAck), None);
    }

    #[test]
    fn refuses_to_encode_what_does_not_fit_and_leaves_the_buffer() {
        let mut buf = BytesMut::from(&b"prefix"[..]);
        let long = Request::disconnect(vec![b'u'; 254], "s");
        assert_eq!(
            long.encode(&mut buf, 1, SECRET),
            Err(EncodeError::ValueTooLong { typ: 1, len: 254 })
        );
        let own_ma = Request::coa("u", "s").with_attr(MESSAGE_AUTHENTICATOR, [0; 16]);
        assert_eq!(
            own_ma.encode(&mut buf, 1, SECRET),
            Err(EncodeError::DuplicateMessageAuthenticator)
        );
        assert_eq!(&buf[..], b"prefix");
    }

    #[test]
    fn ack_and_nak_round_trip_with_and_without_message_authenticator() {
        let mut buf = BytesMut::new();
        let wire = rate_limit_coa().encode(&mut buf, 200, SECRET).unwrap();
        for ma in [true, false] {
            let ack = answer(wire, Code::CoaAck, ma, None, SECRET);
            assert_eq!(decode_response(wire, &ack, SECRET), Ok(Response::Ack));
            let nak = answer(wire, Code::CoaNak, ma, Some(503), SECRET);
            assert_eq!(
                decode_response(wire, &nak, SECRET),
                Ok(Response::Nak {
                    error_cause: Some(ErrorCause::SESSION_CONTEXT_NOT_FOUND)
                })
            );
            let bare_nak = answer(wire, Code::CoaNak, ma, None, SECRET);
            assert_eq!(
                decode_response(wire, &bare_nak, SECRET),
                Ok(Response::Nak { error_cause: None })
            );
        }
    }

    #[test]
    fn malformed_error_cause_still_reads_as_a_nak() {
        let mut buf = BytesMut::new();
        let wire = Request::disconnect("u", "s")
            .encode(&mut buf, 3, SECRET)
            .unwrap();
        let request = Packet::decode(wire).unwrap();
        let mut reply = BytesMut::new();
        let mut enc = Encoder::reply(&mut reply, &request, Code::DisconnectNak);
        enc.attr(ERROR_CAUSE, &[1, 2]);
        let reply = enc.finish(SECRET).unwrap();
        assert_eq!(
            decode_response(wire, reply, SECRET),
            Ok(Response::Nak { error_cause: None })
        );
    }

    #[test]
    fn refuses_wrong_code_identifier_authenticator_and_secret() {
        let mut buf = BytesMut::new();
        let wire = Request::disconnect("u", "s")
            .encode(&mut buf, 9, SECRET)
            .unwrap();

        // A CoA-ACK does not answer a Disconnect-Request, nor does an Access-Accept.
        for code in [Code::CoaAck, Code::CoaNak, Code::AccessAccept] {
            let reply = answer(wire, code, true, None, SECRET);
            assert_eq!(
                decode_response(wire, &reply, SECRET),
                Err(ResponseError::UnexpectedCode {
                    request: Code::DisconnectRequest,
                    got: code
                })
            );
        }

        let mut other_id = answer(wire, Code::DisconnectAck, true, None, SECRET);
        other_id[1] = 10;
        assert_eq!(
            decode_response(wire, &other_id, SECRET),
            Err(ResponseError::IdentifierMismatch {
                expected: 9,
                got: 10
            })
        );

        let wrong_secret = answer(wire, Code::DisconnectAck, false, None, b"testing124");
        assert_eq!(
            decode_response(wire, &wrong_secret, SECRET),
            Err(ResponseError::Unverified(
                ReplyError::BadResponseAuthenticator
            ))
        );

        let mut tampered = answer(wire, Code::DisconnectAck, false, None, SECRET);
        tampered[4] ^= 1;
        assert_eq!(
            decode_response(wire, &tampered, SECRET).map_err(|e| e.reason()),
            Err("unverified")
        );

        // A valid Response Authenticator does not excuse a bad Message-Authenticator: sign
        // with one secret for the HMAC and re-sign the digest with the right one.
        let mut bad_ma = answer(wire, Code::DisconnectAck, true, None, b"other");
        resign_response_authenticator(&mut bad_ma, wire, SECRET);
        assert_eq!(
            decode_response(wire, &bad_ma, SECRET),
            Err(ResponseError::Unverified(
                ReplyError::BadMessageAuthenticator(MessageAuthenticatorCheck::Invalid)
            ))
        );

        assert_eq!(
            decode_response(wire, &[0; 5], SECRET),
            Err(ResponseError::Decode(DecodeError::TooShort { len: 5 }))
        );
        // The request must be one: a reply passed as the request is a caller's mistake.
        let ack = answer(wire, Code::DisconnectAck, false, None, SECRET);
        assert_eq!(
            decode_response(&ack, &ack, SECRET),
            Err(ResponseError::NotARequest)
        );
        assert_eq!(
            decode_response(&[], &ack, SECRET),
            Err(ResponseError::NotARequest)
        );
    }

    /// Recomputes the Response Authenticator of `reply` as `secret` would sign it.
    fn resign_response_authenticator(reply: &mut [u8], request: &[u8], secret: &[u8]) {
        use md5::{Digest, Md5};
        let mut h = Md5::new();
        h.update(&reply[..4]);
        h.update(&request[4..20]);
        h.update(&reply[20..]);
        h.update(secret);
        let digest: [u8; 16] = h.finalize().into();
        reply[4..20].copy_from_slice(&digest);
    }

    #[test]
    fn error_causes_name_and_classify() {
        assert_eq!(
            ErrorCause::SESSION_CONTEXT_NOT_FOUND.to_string(),
            "Session-Context-Not-Found (503)"
        );
        assert_eq!(ErrorCause(999).to_string(), "Error-Cause 999");
        assert_eq!(ErrorCause(999).name(), None);
        assert_eq!(
            ErrorCause::RESIDUAL_SESSION_CONTEXT_REMOVED.class(),
            ErrorClass::Success
        );
        assert_eq!(
            ErrorCause::UNSUPPORTED_ATTRIBUTE.class(),
            ErrorClass::ClientError
        );
        assert_eq!(
            ErrorCause::MULTIPLE_SESSION_SELECTION_UNSUPPORTED.class(),
            ErrorClass::NasError
        );
        assert_eq!(ErrorCause(300).class(), ErrorClass::Unassigned);
        // Every RFC 5176 §3.5 value has a dictionary name.
        for v in (201..=202).chain(401..=407).chain(501..=508) {
            assert!(ErrorCause(v).name().is_some(), "{v}");
        }
    }

    /// radclient's Disconnect-Request for the same session and secret, and ours, are both
    /// valid RFC 5176 §3.4 packets with the same attributes; ours puts the
    /// Message-Authenticator first where radclient puts it last.
    #[test]
    fn matches_radclient_disconnect_request() {
        let theirs = hex_vector(RADCLIENT_DISCONNECT);
        let theirs = Packet::decode(&theirs).unwrap();
        assert_eq!(theirs.code(), Code::DisconnectRequest);
        assert!(verify_request_digest(&theirs, SECRET));
        assert_eq!(
            check_message_authenticator(&theirs, SECRET),
            MessageAuthenticatorCheck::Valid
        );
        let user = theirs.value(USER_NAME).unwrap();
        let session = theirs.value(ACCT_SESSION_ID).unwrap();
        assert_eq!((user, session), (&b"user000001"[..], &b"81a00001"[..]));

        let mut buf = BytesMut::new();
        let ours = Request::disconnect(user, session)
            .encode(&mut buf, theirs.identifier(), SECRET)
            .unwrap();
        let ours = Packet::decode(ours).unwrap();
        assert_eq!(ours.len(), theirs.len());
        assert!(verify_request_digest(&ours, SECRET));
        assert_eq!(
            check_message_authenticator(&ours, SECRET),
            MessageAuthenticatorCheck::Valid
        );
        assert_eq!(
            ours.attrs().next().map(|a| a.typ),
            Some(MESSAGE_AUTHENTICATOR)
        );
        let sorted = |p: &Packet<'_>| {
            let mut v: Vec<(u8, Vec<u8>)> = p
                .attrs()
                .filter(|a| a.typ != MESSAGE_AUTHENTICATOR)
                .map(|a| (a.typ, a.value.to_vec()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&ours), sorted(&theirs));
    }

    proptest! {
        #[test]
        fn decode_response_never_panics(reply in prop::collection::vec(any::<u8>(), 0..600)) {
            let mut buf = BytesMut::new();
            let wire = Request::coa("u", "s").encode(&mut buf, 1, SECRET).unwrap();
            let _ = decode_response(wire, &reply, SECRET);
            let _ = decode_response(&reply, &reply, SECRET);
        }
    }
}
