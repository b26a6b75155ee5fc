//! The shared secret between a NAS and this server (RFC 2865 §3).
//!
//! Every Message-Authenticator is an HMAC-MD5 keyed with the secret, and keying HMAC costs
//! two MD5 block compressions before the first octet of the packet is hashed. A [`Secret`]
//! does that once, when a NAS is loaded, and clones the keyed state per packet — about a
//! quarter of the MD5 work of a PAP round. Plain byte strings work too, keyed per call, for
//! tests and one-off clients.
//!
//! A [`Secret`] also keeps the two MD5 chaining values HMAC starts from (RFC 2104 §4: the
//! key XOR ipad and XOR opad, one compression each), so the batch functions of
//! [`crate::authenticator`] can run the inner and outer hashes of many packets side
//! by side in SIMD lanes (the crate-private module `md5x`).

use hmac::{Hmac, KeyInit};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::md5x::{self, BLOCK_LEN, State};

pub(crate) type HmacMd5 = Hmac<Md5>;

/// Anything usable as a shared secret by the signing and verifying functions.
pub trait SharedSecret {
    /// The secret's octets, for the MD5-based authenticators and hidden attributes.
    fn as_bytes(&self) -> &[u8];

    /// HMAC-MD5 keyed with the secret, ready for the packet's octets.
    fn hmac(&self) -> HmacMd5 {
        keyed(self.as_bytes())
    }
}

fn keyed(secret: &[u8]) -> HmacMd5 {
    // HMAC takes keys of any length (longer ones are hashed first), so this cannot fail;
    // the fallback keeps the function total rather than panicking.
    <HmacMd5 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacMd5 as KeyInit>::new(&Default::default()))
}

impl SharedSecret for [u8] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> SharedSecret for [u8; N] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl SharedSecret for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

/// A shared secret with its HMAC-MD5 key schedule computed once. Wiped on drop; `Debug`
/// never shows it.
#[derive(Clone)]
pub struct Secret {
    bytes: Zeroizing<Vec<u8>>,
    hmac: HmacMd5,
    /// MD5 chaining values after the key XOR ipad and after the key XOR opad: as good as
    /// the key to an attacker, so wiped too.
    pads: Zeroizing<[[u32; 4]; 2]>,
}

/// RFC 2104 §2: the inner and outer pad octets.
const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5c;

impl Secret {
    /// Keys a secret.
    pub fn new(bytes: &[u8]) -> Secret {
        Secret {
            bytes: Zeroizing::new(bytes.to_vec()),
            hmac: keyed(bytes),
            pads: Zeroizing::new(pads(bytes)),
        }
    }

    /// Where HMAC-MD5's inner hash starts: after the block key XOR ipad (RFC 2104 §4).
    pub(crate) fn inner(&self) -> State {
        State {
            h: self.pads[0],
            len: BLOCK_LEN as u64,
        }
    }

    /// Where HMAC-MD5's outer hash starts: after the block key XOR opad (RFC 2104 §4).
    pub(crate) fn outer(&self) -> State {
        State {
            h: self.pads[1],
            len: BLOCK_LEN as u64,
        }
    }
}

/// The chaining values after one block of key XOR ipad and one of key XOR opad. A key
/// longer than a block is hashed first, a shorter one padded with zeros (RFC 2104 §2).
fn pads(secret: &[u8]) -> [[u32; 4]; 2] {
    let mut key = Zeroizing::new([0u8; BLOCK_LEN]);
    if secret.len() > BLOCK_LEN {
        let digest: [u8; md5x::DIGEST_LEN] = Md5::digest(secret).into();
        key[..md5x::DIGEST_LEN].copy_from_slice(&digest);
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    [IPAD, OPAD].map(|pad| {
        let mut block = Zeroizing::new([0u8; BLOCK_LEN]);
        for (b, k) in block.iter_mut().zip(key.iter()) {
            *b = k ^ pad;
        }
        let mut h = State::INITIAL.h;
        md5::block_api::compress(&mut h, &[*block]);
        h
    })
}

impl SharedSecret for Secret {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn hmac(&self) -> HmacMd5 {
        self.hmac.clone()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use hmac::Mac;

    use super::*;

    #[test]
    fn keyed_once_equals_keyed_per_call() {
        let long = [7u8; 100];
        for secret in [&b"testing123"[..], &long[..], &[][..]] {
            let mut a = Secret::new(secret).hmac();
            let mut b = secret.hmac();
            a.update(b"packet");
            b.update(b"packet");
            assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
            assert_eq!(Secret::new(secret).as_bytes(), secret);
        }
        assert_eq!(
            format!("{:?}", Secret::new(b"hunter2")),
            "Secret(<redacted>)"
        );
    }

    /// The precomputed pads, finished with one more block each, give the hmac crate's
    /// HMAC-MD5 for every key length around the block size.
    #[test]
    fn pads_give_rfc_2104_hmac() {
        let message = b"what do ya want for nothing?";
        for len in [0, 1, 15, 16, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..len).map(|i| i as u8 ^ 0xA5).collect();
            let secret = Secret::new(&key);
            let mut inner = [[0u8; md5x::DIGEST_LEN]];
            md5x::digests(
                &[md5x::Message::new(secret.inner(), &[message])],
                &mut inner,
            );
            let mut mac = [[0u8; md5x::DIGEST_LEN]];
            md5x::digests(
                &[md5x::Message::new(secret.outer(), &[&inner[0]])],
                &mut mac,
            );
            let mut want = key.hmac();
            want.update(message);
            assert_eq!(
                mac[0],
                <[u8; 16]>::from(want.finalize().into_bytes()),
                "key of {len}"
            );
        }
    }

    #[test]
    fn rfc_2104_test_vector() {
        // RFC 2104 appendix, second vector.
        let secret = Secret::new(b"Jefe");
        let mut inner = [[0u8; md5x::DIGEST_LEN]];
        md5x::digests(
            &[md5x::Message::new(
                secret.inner(),
                &[b"what do ya want for nothing?"],
            )],
            &mut inner,
        );
        let mut mac = [[0u8; md5x::DIGEST_LEN]];
        md5x::digests(
            &[md5x::Message::new(secret.outer(), &[&inner[0]])],
            &mut mac,
        );
        assert_eq!(hex::encode(mac[0]), "750c783e6ab0b503eaa86e310a5db738");
    }
}
