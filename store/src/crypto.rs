//! Secrets at rest: subscriber passwords and NAS secrets under AES-256-GCM.
//!
//! CHAP and MS-CHAP need the clear text, so passwords are encrypted, not hashed. The key
//! is 32 random octets the operator keeps in a file (or a systemd credential), written as
//! 64 hex digits; `proisp-adminapi gen-key` makes one.
//!
//! A ciphertext is `nonce (12 octets) || ciphertext || tag (16 octets)`: the nonce is
//! random per encryption (2^32 encryptions under one key keep the collision chance below
//! 2^-32, NIST SP 800-38D §8.3, far beyond any ISP's churn). What the ciphertext holds, its
//! [`Label`], is bound as associated data, so a NAS secret copied into a password column
//! (or the reverse) fails to decrypt instead of being accepted as something it is not.
//!
//! The store's own kinds of secret are the [`Purpose`]s. A binary that keeps secrets of
//! its own under the same key defines a [`Label`] for them where it uses them (adminapi:
//! its admins' TOTP secrets), without the store knowing what they are.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::StoreError;

/// Octets in a key.
pub const KEY_LEN: usize = 32;
/// Octets of nonce in front of every ciphertext.
pub const NONCE_LEN: usize = 12;
/// Octets of authentication tag behind every ciphertext.
pub const TAG_LEN: usize = 16;

/// What a ciphertext holds, bound to it as AES-GCM associated data: `proisp/<what>/v<n>`.
///
/// Every kind of secret needs a label of its own; a ciphertext opens only under the label
/// it was sealed with. Changing a label makes what was sealed under the old one
/// unreadable, so a new label comes with a way to read (and re-seal) the old rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(&'static str);

impl Label {
    /// A label for secrets the store does not know of.
    pub const fn new(label: &'static str) -> Label {
        Label(label)
    }

    const fn aad(self) -> &'static [u8] {
        self.0.as_bytes()
    }
}

/// The secrets the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `subscribers.password_enc` (and the same octets in the Redis entry).
    SubscriberPassword,
    /// `nas.secret_enc`.
    NasSecret,
}

impl From<Purpose> for Label {
    fn from(purpose: Purpose) -> Label {
        match purpose {
            Purpose::SubscriberPassword => Label::new("proisp/subscriber-password/v1"),
            Purpose::NasSecret => Label::new("proisp/nas-secret/v1"),
        }
    }
}

/// Why a key file was refused. The key itself never appears in a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold 64 hex digits.
    #[error(
        "key file {path} must hold exactly 64 hex digits (a 256-bit key; \
         `proisp-adminapi gen-key` makes one): {reason}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, without the content.
        reason: &'static str,
    },
}

/// Reads a 256-bit key from a key file of 64 hex digits (surrounding whitespace ignored),
/// the format `proisp-adminapi gen-key` writes: the key for secrets at rest, and adminapi's
/// access-token key. Warns when group or others may read the file.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
    let text = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?);
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "key file is readable by group or others; chmod 600 it"
            );
        }
    }
    key_from_hex(&text).map_err(|reason| KeyError::Format {
        path: path.to_owned(),
        reason,
    })
}

/// 64 hex digits (surrounding whitespace ignored) as a key.
fn key_from_hex(text: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, &'static str> {
    let text = text.trim_ascii();
    if text.len() != 2 * KEY_LEN {
        return Err(if text.is_empty() {
            "the file is empty"
        } else {
            "wrong length"
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    for (out, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
        let hi = hex_value(pair[0]).ok_or("not a hex digit")?;
        let lo = hex_value(pair[1]).ok_or("not a hex digit")?;
        *out = (hi << 4) | lo;
    }
    Ok(key)
}

/// The AES-256-GCM key for secrets at rest. `Debug` never shows it.
pub struct Keyring {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

impl Keyring {
    /// Reads a key file: 64 hex digits, surrounding whitespace ignored.
    ///
    /// Warns (but goes on) when the file is readable by group or others.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Keyring, StoreError> {
        let key = read_key_file(path.as_ref())?;
        Ok(Keyring::from_key(&key))
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    #[cfg(test)]
    fn from_hex(text: &[u8]) -> Result<Keyring, &'static str> {
        let key = key_from_hex(text)?;
        Ok(Keyring::from_key(&key))
    }

    /// A keyring from raw key octets.
    pub fn from_key(key: &[u8; KEY_LEN]) -> Keyring {
        Keyring {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// A fresh random key in the key-file format: 64 lowercase hex digits.
    pub fn generate_hex() -> String {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(key.as_mut());
        let mut out = String::with_capacity(2 * KEY_LEN);
        for b in key.iter() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// Encrypts `plaintext` for `purpose` (a [`Purpose`] or a [`Label`]):
    /// `nonce || ciphertext || tag`.
    pub fn encrypt(&self, purpose: impl Into<Label>, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: purpose.into().aad(),
        };
        // AES-GCM fails only for plaintexts over 64 GiB; passwords and secrets are octets.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Keyring::encrypt`] made for the same `purpose`.
    ///
    /// A wrong key, a wrong purpose or any altered octet is [`StoreError::Crypto`].
    pub fn decrypt(
        &self,
        purpose: impl Into<Label>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(StoreError::Crypto);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: body,
            aad: purpose.into().aad(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Crypto)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_purpose_and_key() {
        let hex = Keyring::generate_hex();
        assert_eq!(hex.len(), 64);
        let keys = Keyring::from_hex(format!("  {hex}\n").as_bytes()).unwrap();
        let sealed = keys.encrypt(Purpose::SubscriberPassword, b"pw000001");
        assert_eq!(sealed.len(), NONCE_LEN + 8 + TAG_LEN);
        assert!(!sealed.windows(8).any(|w| w == b"pw000001"));
        assert_eq!(
            &keys.decrypt(Purpose::SubscriberPassword, &sealed).unwrap()[..],
            b"pw000001"
        );
        // Same clear text, fresh nonce: different ciphertext.
        assert_ne!(
            sealed,
            keys.encrypt(Purpose::SubscriberPassword, b"pw000001")
        );
        assert!(matches!(
            keys.decrypt(Purpose::NasSecret, &sealed),
            Err(StoreError::Crypto)
        ));
        let other = Keyring::from_hex(Keyring::generate_hex().as_bytes()).unwrap();
        assert!(matches!(
            other.decrypt(Purpose::SubscriberPassword, &sealed),
            Err(StoreError::Crypto)
        ));
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(keys.decrypt(Purpose::SubscriberPassword, &flipped).is_err());
        assert!(
            keys.decrypt(Purpose::SubscriberPassword, &sealed[..27])
                .is_err()
        );
        assert_eq!(format!("{keys:?}"), "Keyring(<redacted>)");
    }

    #[test]
    fn labels_of_other_crates_seal_apart_from_the_purposes() {
        let keys = Keyring::from_key(&[7; KEY_LEN]);
        let theirs = Label::new("proisp/something-else/v1");
        let sealed = keys.encrypt(theirs, b"s");
        assert_eq!(&keys.decrypt(theirs, &sealed).unwrap()[..], b"s");
        for purpose in [Purpose::SubscriberPassword, Purpose::NasSecret] {
            assert_ne!(Label::from(purpose), theirs);
            assert!(keys.decrypt(purpose, &sealed).is_err());
        }
        assert_ne!(
            Label::from(Purpose::SubscriberPassword),
            Label::from(Purpose::NasSecret)
        );
        // The purposes' labels are those their rows were sealed under: a row sealed
        // before labels existed must still open.
        let nas = keys.encrypt(Purpose::NasSecret, b"testing123");
        assert!(
            keys.decrypt(Label::new("proisp/nas-secret/v1"), &nas)
                .is_ok()
        );
    }

    #[test]
    fn key_file_errors_name_the_file_not_the_key() {
        let dir = std::env::temp_dir().join(format!("proisp-key-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.key");
        let secretish = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeZZ";
        std::fs::write(&path, secretish).unwrap();
        let err = Keyring::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.key"), "{err}");
        assert!(!err.contains("0011223344"), "{err}");
        std::fs::write(&path, "abcd").unwrap();
        assert!(Keyring::from_file(&path).is_err());
        std::fs::write(&path, "").unwrap();
        assert!(
            Keyring::from_file(&path)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let good = Keyring::generate_hex().to_uppercase();
        std::fs::write(&path, format!("\n{good}\n")).unwrap();
        assert!(Keyring::from_file(&path).is_ok());
        assert!(Keyring::from_file(dir.join("missing.key")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
