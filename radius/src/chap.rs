//! CHAP verification (RFC 2865 §2.2, §5.3, §5.40; RFC 1994 §4.1).
//!
//! The NAS runs CHAP with the peer and forwards the result: CHAP-Password holds the CHAP
//! Identifier and the 16-octet MD5 response; the challenge is the CHAP-Challenge attribute
//! when present and otherwise the Request Authenticator (RFC 2865 §2.2), which is what
//! MikroTik sends when the challenge is 16 octets long. RADIUS/1.1 has no Request
//! Authenticator, so there CHAP-Challenge is required (RFC 9765 §5.1.2).
//!
//! ```text
//! CHAP-Password value:  | CHAP Ident (1) | Response = MD5(Ident | Password | Challenge) (16) |
//! ```

use md5::{Digest, Md5};

use crate::authenticator::ct_eq;
use crate::dictionary::attr::CHAP_CHALLENGE;
use crate::packet::Packet;
use crate::profile::Profile;

/// Octets in a CHAP-Password value.
pub const CHAP_PASSWORD_LEN: usize = 17;

/// Why a CHAP exchange cannot be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChapError {
    /// CHAP-Password is not 17 octets.
    #[error("CHAP-Password of {len} octets, expected 17")]
    BadLength {
        /// Octets in the value.
        len: usize,
    },
    /// CHAP-Challenge is empty (RFC 2865 §5.40 requires at least 5 octets; only an empty
    /// one is refused, since short ones do occur in the field).
    #[error("empty CHAP-Challenge")]
    EmptyChallenge,
    /// A RADIUS/1.1 Access-Request with CHAP-Password but no CHAP-Challenge: there is no
    /// Request Authenticator to fall back on (RFC 9765 §5.1.2).
    #[error("CHAP-Password without CHAP-Challenge over RADIUS/1.1")]
    MissingChallenge,
}

/// The response a peer with `password` computes: MD5(Ident | Password | Challenge).
pub fn response(ident: u8, password: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([ident]);
    h.update(password);
    h.update(challenge);
    h.finalize().into()
}

/// The challenge of a CHAP Access-Request: CHAP-Challenge, or else the Request
/// Authenticator.
pub fn challenge<'a>(packet: &Packet<'a>) -> Result<&'a [u8], ChapError> {
    match packet.value(CHAP_CHALLENGE) {
        Some([]) => Err(ChapError::EmptyChallenge),
        Some(c) => Ok(c),
        None => Ok(packet.authenticator()),
    }
}

/// The challenge of a CHAP Access-Request received in `profile`: [`challenge`] for classic
/// RADIUS; under RADIUS/1.1 only CHAP-Challenge, since the Authenticator field holds the
/// Token and zeros (RFC 9765 §5.1.2).
pub fn challenge_with<'a>(profile: Profile, packet: &Packet<'a>) -> Result<&'a [u8], ChapError> {
    match (profile, packet.value(CHAP_CHALLENGE)) {
        (Profile::Classic, _) => challenge(packet),
        (Profile::Radius11, None) => Err(ChapError::MissingChallenge),
        (Profile::Radius11, Some([])) => Err(ChapError::EmptyChallenge),
        (Profile::Radius11, Some(c)) => Ok(c),
    }
}

/// Checks a CHAP-Password value against the clear-text password, in constant time.
pub fn verify(chap_password: &[u8], challenge: &[u8], password: &[u8]) -> Result<bool, ChapError> {
    let Some((&ident, got)) = chap_password.split_first() else {
        return Err(ChapError::BadLength { len: 0 });
    };
    if chap_password.len() != CHAP_PASSWORD_LEN {
        return Err(ChapError::BadLength {
            len: chap_password.len(),
        });
    }
    Ok(ct_eq(&response(ident, password, challenge), got))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_right_and_refuses_wrong_passwords() {
        let challenge = b"0123456789abcdef";
        let mut value = vec![0x16];
        value.extend_from_slice(&response(0x16, b"secret-pw", challenge));
        assert_eq!(verify(&value, challenge, b"secret-pw"), Ok(true));
        assert_eq!(verify(&value, challenge, b"secret-px"), Ok(false));
        assert_eq!(verify(&value, b"other-challenge!", b"secret-pw"), Ok(false));
        value[0] = 0x17;
        assert_eq!(verify(&value, challenge, b"secret-pw"), Ok(false));
        assert_eq!(
            verify(&value[..16], challenge, b"x"),
            Err(ChapError::BadLength { len: 16 })
        );
        assert_eq!(
            verify(&[], challenge, b"x"),
            Err(ChapError::BadLength { len: 0 })
        );
    }

    fn request(attrs: &[u8]) -> Vec<u8> {
        let mut p = vec![1, 0, 0, (20 + attrs.len()) as u8];
        p.extend_from_slice(&[0, 0, 0, 9]);
        p.extend_from_slice(&[0; 12]);
        p.extend_from_slice(attrs);
        p
    }

    #[test]
    fn radius11_takes_the_challenge_only_from_chap_challenge() {
        let without = request(&[3, 19, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::decode(&without).unwrap();
        assert_eq!(
            challenge_with(Profile::Classic, &p),
            Ok(p.authenticator().as_slice())
        );
        assert_eq!(
            challenge_with(Profile::Radius11, &p),
            Err(ChapError::MissingChallenge)
        );
        let with = request(&[60, 7, b'c', b'h', b'a', b'l', b'l']);
        let p = Packet::decode(&with).unwrap();
        for profile in [Profile::Classic, Profile::Radius11] {
            assert_eq!(challenge_with(profile, &p), Ok(&b"chall"[..]));
        }
        let empty = request(&[60, 2]);
        let p = Packet::decode(&empty).unwrap();
        assert_eq!(
            challenge_with(Profile::Radius11, &p),
            Err(ChapError::EmptyChallenge)
        );
    }
}
