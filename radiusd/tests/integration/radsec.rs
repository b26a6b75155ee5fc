//! RadSec (RADIUS/TLS, RFC 6614) and RADIUS/TCP (RFC 6613): a client certificate names
//! the NAS, many requests share one connection and are answered in any order, and what a
//! server must refuse is refused without harm to the connections it serves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use proisp_model::NasTls;
use proisp_radius::authenticator::{self, verify_reply};
use proisp_radius::dictionary::attr;
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::password;
use proisp_store::NewNas;
use proisp_testing::{Pair, Pki, TestEnv, wait_until};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::harness::{Options, Radiusd, SECRET, free_ports, seed};

/// The identity the test NAS's certificate carries.
const NAS_NAME: &str = "nas1.proisp.test";
/// How long a test waits for a reply or for the server to close a connection: a bound
/// for a test gone wrong, not a timing asserted (a full parallel suite on two cores once
/// took over 5 s for a reply that alone takes milliseconds).
const WAIT: Duration = Duration::from_secs(30);

/// radiusd with a RadSec listener (and RADIUS/TCP when `tcp`), the test PKI, and a NAS
/// known by the certificate's identity at an address no connection comes from.
struct Setup {
    _env: TestEnv,
    radiusd: Radiusd,
    pki: Pki,
    radsec: SocketAddr,
    tcp: SocketAddr,
}

/// `settings`: more keys of the `[radsec]` section.
async fn setup(tcp: bool, settings: &str) -> Setup {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 2).await;
    let mut nas = NewNas::new(
        "bras-tls",
        "192.0.2.1".parse().unwrap(),
        b"unused-udp-secret",
    );
    nas.tls = NasTls {
        identity: Some(NAS_NAME.into()),
        ..NasTls::default()
    };
    store.create_nas(&nas).await.unwrap();
    // Known by its address (behind HAProxy, from the PROXY header), with its own secret.
    let mut proxied = NewNas::new(
        "bras-proxied",
        "198.51.100.7".parse().unwrap(),
        b"proxied-secret",
    );
    proxied.tls.own_secret = true;
    store.create_nas(&proxied).await.unwrap();
    let [radsec_port, tcp_port] = free_ports::<2>();
    let dir = std::env::temp_dir().join(format!("radsec-pki-{}-{radsec_port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::generate(&dir, NAS_NAME).unwrap();
    let radsec = SocketAddr::from(([127, 0, 0, 1], radsec_port));
    let tcp_addr = SocketAddr::from(([127, 0, 0, 1], tcp_port));
    let mut extra = format!(
        "[radsec]\nlisten = \"{radsec}\"\nca = {:?}\ncertificate = {:?}\nkey = {:?}\n\
         {settings}\n",
        pki.ca, pki.server.cert, pki.server.key
    );
    if tcp {
        extra.push_str(&format!(
            "[radsec.tcp]\nlisten = \"{tcp_addr}\"\nallow = [\"127.0.0.0/8\"]\n"
        ));
    }
    let radiusd = Radiusd::start(
        &env,
        Options {
            extra,
            ..Options::default()
        },
    );
    Setup {
        _env: env,
        radiusd,
        pki,
        radsec,
        tcp: tcp_addr,
    }
}

/// A TLS client presenting `client` (none: no client certificate), trusting the test CA.
fn connector(pki: &Pki, client: Option<&Pair>) -> TlsConnector {
    connector_offering(pki, client, &[])
}

/// [`connector`], offering the application protocols `alpn`.
pub(crate) fn connector_offering(pki: &Pki, client: Option<&Pair>, alpn: &[&[u8]]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(pair) => {
            let chain = CertificateDer::pem_file_iter(&pair.cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(&pair.key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = config;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// Connects over TLS with `client`'s certificate; `Err` when the handshake fails.
async fn connect(setup: &Setup, client: Option<&Pair>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(setup.radsec).await?;
    handshake(setup, tcp, client).await
}

/// The TLS handshake on `tcp`, settled by a Status-Server round trip.
async fn handshake(
    setup: &Setup,
    tcp: TcpStream,
    client: Option<&Pair>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::IpAddress(setup.radsec.ip().into());
    let mut stream = connector(&setup.pki, client).connect(name, tcp).await?;
    // TLS 1.3 sends the server's verdict on the client certificate after the client
    // thinks the handshake is done: a refused client learns it on its first read. A
    // Status-Server round trip settles it either way.
    let status = status_server(1);
    stream.write_all(&status).await?;
    read_packet(&mut stream).await?;
    Ok(stream)
}

/// A Status-Server with its Message-Authenticator (RFC 5997 §3), signed with `radsec`.
pub(crate) fn status_server(id: u8) -> Vec<u8> {
    let auth = authenticator::random();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::StatusServer, id, &auth);
    enc.message_authenticator();
    enc.finish(b"radsec").unwrap().to_vec()
}

/// A PAP Access-Request signed with `secret`, and its Request Authenticator.
fn pap(id: u8, user: &str, pw: &str, secret: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let auth = authenticator::random();
    let hidden = password::hide(pw.as_bytes(), secret, &auth).unwrap();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccessRequest, id, &auth);
    enc.message_authenticator();
    enc.attr(attr::USER_NAME, user.as_bytes())
        .attr(attr::USER_PASSWORD, hidden.as_bytes());
    (enc.finish(secret).unwrap().to_vec(), auth)
}

/// An Accounting-Request Start signed with `secret`.
fn acct_start(id: u8, user: &str, session: &str, secret: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccountingRequest, id, &[0; 16]);
    enc.u32(attr::ACCT_STATUS_TYPE, 1)
        .attr(attr::USER_NAME, user.as_bytes())
        .attr(attr::ACCT_SESSION_ID, session.as_bytes())
        .u32(attr::ACCT_SESSION_TIME, 0);
    enc.finish(secret).unwrap().to_vec()
}

/// Reads one packet framed by its Length (RFC 6613 §2.1).
pub(crate) async fn read_packet<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    tokio::time::timeout(WAIT, stream.read_exact(&mut header))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut packet = header.to_vec();
    packet.resize(len.max(4), 0);
    tokio::time::timeout(WAIT, stream.read_exact(&mut packet[4..]))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    Ok(packet)
}

/// Whether the server closed the connection within WAIT (end of stream or an error;
/// what it sent before, a TLS alert, is read past).
async fn closed<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nas_known_by_its_certificate_authenticates_and_accounts_over_one_connection() {
    let setup = setup(false, "").await;
    let mut stream = connect(&setup, Some(&setup.pki.nas)).await.unwrap();

    // 64 requests in flight at once in one write, for two subscribers and a wrong
    // password: each reply matches its request by Identifier, whatever their order.
    let mut requests = HashMap::new();
    let mut wire = Vec::new();
    for id in 0..64u8 {
        let (user, pw) = match id % 3 {
            0 => ("user000001", "pw000001"),
            1 => ("user000002", "pw000002"),
            _ => ("user000001", "wrong"),
        };
        let (packet, auth) = pap(id, user, pw, b"radsec");
        wire.extend_from_slice(&packet);
        requests.insert(id, (auth, id % 3 != 2));
    }
    stream.write_all(&wire).await.unwrap();
    for _ in 0..64 {
        let reply = read_packet(&mut stream).await.unwrap();
        let reply = Packet::decode(&reply).unwrap();
        let (auth, accept) = requests
            .remove(&reply.identifier())
            .expect("one reply per request");
        verify_reply(&reply, &auth, b"radsec".as_slice(), true).unwrap();
        let want = if accept {
            Code::AccessAccept
        } else {
            Code::AccessReject
        };
        assert_eq!(reply.code(), want);
    }
    assert!(requests.is_empty());

    // Accounting on the same connection, acknowledged once durable.
    stream
        .write_all(&acct_start(200, "user000001", "radsec-1", b"radsec"))
        .await
        .unwrap();
    let reply = read_packet(&mut stream).await.unwrap();
    assert_eq!(
        Packet::decode(&reply).unwrap().code(),
        Code::AccountingResponse
    );

    // Status-Server (RFC 5997) is answered with an Access-Accept.
    stream.write_all(&status_server(201)).await.unwrap();
    let reply = read_packet(&mut stream).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);

    // A packet split over two TLS records is framed by its Length all the same.
    let (packet, _) = pap(205, "user000002", "pw000002", b"radsec");
    stream.write_all(&packet[..7]).await.unwrap();
    stream.flush().await.unwrap();
    stream.write_all(&packet[7..]).await.unwrap();
    let reply = read_packet(&mut stream).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().identifier(), 205);

    // A retransmission on the connection gets the same reply, not a second evaluation.
    let (packet, _) = pap(202, "user000001", "pw000001", b"radsec");
    stream.write_all(&packet).await.unwrap();
    let first = read_packet(&mut stream).await.unwrap();
    stream.write_all(&packet).await.unwrap();
    let again = read_packet(&mut stream).await.unwrap();
    assert_eq!(first, again);

    // The NAS's UDP secret does not sign inside TLS: dropped (counted), not answered.
    let (packet, _) = pap(203, "user000001", "pw000001", b"unused-udp-secret");
    stream.write_all(&packet).await.unwrap();
    stream.write_all(&status_server(204)).await.unwrap();
    let reply = read_packet(&mut stream).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().identifier(), 204);
    let radiusd = &setup.radiusd;
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"bad_message_authenticator\"}"),
        1.0
    );
    assert_eq!(
        radiusd.metric("radius_stream_connections_total{listener=\"tls\"}"),
        1.0
    );
    // Counted under the NAS the certificate named, by result.
    let per_nas = |result: &str| {
        radiusd.metric(&format!(
            "radius_nas_request_duration_seconds_count{{nas=\"bras-tls\",result=\"{result}\"}}"
        ))
    };
    // (The last login is refused: user000001 is online since the Start, one session.)
    assert_eq!(per_nas("accept"), 44.0);
    assert_eq!(per_nas("reject"), 22.0);
    assert_eq!(per_nas("accounting"), 1.0);
    assert_eq!(per_nas("status"), 3.0);
    assert_eq!(
        radiusd.metric("radius_stream_requests_total{listener=\"tls\"}"),
        72.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_certificates_and_strangers_are_refused_without_harm_to_a_served_nas() {
    let setup = setup(false, "handshake_timeout = \"1s\"").await;
    let radiusd = &setup.radiusd;
    let mut served = connect(&setup, Some(&setup.pki.nas)).await.unwrap();

    for refused in [
        Some(&setup.pki.stranger),
        Some(&setup.pki.expired),
        None,
        // The server's own certificate is for serverAuth, not clientAuth.
        Some(&setup.pki.server),
    ] {
        assert!(connect(&setup, refused).await.is_err());
    }
    // Not TLS at all: a RADIUS packet in the clear on the TLS port.
    let mut plain = TcpStream::connect(setup.radsec).await.unwrap();
    plain.write_all(&status_server(1)).await.unwrap();
    assert!(closed(&mut plain).await);
    // A slowloris: connects and never says anything; cut at the handshake deadline.
    let mut silent = TcpStream::connect(setup.radsec).await.unwrap();
    assert!(closed(&mut silent).await);

    let refused = |reason: &str| {
        radiusd.metric(&format!(
            "radius_stream_refused_total{{listener=\"tls\",reason=\"{reason}\"}}"
        ))
    };
    assert!(
        wait_until(WAIT, async || refused("tls") >= 5.0
            && refused("handshake_timeout") >= 1.0)
        .await,
        "refusals not counted:\n{}",
        radiusd.http("/metrics").unwrap().1
    );

    // The NAS served before is served still.
    let (packet, _) = pap(9, "user000001", "pw000001", b"radsec");
    served.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut served).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_length_ends_the_connection_and_radius_tcp_is_for_allowed_networks_only() {
    let setup = setup(true, "").await;
    let mut stream = connect(&setup, Some(&setup.pki.nas)).await.unwrap();
    // A Length below the 20-octet header: the stream cannot be framed any more.
    stream.write_all(&[1, 1, 0, 5, 0, 0, 0, 0]).await.unwrap();
    assert!(closed(&mut stream).await);
    assert_eq!(
        setup
            .radiusd
            .metric("radius_stream_closed_total{listener=\"tls\",reason=\"framing\"}"),
        1.0
    );

    // RADIUS/TCP from 127.0.0.1 (allowed): the NAS at that address, its own secret.
    let mut tcp = TcpStream::connect(setup.tcp).await.unwrap();
    let (packet, auth) = pap(1, "user000002", "pw000002", SECRET.as_bytes());
    tcp.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut tcp).await.unwrap();
    let reply = Packet::decode(&reply).unwrap();
    verify_reply(&reply, &auth, SECRET.as_bytes(), true).unwrap();
    assert_eq!(reply.code(), Code::AccessAccept);
}

#[tokio::test(flavor = "multi_thread")]
async fn radius_tcp_is_off_unless_configured() {
    let setup = setup(false, "").await;
    assert!(TcpStream::connect(setup.tcp).await.is_err());
}

/// A PROXY protocol v2 header (HAProxy's `send-proxy-v2`) for a TCP/IPv4 client `source`.
fn proxy_header(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (source, destination) else {
        panic!("IPv4 only");
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src.ip().octets());
    h.extend_from_slice(&dst.ip().octets());
    h.extend_from_slice(&src.port().to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_proxy_the_nas_is_the_one_the_proxy_header_names_and_only_proxies_send_one() {
    let setup = setup(false, "proxy_from = [\"127.0.0.2/32\"]").await;
    let proxied_nas: SocketAddr = "198.51.100.7:40000".parse().unwrap();

    // From the proxy: the header names the NAS, whose own secret signs inside TLS.
    let mut tcp = connect_from([127, 0, 0, 2], setup.radsec).await;
    tcp.write_all(&proxy_header(proxied_nas, setup.radsec))
        .await
        .unwrap();
    let mut stream = connector(&setup.pki, Some(&setup.pki.other))
        .connect(ServerName::IpAddress(setup.radsec.ip().into()), tcp)
        .await
        .unwrap();
    let (packet, auth) = pap(1, "user000001", "pw000001", b"proxied-secret");
    stream.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut stream).await.unwrap();
    let reply = Packet::decode(&reply).unwrap();
    verify_reply(&reply, &auth, b"proxied-secret".as_slice(), true).unwrap();
    assert_eq!(reply.code(), Code::AccessAccept);

    // From the proxy without a header: refused.
    let tcp = connect_from([127, 0, 0, 2], setup.radsec).await;
    assert!(
        handshake(&setup, tcp, Some(&setup.pki.other))
            .await
            .is_err()
    );
    // From anyone else, a header is no header but the start of a broken handshake: a
    // NAS cannot claim another's address.
    let mut tcp = connect_from([127, 0, 0, 1], setup.radsec).await;
    tcp.write_all(&proxy_header(proxied_nas, setup.radsec))
        .await
        .unwrap();
    assert!(closed(&mut tcp).await);
    // Without a proxy, the address names the NAS: 127.0.0.1, signing with "radsec".
    let mut direct = connect(&setup, Some(&setup.pki.other)).await.unwrap();
    let (packet, _) = pap(2, "user000001", "pw000001", b"radsec");
    direct.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut direct).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);

    let radiusd = &setup.radiusd;
    assert_eq!(
        radiusd.metric("radius_stream_refused_total{listener=\"tls\",reason=\"proxy_header\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_hold_and_a_silent_connection_is_closed_when_idle() {
    let setup = setup(false, "max_connections_per_nas = 1\nidle_timeout = \"1s\"").await;
    let radiusd = &setup.radiusd;
    let mut first = connect(&setup, Some(&setup.pki.nas)).await.unwrap();
    // The NAS holds its one slot: a second connection is refused after its handshake.
    assert!(connect(&setup, Some(&setup.pki.nas)).await.is_err());
    // Another NAS is not held up by it.
    let mut other = connect(&setup, Some(&setup.pki.other)).await.unwrap();
    assert_eq!(
        radiusd.metric("radius_stream_refused_total{listener=\"tls\",reason=\"nas_limit\"}"),
        1.0
    );
    // Silent past idle_timeout: closed by the server, and the slot given back.
    assert!(closed(&mut first).await);
    assert!(closed(&mut other).await);
    assert_eq!(
        radiusd.metric("radius_stream_closed_total{listener=\"tls\",reason=\"idle\"}"),
        2.0
    );
    let mut again = connect(&setup, Some(&setup.pki.nas)).await.unwrap();
    let (packet, _) = pap(3, "user000001", "pw000001", b"radsec");
    again.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut again).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reads_new_certificates_and_open_connections_keep_theirs() {
    let setup = setup(false, "").await;
    let mut open = connect(&setup, Some(&setup.pki.nas)).await.unwrap();
    let old_nas = setup.pki.nas.clone();

    // A new CA and server certificate, written over the configured files.
    let dir = setup.pki.ca.parent().unwrap().join("renewed");
    std::fs::create_dir_all(&dir).unwrap();
    let renewed = Pki::generate(&dir, NAS_NAME).unwrap();
    for (from, to) in [
        (&renewed.ca, &setup.pki.ca),
        (&renewed.server.cert, &setup.pki.server.cert),
        (&renewed.server.key, &setup.pki.server.key),
    ] {
        std::fs::copy(from, to).unwrap();
    }
    setup.radiusd.signal("HUP");
    let renewed_setup = Setup {
        pki: renewed.clone(),
        ..setup
    };
    assert!(
        wait_until(WAIT, async || connect(&renewed_setup, Some(&renewed.nas))
            .await
            .is_ok())
        .await,
        "the renewed certificates are not in force:\n{}",
        renewed_setup.radiusd.log()
    );
    // The old CA's NAS certificate no longer passes; the connection it opened still works.
    assert!(connect(&renewed_setup, Some(&old_nas)).await.is_err());
    let (packet, _) = pap(4, "user000001", "pw000001", b"radsec");
    open.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut open).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);
}

/// A request's code, Token and attributes, and the code of the reply it gets.
type Exchange<'a> = (Code, [u8; 4], Vec<(u8, &'a [u8])>, Code);

/// A RADIUS/1.1 request (RFC 9765): Token `token`, nothing signed or hidden.
fn radius11(code: Code, token: [u8; 4], attrs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::radius11(&mut buf, code, token);
    for (attr, value) in attrs {
        enc.attr(*attr, value);
    }
    enc.finish(b"radsec".as_slice()).unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn radius_1_1_is_spoken_when_the_peer_offers_it_and_classic_otherwise() {
    let setup = setup(false, "").await;
    let name = || ServerName::IpAddress(setup.radsec.ip().into());
    let tcp = TcpStream::connect(setup.radsec).await.unwrap();
    let mut stream = connector_offering(
        &setup.pki,
        Some(&setup.pki.nas),
        &[b"radius/1.1", b"radius/1.0"],
    )
    .connect(name(), tcp)
    .await
    .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"radius/1.1"[..]));

    // The password in the clear inside TLS; the reply carries the Token, no
    // Message-Authenticator, and zeros where classic RADIUS has its authenticator.
    let exchanges: [Exchange<'_>; 4] = [
        (
            Code::AccessRequest,
            [0, 0, 1, 7],
            vec![
                (attr::USER_NAME, b"user000001"),
                (attr::USER_PASSWORD, b"pw000001"),
            ],
            Code::AccessAccept,
        ),
        (
            Code::AccessRequest,
            [0, 0, 1, 8],
            vec![
                (attr::USER_NAME, b"user000001"),
                (attr::USER_PASSWORD, b"wrong"),
            ],
            Code::AccessReject,
        ),
        (
            Code::AccountingRequest,
            [9, 9, 9, 9],
            vec![
                (attr::ACCT_STATUS_TYPE, &[0, 0, 0, 1]),
                (attr::USER_NAME, b"user000002"),
                (attr::ACCT_SESSION_ID, b"v11-1"),
            ],
            Code::AccountingResponse,
        ),
        (Code::StatusServer, [0, 0, 0, 0], vec![], Code::AccessAccept),
    ];
    for (code, token, attrs, want) in exchanges {
        stream
            .write_all(&radius11(code, token, &attrs))
            .await
            .unwrap();
        let reply = read_packet(&mut stream).await.unwrap();
        let packet = Packet::decode(&reply).unwrap();
        assert_eq!(packet.code(), want, "{code:?}");
        assert_eq!(packet.token(), token);
        assert_eq!(packet.identifier(), 0);
        assert_eq!(&reply[8..20], &[0; 12]);
        assert!(packet.attr(attr::MESSAGE_AUTHENTICATOR).is_none());
    }

    // A peer offering only radius/1.0 speaks classic RADIUS/TLS.
    let tcp = TcpStream::connect(setup.radsec).await.unwrap();
    let mut classic = connector_offering(&setup.pki, Some(&setup.pki.nas), &[b"radius/1.0"])
        .connect(name(), tcp)
        .await
        .unwrap();
    assert_eq!(
        classic.get_ref().1.alpn_protocol(),
        Some(&b"radius/1.0"[..])
    );
    let (packet, auth) = pap(5, "user000001", "pw000001", b"radsec");
    classic.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut classic).await.unwrap();
    let reply = Packet::decode(&reply).unwrap();
    verify_reply(&reply, &auth, b"radsec".as_slice(), true).unwrap();
    assert_eq!(reply.code(), Code::AccessAccept);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_never_reads_is_cut_at_the_write_deadline() {
    let setup = setup(false, "write_timeout = \"1s\"").await;
    let radiusd = &setup.radiusd;
    // A small receive window, so radiusd's replies back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(setup.radsec).await.unwrap();
    let stream = handshake(&setup, tcp, Some(&setup.pki.nas)).await.unwrap();
    let (_unread, mut writer) = tokio::io::split(stream);
    // Requests, never a read, until radiusd gives up on the connection.
    let flood = tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            let mut batch = Vec::new();
            for id in 0..=255u8 {
                batch.extend_from_slice(&pap(id, "user000001", "pw000001", b"radsec").0);
            }
            if writer.write_all(&batch).await.is_err() {
                return sent;
            }
            sent += 256;
        }
    });
    assert!(
        wait_until(Duration::from_secs(60), async || radiusd.metric(
            "radius_stream_closed_total{listener=\"tls\",reason=\"write_timeout\"}"
        ) == 1.0)
        .await,
        "the connection was not cut:\n{}",
        radiusd.http("/metrics").unwrap().1
    );
    let sent = tokio::time::timeout(WAIT, flood).await.unwrap().unwrap();
    assert!(sent > 0);
    // Nobody else was held up.
    let mut other = connect(&setup, Some(&setup.pki.other)).await.unwrap();
    let (packet, _) = pap(1, "user000002", "pw000002", b"radsec");
    other.write_all(&packet).await.unwrap();
    let reply = read_packet(&mut other).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);
}
