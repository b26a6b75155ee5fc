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

use md5::{Digest, Md5};
use zeroize::{Zeroize, Zeroizing};

use crate::attr::MAX_VALUE_LEN;
use crate::header::AUTHENTICATOR_LEN;

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
}
