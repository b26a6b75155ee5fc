//! RADIUS/1.1 (RFC 9765) end to end: requests decode with their Token and plain
//! User-Password, replies carry the Token and plain MPPE keys, octet for octet as built by
//! hand from the RFC's rules.

use bytes::BytesMut;
use proisp_radius::authenticator;
use proisp_radius::dictionary::{attr, ms, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::mschap::{self, Credential};
use proisp_radius::packet::Packet;
use proisp_radius::password;
use proisp_radius::profile::Profile;
use proisp_radius::secret::Secret;

use crate::vector;

/// RADIUS/1.1 uses no shared secret; the functions that take one for the classic profile
/// are given this, to show it changes nothing.
const UNUSED: &[u8] = b"unused-secret";

#[test]
fn pap_request_carries_the_password_plain_and_its_token() {
    let raw = vector("rfc9765_5_1_1_access_request_pap.hex");
    let req = Packet::decode(&raw).unwrap();
    assert_eq!(req.code(), Code::AccessRequest);
    assert_eq!(req.token(), [0xA1, 0xB2, 0xC3, 0xD4]);
    assert_eq!(req.value(attr::USER_NAME), Some(&b"nemo"[..]));
    let value = req.value(attr::USER_PASSWORD).unwrap();
    let clear =
        password::unhide_with(Profile::Radius11, value, UNUSED, req.authenticator()).unwrap();
    assert_eq!(clear.as_bytes(), b"arctangent");
    // The same value read as classic RADIUS would be garbage — 10 octets is not even a
    // valid hidden length — which is why the profile must be threaded through.
    assert!(password::unhide_with(Profile::Classic, value, UNUSED, req.authenticator()).is_err());
    // Its Message-Authenticator means nothing here (RFC 9765 §5.2): the packet is still
    // processed; only a classic receiver would check it.
    assert!(req.attr(attr::MESSAGE_AUTHENTICATOR).is_some());
    assert!(!Profile::Radius11.signs_packets());

    // Built again from its parts, the request is the same octets.
    let mut buf = BytesMut::new();
    let mut enc = Encoder::radius11(&mut buf, Code::AccessRequest, req.token());
    let pw = password::hide_with(Profile::Radius11, b"arctangent", UNUSED, &[0; 16]).unwrap();
    enc.attr(attr::USER_NAME, b"nemo")
        .attr(attr::USER_PASSWORD, pw.as_bytes())
        .ipv4(attr::NAS_IP_ADDRESS, "192.168.1.16".parse().unwrap())
        .u32(attr::NAS_PORT, 3)
        .attr(attr::MESSAGE_AUTHENTICATOR, &[0xEE; 16]);
    assert_eq!(enc.finish(UNUSED).unwrap(), &raw[..]);
}

#[test]
fn ms_chap_v2_accept_sends_the_mppe_keys_plain() {
    let raw = vector("rfc9765_5_1_4_access_request_mschapv2.hex");
    let req = Packet::decode(&raw).unwrap();
    let user = req.value(attr::USER_NAME).unwrap();
    let challenge = mschap::challenge_v2(
        req.vendor_value(vendor::MICROSOFT, ms::CHAP_CHALLENGE)
            .unwrap(),
    )
    .unwrap();
    let response = mschap::Chap2Response::parse(
        req.vendor_value(vendor::MICROSOFT, ms::CHAP2_RESPONSE)
            .unwrap(),
    )
    .unwrap();
    let hash = mschap::verify_v2(
        challenge,
        response.peer_challenge,
        user,
        response.nt_response,
        Credential::Password(b"clientPass"),
    )
    .unwrap()
    .expect("RFC 2759 §9.2 credentials verify");
    let s = mschap::authenticator_response(
        &hash,
        response.nt_response,
        response.peer_challenge,
        challenge,
        user,
    );
    let keys = mschap::mppe_keys_v2(&hash, response.nt_response);

    // The reply as radiusd builds it: the same calls for both profiles.
    let mut buf = BytesMut::new();
    let mut enc = Encoder::reply_with(&mut buf, &req, Code::AccessAccept, Profile::Radius11);
    enc.message_authenticator();
    let salt = password::random_salt();
    let send = password::mppe_key_encrypt_with(
        Profile::Radius11,
        &keys.send,
        UNUSED,
        req.authenticator(),
        salt,
    )
    .unwrap();
    let recv = password::mppe_key_encrypt_with(
        Profile::Radius11,
        &keys.recv,
        UNUSED,
        req.authenticator(),
        salt,
    )
    .unwrap();
    enc.vsa(
        vendor::MICROSOFT,
        ms::CHAP2_SUCCESS,
        &mschap::success_value(response.ident, &s),
    )
    .vsa(vendor::MICROSOFT, ms::MPPE_SEND_KEY, send.as_bytes())
    .vsa(vendor::MICROSOFT, ms::MPPE_RECV_KEY, recv.as_bytes());
    let range = enc.finish_unsigned().unwrap();
    let secret = Secret::new(UNUSED);
    authenticator::sign_replies_with(Profile::Radius11, &mut buf, &[(range, &secret)]);
    assert_eq!(
        &buf[..],
        &vector("rfc9765_5_1_4_access_accept_mppe.hex")[..]
    );

    // A client reads the keys back as they are.
    let reply = Packet::decode(&buf).unwrap();
    assert_eq!(reply.token(), req.token());
    let send = reply
        .vendor_value(vendor::MICROSOFT, ms::MPPE_SEND_KEY)
        .unwrap();
    let clear = password::mppe_key_decrypt_with(Profile::Radius11, send, UNUSED, &[0; 16]).unwrap();
    assert_eq!(clear.as_bytes(), &keys.send);
}

#[test]
fn status_server_and_accounting_replies_echo_the_token() {
    for (request, response) in [
        (Code::StatusServer, Code::AccessAccept),
        (Code::AccountingRequest, Code::AccountingResponse),
        (Code::AccessRequest, Code::ProtocolError),
    ] {
        let mut req_buf = BytesMut::new();
        let mut enc = Encoder::radius11(&mut req_buf, request, [0, 0, 0, 0]);
        enc.u32(attr::ACCT_STATUS_TYPE, 1);
        let req = Packet::decode(enc.finish(UNUSED).unwrap()).unwrap();
        // RFC 9765 §6.2: Token 0 has no special meaning, and no digest is checked.
        assert_eq!(req.token(), [0; 4]);
        let mut buf = BytesMut::new();
        let mut enc = Encoder::reply_with(&mut buf, &req, response, Profile::Radius11);
        enc.message_authenticator();
        if response == Code::ProtocolError {
            enc.u32(attr::ERROR_CAUSE, 506);
        }
        let reply = Packet::decode(enc.finish(UNUSED).unwrap()).unwrap();
        assert_eq!((reply.code(), reply.token()), (response, [0; 4]));
        assert_eq!(reply.attr(attr::MESSAGE_AUTHENTICATOR), None);
    }
}
