use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use proptest::prelude::*;
use tokio::io::ReadBuf;

use super::*;

/// A version 2 header: `ver_cmd`, `fam`, then `body` with its length.
fn header(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = SIGNATURE.to_vec();
    h.push(ver_cmd);
    h.push(fam);
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(body);
    h
}

fn tlv(typ: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![typ];
    t.extend_from_slice(&(value.len() as u16).to_be_bytes());
    t.extend_from_slice(value);
    t
}

/// PROXY TCP4 192.0.2.10:50000 → 198.51.100.1:2083.
fn tcp4_body() -> Vec<u8> {
    let mut b = vec![192, 0, 2, 10, 198, 51, 100, 1];
    b.extend_from_slice(&50000u16.to_be_bytes());
    b.extend_from_slice(&2083u16.to_be_bytes());
    b
}

fn tcp4() -> Addresses {
    Addresses::Tcp {
        source: "192.0.2.10:50000".parse().unwrap(),
        destination: "198.51.100.1:2083".parse().unwrap(),
    }
}

#[test]
fn proxy_tcp_over_ipv4_and_the_data_after_it() {
    let mut wire = header(0x21, 0x11, &tcp4_body());
    wire.extend_from_slice(&[0x16, 0x03, 0x01]);
    let h = parse(&wire).unwrap();
    assert_eq!(h.len, 28);
    assert_eq!(h.addresses, tcp4());
    assert_eq!(&wire[h.len..], &[0x16, 0x03, 0x01]);
    let peer = "10.0.0.1:40000".parse().unwrap();
    assert_eq!(h.source(peer), Some("192.0.2.10:50000".parse().unwrap()));
}

#[test]
fn proxy_tcp_over_ipv6() {
    let src: Ipv6Addr = "2001:db8::10".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    let mut body = src.octets().to_vec();
    body.extend_from_slice(&dst.octets());
    body.extend_from_slice(&1234u16.to_be_bytes());
    body.extend_from_slice(&2083u16.to_be_bytes());
    let wire = header(0x21, 0x21, &body);
    let h = parse(&wire).unwrap();
    assert_eq!(h.len, 16 + 36);
    assert_eq!(
        h.addresses,
        Addresses::Tcp {
            source: SocketAddr::new(src.into(), 1234),
            destination: SocketAddr::new(dst.into(), 2083),
        }
    );
}

#[test]
fn local_uses_the_connection_and_skips_whatever_block_it_has() {
    let peer: SocketAddr = "10.0.0.2:5555".parse().unwrap();
    let h = parse(&header(0x20, 0x00, &[])).unwrap();
    assert_eq!((h.len, h.addresses), (16, Addresses::Local));
    assert_eq!(h.source(peer), Some(peer));
    // §2.2: the receiver must skip the block by its length and ignore the family, even
    // one that would be refused under PROXY.
    let h = parse(&header(0x20, 0xFF, &[9; 40])).unwrap();
    assert_eq!((h.len, h.addresses), (56, Addresses::Local));
}

#[test]
fn families_without_a_tcp_client_parse_but_name_no_source() {
    let peer: SocketAddr = "10.0.0.2:5555".parse().unwrap();
    for (fam, body) in [
        (0x00, vec![]),
        (0x00, vec![1, 2, 3, 4, 5]),
        (0x10, vec![7; 3]),
        (0x12, tcp4_body()),
        (0x22, vec![0; 36]),
        (0x31, vec![b'/'; 216]),
        (0x32, vec![0; 216]),
    ] {
        let wire = header(0x21, fam, &body);
        let h = parse(&wire).unwrap_or_else(|e| panic!("{fam:#x}: {e}"));
        assert_eq!(h.len, wire.len(), "{fam:#x}");
        assert_eq!(h.addresses, Addresses::Unspecified, "{fam:#x}");
        assert_eq!(h.source(peer), None, "{fam:#x}");
    }
}

#[test]
fn tlvs_are_skipped_when_well_framed_and_refused_otherwise() {
    let mut body = tcp4_body();
    body.extend(tlv(0x01, b"radius/1.1"));
    body.extend(tlv(0x04, &[]));
    body.extend(tlv(0x05, &[0xAB; 128]));
    body.extend(tlv(0x20, &[0x01, 0, 0, 0, 0]));
    let wire = header(0x21, 0x11, &body);
    let h = parse(&wire).unwrap();
    assert_eq!((h.len, h.addresses), (wire.len(), tcp4()));

    // A TLV claiming one octet more than the header holds.
    let mut bad = tcp4_body();
    bad.extend(tlv(0x02, b"nas.example"));
    let last = bad.len() - 12;
    bad[last] = 12;
    assert!(matches!(
        parse(&header(0x21, 0x11, &bad)),
        Err(ProxyError::BadTlv { offset: 28 })
    ));
    // Two stray octets after the addresses: too short for a TLV header.
    let mut stray = tcp4_body();
    stray.extend_from_slice(&[0x04, 0x00]);
    assert!(matches!(
        parse(&header(0x21, 0x11, &stray)),
        Err(ProxyError::BadTlv { offset: 28 })
    ));
}

#[test]
fn every_truncation_asks_for_more_and_never_succeeds() {
    let mut body = tcp4_body();
    body.extend(tlv(0x01, b"radius/1.1"));
    let wire = header(0x21, 0x11, &body);
    for cut in 0..wire.len() {
        let need = match parse(&wire[..cut]) {
            Err(ProxyError::Incomplete { need }) => need,
            other => panic!("cut at {cut}: {other:?}"),
        };
        let expected = if cut < FIXED_LEN {
            FIXED_LEN
        } else {
            wire.len()
        };
        assert_eq!(need, expected, "cut at {cut}");
    }
    assert!(parse(&wire).is_ok());
}

#[test]
fn refuses_anything_but_the_signature() {
    // A TLS ClientHello straight from a client that bypassed HAProxy.
    let hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03,
    ];
    assert!(matches!(parse(&hello), Err(ProxyError::Signature)));
    assert!(matches!(parse(&hello[..1]), Err(ProxyError::Signature)));
    let good = header(0x21, 0x11, &tcp4_body());
    for i in 0..SIGNATURE.len() {
        let mut wire = good.clone();
        wire[i] ^= 0x40;
        assert!(
            matches!(parse(&wire), Err(ProxyError::Signature)),
            "octet {i}"
        );
    }
}

#[test]
fn refuses_version_1_text_and_binary() {
    let v1 = b"PROXY TCP4 192.0.2.10 198.51.100.1 50000 2083\r\n";
    assert!(matches!(parse(v1), Err(ProxyError::Version1)));
    assert!(matches!(parse(b"PROXY"), Err(ProxyError::Version1)));
    assert!(matches!(
        parse(b"PRO"),
        Err(ProxyError::Incomplete { need: 16 })
    ));
    assert!(matches!(parse(b"PRX"), Err(ProxyError::Signature)));
    for ver in [0x01u8, 0x11, 0x31, 0xF1] {
        assert!(matches!(
            parse(&header(ver, 0x11, &tcp4_body())),
            Err(ProxyError::Version { version }) if version == ver >> 4
        ));
    }
}

#[test]
fn refuses_unknown_commands_and_families() {
    for cmd in 2..=15u8 {
        assert!(matches!(
            parse(&header(0x20 | cmd, 0x11, &tcp4_body())),
            Err(ProxyError::Command { command }) if command == cmd
        ));
    }
    for fam in [0x13u8, 0x41, 0xF1, 0x1F] {
        assert!(matches!(
            parse(&header(0x21, fam, &tcp4_body())),
            Err(ProxyError::Family { family_protocol }) if family_protocol == fam
        ));
    }
    assert!(matches!(
        parse(&header(0x21, 0x11, &tcp4_body()[..8])),
        Err(ProxyError::AddressTooShort {
            family_protocol: 0x11,
            len: 8
        })
    ));
    assert!(matches!(
        parse(&header(0x21, 0x21, &[0; 35])),
        Err(ProxyError::AddressTooShort { len: 35, .. })
    ));
}

#[test]
fn caps_the_length_before_waiting_for_it() {
    // The fixed part alone shows the header is too long: no need to read the rest.
    let mut fixed = header(0x21, 0x11, &[]);
    fixed[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(matches!(
        parse(&fixed),
        Err(ProxyError::TooLong { len: 65551 })
    ));
    // Exactly the cap is fine: addresses and one NOOP TLV filling the rest.
    let mut body = tcp4_body();
    body.extend(tlv(0x04, &vec![0; MAX_HEADER_LEN - FIXED_LEN - 12 - 3]));
    let wire = header(0x21, 0x11, &body);
    assert_eq!(wire.len(), MAX_HEADER_LEN);
    assert_eq!(parse(&wire).unwrap().len, MAX_HEADER_LEN);
    let mut over = tcp4_body();
    over.extend(tlv(0x04, &vec![0; MAX_HEADER_LEN - FIXED_LEN - 12 - 2]));
    assert!(matches!(
        parse(&header(0x21, 0x11, &over)),
        Err(ProxyError::TooLong { len }) if len == MAX_HEADER_LEN + 1
    ));
}

#[test]
fn reasons_are_fixed_labels() {
    assert_eq!(ProxyError::Signature.reason(), "proxy_missing");
    assert_eq!(ProxyError::Version1.reason(), "proxy_v1");
    assert_eq!(ProxyError::BadTlv { offset: 0 }.reason(), "proxy_malformed");
    assert_eq!(
        ProxyError::Incomplete { need: 16 }.reason(),
        "proxy_incomplete"
    );
    let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
    assert_eq!(ProxyError::from(eof).reason(), "proxy_io");
}

/// Hands out one octet per read, as a connection may.
struct Trickle<'a>(&'a [u8]);

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some((&first, rest)) = self.0.split_first() {
            buf.put_slice(&[first]);
            self.0 = rest;
        }
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn reads_exactly_the_header_and_leaves_the_rest() {
    let mut body = tcp4_body();
    body.extend(tlv(0x01, b"radius/1.1"));
    let mut wire = header(0x21, 0x11, &body);
    let header_len = wire.len();
    wire.extend_from_slice(b"\x16\x03\x01 client hello");

    let mut stream: &[u8] = &wire;
    let h = read_header(&mut stream).await.unwrap();
    assert_eq!((h.len, h.addresses), (header_len, tcp4()));
    assert_eq!(stream, b"\x16\x03\x01 client hello");

    let mut trickle = Trickle(&wire);
    assert_eq!(read_header(&mut trickle).await.unwrap().len, header_len);
    assert_eq!(trickle.0, b"\x16\x03\x01 client hello");

    let local = header(0x20, 0x00, &[]);
    let mut stream: &[u8] = &local;
    assert_eq!(
        read_header(&mut stream).await.unwrap().addresses,
        Addresses::Local
    );
    assert!(stream.is_empty());
}

#[tokio::test]
async fn read_refuses_early_and_reports_a_cut_stream() {
    let mut wire = header(0x21, 0x11, &tcp4_body());
    wire.truncate(20);
    let mut stream: &[u8] = &wire;
    let err = read_header(&mut stream).await.unwrap_err();
    assert!(
        matches!(&err, ProxyError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
        "{err:?}"
    );

    // Too long: refused from the 16 fixed octets, the rest is never read.
    let mut long = header(0x21, 0x11, &[]);
    long[14..16].copy_from_slice(&2000u16.to_be_bytes());
    long.extend_from_slice(b"unread");
    let mut stream: &[u8] = &long;
    assert!(matches!(
        read_header(&mut stream).await,
        Err(ProxyError::TooLong { len: 2016 })
    ));
    assert_eq!(stream, b"unread");

    let v1 = b"PROXY TCP4 192.0.2.10 198.51.100.1 50000 2083\r\n";
    let mut stream: &[u8] = v1;
    assert!(matches!(
        read_header(&mut stream).await,
        Err(ProxyError::Version1)
    ));
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_input(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        if let Ok(h) = parse(&data) {
            prop_assert!(h.len <= data.len() && h.len <= MAX_HEADER_LEN);
        }
    }

    #[test]
    fn never_panics_after_a_valid_signature(
        ver_cmd in any::<u8>(),
        fam in any::<u8>(),
        len in any::<u16>(),
        rest in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&[ver_cmd, fam]);
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&rest);
        match parse(&data) {
            Ok(h) => prop_assert_eq!(h.len, FIXED_LEN + usize::from(len)),
            Err(ProxyError::Incomplete { need }) => prop_assert!(need > data.len()),
            Err(_) => {}
        }
    }

    #[test]
    fn relayed_addresses_round_trip(
        v6 in any::<bool>(),
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        sport in any::<u16>(),
        dport in any::<u16>(),
        tlvs in proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..5),
    ) {
        let (source, destination, mut body) = if v6 {
            let (s, d) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut b = s.octets().to_vec();
            b.extend_from_slice(&d.octets());
            (IpAddr::from(s), IpAddr::from(d), b)
        } else {
            let s = Ipv4Addr::new(src[0], src[1], src[2], src[3]);
            let d = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
            let mut b = s.octets().to_vec();
            b.extend_from_slice(&d.octets());
            (IpAddr::from(s), IpAddr::from(d), b)
        };
        body.extend_from_slice(&sport.to_be_bytes());
        body.extend_from_slice(&dport.to_be_bytes());
        for (typ, value) in &tlvs {
            body.extend(tlv(*typ, value));
        }
        let wire = header(0x21, if v6 { 0x21 } else { 0x11 }, &body);
        let h = parse(&wire).unwrap();
        prop_assert_eq!(h.len, wire.len());
        prop_assert_eq!(h.addresses, Addresses::Tcp {
            source: SocketAddr::new(source, sport),
            destination: SocketAddr::new(destination, dport),
        });
    }
}
