//! The fixed RADIUS header and packet codes (RFC 2865 §3).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! |                         Authenticator                         |
//! |                                                               |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attributes ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RADIUS/1.1 reads the same 20 octets as Code, Reserved-1, Length, a 4-octet Token and 12
//! reserved octets (RFC 9765 §4.1); see [`crate::profile`].

use std::fmt;

/// Octets in the fixed header: Code, Identifier, Length and the 16-octet Authenticator.
pub const HEADER_LEN: usize = 20;

/// The shortest valid packet is a header without attributes (RFC 2865 §3, Length).
pub const MIN_PACKET_LEN: usize = HEADER_LEN;

/// The longest valid packet (RFC 2865 §3, Length). A receiver sizes its buffer to this.
pub const MAX_PACKET_LEN: usize = 4096;

/// Octets in the Authenticator field.
pub const AUTHENTICATOR_LEN: usize = 16;

/// Offset of the Authenticator field in the header.
pub(crate) const AUTHENTICATOR_OFFSET: usize = 4;

/// A packet code: what kind of packet this is.
///
/// Codes this server neither sends nor accepts (Access-Challenge aside, which it may send
/// one day) are not representable: a packet with one is a decode error, so the receive
/// path counts it as a drop instead of reasoning about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Code {
    /// RFC 2865 §4.1.
    AccessRequest = 1,
    /// RFC 2865 §4.2.
    AccessAccept = 2,
    /// RFC 2865 §4.3.
    AccessReject = 3,
    /// RFC 2866 §4.1.
    AccountingRequest = 4,
    /// RFC 2866 §4.2.
    AccountingResponse = 5,
    /// RFC 2865 §4.4.
    AccessChallenge = 11,
    /// RFC 5997 §2 (experimental in RFC 2865 §3, defined by RFC 5997).
    StatusServer = 12,
    /// RFC 5176 §3.1.
    DisconnectRequest = 40,
    /// RFC 5176 §3.1.
    DisconnectAck = 41,
    /// RFC 5176 §3.1.
    DisconnectNak = 42,
    /// RFC 5176 §3.2.
    CoaRequest = 43,
    /// RFC 5176 §3.2.
    CoaAck = 44,
    /// RFC 5176 §3.2.
    CoaNak = 45,
    /// RFC 7930 §4: the reply to a request that could not be processed. RADIUS/1.1 servers
    /// send it, with an Error-Cause, instead of dropping such a request (RFC 9765 §6.1).
    ProtocolError = 52,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 14] = [
        Code::AccessRequest,
        Code::AccessAccept,
        Code::AccessReject,
        Code::AccountingRequest,
        Code::AccountingResponse,
        Code::AccessChallenge,
        Code::StatusServer,
        Code::DisconnectRequest,
        Code::DisconnectAck,
        Code::DisconnectNak,
        Code::CoaRequest,
        Code::CoaAck,
        Code::CoaNak,
        Code::ProtocolError,
    ];

    /// The code for a wire value, or `None` for a value this codec does not speak.
    pub const fn from_u8(value: u8) -> Option<Code> {
        Some(match value {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            12 => Code::StatusServer,
            40 => Code::DisconnectRequest,
            41 => Code::DisconnectAck,
            42 => Code::DisconnectNak,
            43 => Code::CoaRequest,
            44 => Code::CoaAck,
            45 => Code::CoaNak,
            52 => Code::ProtocolError,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name RFCs and FreeRADIUS use, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Code::AccessRequest => "Access-Request",
            Code::AccessAccept => "Access-Accept",
            Code::AccessReject => "Access-Reject",
            Code::AccountingRequest => "Accounting-Request",
            Code::AccountingResponse => "Accounting-Response",
            Code::AccessChallenge => "Access-Challenge",
            Code::StatusServer => "Status-Server",
            Code::DisconnectRequest => "Disconnect-Request",
            Code::DisconnectAck => "Disconnect-ACK",
            Code::DisconnectNak => "Disconnect-NAK",
            Code::CoaRequest => "CoA-Request",
            Code::CoaAck => "CoA-ACK",
            Code::CoaNak => "CoA-NAK",
            Code::ProtocolError => "Protocol-Error",
        }
    }

    /// Whether packets with this code are requests (sent by a client, answered by a server).
    pub const fn is_request(self) -> bool {
        matches!(
            self,
            Code::AccessRequest
                | Code::AccountingRequest
                | Code::StatusServer
                | Code::DisconnectRequest
                | Code::CoaRequest
        )
    }

    /// How this code's Request Authenticator is made, which decides how the packet is
    /// signed and verified.
    ///
    /// Access-Request and Status-Server carry a random nonce (RFC 2865 §3, RFC 5997 §3);
    /// Accounting-, CoA- and Disconnect-Requests carry an MD5 over the packet with the
    /// field zeroed (RFC 2866 §3, RFC 5176 §2.3); every response carries the Response
    /// Authenticator computed over the request's authenticator (RFC 2865 §3).
    pub const fn authenticator_kind(self) -> AuthenticatorKind {
        match self {
            Code::AccessRequest | Code::StatusServer => AuthenticatorKind::Random,
            Code::AccountingRequest | Code::DisconnectRequest | Code::CoaRequest => {
                AuthenticatorKind::RequestDigest
            }
            Code::AccessAccept
            | Code::AccessReject
            | Code::AccessChallenge
            | Code::AccountingResponse
            | Code::DisconnectAck
            | Code::DisconnectNak
            | Code::CoaAck
            | Code::CoaNak
            | Code::ProtocolError => AuthenticatorKind::Response,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the Authenticator field of a packet is computed; see [`Code::authenticator_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorKind {
    /// A random, unpredictable nonce chosen by the client.
    Random,
    /// MD5(Code | Identifier | Length | 16 zero octets | Attributes | Secret).
    RequestDigest,
    /// MD5(Code | Identifier | Length | Request Authenticator | Attributes | Secret).
    Response,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_values_are_refused() {
        for code in Code::ALL {
            assert_eq!(Code::from_u8(code.as_u8()), Some(code));
        }
        let known: Vec<u8> = Code::ALL.iter().map(|c| c.as_u8()).collect();
        for value in 0..=u8::MAX {
            assert_eq!(
                Code::from_u8(value).is_some(),
                known.contains(&value),
                "{value}"
            );
        }
    }

    #[test]
    fn requests_and_their_authenticators() {
        assert!(Code::AccessRequest.is_request());
        assert!(!Code::AccessAccept.is_request());
        assert_eq!(
            Code::CoaRequest.authenticator_kind(),
            AuthenticatorKind::RequestDigest
        );
        assert_eq!(
            Code::StatusServer.authenticator_kind(),
            AuthenticatorKind::Random
        );
        assert_eq!(
            Code::DisconnectNak.authenticator_kind(),
            AuthenticatorKind::Response
        );
        assert_eq!(Code::CoaNak.to_string(), "CoA-NAK");
        assert_eq!(Code::from_u8(52), Some(Code::ProtocolError));
        assert!(!Code::ProtocolError.is_request());
        assert_eq!(
            Code::ProtocolError.authenticator_kind(),
            AuthenticatorKind::Response
        );
    }
}
