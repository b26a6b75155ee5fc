//! MS-CHAPv2 (RFC 2759 §8): the NT-Response a peer sends, its check, and the
//! authenticator response that proves the server knows the password too.

use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{Credential, Error, NtHash, hash_nt_password_hash, nt_challenge_response};

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
/// [`mppe_keys_v2`](super::mppe_keys_v2) need it next, and `None` when it does not: the caller answers with
/// [`error_value_v2`](super::error_value_v2). The comparison is constant-time, so the timing of a reject says
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

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::mschap::test_vectors::{RFC2433_B, RFC2759_9_2, Vectors};
    use crate::mschap::*;

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

    proptest! {
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
    }
}
