//! Published packets decode, verify and re-encode byte for byte.

use bytes::BytesMut;
use proisp_radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticator, verify_request_digest,
    verify_response_authenticator,
};
use proisp_radius::dictionary::{attr, ms, values, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::mschap::{self, Credential};
use proisp_radius::packet::Packet;
use proisp_radius::{acct, chap, password};

use crate::vector;

/// The RFC 2865 §7 examples' shared secret.
const RFC_SECRET: &[u8] = b"xyzzy5461";
/// The secret the radclient vectors were made with.
const RADCLIENT_SECRET: &[u8] = b"testing123";

/// Re-encodes every attribute of `p` with the same header fields.
fn reencode(p: &Packet<'_>, authenticator: &[u8; 16], secret: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, p.code(), p.identifier(), authenticator);
    for a in p.attrs() {
        enc.attr(a.typ, a.value);
    }
    enc.finish(secret).unwrap().to_vec()
}

#[test]
fn rfc_2865_7_1_pap_request_and_accept() {
    let raw = vector("rfc2865_7_1_access_request.hex");
    let req = Packet::decode(&raw).unwrap();
    assert_eq!(req.code(), Code::AccessRequest);
    assert_eq!(req.value(attr::USER_NAME), Some(&b"nemo"[..]));
    assert_eq!(
        req.attr(attr::NAS_IP_ADDRESS).unwrap().as_ipv4(),
        Some("192.168.1.16".parse().unwrap())
    );
    assert_eq!(req.attr(attr::NAS_PORT).unwrap().as_u32(), Some(3));
    let hidden = req.value(attr::USER_PASSWORD).unwrap();
    let clear = password::unhide(hidden, RFC_SECRET, req.authenticator()).unwrap();
    assert_eq!(clear.as_bytes(), b"arctangent");
    assert_eq!(reencode(&req, req.authenticator(), RFC_SECRET), raw);

    // Built again from the clear-text password, the request is the same octets.
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccessRequest, 0, req.authenticator());
    let hidden = password::hide(b"arctangent", RFC_SECRET, req.authenticator()).unwrap();
    enc.attr(attr::USER_NAME, b"nemo")
        .attr(attr::USER_PASSWORD, hidden.as_bytes())
        .ipv4(attr::NAS_IP_ADDRESS, "192.168.1.16".parse().unwrap())
        .u32(attr::NAS_PORT, 3);
    assert_eq!(enc.finish(RFC_SECRET).unwrap(), &raw[..]);

    let raw_accept = vector("rfc2865_7_1_access_accept.hex");
    let accept = Packet::decode(&raw_accept).unwrap();
    assert!(verify_response_authenticator(
        &accept,
        req.authenticator(),
        RFC_SECRET
    ));
    assert!(!verify_response_authenticator(
        &accept,
        req.authenticator(),
        b"xyzzy5462"
    ));
    assert_eq!(
        accept.attr(attr::SERVICE_TYPE).unwrap().as_u32(),
        Some(values::service_type::LOGIN)
    );
    // The Access-Accept, encoded as a reply to the request, carries the RFC's Response
    // Authenticator: signing is right to the octet.
    let mut buf = BytesMut::new();
    let mut enc = Encoder::reply(&mut buf, &req, Code::AccessAccept);
    for a in accept.attrs() {
        enc.attr(a.typ, a.value);
    }
    assert_eq!(enc.finish(RFC_SECRET).unwrap(), &raw_accept[..]);
}

#[test]
fn rfc_2865_7_2_chap_request_and_accept() {
    let raw = vector("rfc2865_7_2_access_request.hex");
    let req = Packet::decode(&raw).unwrap();
    assert_eq!(req.value(attr::USER_NAME), Some(&b"flopsy"[..]));
    let chap_password = req.value(attr::CHAP_PASSWORD).unwrap();
    assert_eq!(chap_password.len(), chap::CHAP_PASSWORD_LEN);
    assert_eq!(chap_password[0], 22);
    // No CHAP-Challenge: the Request Authenticator is the challenge (RFC 2865 §2.2). The
    // RFC does not publish flopsy's password, so only the structure is checked here; the
    // CHAP computation itself is checked in chap.rs and with radclient in radiusd's tests.
    assert_eq!(chap::challenge(&req).unwrap(), req.authenticator());
    assert_eq!(
        chap::verify(chap_password, req.authenticator(), b"guess"),
        Ok(false)
    );
    assert_eq!(
        req.attr(attr::FRAMED_PROTOCOL).unwrap().as_u32(),
        Some(values::framed_protocol::PPP)
    );
    assert_eq!(reencode(&req, req.authenticator(), RFC_SECRET), raw);

    let raw_accept = vector("rfc2865_7_2_access_accept.hex");
    let accept = Packet::decode(&raw_accept).unwrap();
    assert!(verify_response_authenticator(
        &accept,
        req.authenticator(),
        RFC_SECRET
    ));
    assert_eq!(
        accept.attr(attr::FRAMED_IP_ADDRESS).unwrap().as_ipv4(),
        Some("255.255.255.254".parse().unwrap())
    );
    assert_eq!(accept.attr(attr::FRAMED_MTU).unwrap().as_u32(), Some(1500));
    assert_eq!(
        reencode(&accept, req.authenticator(), RFC_SECRET),
        raw_accept
    );
}

#[test]
fn rfc_2865_7_3_access_challenge() {
    let raw = vector("rfc2865_7_3_access_challenge.hex");
    let p = Packet::decode(&raw).unwrap();
    assert_eq!(p.code(), Code::AccessChallenge);
    assert_eq!(p.identifier(), 2);
    assert_eq!(
        p.attr(attr::REPLY_MESSAGE).unwrap().as_str(),
        Some("Challenge 32769430.  Enter response at prompt.")
    );
    assert_eq!(p.value(attr::STATE), Some(&b"32769430"[..]));
    // The request it answers is not published, so its authenticator is taken as is.
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, p.code(), p.identifier(), p.authenticator());
    for a in p.attrs() {
        enc.attr(a.typ, a.value);
    }
    let mut reencoded = enc.finish(RFC_SECRET).unwrap().to_vec();
    reencoded[4..20].copy_from_slice(p.authenticator());
    assert_eq!(reencoded, raw);
}

#[test]
fn radclient_access_request_message_authenticator() {
    let raw = vector("rfc3579_3_2_access_request_radclient.hex");
    let p = Packet::decode(&raw).unwrap();
    assert_eq!(
        check_message_authenticator(&p, RADCLIENT_SECRET),
        MessageAuthenticatorCheck::Valid
    );
    assert_eq!(
        check_message_authenticator(&p, b"testing124"),
        MessageAuthenticatorCheck::Invalid
    );
    let clear = password::unhide(
        p.value(attr::USER_PASSWORD).unwrap(),
        RADCLIENT_SECRET,
        p.authenticator(),
    )
    .unwrap();
    assert_eq!(clear.as_bytes(), b"pw000001");
    // Re-encoded with the Message-Authenticator reserved where radclient put it (last),
    // our signature is radclient's.
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, p.code(), p.identifier(), p.authenticator());
    for a in p.attrs().filter(|a| a.typ != attr::MESSAGE_AUTHENTICATOR) {
        enc.attr(a.typ, a.value);
    }
    enc.message_authenticator();
    assert_eq!(enc.finish(RADCLIENT_SECRET).unwrap(), &raw[..]);
    // One flipped bit anywhere breaks it.
    for i in [1, 5, 25, raw.len() - 1] {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        let bp = Packet::decode(&bad).unwrap();
        assert_eq!(
            check_message_authenticator(&bp, RADCLIENT_SECRET),
            MessageAuthenticatorCheck::Invalid,
            "octet {i}"
        );
    }
}

#[test]
fn radclient_accounting_and_disconnect_requests() {
    for name in [
        "rfc2866_3_accounting_request_radclient.hex",
        "rfc5176_3_4_disconnect_request_radclient.hex",
    ] {
        let raw = vector(name);
        let p = Packet::decode(&raw).unwrap();
        assert!(verify_request_digest(&p, RADCLIENT_SECRET), "{name}");
        assert!(!verify_request_digest(&p, b"testing124"), "{name}");
        assert_eq!(
            check_message_authenticator(&p, RADCLIENT_SECRET),
            MessageAuthenticatorCheck::Valid,
            "{name}"
        );
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, p.code(), p.identifier(), &[0; 16]);
        for a in p.attrs().filter(|a| a.typ != attr::MESSAGE_AUTHENTICATOR) {
            enc.attr(a.typ, a.value);
        }
        enc.message_authenticator();
        assert_eq!(enc.finish(RADCLIENT_SECRET).unwrap(), &raw[..], "{name}");
    }
    let raw = vector("rfc2866_3_accounting_request_radclient.hex");
    let p = Packet::decode(&raw).unwrap();
    assert_eq!(acct::input_octets(&p), Some(2 * (1 << 32) + 1000));
    assert_eq!(
        p.attr(attr::ACCT_STATUS_TYPE).unwrap().as_u32(),
        Some(values::acct_status_type::INTERIM_UPDATE)
    );
}

#[test]
fn radclient_chap_request() {
    let raw = vector("rfc2865_2_2_chap_request_radclient.hex");
    let p = Packet::decode(&raw).unwrap();
    assert_eq!(
        check_message_authenticator(&p, RADCLIENT_SECRET),
        MessageAuthenticatorCheck::Valid
    );
    let chap_password = p.value(attr::CHAP_PASSWORD).unwrap();
    let challenge = chap::challenge(&p).unwrap();
    assert_eq!(challenge, p.authenticator());
    assert_eq!(
        chap::verify(chap_password, challenge, b"pw000001"),
        Ok(true)
    );
    assert_eq!(
        chap::verify(chap_password, challenge, b"pw000002"),
        Ok(false)
    );
}

#[test]
fn radclient_ms_chap_v1_request() {
    let raw = vector("rfc2433_ms_chap_request_radclient.hex");
    let p = Packet::decode(&raw).unwrap();
    let challenge = p
        .vendor_value(vendor::MICROSOFT, ms::CHAP_CHALLENGE)
        .map(mschap::challenge_v1)
        .unwrap()
        .unwrap();
    let response = p
        .vendor_value(vendor::MICROSOFT, ms::CHAP_RESPONSE)
        .map(mschap::ChapResponse::parse)
        .unwrap()
        .unwrap();
    let nt_response = response.nt_response().unwrap();
    let right = mschap::verify_v1(challenge, nt_response, Credential::Password(b"pw000001"));
    assert!(right.unwrap().is_some());
    let wrong = mschap::verify_v1(challenge, nt_response, Credential::Password(b"pw000002"));
    assert!(wrong.unwrap().is_none());
}
