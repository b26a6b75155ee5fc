//! Transport profiles: classic RADIUS and RADIUS/1.1 (RFC 9765).
//!
//! Inside TLS, client and server may agree through ALPN (RFC 7301) on RADIUS/1.1, which
//! keeps the packet and attribute layout but drops everything MD5 does: the Identifier and
//! the Authenticator field give way to a 32-bit Token that matches a reply to its request,
//! nothing is signed, and attributes that classic RADIUS hides with the shared secret are
//! sent as their plain values, since TLS already protects them (RFC 9765 §4, §5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Reserved-1   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                             Token                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! |                           Reserved-2                          |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attributes ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! Reserved-1 (the old Identifier) and Reserved-2 are sent as zeros and ignored on receipt
//! (RFC 9765 §4.1), so [`Packet::decode`](crate::packet::Packet::decode) serves both
//! profiles unchanged. What differs, and where the codec handles it:
//!
//! | RFC 9765 | classic | RADIUS/1.1 | in this crate |
//! | --- | --- | --- | --- |
//! | §4.1, §4.2 | Identifier + Authenticator | Token, copied into the reply | [`Packet::token`](crate::packet::Packet::token), [`Encoder::reply_with`](crate::encode::Encoder::reply_with), [`Encoder::radius11`](crate::encode::Encoder::radius11) |
//! | §4.1 | Request/Response Authenticators | none: TLS authenticates | [`Profile::signs_packets`], [`Encoder::finish`](crate::encode::Encoder::finish), [`sign_replies_with`](crate::authenticator::sign_replies_with) |
//! | §5.2 | Message-Authenticator | never sent, ignored if received | [`Encoder::message_authenticator`](crate::encode::Encoder::message_authenticator) is a no-op |
//! | §5.1.1 | User-Password hidden | plain, 1–128 octets | [`password::unhide_with`](crate::password::unhide_with), [`password::hide_with`](crate::password::hide_with) |
//! | §5.1.2 | CHAP challenge may be the Request Authenticator | CHAP-Challenge required | [`chap::challenge_with`](crate::chap::challenge_with) |
//! | §5.1.3 | Tunnel-Password: Tag, Salt, hidden length and value | Tag, then the password | [`password::tunnel_password_encrypt_with`](crate::password::tunnel_password_encrypt_with) |
//! | §5.1.4 | MS-MPPE-Send/Recv-Key salted; MS-CHAP-MPPE-Keys hidden | plain | [`password::mppe_key_encrypt_with`](crate::password::mppe_key_encrypt_with), [`password::hide_with`](crate::password::hide_with) |
//! | §6.1 | — | Protocol-Error with Error-Cause when a request cannot be processed | [`Code::ProtocolError`](crate::header::Code::ProtocolError) |

use std::fmt;

/// The ALPN protocol name of classic RADIUS inside TLS (RFC 9765 §3.1): what RFC 6614
/// RADIUS/TLS speaks, also when the client offers no ALPN at all.
pub const ALPN_RADIUS_1_0: &[u8] = b"radius/1.0";

/// The ALPN protocol name of RADIUS/1.1 (RFC 9765 §3.1).
pub const ALPN_RADIUS_1_1: &[u8] = b"radius/1.1";

/// Octets in the Token field.
pub const TOKEN_LEN: usize = 4;

/// Offset of the Token field: where classic RADIUS has its Authenticator.
pub(crate) const TOKEN_OFFSET: usize = 4;

/// How packets on a connection are framed and protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// RADIUS as in RFC 2865: over UDP, and inside TLS when ALPN chose "radius/1.0" or
    /// nothing.
    #[default]
    Classic,
    /// RADIUS/1.1 (RFC 9765), only ever inside TLS after ALPN chose "radius/1.1".
    Radius11,
}

impl Profile {
    /// The profile a TLS connection speaks, from the ALPN protocol its handshake chose:
    /// classic without one (RFC 9765 §3.1: RADIUS/1.1 is used only when negotiated),
    /// `None` for a name this codec does not speak.
    pub fn from_alpn(protocol: Option<&[u8]>) -> Option<Profile> {
        match protocol {
            None => Some(Profile::Classic),
            Some(p) if p == ALPN_RADIUS_1_0 => Some(Profile::Classic),
            Some(p) if p == ALPN_RADIUS_1_1 => Some(Profile::Radius11),
            Some(_) => None,
        }
    }

    /// The ALPN protocol name that selects this profile.
    pub const fn alpn(self) -> &'static [u8] {
        match self {
            Profile::Classic => ALPN_RADIUS_1_0,
            Profile::Radius11 => ALPN_RADIUS_1_1,
        }
    }

    /// Whether packets carry MD5 authenticators and a Message-Authenticator made with the
    /// shared secret. False for RADIUS/1.1, where TLS authenticates every packet: a
    /// receiver skips [`verify_request_digest`](crate::authenticator::verify_request_digest)
    /// and the Message-Authenticator checks, and requires no Message-Authenticator
    /// (RFC 9765 §4.1, §5.2).
    pub const fn signs_packets(self) -> bool {
        matches!(self, Profile::Classic)
    }

    /// The name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Classic => "radius/1.0",
            Profile::Radius11 => "radius/1.1",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_selects_the_profile() {
        assert_eq!(Profile::from_alpn(None), Some(Profile::Classic));
        assert_eq!(
            Profile::from_alpn(Some(b"radius/1.0")),
            Some(Profile::Classic)
        );
        assert_eq!(
            Profile::from_alpn(Some(b"radius/1.1")),
            Some(Profile::Radius11)
        );
        assert_eq!(Profile::from_alpn(Some(b"radius/1.2")), None);
        assert_eq!(Profile::from_alpn(Some(b"h2")), None);
        for p in [Profile::Classic, Profile::Radius11] {
            assert_eq!(Profile::from_alpn(Some(p.alpn())), Some(p));
            assert_eq!(p.to_string().as_bytes(), p.alpn());
        }
        // RFC 9765, IANA Considerations: the registered octet sequence.
        assert_eq!(
            ALPN_RADIUS_1_1,
            &[0x72, 0x61, 0x64, 0x69, 0x75, 0x73, 0x2f, 0x31, 0x2e, 0x31]
        );
        assert!(Profile::Classic.signs_packets());
        assert!(!Profile::Radius11.signs_packets());
        assert_eq!(Profile::default(), Profile::Classic);
    }
}
