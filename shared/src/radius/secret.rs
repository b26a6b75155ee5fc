//! The shared secret between a NAS and this server (RFC 2865 §3).
//!
//! Every Message-Authenticator is an HMAC-MD5 keyed with the secret, and keying HMAC costs
//! two MD5 block compressions before the first octet of the packet is hashed. A [`Secret`]
//! does that once, when a NAS is loaded, and clones the keyed state per packet — about a
//! quarter of the MD5 work of a PAP round. Plain byte strings work too, keyed per call, for
//! tests and one-off clients.

use hmac::{Hmac, KeyInit};
use md5::Md5;
use zeroize::Zeroizing;

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
}

impl Secret {
    /// Keys a secret.
    pub fn new(bytes: &[u8]) -> Secret {
        Secret {
            bytes: Zeroizing::new(bytes.to_vec()),
            hmac: keyed(bytes),
        }
    }
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
}
