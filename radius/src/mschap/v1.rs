//! MS-CHAPv1 (RFC 2433 Appendix A): the NT-Response, which is also the core of
//! MS-CHAPv2's, and its check.

use des::Des;
use des::cipher::{Array, BlockCipherEncrypt as _, KeyInit as _};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{Credential, Error, NtHash};

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

/// Checks an MS-CHAPv1 NT-Response ([`ChapResponse::nt_response`](super::ChapResponse::nt_response)) in constant time.
/// Returns the NT hash on a match, for [`mppe_keys_v1`](super::mppe_keys_v1); see [`verify_v2`](super::verify_v2).
pub fn verify_v1(
    challenge: &[u8; 8],
    nt_response: &[u8; 24],
    credential: Credential<'_>,
) -> Result<Option<NtHash>, Error> {
    let nt_hash = credential.nt_hash()?;
    let expected = nt_challenge_response(challenge, &nt_hash);
    Ok(bool::from(expected.ct_eq(nt_response)).then_some(nt_hash))
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
    use super::*;
    use crate::mschap::nt_password_hash;
    use crate::mschap::test_vectors::{RFC2433_B, Vectors};

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
}
