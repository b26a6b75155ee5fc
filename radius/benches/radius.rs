//! Codec benchmarks: the per-packet work of the auth and accounting paths.
//!
//! `make bench` (or `cargo bench -p proisp-radius --bench radius`); figures are recorded in
//! bench/RESULTS.md with the machine they ran on.

use std::hint::black_box;
use std::net::Ipv4Addr;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proisp_radius::authenticator::{self, MessageAuthenticatorCheck};
use proisp_radius::dictionary::{attr, mikrotik, values, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::mschap::{self, Credential};
use proisp_radius::packet::Packet;
use proisp_radius::secret::{Secret, SharedSecret};
use proisp_radius::{acct, password};

const SECRET: &[u8] = b"a-typical-nas-secret";

/// An Access-Request as RouterOS's PPPoE server sends it.
fn mikrotik_pap_request() -> Vec<u8> {
    let auth = authenticator::random();
    let hidden = password::hide(b"pw000001", SECRET, &auth).unwrap();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccessRequest, 17, &auth);
    enc.attr(
        attr::SERVICE_TYPE,
        &values::service_type::FRAMED.to_be_bytes(),
    )
    .u32(attr::FRAMED_PROTOCOL, values::framed_protocol::PPP)
    .u32(attr::NAS_PORT, 15728641)
    .attr(attr::NAS_PORT_ID, b"vlan100-pppoe")
    .u32(attr::NAS_PORT_TYPE, values::nas_port_type::ETHERNET)
    .attr(attr::USER_NAME, b"user000001")
    .attr(attr::CALLING_STATION_ID, b"4C:5E:0C:12:34:56")
    .attr(attr::CALLED_STATION_ID, b"pppoe-service1")
    .attr(attr::ACCT_SESSION_ID, b"81a00042")
    .attr(attr::USER_PASSWORD, hidden.as_bytes())
    .attr(attr::NAS_IDENTIFIER, b"MikroTik-BRAS-1")
    .ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::new(10, 0, 0, 1))
    .message_authenticator();
    enc.finish(SECRET).unwrap().to_vec()
}

/// An Interim-Update with 20 attributes, as RouterOS sends them.
fn accounting_request() -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccountingRequest, 3, &[0; 16]);
    enc.u32(
        attr::ACCT_STATUS_TYPE,
        values::acct_status_type::INTERIM_UPDATE,
    )
    .u32(attr::SERVICE_TYPE, values::service_type::FRAMED)
    .u32(attr::FRAMED_PROTOCOL, values::framed_protocol::PPP)
    .u32(attr::NAS_PORT, 15728641)
    .attr(attr::NAS_PORT_ID, b"vlan100-pppoe")
    .u32(attr::NAS_PORT_TYPE, values::nas_port_type::ETHERNET)
    .attr(attr::USER_NAME, b"user000001")
    .attr(attr::CALLING_STATION_ID, b"4C:5E:0C:12:34:56")
    .attr(attr::CALLED_STATION_ID, b"pppoe-service1")
    .attr(attr::ACCT_SESSION_ID, b"81a00042")
    .ipv4(attr::FRAMED_IP_ADDRESS, Ipv4Addr::new(100, 64, 3, 7))
    .u32(attr::ACCT_AUTHENTIC, 1)
    .u32(attr::ACCT_SESSION_TIME, 86_400)
    .u32(attr::ACCT_INPUT_OCTETS, 123_456_789)
    .u32(attr::ACCT_INPUT_GIGAWORDS, 2)
    .u32(attr::ACCT_OUTPUT_OCTETS, 987_654_321)
    .u32(attr::ACCT_OUTPUT_GIGAWORDS, 31)
    .u32(attr::ACCT_INPUT_PACKETS, 4_000_000)
    .u32(attr::ACCT_OUTPUT_PACKETS, 9_000_000)
    .ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::new(10, 0, 0, 1));
    enc.finish(SECRET).unwrap().to_vec()
}

/// The whole PAP round of the auth path: decode, verify Message-Authenticator, reveal the
/// password, then encode and sign an Access-Accept with typical reply attributes.
fn pap_round(c: &mut Criterion) {
    let request = mikrotik_pap_request();
    // radiusd keys each NAS's secret once, when its NAS table is loaded.
    let secret = Secret::new(SECRET);
    let mut buf = BytesMut::with_capacity(4096);
    let mut g = c.benchmark_group("auth");
    g.throughput(Throughput::Elements(1));
    g.bench_function("pap_round", |b| {
        b.iter(|| {
            let p = Packet::decode(black_box(&request)).unwrap();
            assert_eq!(
                authenticator::check_message_authenticator(&p, &secret),
                MessageAuthenticatorCheck::Valid
            );
            let hidden = p.value(attr::USER_PASSWORD).unwrap();
            let clear = password::unhide(hidden, secret.as_bytes(), p.authenticator()).unwrap();
            assert!(authenticator::ct_eq(clear.as_bytes(), b"pw000001"));
            buf.clear();
            black_box(accept(&mut buf, &p).finish(&secret).unwrap().len())
        })
    });
    g.bench_function("decode_only", |b| {
        b.iter(|| Packet::decode(black_box(&request)).unwrap().attrs().count())
    });
    g.finish();
}

/// MS-CHAPv2 on the server: verify the NT-Response from the clear-text password, build
/// MS-CHAP2-Success, derive the MPPE keys and salt-encrypt both for the reply.
fn mschapv2(c: &mut Criterion) {
    let auth_challenge = [0x5Bu8; 16];
    let peer_challenge = [0x21u8; 16];
    let user = b"user000001";
    let nt_hash = mschap::nt_password_hash(b"pw000001").unwrap();
    let nt_response =
        mschap::generate_nt_response(&auth_challenge, &peer_challenge, user, &nt_hash);
    let request_authenticator = authenticator::random();
    let mut g = c.benchmark_group("auth");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mschapv2_verify_and_mppe", |b| {
        b.iter(|| {
            let hash = mschap::verify_v2(
                black_box(&auth_challenge),
                &peer_challenge,
                user,
                black_box(&nt_response),
                Credential::Password(b"pw000001"),
            )
            .unwrap()
            .unwrap();
            let s = mschap::authenticator_response(
                &hash,
                &nt_response,
                &peer_challenge,
                &auth_challenge,
                user,
            );
            let success = mschap::success_value(1, &s);
            let keys = mschap::mppe_keys_v2(&hash, &nt_response);
            let send = password::mppe_key_encrypt(
                &keys.send,
                SECRET,
                &request_authenticator,
                password::random_salt(),
            )
            .unwrap();
            let recv = password::mppe_key_encrypt(
                &keys.recv,
                SECRET,
                &request_authenticator,
                password::random_salt(),
            )
            .unwrap();
            black_box((success, send.as_bytes().len(), recv.as_bytes().len()))
        })
    });
    g.finish();
}

fn accounting_decode(c: &mut Criterion) {
    let request = accounting_request();
    let mut g = c.benchmark_group("acct");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_20_attrs", |b| {
        b.iter(|| {
            let p = Packet::decode(black_box(&request)).unwrap();
            assert_eq!(p.attrs().count(), 20);
            black_box((acct::input_octets(&p), acct::output_octets(&p)))
        })
    });
    g.bench_function("decode_20_attrs_and_verify", |b| {
        b.iter(|| {
            let p = Packet::decode(black_box(&request)).unwrap();
            assert!(authenticator::verify_request_digest(&p, SECRET));
            black_box((acct::input_octets(&p), acct::output_octets(&p)))
        })
    });
    g.finish();
}

/// Encodes the Access-Accept of `pap_round` for `request`.
fn accept<'b>(buf: &'b mut BytesMut, request: &Packet<'_>) -> Encoder<'b> {
    let mut enc = Encoder::reply(buf, request, Code::AccessAccept);
    enc.message_authenticator()
        .vsa(
            vendor::MIKROTIK,
            mikrotik::RATE_LIMIT,
            b"10M/20M 12M/24M 8M/16M 16/16 8 5M/10M",
        )
        .u32(attr::SESSION_TIMEOUT, 86_400)
        .u32(attr::IDLE_TIMEOUT, 900)
        .u32(attr::ACCT_INTERIM_INTERVAL, 300)
        .attr(attr::FRAMED_POOL, b"pool-residential")
        .copy_attrs(request, attr::PROXY_STATE);
    enc
}

/// A receive batch of 32 Access-Requests (radiusd's recvmmsg batch): their
/// Message-Authenticators checked one by one and side by side, and their Access-Accepts
/// signed one by one (`finish`) and side by side (`finish_unsigned` + `sign_replies`).
fn batch_of_32(c: &mut Criterion) {
    const BATCH: usize = 32;
    let secret = Secret::new(SECRET);
    let wires: Vec<Vec<u8>> = (0..BATCH).map(|_| mikrotik_pap_request()).collect();
    let packets: Vec<Packet<'_>> = wires.iter().map(|w| Packet::decode(w).unwrap()).collect();
    let batch: Vec<(&Packet<'_>, &Secret)> = packets.iter().map(|p| (p, &secret)).collect();
    let mut out = [MessageAuthenticatorCheck::Absent; BATCH];
    let mut buf = BytesMut::with_capacity(BATCH * 4096);
    let mut ranges = Vec::with_capacity(BATCH);

    let mut g = c.benchmark_group("batch32");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("check_ma_scalar", |b| {
        b.iter(|| {
            for (p, result) in black_box(&packets).iter().zip(&mut out) {
                *result = authenticator::check_message_authenticator(p, &secret);
            }
            assert_eq!(out, [MessageAuthenticatorCheck::Valid; BATCH]);
        })
    });
    g.bench_function("check_ma_batch", |b| {
        b.iter(|| {
            authenticator::check_message_authenticators(black_box(&batch), &mut out);
            assert_eq!(out, [MessageAuthenticatorCheck::Valid; BATCH]);
        })
    });
    g.bench_function("sign_scalar", |b| {
        b.iter(|| {
            buf.clear();
            for p in black_box(&packets) {
                accept(&mut buf, p).finish(&secret).unwrap();
            }
            black_box(buf.len())
        })
    });
    g.bench_function("sign_batch", |b| {
        b.iter(|| {
            buf.clear();
            ranges.clear();
            for p in black_box(&packets) {
                ranges.push((accept(&mut buf, p).finish_unsigned().unwrap(), &secret));
            }
            authenticator::sign_replies(&mut buf, &ranges);
            black_box(buf.len())
        })
    });
    g.finish();
}

criterion_group!(benches, pap_round, mschapv2, accounting_decode, batch_of_32);
criterion_main!(benches);
