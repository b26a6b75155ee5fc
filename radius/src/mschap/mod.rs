//! MS-CHAP, server side: MS-CHAPv1 (RFC 2433), MS-CHAPv2 (RFC 2759) and the MPPE keys
//! derived from them (RFC 3079), as carried in RADIUS by the Microsoft vendor-specific
//! attributes of RFC 2548.
//!
//! | module | what it implements |
//! | --- | --- |
//! | this one | errors, credentials, the NT hash and its hash (RFC 2759 §8.3, §8.4) |
//! | `values` | the attribute values: responses, challenges, success and error (RFC 2548) |
//! | `v1` | the MS-CHAPv1 response and its check (RFC 2433 Appendix A) |
//! | `v2` | the MS-CHAPv2 response, its check and the authenticator response (RFC 2759 §8) |
//! | `mppe` | the MPPE keys of both versions (RFC 3079, RFC 2548 §2.4) |
//!
//! Everything is re-exported here, as `proisp_radius::mschap::*`.
//!
//! Everything here is a pure function of octets: the caller pulls MS-CHAP-Challenge and
//! MS-CHAP(2)-Response out of the request, fetches the subscriber's clear-text password or
//! stored NT hash, and gets back the attribute values for the reply. Fresh challenges for
//! MS-CHAP-Error come from the caller, so nothing here needs a random source either.
//!
//! An MS-CHAPv2 Access-Request is answered like this:
//!
//! ```
//! use proisp_radius::mschap::{self, Credential, ErrorCode};
//!
//! # fn reply(challenge_attr: &[u8], response_attr: &[u8], user_name: &[u8], fresh: &[u8; 16])
//! #     -> Result<(), mschap::Error> {
//! let challenge = mschap::challenge_v2(challenge_attr)?;
//! let response = mschap::Chap2Response::parse(response_attr)?;
//! let credential = Credential::Password(b"clientPass");
//! match mschap::verify_v2(challenge, response.peer_challenge, user_name,
//!                         response.nt_response, credential)? {
//!     Some(nt_hash) => {
//!         let s = mschap::authenticator_response(&nt_hash, response.nt_response,
//!                                                response.peer_challenge, challenge, user_name);
//!         let _ms_chap2_success = mschap::success_value(response.ident, &s);
//!         let keys = mschap::mppe_keys_v2(&nt_hash, response.nt_response);
//!         let (_ms_mppe_send_key, _ms_mppe_recv_key) = (keys.send, keys.recv);
//!     }
//!     None => {
//!         let _ms_chap_error = mschap::error_value_v2(response.ident,
//!             ErrorCode::AuthenticationFailure, false, fresh, "Authentication failed");
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The MPPE key attributes are returned in clear: their encryption needs the shared secret
//! and the Request Authenticator and lives in [`crate::password`] (salted for
//! MS-MPPE-Send-Key and MS-MPPE-Recv-Key, RFC 2548 §2.4.2; hidden like User-Password for
//! MS-CHAP-MPPE-Keys, RFC 2548 §2.4.1).
//!
//! Password-derived values (NT hashes, master keys, session keys) are wiped when dropped and
//! never appear in `Debug` output. The hash and cipher crates' internal states are not
//! wiped (their `zeroize` features are off), so this narrows, rather than closes, the window
//! in which a copy of a secret sits in memory.

mod mppe;
#[cfg(test)]
mod test_vectors;
mod v1;
mod v2;
mod values;

use std::fmt;
use std::ops::Deref;

use md4::{Digest, Md4};
use zeroize::Zeroize;

pub use mppe::{
    ChapMppeKeys, KeyDirection, MppeKeys, asymmetric_start_key, master_key, mppe_keys_v1,
    mppe_keys_v2,
};
pub use v1::{nt_challenge_response, verify_v1};
pub use v2::{
    authenticator_response, challenge_hash, generate_nt_response, strip_domain, verify_v2,
};
pub use values::{
    Chap2Response, ChapResponse, ErrorCode, challenge_v1, challenge_v2, error_value_v1,
    error_value_v2, success_value,
};

/// The longest value a Microsoft vendor-specific attribute can carry: 255 octets of RADIUS
/// attribute, less Type and Length (2), Vendor-Id (4), Vendor-Type and Vendor-Length (2)
/// (RFC 2548 §2).
pub const MAX_VALUE_LEN: usize = 247;

/// Octets in an MS-CHAP-Response or MS-CHAP2-Response value (RFC 2548 §2.1.2, §2.3.2).
pub const RESPONSE_LEN: usize = 50;

/// Octets in an MS-CHAP2-Success value: Ident plus the 42-octet authenticator response
/// (RFC 2548 §2.3.3).
pub const SUCCESS_LEN: usize = 43;

/// Why an MS-CHAP attribute or credential cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An attribute value has the wrong length for its fixed layout.
    #[error("{attr} value is {len} octets, expected {expected}")]
    BadLength {
        /// The attribute's name as RFC 2548 spells it.
        attr: &'static str,
        /// Octets received.
        len: usize,
        /// Octets the layout requires.
        expected: usize,
    },
    /// The stored clear-text password is not UTF-8, so its UTF-16 form (the input of the NT
    /// hash) is unknown. Guessing an encoding would authenticate against a password the
    /// subscriber never set, so this is a configuration error, not a failed login.
    #[error("stored password is not valid UTF-8")]
    PasswordNotUtf8,
    /// An MS-CHAP-Response whose Flags say only the LM-Response is valid (RFC 2548 §2.1.2).
    /// LAN Manager responses are not supported: the LM hash is crackable in minutes.
    #[error("MS-CHAP-Response carries no NT-Response (Flags bit 0 is clear)")]
    LmResponseOnly,
}

impl Error {
    /// A short, fixed label for metrics, so a failed request never formats a string.
    pub const fn reason(&self) -> &'static str {
        match self {
            Error::BadLength { .. } => "mschap_bad_length",
            Error::PasswordNotUtf8 => "mschap_password_not_utf8",
            Error::LmResponseOnly => "mschap_lm_only",
        }
    }
}

/// Defines a 16-octet secret: wiped on drop, redacted in `Debug`, and dereferencing to
/// `[u8; 16]` so it can be passed wherever the RFC functions take a plain hash.
macro_rules! secret16 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name([u8; 16]);

        impl $name {
            /// The octets.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl From<[u8; 16]> for $name {
            fn from(octets: [u8; 16]) -> Self {
                $name(octets)
            }
        }

        impl Deref for $name {
            type Target = [u8; 16];

            fn deref(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret16! {
    /// The NT password hash: MD4 of the password in UTF-16LE (RFC 2759 §8.3
    /// NtPasswordHash, RFC 2433 Appendix A). It is as good as the password for MS-CHAP,
    /// which is why it is wiped and never printed.
    NtHash
}

secret16! {
    /// MD4 of the NT hash (RFC 2759 §8.4 HashNtPasswordHash): the root of the
    /// authenticator response and of every MPPE key.
    NtHashHash
}

secret16! {
    /// The MPPE master key derived from an MS-CHAPv2 exchange (RFC 3079 §3.4 GetMasterKey).
    MasterKey
}

/// What the server knows about the subscriber's password.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// The clear-text password as UTF-8 octets.
    Password(&'a [u8]),
    /// A stored NT hash (FreeRADIUS's NT-Password), so the clear text need not be kept.
    NtHash(&'a [u8; 16]),
}

impl Credential<'_> {
    /// The NT hash of this credential.
    pub fn nt_hash(&self) -> Result<NtHash, Error> {
        match self {
            Credential::Password(password) => nt_password_hash(password),
            Credential::NtHash(hash) => Ok(NtHash(**hash)),
        }
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Password(<redacted>)",
            Credential::NtHash(_) => "NtHash(<redacted>)",
        })
    }
}

/// NtPasswordHash (RFC 2759 §8.3, RFC 2433 Appendix A): MD4 of the password in UTF-16LE.
///
/// The password arrives as UTF-8 (how RADIUS and the database hold text) and is re-encoded
/// as the UTF-16 a Windows peer hashes, surrogate pairs included. Invalid UTF-8 is refused
/// with [`Error::PasswordNotUtf8`] rather than read as Latin-1: FreeRADIUS refuses it too,
/// and a guessed encoding would silently accept a password nobody chose. RFC 2759 caps
/// passwords at 256 characters; a longer stored one is hashed anyway: no peer can answer
/// for it, so it simply never matches, and refusing would turn that into an error.
pub fn nt_password_hash(password: &[u8]) -> Result<NtHash, Error> {
    let password = std::str::from_utf8(password).map_err(|_| Error::PasswordNotUtf8)?;
    let mut md4 = Md4::new();
    // One code unit at a time, so no UTF-16 copy of the password is left behind.
    for unit in password.encode_utf16() {
        md4.update(unit.to_le_bytes());
    }
    Ok(NtHash(md4.finalize().into()))
}

/// HashNtPasswordHash (RFC 2759 §8.4): MD4 of the NT hash.
pub fn hash_nt_password_hash(nt_hash: &[u8; 16]) -> NtHashHash {
    NtHashHash(Md4::digest(nt_hash).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_encoding() {
        assert_eq!(
            nt_password_hash(b"clientPass\xff").unwrap_err(),
            Error::PasswordNotUtf8
        );
        assert_eq!(
            Credential::Password(b"\xc3").nt_hash().unwrap_err(),
            Error::PasswordNotUtf8
        );
        // MD4 of nothing: the empty password is legal and hashes the empty string.
        assert_eq!(
            *nt_password_hash(b"").unwrap(),
            hex::decode("31d6cfe0d16ae931b73c59d7e0c089c0").unwrap()[..]
        );
        // Non-ASCII: "€" is U+20AC, UTF-16LE AC 20; beyond the BMP a surrogate pair.
        assert_eq!(
            *nt_password_hash("€".as_bytes()).unwrap(),
            Md4::digest([0xac, 0x20])[..]
        );
        assert_eq!(
            *nt_password_hash("𝄞".as_bytes()).unwrap(),
            Md4::digest([0x34, 0xd8, 0x1e, 0xdd])[..]
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let nt_hash = nt_password_hash(b"clientPass").unwrap();
        let keys = mppe_keys_v2(&nt_hash, &[0; 24]);
        let printed = format!(
            "{nt_hash:?} {:?} {:?} {keys:?} {:?} {:?} {:?}",
            hash_nt_password_hash(&nt_hash),
            master_key(&nt_hash, &[0; 24]),
            mppe_keys_v1(&nt_hash),
            Credential::Password(b"clientPass"),
            Credential::NtHash(&nt_hash),
        );
        assert!(printed.contains("redacted"));
        assert!(!printed.contains("clientPass"));
        // None of the type names has a digit, so any digit would be a leaked octet.
        assert!(!printed.chars().any(|c| c.is_ascii_digit()), "{printed}");
    }
}
