//! MPPE keys (RFC 3079): the MS-CHAPv2 send and receive start keys (§3), and the
//! MS-CHAP-MPPE-Keys value of MS-CHAPv1 (RFC 2548 §2.4.1, RFC 3079 §2).

use std::fmt;

use sha1::{Digest as _, Sha1};
use zeroize::{Zeroize, Zeroizing};

use super::{MasterKey, hash_nt_password_hash};

// ---------------------------------------------------------------------------------------
// MS-CHAPv2 (RFC 3079 §3)
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
// MS-CHAPv1 (RFC 2548 §2.4.1)
// ---------------------------------------------------------------------------------------

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

    /// LM-Key and NT-Key without the padding: the 24-octet value RADIUS/1.1 sends as it
    /// is (RFC 9765 §5.1.4; FreeRADIUS types the attribute `octets[24]`). Hidden for
    /// classic RADIUS it gives the same 32 octets as [`ChapMppeKeys::as_bytes`], since
    /// hiding pads to 16-octet blocks with the zeros the padding holds, so
    /// `password::hide_with(profile, keys.keys(), ..)` serves both profiles.
    pub fn keys(&self) -> &[u8; 24] {
        self.0.first_chunk::<24>().unwrap_or(&[0; 24])
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

#[cfg(test)]
mod tests {
    use crate::mschap::test_vectors::{RFC2433_B, RFC3079_3_5_3, Vectors};
    use crate::mschap::*;

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
    fn mppe_keys_v1_layout() {
        let v = Vectors::parse(RFC2433_B);
        let nt_hash = v.get::<16>("password_hash");
        let keys = mppe_keys_v1(&nt_hash);
        let bytes = keys.as_bytes();
        assert_eq!(bytes[..8], [0; 8]);
        assert_eq!(bytes[8..24], *hash_nt_password_hash(&nt_hash));
        assert_eq!(bytes[24..], [0; 8]);
        assert_eq!(keys.keys()[..], bytes[..24]);
        let auth = [9; 16];
        assert_eq!(
            crate::password::hide(keys.keys(), b"s", &auth)
                .unwrap()
                .as_bytes(),
            crate::password::hide(bytes, b"s", &auth)
                .unwrap()
                .as_bytes()
        );
        let plain =
            crate::password::hide_with(crate::profile::Profile::Radius11, keys.keys(), b"s", &auth)
                .unwrap();
        assert_eq!(plain.as_bytes(), keys.keys());

        // RFC 3079 §3.5.3 prints the hash hash of "clientPass": the NT-Key for that password.
        let v = Vectors::parse(RFC3079_3_5_3);
        let keys = mppe_keys_v1(&v.get("password_hash"));
        assert_eq!(keys.as_bytes()[8..24], v.get::<16>("password_hash_hash"));
    }
}
