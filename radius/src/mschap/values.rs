//! The MS-CHAP attribute values of RFC 2548: the responses and challenges a request
//! carries, and the success and error values a reply carries.

use super::{Error, MAX_VALUE_LEN, RESPONSE_LEN, SUCCESS_LEN};

/// The MS-CHAP2-Response value (RFC 2548 §2.3.2), borrowed from the request.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Ident     |     Flags     |   Peer-Challenge (16) ...
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     ... |   Reserved (8) ...    |   Response (24) ...
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Flags and Reserved "MUST be zero" but are not checked: FreeRADIUS ignores them too, and
/// refusing a login over a reserved octet helps nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chap2Response<'a> {
    /// The PPP CHAP Identifier, echoed in MS-CHAP2-Success and MS-CHAP-Error.
    pub ident: u8,
    /// Reserved (RFC 2759 §4).
    pub flags: u8,
    /// The peer's random challenge, an input of ChallengeHash (RFC 2759 §8.2).
    pub peer_challenge: &'a [u8; 16],
    /// Reserved, zero in practice.
    pub reserved: &'a [u8; 8],
    /// The NT-Response (RFC 2759 §8.1).
    pub nt_response: &'a [u8; 24],
}

impl<'a> Chap2Response<'a> {
    /// Splits an MS-CHAP2-Response value, which must be exactly 50 octets.
    pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let bad = Error::BadLength {
            attr: "MS-CHAP2-Response",
            len: value.len(),
            expected: RESPONSE_LEN,
        };
        if value.len() != RESPONSE_LEN {
            return Err(bad);
        }
        match (chunk(value, 2), chunk(value, 18), chunk(value, 26)) {
            (Some(peer_challenge), Some(reserved), Some(nt_response)) => Ok(Chap2Response {
                ident: value[0],
                flags: value[1],
                peer_challenge,
                reserved,
                nt_response,
            }),
            _ => Err(bad),
        }
    }
}

/// The MS-CHAP-Response value of MS-CHAPv1 (RFC 2548 §2.1.2), borrowed from the request.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Ident     |     Flags     |   LM-Response (24) ...
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     ... |   NT-Response (24) ...
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChapResponse<'a> {
    /// The PPP CHAP Identifier, echoed in MS-CHAP-Error.
    pub ident: u8,
    /// Bit 0 set: the NT-Response is valid and preferred (RFC 2548 §2.1.2).
    pub flags: u8,
    /// The LAN Manager response; all zeros from any client of this century.
    pub lm_response: &'a [u8; 24],
    nt_response: &'a [u8; 24],
}

impl<'a> ChapResponse<'a> {
    /// Splits an MS-CHAP-Response value, which must be exactly 50 octets.
    pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let bad = Error::BadLength {
            attr: "MS-CHAP-Response",
            len: value.len(),
            expected: RESPONSE_LEN,
        };
        if value.len() != RESPONSE_LEN {
            return Err(bad);
        }
        match (chunk(value, 2), chunk(value, 26)) {
            (Some(lm_response), Some(nt_response)) => Ok(ChapResponse {
                ident: value[0],
                flags: value[1],
                lm_response,
                nt_response,
            }),
            _ => Err(bad),
        }
    }

    /// The NT-Response, if the Flags say it is the one to use. FreeRADIUS tests only bit 0
    /// of Flags, and so does this.
    pub fn nt_response(&self) -> Result<&'a [u8; 24], Error> {
        if self.flags & 0x01 == 0 {
            return Err(Error::LmResponseOnly);
        }
        Ok(self.nt_response)
    }
}

/// The MS-CHAP-Challenge value for MS-CHAPv2: the 16-octet authenticator challenge
/// (RFC 2548 MS-CHAP-Challenge, Vendor-Type 11; RFC 2759 §3).
pub fn challenge_v2(value: &[u8]) -> Result<&[u8; 16], Error> {
    value.try_into().map_err(|_| Error::BadLength {
        attr: "MS-CHAP-Challenge",
        len: value.len(),
        expected: 16,
    })
}

/// The MS-CHAP-Challenge value for MS-CHAPv1: an 8-octet challenge (RFC 2548
/// MS-CHAP-Challenge, Vendor-Type 11; RFC 2433, Challenge Packet).
pub fn challenge_v1(value: &[u8]) -> Result<&[u8; 8], Error> {
    value.try_into().map_err(|_| Error::BadLength {
        attr: "MS-CHAP-Challenge",
        len: value.len(),
        expected: 8,
    })
}

/// The MS-CHAP2-Success value (RFC 2548 §2.3.3): the Ident of the response followed by the
/// 42-octet authenticator response from [`authenticator_response`](super::authenticator_response).
pub fn success_value(ident: u8, authenticator_response: &[u8; 42]) -> [u8; SUCCESS_LEN] {
    let mut value = [0; SUCCESS_LEN];
    value[0] = ident;
    value[1..].copy_from_slice(authenticator_response);
    value
}

/// The error codes of an MS-CHAP failure (RFC 2759 §6, RFC 2433 Failure Packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 646 ERROR_RESTRICTED_LOGON_HOURS.
    RestrictedLogonHours,
    /// 647 ERROR_ACCT_DISABLED.
    AccountDisabled,
    /// 648 ERROR_PASSWD_EXPIRED.
    PasswordExpired,
    /// 649 ERROR_NO_DIALIN_PERMISSION.
    NoDialinPermission,
    /// 691 ERROR_AUTHENTICATION_FAILURE: wrong user name or password.
    AuthenticationFailure,
    /// 709 ERROR_CHANGING_PASSWORD.
    ChangingPassword,
}

impl ErrorCode {
    /// The decimal code sent after `E=`.
    pub const fn as_u16(self) -> u16 {
        match self {
            ErrorCode::RestrictedLogonHours => 646,
            ErrorCode::AccountDisabled => 647,
            ErrorCode::PasswordExpired => 648,
            ErrorCode::NoDialinPermission => 649,
            ErrorCode::AuthenticationFailure => 691,
            ErrorCode::ChangingPassword => 709,
        }
    }
}

/// The MS-CHAP-Error value for an MS-CHAPv2 failure (RFC 2548 §2.1.5, RFC 2759 §6):
/// Ident, then `E=691 R=0 C=<32 hex digits> V=3 M=<message>`.
///
/// This is the string FreeRADIUS's rlm_mschap sends: `R=1` lets the peer retry with
/// `new_challenge` as the next authenticator challenge, which only works if the NAS relays
/// it, so most deployments pass `retry = false`. `new_challenge` must be fresh random
/// octets even then, as RFC 2759 §6 expects a challenge in every failure. Its hex digits
/// are lower case like FreeRADIUS's (RFC 2759 fixes the case only for `S=`). `V=3` is the
/// password-change version MS-CHAPv2 peers expect. A message too long for the attribute is
/// cut at a character boundary so the value stays within [`MAX_VALUE_LEN`].
pub fn error_value_v2(
    ident: u8,
    code: ErrorCode,
    retry: bool,
    new_challenge: &[u8; 16],
    message: &str,
) -> Vec<u8> {
    let mut value = error_prefix(ident, code, retry);
    push_hex_lower(&mut value, new_challenge);
    value.extend_from_slice(b" V=3 M=");
    let room = MAX_VALUE_LEN.saturating_sub(value.len());
    let mut end = message.len().min(room);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    value.extend_from_slice(&message.as_bytes()[..end]);
    value
}

/// The MS-CHAP-Error value for an MS-CHAPv1 failure (RFC 2548 §2.1.5, RFC 2433 Failure Packet):
/// Ident, then `E=691 R=0 C=<16 hex digits> V=2`, as FreeRADIUS sends it. `V=2` announces
/// version 2 of the MS-CHAPv1 password change, the only one RFC 2433 still allows.
pub fn error_value_v1(ident: u8, code: ErrorCode, retry: bool, new_challenge: &[u8; 8]) -> Vec<u8> {
    let mut value = error_prefix(ident, code, retry);
    push_hex_lower(&mut value, new_challenge);
    value.extend_from_slice(b" V=2");
    value
}

fn error_prefix(ident: u8, code: ErrorCode, retry: bool) -> Vec<u8> {
    let mut value = Vec::with_capacity(64);
    value.push(ident);
    value.extend_from_slice(format!("E={} R={} C=", code.as_u16(), u8::from(retry)).as_bytes());
    value
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

fn push_hex_lower(out: &mut Vec<u8>, octets: &[u8]) {
    for octet in octets {
        out.push(HEX_LOWER[usize::from(octet >> 4)]);
        out.push(HEX_LOWER[usize::from(octet & 0x0f)]);
    }
}

/// `N` octets of `value` from `at`, or `None` past the end.
fn chunk<const N: usize>(value: &[u8], at: usize) -> Option<&[u8; N]> {
    value.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::mschap::*;

    #[test]
    fn parses_chap2_response() {
        let mut value = [0u8; 50];
        value[0] = 7;
        value[2..18].copy_from_slice(&[0x11; 16]);
        value[26..].copy_from_slice(&[0x22; 24]);
        let response = Chap2Response::parse(&value).unwrap();
        assert_eq!(response.ident, 7);
        assert_eq!(response.flags, 0);
        assert_eq!(response.peer_challenge, &[0x11; 16]);
        assert_eq!(response.reserved, &[0; 8]);
        assert_eq!(response.nt_response, &[0x22; 24]);

        for len in [0, 1, 49, 51, 253] {
            assert_eq!(
                Chap2Response::parse(&vec![0; len]),
                Err(Error::BadLength {
                    attr: "MS-CHAP2-Response",
                    len,
                    expected: 50
                })
            );
        }
    }

    #[test]
    fn parses_chap_response() {
        let mut value = [0u8; 50];
        value[0] = 3;
        value[1] = 1;
        value[2..26].copy_from_slice(&[0x33; 24]);
        value[26..].copy_from_slice(&[0x44; 24]);
        let response = ChapResponse::parse(&value).unwrap();
        assert_eq!(response.ident, 3);
        assert_eq!(response.lm_response, &[0x33; 24]);
        assert_eq!(response.nt_response(), Ok(&[0x44; 24]));

        value[1] = 0;
        let lm_only = ChapResponse::parse(&value).unwrap();
        assert_eq!(lm_only.nt_response(), Err(Error::LmResponseOnly));
        assert_eq!(Error::LmResponseOnly.reason(), "mschap_lm_only");

        assert_eq!(
            ChapResponse::parse(&value[..49]),
            Err(Error::BadLength {
                attr: "MS-CHAP-Response",
                len: 49,
                expected: 50
            })
        );
    }

    #[test]
    fn parses_challenges() {
        assert_eq!(challenge_v2(&[5; 16]), Ok(&[5; 16]));
        assert_eq!(challenge_v1(&[6; 8]), Ok(&[6; 8]));
        assert_eq!(
            challenge_v2(&[0; 8]),
            Err(Error::BadLength {
                attr: "MS-CHAP-Challenge",
                len: 8,
                expected: 16
            })
        );
        assert_eq!(
            challenge_v1(&[0; 16]),
            Err(Error::BadLength {
                attr: "MS-CHAP-Challenge",
                len: 16,
                expected: 8
            })
        );
        assert!(challenge_v2(&[]).is_err());
        assert_eq!(
            Error::BadLength {
                attr: "MS-CHAP-Challenge",
                len: 8,
                expected: 16
            }
            .to_string(),
            "MS-CHAP-Challenge value is 8 octets, expected 16"
        );
    }

    #[test]
    fn builds_success_value() {
        let s = *b"S=407A5589115FD0D6209F510FE9C04566932CDA56";
        let value = success_value(9, &s);
        assert_eq!(value.len(), SUCCESS_LEN);
        assert_eq!(value[0], 9);
        assert_eq!(value[1..], s);
    }

    #[test]
    fn builds_error_values_like_freeradius() {
        let challenge: [u8; 16] = core::array::from_fn(|i| (i * 17) as u8);
        let value = error_value_v2(
            4,
            ErrorCode::AuthenticationFailure,
            false,
            &challenge,
            "Authentication failed",
        );
        assert_eq!(value[0], 4);
        assert_eq!(
            String::from_utf8(value[1..].to_vec()).unwrap(),
            "E=691 R=0 C=00112233445566778899aabbccddeeff V=3 M=Authentication failed"
        );

        let value = error_value_v2(1, ErrorCode::PasswordExpired, true, &[0xab; 16], "");
        assert_eq!(
            String::from_utf8(value[1..].to_vec()).unwrap(),
            format!("E=648 R=1 C={} V=3 M=", "ab".repeat(16))
        );

        let value = error_value_v1(2, ErrorCode::AuthenticationFailure, false, &[0x0f; 8]);
        assert_eq!(value[0], 2);
        assert_eq!(
            String::from_utf8(value[1..].to_vec()).unwrap(),
            "E=691 R=0 C=0f0f0f0f0f0f0f0f V=2"
        );
    }

    #[test]
    fn long_error_message_is_cut_at_a_character_boundary() {
        let message = "é".repeat(200);
        let value = error_value_v2(
            0,
            ErrorCode::AuthenticationFailure,
            false,
            &[0; 16],
            &message,
        );
        assert!(value.len() <= MAX_VALUE_LEN);
        assert!(value.len() >= MAX_VALUE_LEN - 1);
        assert!(std::str::from_utf8(&value[1..]).is_ok());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(value in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Chap2Response::parse(&value);
            let _ = ChapResponse::parse(&value).map(|r| r.nt_response());
            let _ = challenge_v1(&value);
            let _ = challenge_v2(&value);
            let _ = nt_password_hash(&value);
            let _ = strip_domain(&value);
        }

        #[test]
        fn error_value_fits_any_message(message in "\\PC{0,300}") {
            let value = error_value_v2(0, ErrorCode::AuthenticationFailure, true, &[0; 16], &message);
            prop_assert!(value.len() <= MAX_VALUE_LEN);
            prop_assert!(std::str::from_utf8(&value[1..]).is_ok());
        }
    }
}
