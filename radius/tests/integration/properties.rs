//! Property tests: what is encoded decodes to the same attributes, and no input makes the
//! decoder or the checks that follow it panic.

use bytes::BytesMut;
use proisp_radius::authenticator::{check_message_authenticator, verify_reply};
use proisp_radius::encode::{EncodeError, Encoder};
use proisp_radius::header::{Code, MAX_PACKET_LEN};
use proisp_radius::packet::Packet;
use proisp_radius::profile::Profile;
use proisp_radius::{fuzz, password};
use proptest::prelude::*;

fn code() -> impl Strategy<Value = Code> {
    prop::sample::select(Code::ALL.to_vec())
}

/// Attribute lists without Message-Authenticator (80), which the encoder adds itself.
fn attrs() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let typ = any::<u8>().prop_filter("not Message-Authenticator", |t| *t != 80);
    prop::collection::vec((typ, prop::collection::vec(any::<u8>(), 0..=253)), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_round_trips(
        code in code(),
        id in any::<u8>(),
        auth in any::<[u8; 16]>(),
        attrs in attrs(),
        with_ma in any::<bool>(),
        secret in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, code, id, &auth);
        if with_ma {
            enc.message_authenticator();
        }
        for (typ, value) in &attrs {
            enc.attr(*typ, value);
        }
        let wire_len: usize = 20
            + usize::from(with_ma) * 18
            + attrs.iter().map(|(_, v)| v.len() + 2).sum::<usize>();
        match enc.finish(&secret) {
            Ok(wire) => {
                prop_assert!(wire_len <= MAX_PACKET_LEN);
                let p = Packet::decode(wire).unwrap();
                prop_assert_eq!(p.code(), code);
                prop_assert_eq!(p.identifier(), id);
                prop_assert_eq!(p.len(), wire_len);
                let got: Vec<(u8, Vec<u8>)> = p
                    .attrs()
                    .skip(usize::from(with_ma))
                    .map(|a| (a.typ, a.value.to_vec()))
                    .collect();
                prop_assert_eq!(got, attrs);
                if with_ma && code.is_request() {
                    prop_assert_eq!(
                        check_message_authenticator(&p, &secret),
                        proisp_radius::authenticator::MessageAuthenticatorCheck::Valid
                    );
                }
                if !code.is_request() {
                    prop_assert!(verify_reply(&p, &auth, &secret, with_ma).is_ok());
                }
            }
            Err(e) => {
                prop_assert_eq!(e, EncodeError::PacketTooLong);
                prop_assert!(wire_len > MAX_PACKET_LEN);
                prop_assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..5000)) {
        fuzz::exercise(&data);
    }

    #[test]
    fn decode_never_panics_on_mangled_packets(
        code in code(),
        attrs in attrs(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, code, 1, &[0; 16]);
        for (typ, value) in &attrs {
            enc.attr(*typ, value);
        }
        let Ok(wire) = enc.finish(b"s") else { return Ok(()) };
        let mut data = wire.to_vec();
        for (at, value) in flips {
            let i = at.index(data.len());
            data[i] = value;
        }
        fuzz::exercise(&data);
        fuzz::exercise(&data[..cut.index(data.len() + 1)]);
    }

    #[test]
    fn hidden_passwords_round_trip(
        pw in prop::collection::vec(1u8..=255, 1..=128),
        secret in prop::collection::vec(any::<u8>(), 1..64),
        auth in any::<[u8; 16]>(),
    ) {
        let hidden = password::hide(&pw, &secret, &auth).unwrap();
        prop_assert_eq!(hidden.as_bytes().len() % 16, 0);
        let clear = password::unhide(hidden.as_bytes(), &secret, &auth).unwrap();
        prop_assert_eq!(clear.as_bytes(), &pw[..]);
    }

    #[test]
    fn radius11_replies_echo_the_token_and_never_sign(
        request_code in code().prop_filter("a request", |c| c.is_request()),
        reply_code in code().prop_filter("a response", |c| !c.is_request()),
        token in any::<[u8; 4]>(),
        reserved in any::<[u8; 13]>(),
        attrs in attrs(),
    ) {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::radius11(&mut buf, request_code, token);
        for (typ, value) in &attrs {
            enc.attr(*typ, value);
        }
        let Ok(wire) = enc.finish(b"unused") else { return Ok(()) };
        // Whatever a sender leaves in the reserved octets is ignored (RFC 9765 §4.1).
        let mut data = wire.to_vec();
        data[1] = reserved[0];
        data[8..20].copy_from_slice(&reserved[1..]);
        let request = Packet::decode(&data).unwrap();
        prop_assert_eq!(request.token(), token);
        let mut out = BytesMut::new();
        let mut enc = Encoder::reply_with(&mut out, &request, reply_code, Profile::Radius11);
        enc.message_authenticator().copy_attrs(&request, 33);
        let reply = Packet::decode(enc.finish(b"unused").unwrap()).unwrap();
        prop_assert_eq!(&reply.as_bytes()[..2], &[reply_code.as_u8(), 0][..]);
        prop_assert_eq!(reply.token(), token);
        prop_assert_eq!(&reply.authenticator()[4..], &[0u8; 12][..]);
        prop_assert!(reply.attrs().all(|a| a.typ == 33));
        prop_assert!(request.attrs_of(33).map(|a| a.value).eq(reply.attrs().map(|a| a.value)));
    }
}
