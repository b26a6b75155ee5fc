//! MS-CHAP, server side: MS-CHAPv1 (RFC 2433), MS-CHAPv2 (RFC 2759) and the MPPE keys
//! derived from them (RFC 3079), as carried in RADIUS by the Microsoft vendor-specific
//! attributes of RFC 2548.
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

use std::fmt;
use std::ops::Deref;

use des::Des;
use des::cipher::{Array, BlockCipherEncrypt, KeyInit};
use md4::{Digest, Md4};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

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

// ---------------------------------------------------------------------------------------
// Attribute values (RFC 2548)
// ---------------------------------------------------------------------------------------

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
/// 42-octet authenticator response from [`authenticator_response`].
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

// ---------------------------------------------------------------------------------------
// MS-CHAPv2 (RFC 2759 §8)
// ---------------------------------------------------------------------------------------

/// The user name without a Windows domain prefix: `"BIGCO\\johndoe"` becomes `"johndoe"`.
///
/// RFC 2759 §4 lets the peer prefix its name with a domain and §8.2 hashes only the bare
/// name. Everything up to and including the first backslash goes, as FreeRADIUS's
/// `with_ntdomain_hack` (on by default) does.
pub fn strip_domain(user_name: &[u8]) -> &[u8] {
    match user_name.iter().position(|&b| b == b'\\') {
        Some(i) => &user_name[i + 1..],
        None => user_name,
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

/// ChallengeHash (RFC 2759 §8.2): the 8-octet challenge MS-CHAPv2 feeds to the
/// MS-CHAPv1 response function, SHA-1 of the two challenges and the user name.
///
/// `user_name` goes through [`strip_domain`] first, because §8.2 hashes the name "excluding
/// any prepended domain name" and every caller would otherwise have to remember to.
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 8] {
    let digest: [u8; 20] = Sha1::new()
        .chain_update(peer_challenge)
        .chain_update(authenticator_challenge)
        .chain_update(strip_domain(user_name))
        .finalize()
        .into();
    let mut challenge = [0; 8];
    challenge.copy_from_slice(&digest[..8]);
    challenge
}

/// GenerateNTResponse (RFC 2759 §8.1): what a peer that knows the password sends in the
/// Response field of MS-CHAP2-Response.
pub fn generate_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    nt_hash: &[u8; 16],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    nt_challenge_response(&challenge, nt_hash)
}

/// Checks an MS-CHAPv2 NT-Response against the subscriber's credential.
///
/// Returns the NT hash when the response matches, since [`authenticator_response`] and
/// [`mppe_keys_v2`] need it next, and `None` when it does not: the caller answers with
/// [`error_value_v2`]. The comparison is constant-time, so the timing of a reject says
/// nothing about how many octets of a forged response were right. `Err` means the
/// credential itself is unusable.
pub fn verify_v2(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    nt_response: &[u8; 24],
    credential: Credential<'_>,
) -> Result<Option<NtHash>, Error> {
    let nt_hash = credential.nt_hash()?;
    let expected =
        generate_nt_response(authenticator_challenge, peer_challenge, user_name, &nt_hash);
    Ok(bool::from(expected.ct_eq(nt_response)).then_some(nt_hash))
}

/// GenerateAuthenticatorResponse (RFC 2759 §8.7): the `S=` string that proves to the peer
/// that the server, too, knows the password. Forty upper-case hex digits follow `S=`, as
/// RFC 2759 §5 requires.
///
/// Only call it after [`verify_v2`] succeeded: it is computed from the peer's NT-Response,
/// and answering an unverified one would hand out a value tied to the password.
pub fn authenticator_response(
    nt_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 42] {
    // RFC 2759 §8.7 gives these as octet arrays; they are the ASCII of these sentences.
    const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
    const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

    let hash_hash = hash_nt_password_hash(nt_hash);
    let digest: Zeroizing<[u8; 20]> = Zeroizing::new(
        Sha1::new()
            .chain_update(hash_hash.as_bytes())
            .chain_update(nt_response)
            .chain_update(MAGIC1)
            .finalize()
            .into(),
    );
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    let digest: [u8; 20] = Sha1::new()
        .chain_update(digest.as_slice())
        .chain_update(challenge)
        .chain_update(MAGIC2)
        .finalize()
        .into();

    let mut response = [0; 42];
    response[0] = b'S';
    response[1] = b'=';
    for (i, octet) in digest.iter().enumerate() {
        response[2 + 2 * i] = HEX_UPPER[usize::from(octet >> 4)];
        response[3 + 2 * i] = HEX_UPPER[usize::from(octet & 0x0f)];
    }
    response
}

// ---------------------------------------------------------------------------------------
// MPPE keys from MS-CHAPv2 (RFC 3079 §3)
// ---------------------------------------------------------------------------------------

/// The two 128-bit MPPE start keys of an MS-CHAPv2 session, from the server's side.
///
/// `send` encrypts server-to-client traffic and goes into MS-MPPE-Send-Key; `recv` goes
/// into MS-MPPE-Recv-Key (RFC 2548 §2.4.2, §2.4.3). The attributes are named from the
/// NAS's point of view, and the NAS is the server end of the PPP link, so this is the
/// assignment FreeRADIUS makes and [MS-CHAP] §3.1.5.1 prescribes.
#[derive(Clone)]
pub struct MppeKeys {
    /// The server's send key (Magic3): MS-MPPE-Send-Key.
    pub send: [u8; 16],
    /// The server's receive key (Magic2): MS-MPPE-Recv-Key.
    pub recv: [u8; 16],
}

impl Drop for MppeKeys {
    fn drop(&mut self) {
        self.send.zeroize();
        self.recv.zeroize();
    }
}

impl fmt::Debug for MppeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MppeKeys { send: <redacted>, recv: <redacted> }")
    }
}

/// Which way traffic flows under an MPPE key.
///
/// RFC 3079 §3.4 selects the constant from two flags, IsSend and IsServer; a key is really
/// named by its direction, which both ends agree on: the server's send key is the client's
/// receive key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyDirection {
    /// Server to client: the server's send key, the client's receive key (Magic3).
    ServerToClient,
    /// Client to server: the client's send key, the server's receive key (Magic2).
    ClientToServer,
}

/// GetMasterKey (RFC 3079 §3.4): the first 16 octets of SHA-1 over the NT hash hash, the
/// NT-Response and a constant.
pub fn master_key(nt_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> MasterKey {
    const MAGIC1: &[u8; 27] = b"This is the MPPE Master Key";
    let digest: Zeroizing<[u8; 20]> = Zeroizing::new(
        Sha1::new()
            .chain_update(nt_hash_hash)
            .chain_update(nt_response)
            .chain_update(MAGIC1)
            .finalize()
            .into(),
    );
    let mut key = MasterKey([0; 16]);
    key.0.copy_from_slice(&digest[..16]);
    key
}

/// GetAsymmetricStartKey (RFC 3079 §3.4) for a 128-bit key: SHA-1 over the master key,
/// 40 zero octets, the direction's constant and 40 octets of 0xF2, cut to 16 octets.
///
/// The result is returned bare because it is what the caller puts in an attribute; wrap
/// it if it is kept.
pub fn asymmetric_start_key(master_key: &[u8; 16], direction: KeyDirection) -> [u8; 16] {
    const SHS_PAD1: [u8; 40] = [0x00; 40];
    const SHS_PAD2: [u8; 40] = [0xf2; 40];
    const MAGIC2: &[u8; 84] =
        b"On the client side, this is the send key; on the server side, it is the receive key.";
    const MAGIC3: &[u8; 84] =
        b"On the client side, this is the receive key; on the server side, it is the send key.";

    let magic = match direction {
        KeyDirection::ServerToClient => MAGIC3,
        KeyDirection::ClientToServer => MAGIC2,
    };
    let digest: Zeroizing<[u8; 20]> = Zeroizing::new(
        Sha1::new()
            .chain_update(master_key)
            .chain_update(SHS_PAD1)
            .chain_update(magic)
            .chain_update(SHS_PAD2)
            .finalize()
            .into(),
    );
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The MS-MPPE-Send-Key and MS-MPPE-Recv-Key plaintexts for a verified MS-CHAPv2 login
/// (RFC 3079 §3.3 with 128-bit keys; FreeRADIUS's `mppe_chap2_gen_keys128`).
///
/// Only 128-bit start keys are derived: a NAS negotiating 40- or 56-bit MPPE cuts them
/// down itself (RFC 3079 §3.1, §3.2), from the same RADIUS attributes.
pub fn mppe_keys_v2(nt_hash: &[u8; 16], nt_response: &[u8; 24]) -> MppeKeys {
    let master = master_key(&hash_nt_password_hash(nt_hash), nt_response);
    MppeKeys {
        send: asymmetric_start_key(&master, KeyDirection::ServerToClient),
        recv: asymmetric_start_key(&master, KeyDirection::ClientToServer),
    }
}

// ---------------------------------------------------------------------------------------
// MS-CHAPv1 (RFC 2433 Appendix A)
// ---------------------------------------------------------------------------------------

/// ChallengeResponse (RFC 2759 §8.5; NtChallengeResponse in RFC 2433 Appendix A): the NT
/// hash, zero-padded to 21 octets, is cut into three 7-octet DES keys, each of which
/// encrypts the 8-octet challenge.
///
/// This is the whole of MS-CHAPv1's NT-Response, and the core of MS-CHAPv2's.
pub fn nt_challenge_response(challenge: &[u8; 8], nt_hash: &[u8; 16]) -> [u8; 24] {
    let mut padded = Zeroizing::new([0u8; 21]);
    padded[..16].copy_from_slice(nt_hash);
    let mut response = [0; 24];
    for (key, out) in padded.chunks_exact(7).zip(response.chunks_exact_mut(8)) {
        let mut key7 = Zeroizing::new([0u8; 7]);
        key7.copy_from_slice(key);
        out.copy_from_slice(&des_encrypt(challenge, &key7));
    }
    response
}

/// Checks an MS-CHAPv1 NT-Response ([`ChapResponse::nt_response`]) in constant time.
/// Returns the NT hash on a match, for [`mppe_keys_v1`]; see [`verify_v2`].
pub fn verify_v1(
    challenge: &[u8; 8],
    nt_response: &[u8; 24],
    credential: Credential<'_>,
) -> Result<Option<NtHash>, Error> {
    let nt_hash = credential.nt_hash()?;
    let expected = nt_challenge_response(challenge, &nt_hash);
    Ok(bool::from(expected.ct_eq(nt_response)).then_some(nt_hash))
}

/// The plaintext of MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1) for a verified MS-CHAPv1 login.
///
/// ```text
/// +----------------+--------------------------------+----------------+
/// | LM-Key (8): 0  | NT-Key (16): MD4(NT hash)      | padding (8): 0 |
/// +----------------+--------------------------------+----------------+
/// ```
///
/// RFC 2548 describes the NT-Key as the NT hash; RFC 3079 §2.3 derives 128-bit keys from
/// the hash of the hash, and that is what NASes expect (FreeRADIUS calls the RFC 2548
/// wording an error). The LM-Key is left zero, as current FreeRADIUS leaves it: it only
/// keys 40- and 56-bit MPPE (RFC 3079 §2.1, §2.2), and computing it would mean keeping the
/// LAN Manager hash. So offer MS-CHAPv1 subscribers 128-bit MPPE only
/// (MS-MPPE-Encryption-Types 4). The 8 octets of padding make the 32 octets RFC 2548
/// specifies; they are the zeros FreeRADIUS's 24-octet value gets when it is padded for
/// encryption, so the attribute on the wire is the same.
pub fn mppe_keys_v1(nt_hash: &[u8; 16]) -> ChapMppeKeys {
    let mut keys = ChapMppeKeys([0; 32]);
    keys.0[8..24].copy_from_slice(&*hash_nt_password_hash(nt_hash));
    keys
}

/// The 32-octet plaintext of MS-CHAP-MPPE-Keys, from [`mppe_keys_v1`]. Wiped on drop,
/// redacted in `Debug`.
#[derive(Clone)]
pub struct ChapMppeKeys([u8; 32]);

impl ChapMppeKeys {
    /// The octets to encrypt into MS-CHAP-MPPE-Keys.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for ChapMppeKeys {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for ChapMppeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChapMppeKeys(<redacted>)")
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
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

/// DesEncrypt (RFC 2759 §8.6, RFC 2433 Appendix A): DES-ECB of one block under a 56-bit
/// key given as 7 octets.
fn des_encrypt(clear: &[u8; 8], key7: &[u8; 7]) -> [u8; 8] {
    let key = Zeroizing::new(des_key(key7));
    let des = Des::new(&Array::from(*key));
    let mut block = Array::from(*clear);
    des.encrypt_block(&mut block);
    block.into()
}

/// Spreads 56 key bits over 8 octets, seven bits each in the high bits, with odd parity in
/// the low bit (the MakeKey step of RFC 2433's DesEncrypt). DES ignores the parity bits,
/// but setting them gives the key FIPS 46 defines, so other implementations' test keys
/// compare equal.
fn des_key(key7: &[u8; 7]) -> [u8; 8] {
    let mut bits = [0u8; 8];
    bits[1..].copy_from_slice(key7);
    let bits = u64::from_be_bytes(bits);
    let mut key = [0; 8];
    for (i, octet) in key.iter_mut().enumerate() {
        let seven = ((bits >> (49 - 7 * i)) & 0x7f) as u8;
        let high = seven << 1;
        *octet = high | u8::from(high.count_ones().is_multiple_of(2));
    }
    key
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    const RFC2759_9_2: &str = include_str!("../tests/vectors/rfc2759_9_2.hex");
    const RFC3079_3_5_3: &str = include_str!("../tests/vectors/rfc3079_3_5_3.hex");
    const RFC2433_B: &str = include_str!("../tests/vectors/rfc2433_b.hex");

    /// A vector file: `name = hex` per line, `#` starts a comment.
    struct Vectors(HashMap<String, Vec<u8>>);

    impl Vectors {
        fn parse(text: &str) -> Vectors {
            let mut map = HashMap::new();
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let (name, value) = line.split_once('=').expect("`name = hex` line");
                let value = hex::decode(value.trim()).expect("hex value");
                assert!(
                    map.insert(name.trim().to_owned(), value).is_none(),
                    "duplicate {name}"
                );
            }
            Vectors(map)
        }

        fn bytes(&self, name: &str) -> &[u8] {
            self.0
                .get(name)
                .unwrap_or_else(|| panic!("vector {name} missing"))
        }

        fn get<const N: usize>(&self, name: &str) -> [u8; N] {
            self.bytes(name)
                .try_into()
                .unwrap_or_else(|_| panic!("vector {name} is not {N} octets"))
        }

        /// A password the RFC prints in UTF-16LE, as the UTF-8 a database holds.
        fn password(&self, name: &str) -> String {
            let units: Vec<u16> = self
                .bytes(name)
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).expect("UTF-16 password")
        }
    }

    #[test]
    fn rfc2759_9_2_hash_example() {
        let v = Vectors::parse(RFC2759_9_2);
        let user = v.bytes("user_name");
        let password = v.password("password");
        assert_eq!(password, "clientPass");
        let auth: [u8; 16] = v.get("authenticator_challenge");
        let peer: [u8; 16] = v.get("peer_challenge");

        assert_eq!(challenge_hash(&peer, &auth, user), v.get::<8>("challenge"));
        let nt_hash = nt_password_hash(password.as_bytes()).unwrap();
        assert_eq!(*nt_hash.as_bytes(), v.get::<16>("password_hash"));
        assert_eq!(
            *hash_nt_password_hash(&nt_hash),
            v.get::<16>("password_hash_hash")
        );

        let nt_response = generate_nt_response(&auth, &peer, user, &nt_hash);
        assert_eq!(nt_response, v.get::<24>("nt_response"));

        let s = authenticator_response(&nt_hash, &nt_response, &peer, &auth, user);
        assert_eq!(s, v.get::<42>("authenticator_response"));
        assert_eq!(&s, b"S=407A5589115FD0D6209F510FE9C04566932CDA56");
    }

    #[test]
    fn rfc2759_9_2_verifies_with_password_or_stored_hash() {
        let v = Vectors::parse(RFC2759_9_2);
        let user = v.bytes("user_name");
        let (auth, peer) = (v.get("authenticator_challenge"), v.get("peer_challenge"));
        let nt_response = v.get("nt_response");
        let password = v.password("password");
        let stored: [u8; 16] = v.get("password_hash");

        for credential in [
            Credential::Password(password.as_bytes()),
            Credential::NtHash(&stored),
        ] {
            let nt_hash = verify_v2(&auth, &peer, user, &nt_response, credential)
                .unwrap()
                .expect("RFC response verifies");
            assert_eq!(*nt_hash, stored);
        }
    }

    #[test]
    fn rfc3079_3_5_3_sample_128_bit_keys() {
        let v = Vectors::parse(RFC3079_3_5_3);
        let user = v.bytes("user_name");
        let (auth, peer) = (v.get("authenticator_challenge"), v.get("peer_challenge"));
        let nt_hash = nt_password_hash(v.password("password").as_bytes()).unwrap();
        assert_eq!(*nt_hash, v.get::<16>("password_hash"));
        let hash_hash = hash_nt_password_hash(&nt_hash);
        assert_eq!(*hash_hash, v.get::<16>("password_hash_hash"));
        let nt_response = generate_nt_response(&auth, &peer, user, &nt_hash);
        assert_eq!(nt_response, v.get::<24>("nt_response"));

        let master = master_key(&hash_hash, &nt_response);
        assert_eq!(*master, v.get::<16>("master_key"));

        // The RFC's SendStartKey128 is the server's send key (IsSend, IsServer: Magic3),
        // which the client derives as its receive key: one direction, server to client.
        let server_to_client = asymmetric_start_key(&master, KeyDirection::ServerToClient);
        assert_eq!(server_to_client, v.get::<16>("send_start_key_128"));
        let client_to_server = asymmetric_start_key(&master, KeyDirection::ClientToServer);
        assert_eq!(
            client_to_server,
            v.get::<16>("derived_receive_start_key_128")
        );
        assert_ne!(server_to_client, client_to_server);

        // The RADIUS attributes, named for the NAS (the server end): Send is server to client.
        let keys = mppe_keys_v2(&nt_hash, &nt_response);
        assert_eq!(keys.send, server_to_client);
        assert_eq!(keys.recv, client_to_server);
    }

    #[test]
    fn rfc2433_b2_hash_example() {
        let v = Vectors::parse(RFC2433_B);
        let password = v.password("password");
        assert_eq!(password, "MyPw");
        let nt_hash = nt_password_hash(password.as_bytes()).unwrap();
        assert_eq!(*nt_hash, v.get::<16>("password_hash"));
        let challenge = v.get("challenge");
        let expected: [u8; 24] = v.get("nt_challenge_response");
        assert_eq!(nt_challenge_response(&challenge, &nt_hash), expected);

        let stored = v.get("password_hash");
        let verified = verify_v1(&challenge, &expected, Credential::NtHash(&stored)).unwrap();
        assert!(verified.is_some());
        let verified = verify_v1(
            &challenge,
            &expected,
            Credential::Password(password.as_bytes()),
        )
        .unwrap();
        assert!(verified.is_some());
    }

    #[test]
    fn wrong_password_or_tampered_response_fails() {
        let v = Vectors::parse(RFC2759_9_2);
        let user = v.bytes("user_name");
        let (auth, peer) = (v.get("authenticator_challenge"), v.get("peer_challenge"));
        let nt_response: [u8; 24] = v.get("nt_response");

        let wrong = verify_v2(
            &auth,
            &peer,
            user,
            &nt_response,
            Credential::Password(b"clientPasS"),
        );
        assert!(wrong.unwrap().is_none());
        let right = Credential::Password(b"clientPass");
        let mut tampered = nt_response;
        tampered[23] ^= 1;
        assert!(
            verify_v2(&auth, &peer, user, &tampered, right)
                .unwrap()
                .is_none()
        );
        // A different user name changes ChallengeHash, so the same response fails.
        assert!(
            verify_v2(&auth, &peer, b"user", &nt_response, right)
                .unwrap()
                .is_none()
        );

        let v1 = Vectors::parse(RFC2433_B);
        let (challenge, response) = (v1.get("challenge"), v1.get("nt_challenge_response"));
        assert!(
            verify_v1(&challenge, &response, Credential::Password(b"MyPW"))
                .unwrap()
                .is_none()
        );
        assert!(
            verify_v1(&challenge, &response, Credential::NtHash(&[0; 16]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn domain_prefix_is_not_hashed() {
        let v = Vectors::parse(RFC2759_9_2);
        let (auth, peer) = (v.get("authenticator_challenge"), v.get("peer_challenge"));
        let nt_response = v.get("nt_response");

        assert_eq!(strip_domain(b"BIGCO\\User"), b"User");
        assert_eq!(strip_domain(b"User"), b"User");
        assert_eq!(strip_domain(b"A\\B\\User"), b"B\\User");
        assert_eq!(strip_domain(b"User\\"), b"");
        assert_eq!(strip_domain(b"user@example.com"), b"user@example.com");

        let user = b"BIGCO\\User";
        assert_eq!(challenge_hash(&peer, &auth, user), v.get::<8>("challenge"));
        let nt_hash = verify_v2(
            &auth,
            &peer,
            user,
            &nt_response,
            Credential::Password(b"clientPass"),
        )
        .unwrap()
        .expect("domain-prefixed name verifies");
        assert_eq!(
            authenticator_response(&nt_hash, &nt_response, &peer, &auth, user),
            v.get::<42>("authenticator_response")
        );
    }

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

    #[test]
    fn mppe_keys_v1_layout() {
        let v = Vectors::parse(RFC2433_B);
        let nt_hash = v.get::<16>("password_hash");
        let keys = mppe_keys_v1(&nt_hash);
        let bytes = keys.as_bytes();
        assert_eq!(bytes[..8], [0; 8]);
        assert_eq!(bytes[8..24], *hash_nt_password_hash(&nt_hash));
        assert_eq!(bytes[24..], [0; 8]);

        // RFC 3079 §3.5.3 prints the hash hash of "clientPass": the NT-Key for that password.
        let v = Vectors::parse(RFC3079_3_5_3);
        let keys = mppe_keys_v1(&v.get("password_hash"));
        assert_eq!(keys.as_bytes()[8..24], v.get::<16>("password_hash_hash"));
    }

    #[test]
    fn des_key_expansion_sets_odd_parity() {
        // The textbook DES key 133457799BBCDFF1 carries these 56 bits.
        let key = des_key(&[0x12, 0x69, 0x5b, 0xc9, 0xb7, 0xb7, 0xf8]);
        assert_eq!(key, [0x13, 0x34, 0x57, 0x79, 0x9b, 0xbc, 0xdf, 0xf1]);
        for seven in [[0u8; 7], [0xff; 7]] {
            assert!(
                des_key(&seven)
                    .iter()
                    .all(|octet| octet.count_ones() % 2 == 1)
            );
        }
        // The textbook DES example: that key encrypts 0123456789ABCDEF to 85E813540F0AB405.
        assert_eq!(
            des_encrypt(
                &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
                &[0x12, 0x69, 0x5b, 0xc9, 0xb7, 0xb7, 0xf8]
            ),
            [0x85, 0xe8, 0x13, 0x54, 0x0f, 0x0a, 0xb4, 0x05]
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
        fn generated_responses_verify(
            password in "\\PC{0,40}",
            user in proptest::collection::vec(any::<u8>(), 0..64),
            auth in any::<[u8; 16]>(),
            peer in any::<[u8; 16]>(),
        ) {
            let nt_hash = nt_password_hash(password.as_bytes()).unwrap();
            let response = generate_nt_response(&auth, &peer, &user, &nt_hash);
            let verified = verify_v2(&auth, &peer, &user, &response, Credential::Password(password.as_bytes()));
            prop_assert!(verified.unwrap().is_some());
        }

        #[test]
        fn error_value_fits_any_message(message in "\\PC{0,300}") {
            let value = error_value_v2(0, ErrorCode::AuthenticationFailure, true, &[0; 16], &message);
            prop_assert!(value.len() <= MAX_VALUE_LEN);
            prop_assert!(std::str::from_utf8(&value[1..]).is_ok());
        }
    }
}
