//! The one entry point the cargo-fuzz target (fuzz/) and the corpus-replay test both drive.
//!
//! It treats the input as a hostile datagram and runs everything the receive path would
//! run on it — decode, attribute and vendor walks, value rendering, authenticator and
//! Message-Authenticator checks, password and prefix decoding — and re-encodes what
//! decoded, checking that the codec agrees with itself. A panic anywhere is a finding.

use bytes::BytesMut;

use crate::attr::Ipv6Prefix;
use crate::dictionary::{self, attr, ms, vendor};
use crate::encode::Encoder;
use crate::packet::Packet;
use crate::profile::Profile;
use crate::{acct, authenticator, chap, mschap, password, vsa};

const SECRET: &[u8] = b"fuzz-secret";

/// Runs every parser on `data`; panics only if the codec contradicts itself.
pub fn exercise(data: &[u8]) {
    let _ = vsa::decode(data);
    let _ = Ipv6Prefix::decode(data);
    let _ = password::unhide(data, SECRET, &[0; 16]);
    let _ = password::mppe_key_decrypt(data, SECRET, &[0; 16]);

    let Ok(p) = Packet::decode(data) else {
        return;
    };
    for a in p.attrs() {
        let def = dictionary::lookup(0, a.typ);
        let _ = dictionary::display_value(def, a.value).to_string();
    }
    for v in p.vendor_attrs() {
        let def = dictionary::lookup(v.vendor, v.typ);
        let _ = dictionary::display_value(def, v.value).to_string();
    }
    let _ = authenticator::check_message_authenticator(&p, SECRET);
    let _ = authenticator::verify_request_digest(&p, SECRET);
    let _ = authenticator::verify_reply(&p, &[0; 16], SECRET, true);
    let _ = acct::input_octets(&p);
    let _ = acct::output_octets(&p);
    if let (Some(pw), Ok(challenge)) = (p.value(attr::CHAP_PASSWORD), chap::challenge(&p)) {
        let _ = chap::verify(pw, challenge, b"password");
    }
    let challenge = p.vendor_value(vendor::MICROSOFT, ms::CHAP_CHALLENGE);
    if let Some(response) = p.vendor_value(vendor::MICROSOFT, ms::CHAP2_RESPONSE) {
        let user = p.value(attr::USER_NAME).unwrap_or_default();
        if let (Ok(r), Some(Ok(c))) = (
            mschap::Chap2Response::parse(response),
            challenge.map(mschap::challenge_v2),
        ) {
            let credential = mschap::Credential::Password(b"password");
            if let Ok(Some(hash)) =
                mschap::verify_v2(c, r.peer_challenge, user, r.nt_response, credential)
            {
                let _ =
                    mschap::authenticator_response(&hash, r.nt_response, r.peer_challenge, c, user);
                let _ = mschap::mppe_keys_v2(&hash, r.nt_response);
            }
        }
    }
    if let Some(response) = p.vendor_value(vendor::MICROSOFT, ms::CHAP_RESPONSE)
        && let (Ok(r), Some(Ok(c))) = (
            mschap::ChapResponse::parse(response),
            challenge.map(mschap::challenge_v1),
        )
        && let Ok(nt) = r.nt_response()
    {
        let _ = mschap::verify_v1(c, nt, mschap::Credential::Password(b"password"));
    }
    if let Some(hidden) = p.value(attr::USER_PASSWORD) {
        let _ = password::unhide(hidden, SECRET, p.authenticator());
        let _ = password::unhide_with(Profile::Radius11, hidden, SECRET, p.authenticator());
    }
    let _ = chap::challenge_with(Profile::Radius11, &p);
    for v in p.vendor_attrs() {
        let _ = password::mppe_key_decrypt_with(Profile::Radius11, v.value, SECRET, &[0; 16]);
    }
    if let Some(value) = p.value(attr::TUNNEL_PASSWORD) {
        let _ = password::tunnel_password_decrypt_with(Profile::Classic, value, SECRET, &[0; 16]);
        let _ = password::tunnel_password_decrypt_with(Profile::Radius11, value, SECRET, &[0; 16]);
    }

    // Read as RADIUS/1.1, the packet is answered with its Token and nothing signed.
    let mut buf = BytesMut::new();
    let mut enc = Encoder::reply_with(&mut buf, &p, p.code(), Profile::Radius11);
    enc.message_authenticator()
        .copy_attrs(&p, attr::PROXY_STATE);
    let reply = enc.finish(SECRET).map(<[u8]>::to_vec);
    let reply = reply.unwrap_or_else(|e| panic!("a RADIUS/1.1 reply failed to encode: {e}"));
    let r = Packet::decode(&reply).unwrap_or_else(|e| panic!("RADIUS/1.1 reply fails: {e}"));
    assert_eq!(r.token(), p.token(), "RADIUS/1.1 reply lost the Token");

    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, p.code(), p.identifier(), p.authenticator());
    for a in p.attrs() {
        enc.attr(a.typ, a.value);
    }
    let again = enc.finish(SECRET).map(<[u8]>::to_vec);
    let again = again.unwrap_or_else(|e| panic!("a decoded packet failed to re-encode: {e}"));
    let q = Packet::decode(&again).unwrap_or_else(|e| panic!("re-encoded packet fails: {e}"));
    assert!(
        p.attrs()
            .map(|a| (a.typ, a.value))
            .eq(q.attrs().map(|a| (a.typ, a.value))),
        "re-encoded attributes differ"
    );
}
