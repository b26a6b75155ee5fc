//! Hidden attribute values: User-Password (RFC 2865 §5.2), Tunnel-Password (RFC 2868 §3.5)
//! and the salted MS-MPPE-Send-Key / MS-MPPE-Recv-Key (RFC 2548 §2.4.2).
//!
//! All three are the same stream construction: the plaintext, padded with zeros to a
//! multiple of 16, is XORed block by block with
//!
//! ```text
//! b1 = MD5(Secret | Seed)        c1 = p1 XOR b1
//! bi = MD5(Secret | c(i-1))      ci = pi XOR bi
//! ```
//!
//! where Seed is the Request Authenticator for User-Password (and MS-CHAP-MPPE-Keys,
//! RFC 2548 §2.4.1), and the Request Authenticator followed by a two-octet Salt for the
//! salted attributes. The salted attributes also prefix the plaintext with its length so
//! the receiver can strip the padding.
//!
//! Plaintexts live in [`Zeroizing`] buffers: a password read from a packet is wiped when
//! the caller drops it.
//!
//! RADIUS/1.1 hides none of them: each is sent as its underlying value, protected by TLS
//! (RFC 9765 §5.1). The `*_with` functions take the connection's [`Profile`] and do the
//! classic construction or the RADIUS/1.1 plain encoding, so a server has one code path:
//!
//! | attribute | classic | RADIUS/1.1 |
//! | --- | --- | --- |
//! | User-Password | [`hide`] / [`unhide`] | the password, 1–128 octets (§5.1.1) |
//! | MS-CHAP-MPPE-Keys | [`hide`] | the keys (§5.1.4) |
//! | MS-MPPE-Send-Key, MS-MPPE-Recv-Key | [`mppe_key_encrypt`] / [`mppe_key_decrypt`] | the key, no salt (§5.1.4) |
//! | Tunnel-Password | [`tunnel_password_encrypt`] / [`tunnel_password_decrypt`] | Tag, then the password: no salt, no length octet (§5.1.3) |

use md5::{Digest, Md5};
use zeroize::{Zeroize, Zeroizing};

use crate::attr::MAX_VALUE_LEN;
use crate::header::AUTHENTICATOR_LEN;
use crate::profile::Profile;

/// The longest User-Password (RFC 2865 §5.2: 16 to 128 octets on the wire).
pub const MAX_PASSWORD_LEN: usize = 128;

const BLOCK: usize = 16;

/// Why a hidden value could not be revealed or produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// A User-Password whose length is not a multiple of 16 in 16..=128, or a plaintext
    /// that is empty or longer than 128 octets.
    #[error("hidden value has a bad length ({len} octets)")]
    BadLength {
        /// The offending length.
        len: usize,
    },
    /// A salted value whose salt lacks the high bit RFC 2868 §3.5 and RFC 2548 §2.4.2
    /// require.
    #[error("salt must have its most significant bit set")]
    BadSalt,
    /// A salted value whose decrypted length octet points past the data (wrong secret).
    #[error("decrypted length octet {len} exceeds the data")]
    BadInnerLength {
        /// The decrypted length octet.
        len: u8,
    },
    /// A RADIUS/1.1 Tunnel-Password Tag above 0x1F, which a receiver would read as the
    /// first octet of the password (RFC 2868 §3.3).
    #[error("tunnel tag {tag:#04x} is above 0x1f")]
    BadTag {
        /// The tag.
        tag: u8,
    },
}

/// A value of up to 253 octets on the stack, wiped on drop: a hidden attribute ready to
/// encode, or a revealed secret.
pub struct Value {
    buf: Zeroizing<[u8; MAX_VALUE_LEN]>,
    len: usize,
}

impl Value {
    fn new() -> Value {
        Value {
            buf: Zeroizing::new([0; MAX_VALUE_LEN]),
            len: 0,
        }
    }

    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// A copy of `parts`, one after the other, when they fit in an attribute.
    fn concat(parts: &[&[u8]]) -> Result<Value, PasswordError> {
        let len = parts.iter().map(|p| p.len()).sum();
        if len > MAX_VALUE_LEN {
            return Err(PasswordError::BadLength { len });
        }
        let mut out = Value::new();
        for part in parts {
            out.buf[out.len..out.len + part.len()].copy_from_slice(part);
            out.len += part.len();
        }
        Ok(out)
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the contents: they are a password or a key.
        write!(f, "Value({} octets)", self.len)
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// XORs `data` (a multiple of 16) in place with the RFC 2865 §5.2 key stream seeded by
/// `seed`. When `decrypt`, each next block's key comes from the ciphertext block that was
/// just decrypted; when encrypting, from the one just produced.
fn stream(secret: &[u8], seed: &[&[u8]], data: &mut [u8], decrypt: bool) {
    let keyed = Md5::new_with_prefix(secret);
    let mut chain = [0u8; BLOCK];
    for (i, block) in data.chunks_exact_mut(BLOCK).enumerate() {
        let mut h = keyed.clone();
        if i == 0 {
            for part in seed {
                h.update(part);
            }
        } else {
            h.update(chain);
        }
        let mut b: [u8; BLOCK] = h.finalize().into();
        if decrypt {
            chain.copy_from_slice(block);
        }
        for (p, k) in block.iter_mut().zip(b.iter()) {
            *p ^= k;
        }
        if !decrypt {
            chain.copy_from_slice(block);
        }
        b.zeroize();
    }
    chain.zeroize();
}

/// Hides a User-Password (RFC 2865 §5.2): 1–128 octets, padded with zeros to a multiple of
/// 16. Also hides the MS-CHAP-MPPE-Keys value (RFC 2548 §2.4.1), which uses the same
/// method.
pub fn hide(
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<Value, PasswordError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::BadLength {
            len: password.len(),
        });
    }
    let mut out = Value::new();
    out.len = password.len().div_ceil(BLOCK) * BLOCK;
    out.buf[..password.len()].copy_from_slice(password);
    stream(secret, &[authenticator], &mut out.buf[..out.len], false);
    Ok(out)
}

/// Reveals a User-Password and strips the zero padding (RFC 2865 §5.2).
///
/// The result is exactly what the subscriber typed only if the secret is right; nothing in
/// the attribute says whether it is, so a wrong secret yields garbage that will not match.
pub fn unhide(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<Value, PasswordError> {
    let len = hidden.len();
    if len == 0 || len > MAX_PASSWORD_LEN || !len.is_multiple_of(BLOCK) {
        return Err(PasswordError::BadLength { len });
    }
    let mut out = Value::new();
    out.buf[..len].copy_from_slice(hidden);
    stream(secret, &[authenticator], &mut out.buf[..len], true);
    out.len = out.buf[..len]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    Ok(out)
}

/// A salt for Tunnel-Password or MS-MPPE keys: random, with the high bit set as both RFCs
/// require. It must differ between attributes of one packet; random salts make a repeat
/// unlikely enough (RFC 2548 §2.4.2 asks only that it be unique).
pub fn random_salt() -> [u8; 2] {
    let mut salt: [u8; 2] = rand::random();
    salt[0] |= 0x80;
    salt
}

/// Salt-encrypts `plaintext` (RFC 2868 §3.5 / RFC 2548 §2.4.2), writing Salt followed by
/// the encrypted String into a [`Value`] after `prefix` (the Tag octet for Tunnel-Password,
/// nothing for MS-MPPE keys).
fn salt_encrypt(
    prefix: &[u8],
    plaintext: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
    salt: [u8; 2],
) -> Result<Value, PasswordError> {
    if salt[0] & 0x80 == 0 {
        return Err(PasswordError::BadSalt);
    }
    let padded = (1 + plaintext.len()).div_ceil(BLOCK) * BLOCK;
    let head = prefix.len() + 2;
    if head + padded > MAX_VALUE_LEN {
        return Err(PasswordError::BadLength {
            len: plaintext.len(),
        });
    }
    let mut out = Value::new();
    out.buf[..prefix.len()].copy_from_slice(prefix);
    out.buf[prefix.len()..head].copy_from_slice(&salt);
    out.buf[head] = plaintext.len() as u8;
    out.buf[head + 1..head + 1 + plaintext.len()].copy_from_slice(plaintext);
    stream(
        secret,
        &[authenticator, &salt],
        &mut out.buf[head..head + padded],
        false,
    );
    out.len = head + padded;
    Ok(out)
}

/// Reverses [`salt_encrypt`] on Salt + String (any prefix already removed).
fn salt_decrypt(
    value: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<Value, PasswordError> {
    let Some((salt, data)) = value.split_first_chunk::<2>() else {
        return Err(PasswordError::BadLength { len: value.len() });
    };
    if salt[0] & 0x80 == 0 {
        return Err(PasswordError::BadSalt);
    }
    if data.is_empty() || !data.len().is_multiple_of(BLOCK) || data.len() > MAX_VALUE_LEN {
        return Err(PasswordError::BadLength { len: data.len() });
    }
    let mut out = Value::new();
    out.buf[..data.len()].copy_from_slice(data);
    stream(
        secret,
        &[authenticator, salt],
        &mut out.buf[..data.len()],
        true,
    );
    let inner = out.buf[0];
    if usize::from(inner) + 1 > data.len() {
        return Err(PasswordError::BadInnerLength { len: inner });
    }
    out.buf.copy_within(1..1 + usize::from(inner), 0);
    out.buf[usize::from(inner)..].zeroize();
    out.len = usize::from(inner);
    Ok(out)
}

/// Encrypts a Tunnel-Password value (RFC 2868 §3.5): Tag, Salt, then the encrypted
/// length-prefixed password.
pub fn tunnel_password_encrypt(
    tag: u8,
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
    salt: [u8; 2],
) -> Result<Value, PasswordError> {
    salt_encrypt(&[tag], password, secret, authenticator, salt)
}

/// Decrypts a Tunnel-Password value, returning its Tag and the password.
pub fn tunnel_password_decrypt(
    value: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<(u8, Value), PasswordError> {
    let Some((&tag, rest)) = value.split_first() else {
        return Err(PasswordError::BadLength { len: 0 });
    };
    Ok((tag, salt_decrypt(rest, secret, authenticator)?))
}

/// Encrypts an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value (RFC 2548 §2.4.2, §2.4.3): Salt,
/// then the encrypted length-prefixed key. `authenticator` is the Request Authenticator of
/// the Access-Request being answered.
pub fn mppe_key_encrypt(
    key: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
    salt: [u8; 2],
) -> Result<Value, PasswordError> {
    salt_encrypt(&[], key, secret, authenticator, salt)
}

/// Decrypts an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value.
pub fn mppe_key_decrypt(
    value: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<Value, PasswordError> {
    salt_decrypt(value, secret, authenticator)
}

/// A User-Password in RADIUS/1.1: the password itself, 1 to 128 octets as in classic
/// RADIUS (RFC 9765 §5.1.1).
fn plain_password(password: &[u8]) -> Result<Value, PasswordError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::BadLength {
            len: password.len(),
        });
    }
    Value::concat(&[password])
}

/// Encodes a User-Password (or MS-CHAP-MPPE-Keys) value for a packet sent in `profile`:
/// [`hide`] for classic RADIUS, the password as-is for RADIUS/1.1 (RFC 9765 §5.1.1,
/// §5.1.4). `secret` and `authenticator` are used only by the classic profile.
pub fn hide_with(
    profile: Profile,
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<Value, PasswordError> {
    match profile {
        Profile::Classic => hide(password, secret, authenticator),
        Profile::Radius11 => plain_password(password),
    }
}

/// Reveals the User-Password of an Access-Request received in `profile`: [`unhide`] for
/// classic RADIUS; for RADIUS/1.1 the value itself, which must hold 1 to 128 octets
/// (RFC 9765 §5.1.1) and has no padding to strip.
pub fn unhide_with(
    profile: Profile,
    value: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<Value, PasswordError> {
    match profile {
        Profile::Classic => unhide(value, secret, authenticator),
        Profile::Radius11 => plain_password(value),
    }
}

/// Encodes an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value for a reply sent in `profile`:
/// [`mppe_key_encrypt`] for classic RADIUS, the key as-is for RADIUS/1.1 (RFC 9765
/// §5.1.4: data type string, no salt).
pub fn mppe_key_encrypt_with(
    profile: Profile,
    key: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
    salt: [u8; 2],
) -> Result<Value, PasswordError> {
    match profile {
        Profile::Classic => mppe_key_encrypt(key, secret, authenticator, salt),
        Profile::Radius11 => Value::concat(&[key]),
    }
}

/// Reads an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value received in `profile`; the
/// reverse of [`mppe_key_encrypt_with`].
pub fn mppe_key_decrypt_with(
    profile: Profile,
    value: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<Value, PasswordError> {
    match profile {
        Profile::Classic => mppe_key_decrypt(value, secret, authenticator),
        Profile::Radius11 => Value::concat(&[value]),
    }
}

/// Encodes a Tunnel-Password value for a reply sent in `profile`:
/// [`tunnel_password_encrypt`] for classic RADIUS; for RADIUS/1.1 the Tag octet and the
/// password, as any tagged string (RFC 9765 §5.1.3, RFC 2868 §3.3).
///
/// The Tag octet is written even when it is 0 (no tunnel grouping), so a password whose
/// first octet is below 0x20 is never mistaken for one; a Tag above 0x1F is refused.
pub fn tunnel_password_encrypt_with(
    profile: Profile,
    tag: u8,
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
    salt: [u8; 2],
) -> Result<Value, PasswordError> {
    match profile {
        Profile::Classic => tunnel_password_encrypt(tag, password, secret, authenticator, salt),
        Profile::Radius11 if tag > MAX_TAG => Err(PasswordError::BadTag { tag }),
        Profile::Radius11 => Value::concat(&[&[tag], password]),
    }
}

/// Reads a Tunnel-Password value received in `profile`, returning its Tag and the
/// password. For RADIUS/1.1 a first octet up to 0x1F is the Tag and anything else starts
/// the password, with Tag 0 (RFC 2868 §3.3).
pub fn tunnel_password_decrypt_with(
    profile: Profile,
    value: &[u8],
    secret: &[u8],
    authenticator: &[u8; AUTHENTICATOR_LEN],
) -> Result<(u8, Value), PasswordError> {
    match (profile, value.split_first()) {
        (Profile::Classic, _) => tunnel_password_decrypt(value, secret, authenticator),
        (Profile::Radius11, None) => Err(PasswordError::BadLength { len: 0 }),
        (Profile::Radius11, Some((&tag, rest))) if tag <= MAX_TAG => {
            Ok((tag, Value::concat(&[rest])?))
        }
        (Profile::Radius11, Some(_)) => Ok((0, Value::concat(&[value])?)),
    }
}

/// The highest tunnel Tag (RFC 2868 §3.3): octets above it are string data.
const MAX_TAG: u8 = 0x1F;

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: [u8; 16] = [
        0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4, 0x22,
        0x7a,
    ];

    #[test]
    fn rfc_2865_7_1_user_password() {
        // RFC 2865 §7.1: "arctangent" hidden with secret "xyzzy5461".
        let hidden = hide(b"arctangent", b"xyzzy5461", &AUTH).unwrap();
        let expected: [u8; 16] = [
            0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
            0x0a, 0xee,
        ];
        assert_eq!(hidden.as_bytes(), &expected);
        let clear = unhide(&expected, b"xyzzy5461", &AUTH).unwrap();
        assert_eq!(clear.as_bytes(), b"arctangent");
    }

    #[test]
    fn long_passwords_chain_blocks() {
        for len in [1usize, 15, 16, 17, 31, 32, 33, 127, 128] {
            let pw: Vec<u8> = (1..=len).map(|i| i as u8).collect();
            let hidden = hide(&pw, b"s3cret", &AUTH).unwrap();
            assert_eq!(hidden.as_bytes().len(), len.div_ceil(16) * 16);
            assert_eq!(
                unhide(hidden.as_bytes(), b"s3cret", &AUTH)
                    .unwrap()
                    .as_bytes(),
                &pw[..]
            );
            assert_ne!(
                unhide(hidden.as_bytes(), b"other", &AUTH)
                    .unwrap()
                    .as_bytes(),
                &pw[..]
            );
        }
    }

    #[test]
    fn refuses_bad_lengths() {
        assert_eq!(
            hide(b"", b"s", &AUTH).unwrap_err(),
            PasswordError::BadLength { len: 0 }
        );
        assert!(hide(&[b'a'; 129], b"s", &AUTH).is_err());
        assert!(unhide(&[0; 15], b"s", &AUTH).is_err());
        assert!(unhide(&[0; 144], b"s", &AUTH).is_err());
        assert!(unhide(&[], b"s", &AUTH).is_err());
    }

    #[test]
    fn salted_values_round_trip() {
        let key = [0x42u8; 16];
        let salt = random_salt();
        assert!(salt[0] & 0x80 != 0);
        let enc = mppe_key_encrypt(&key, b"secret", &AUTH, salt).unwrap();
        // Salt + one length octet + 16 key octets padded to 32.
        assert_eq!(enc.as_bytes().len(), 34);
        assert_eq!(&enc.as_bytes()[..2], &salt);
        let dec = mppe_key_decrypt(enc.as_bytes(), b"secret", &AUTH).unwrap();
        assert_eq!(dec.as_bytes(), &key);

        let tp = tunnel_password_encrypt(3, b"tunnel-pw", b"secret", &AUTH, [0x80, 1]).unwrap();
        assert_eq!(tp.as_bytes()[0], 3);
        let (tag, pw) = tunnel_password_decrypt(tp.as_bytes(), b"secret", &AUTH).unwrap();
        assert_eq!((tag, pw.as_bytes()), (3, &b"tunnel-pw"[..]));
    }

    #[test]
    fn salted_values_refuse_bad_input() {
        assert_eq!(
            mppe_key_encrypt(&[1; 16], b"s", &AUTH, [0x00, 1]).unwrap_err(),
            PasswordError::BadSalt
        );
        assert_eq!(
            mppe_key_decrypt(&[0x01, 0, 0, 0], b"s", &AUTH).unwrap_err(),
            PasswordError::BadSalt
        );
        assert!(mppe_key_decrypt(&[0x80], b"s", &AUTH).is_err());
        assert!(mppe_key_decrypt(&[0x80, 0, 1, 2, 3], b"s", &AUTH).is_err());
        assert!(tunnel_password_decrypt(&[], b"s", &AUTH).is_err());
        assert!(mppe_key_encrypt(&[0; 250], b"s", &AUTH, [0x80, 0]).is_err());
        // Longer than any attribute: refused, not a panic.
        assert!(mppe_key_decrypt(&[0x80; 994], b"s", &AUTH).is_err());
        // A wrong secret decrypts a random length octet; past the data it is refused.
        let enc = mppe_key_encrypt(&[7; 16], b"right", &AUTH, [0x81, 2]).unwrap();
        let bad = (0..64u8)
            .map(|i| mppe_key_decrypt(enc.as_bytes(), &[i], &AUTH))
            .filter(|r| matches!(r, Err(PasswordError::BadInnerLength { .. })))
            .count();
        assert!(bad > 0);
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let v = unhide(
            hide(b"hunter2", b"s", &AUTH).unwrap().as_bytes(),
            b"s",
            &AUTH,
        )
        .unwrap();
        assert_eq!(format!("{v:?}"), "Value(7 octets)");
    }

    #[test]
    fn radius11_sends_hidden_values_as_they_are() {
        let r11 = Profile::Radius11;
        // User-Password: the value itself; a trailing zero is the password's, not padding.
        let pw = b"arctangent\0";
        assert_eq!(
            unhide_with(r11, pw, b"unused", &AUTH).unwrap().as_bytes(),
            pw
        );
        assert_eq!(
            hide_with(r11, b"hunter2", b"unused", &AUTH)
                .unwrap()
                .as_bytes(),
            b"hunter2"
        );
        assert_eq!(
            unhide_with(r11, &[b'a'; 128], b"", &AUTH)
                .unwrap()
                .as_bytes(),
            &[b'a'; 128]
        );
        assert_eq!(
            unhide_with(r11, &[], b"", &AUTH).unwrap_err(),
            PasswordError::BadLength { len: 0 }
        );
        assert_eq!(
            unhide_with(r11, &[b'a'; 129], b"", &AUTH).unwrap_err(),
            PasswordError::BadLength { len: 129 }
        );
        assert!(hide_with(r11, &[], b"", &AUTH).is_err());

        // MS-MPPE keys: no salt, no length octet, no padding.
        let key = [0x42u8; 16];
        let sent = mppe_key_encrypt_with(r11, &key, b"unused", &AUTH, [0x80, 1]).unwrap();
        assert_eq!(sent.as_bytes(), &key);
        assert_eq!(
            mppe_key_decrypt_with(r11, sent.as_bytes(), b"", &AUTH)
                .unwrap()
                .as_bytes(),
            &key
        );
        assert_eq!(
            mppe_key_encrypt_with(r11, &[0; 254], b"", &AUTH, [0x80, 1]).unwrap_err(),
            PasswordError::BadLength { len: 254 }
        );

        // Tunnel-Password: Tag, then the password.
        let tp = tunnel_password_encrypt_with(r11, 3, b"tunnel-pw", b"", &AUTH, [0x80, 1]).unwrap();
        assert_eq!(tp.as_bytes(), b"\x03tunnel-pw");
        let (tag, clear) = tunnel_password_decrypt_with(r11, tp.as_bytes(), b"", &AUTH).unwrap();
        assert_eq!((tag, clear.as_bytes()), (3, &b"tunnel-pw"[..]));
        // Tag 0 is still written, so a password starting below 0x20 survives the trip.
        let tp = tunnel_password_encrypt_with(r11, 0, b"\x05pw", b"", &AUTH, [0x80, 1]).unwrap();
        assert_eq!(tp.as_bytes(), b"\x00\x05pw");
        let (tag, clear) = tunnel_password_decrypt_with(r11, tp.as_bytes(), b"", &AUTH).unwrap();
        assert_eq!((tag, clear.as_bytes()), (0, &b"\x05pw"[..]));
        // A sender that leaves the Tag out: the first octet is the password's.
        let (tag, clear) = tunnel_password_decrypt_with(r11, b"plain", b"", &AUTH).unwrap();
        assert_eq!((tag, clear.as_bytes()), (0, &b"plain"[..]));
        assert_eq!(
            tunnel_password_encrypt_with(r11, 0x20, b"pw", b"", &AUTH, [0x80, 1]).unwrap_err(),
            PasswordError::BadTag { tag: 0x20 }
        );
        assert!(tunnel_password_decrypt_with(r11, &[], b"", &AUTH).is_err());
    }

    #[test]
    fn classic_with_functions_are_the_classic_constructions() {
        let c = Profile::Classic;
        let hidden = hide_with(c, b"arctangent", b"xyzzy5461", &AUTH).unwrap();
        assert_eq!(
            hidden.as_bytes(),
            hide(b"arctangent", b"xyzzy5461", &AUTH).unwrap().as_bytes()
        );
        assert_eq!(
            unhide_with(c, hidden.as_bytes(), b"xyzzy5461", &AUTH)
                .unwrap()
                .as_bytes(),
            b"arctangent"
        );
        let key = [0x42u8; 16];
        let salt = [0x81, 7];
        let sent = mppe_key_encrypt_with(c, &key, b"s", &AUTH, salt).unwrap();
        assert_eq!(
            sent.as_bytes(),
            mppe_key_encrypt(&key, b"s", &AUTH, salt)
                .unwrap()
                .as_bytes()
        );
        assert_eq!(
            mppe_key_decrypt_with(c, sent.as_bytes(), b"s", &AUTH)
                .unwrap()
                .as_bytes(),
            &key
        );
        let tp = tunnel_password_encrypt_with(c, 1, b"pw", b"s", &AUTH, salt).unwrap();
        assert_eq!(
            tp.as_bytes(),
            tunnel_password_encrypt(1, b"pw", b"s", &AUTH, salt)
                .unwrap()
                .as_bytes()
        );
        let (tag, clear) = tunnel_password_decrypt_with(c, tp.as_bytes(), b"s", &AUTH).unwrap();
        assert_eq!((tag, clear.as_bytes()), (1, &b"pw"[..]));
    }
}
