//! CoA over RadSec (RFC 6614 §2.5, RFC 5176): a NAS with `tls_coa` gets its fair-usage
//! CoA-Request on the connection it opened, answered there; a NAK and a connection closed
//! before answering are reported as such; with no connection open, UDP takes over.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use bytes::BytesMut;
use proisp_model::{NasTls, RateLimit};
use proisp_radius::authenticator::{
    MessageAuthenticatorCheck, check_message_authenticator, verify_request_digest,
};
use proisp_radius::dictionary::{attr, mikrotik, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::profile::Profile;
use proisp_store::{NewNas, NewPlan, NewSubscriber};
use proisp_testing::{Pki, TestEnv, wait_until};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::harness::{Options, Radiusd, SECRET, exchange, free_ports};
use crate::radsec::{connector_offering, read_packet, status_server};

/// The identity the test NAS's certificate carries.
const NAS_NAME: &str = "nas-coa.proisp.test";
/// The secret inside TLS (RFC 6614 §2.3).
const RADSEC: &[u8] = b"radsec";
/// How long a test waits for a metric to change.
const WAIT: Duration = Duration::from_secs(5);

/// radiusd with a RadSec listener; a plan with a 1 GiB quota slowing to 512k/1M; the NAS
/// 127.0.0.1 known by its certificate, with `tls_coa` and its UDP CoA port at `udp_nas`;
/// subscribers fup1, fup2 and fup3.
struct Setup {
    _env: TestEnv,
    radiusd: Radiusd,
    pki: Pki,
    radsec: SocketAddr,
    /// Where the NAS takes CoA by UDP.
    udp_nas: UdpSocket,
}

async fn setup() -> Setup {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let mut plan = NewPlan::new("fup-1g", 20_000, 10_000);
    plan.quota_bytes = Some(1 << 30);
    plan.fup_rate = Some(RateLimit {
        download_kbps: 1_000,
        upload_kbps: 512,
        ..RateLimit::default()
    });
    let plan = store.create_plan(&plan).await.unwrap();
    let udp_nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut nas = NewNas::new("bras-coa", "127.0.0.1".parse().unwrap(), SECRET.as_bytes());
    nas.coa_port = udp_nas.local_addr().unwrap().port();
    nas.tls = NasTls {
        identity: Some(NAS_NAME.into()),
        coa: true,
        ..NasTls::default()
    };
    store.create_nas(&nas).await.unwrap();
    for user in ["fup1", "fup2", "fup3"] {
        store
            .create_subscriber(&NewSubscriber::new(user, "pw", plan.id))
            .await
            .unwrap();
    }
    let [port] = free_ports::<1>();
    let dir = std::env::temp_dir().join(format!("radsec-coa-pki-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::generate(&dir, NAS_NAME).unwrap();
    let radsec = SocketAddr::from(([127, 0, 0, 1], port));
    let extra = format!(
        "[radsec]\nlisten = \"{radsec}\"\nca = {:?}\ncertificate = {:?}\nkey = {:?}\n",
        pki.ca, pki.server.cert, pki.server.key
    );
    let radiusd = Radiusd::start(
        &env,
        Options {
            extra,
            // Over RadSec one copy is sent and answered within (retries + 1) × timeout:
            // room for a busy test machine.
            env: vec![("PROISP_COA__TIMEOUT", "5s")],
            ..Options::default()
        },
    );
    Setup {
        _env: env,
        radiusd,
        pki,
        radsec,
        udp_nas,
    }
}

impl Setup {
    /// A TLS connection with the NAS's certificate, offering `alpn`.
    async fn connect(&self, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.radsec).await.unwrap();
        let name = ServerName::IpAddress(self.radsec.ip().into());
        connector_offering(&self.pki, Some(&self.pki.nas), alpn)
            .connect(name, tcp)
            .await
            .unwrap()
    }

    /// Waits until `series` reads `want`; false if it does not within [`WAIT`].
    async fn metric_becomes(&self, series: &str, want: f64) -> bool {
        wait_until(WAIT, async || self.radiusd.metric(series) == want).await
    }
}

/// An Accounting-Request of `status` (1 Start, 3 Interim-Update) for `user`'s session
/// `session` at 100.64.0.9: classic signed with `secret`, or RADIUS/1.1 with Token
/// `[0, 0, 0, id]`. An Interim-Update reports more than the 1 GiB quota.
fn acct(
    profile: Profile,
    id: u8,
    status: u32,
    user: &str,
    session: &str,
    secret: &[u8],
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = match profile {
        Profile::Classic => Encoder::new(&mut buf, Code::AccountingRequest, id, &[0; 16]),
        Profile::Radius11 => Encoder::radius11(&mut buf, Code::AccountingRequest, [0, 0, 0, id]),
    };
    let interim = status == 3;
    enc.u32(attr::ACCT_STATUS_TYPE, status)
        .attr(attr::USER_NAME, user.as_bytes())
        .attr(attr::ACCT_SESSION_ID, session.as_bytes())
        .ipv4(attr::FRAMED_IP_ADDRESS, "100.64.0.9".parse().unwrap())
        .u32(attr::ACCT_OUTPUT_OCTETS, 1000)
        .u32(attr::ACCT_OUTPUT_GIGAWORDS, u32::from(interim))
        .u32(attr::ACCT_SESSION_TIME, if interim { 300 } else { 0 });
    enc.finish(secret).unwrap().to_vec()
}

/// Starts `user`'s session on `stream` and spends the quota in an Interim-Update; returns
/// the CoA-Request radiusd then sends on the same stream, in whichever order it comes
/// with the Accounting-Response.
async fn spend_quota<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    profile: Profile,
    user: &str,
    session: &str,
) -> Vec<u8> {
    let start = acct(profile, 1, 1, user, session, RADSEC);
    stream.write_all(&start).await.unwrap();
    let reply = read_packet(stream).await.unwrap();
    assert_eq!(
        Packet::decode(&reply).unwrap().code(),
        Code::AccountingResponse
    );
    let interim = acct(profile, 2, 3, user, session, RADSEC);
    stream.write_all(&interim).await.unwrap();
    let mut request = None;
    let mut answered = false;
    while request.is_none() || !answered {
        let packet = read_packet(stream)
            .await
            .expect("a CoA-Request on the stream");
        match Packet::decode(&packet).unwrap().code() {
            Code::AccountingResponse => answered = true,
            Code::CoaRequest => request = Some(packet),
            other => panic!("unexpected {other:?}"),
        }
    }
    request.unwrap_or_default()
}

/// Checks a classic CoA-Request for `user`'s session: signed with `radsec`, the
/// fair-usage rate.
fn check_coa(request: &[u8], user: &str, session: &str) {
    let p = Packet::decode(request).unwrap();
    assert_eq!(p.code(), Code::CoaRequest);
    assert!(verify_request_digest(&p, RADSEC));
    assert_eq!(
        check_message_authenticator(&p, RADSEC),
        MessageAuthenticatorCheck::Valid
    );
    assert_eq!(p.value(attr::USER_NAME), Some(user.as_bytes()));
    assert_eq!(p.value(attr::ACCT_SESSION_ID), Some(session.as_bytes()));
    assert_eq!(
        p.attr(attr::FRAMED_IP_ADDRESS).and_then(|a| a.as_ipv4()),
        Some("100.64.0.9".parse().unwrap())
    );
    assert_eq!(
        p.vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT),
        Some(&b"512k/1M"[..])
    );
}

/// The NAS's classic answer `code` to `request`, signed with `secret`, with an
/// Error-Cause when `cause`.
fn answer(request: &[u8], code: Code, cause: Option<u32>, secret: &[u8]) -> Vec<u8> {
    let request = Packet::decode(request).unwrap();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::reply(&mut buf, &request, code);
    if let Some(cause) = cause {
        enc.u32(attr::ERROR_CAUSE, cause);
    }
    enc.finish(secret).unwrap().to_vec()
}

const ACK: &str = "radius_coa_requests_total{kind=\"coa\",result=\"ack\"}";
const NAK: &str = "radius_coa_requests_total{kind=\"coa\",result=\"nak\"}";
const ERROR: &str = "radius_coa_requests_total{kind=\"coa\",result=\"error\"}";
const TIMEOUT: &str = "radius_coa_requests_total{kind=\"coa\",result=\"timeout\"}";

#[tokio::test(flavor = "multi_thread")]
async fn a_nas_with_tls_coa_gets_its_coa_on_its_own_connection_and_acks_it_there() {
    let setup = setup().await;
    let mut stream = setup.connect(&[]).await;
    let request = spend_quota(&mut stream, Profile::Classic, "fup1", "c-1").await;
    check_coa(&request, "fup1", "c-1");
    // An answer signed with another secret is not believed.
    let forged = answer(&request, Code::CoaAck, None, SECRET.as_bytes());
    stream.write_all(&forged).await.unwrap();
    stream
        .write_all(&answer(&request, Code::CoaAck, None, RADSEC))
        .await
        .unwrap();
    assert!(
        setup.metric_becomes(ACK, 1.0).await,
        "{}",
        setup.radiusd.log()
    );
    let radiusd = &setup.radiusd;
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"bad_request_authenticator\"}"),
        1.0
    );
    // The answers went no further: the connection serves on.
    stream.write_all(&status_server(9)).await.unwrap();
    let reply = read_packet(&mut stream).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);
    assert_eq!(radiusd.metric(TIMEOUT), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nak_is_reported_a_closed_connection_is_an_error_and_udp_serves_when_none_is_open() {
    let setup = setup().await;
    let radiusd = &setup.radiusd;
    let mut stream = setup.connect(&[]).await;
    let request = spend_quota(&mut stream, Profile::Classic, "fup1", "n-1").await;
    check_coa(&request, "fup1", "n-1");
    let nak = answer(&request, Code::CoaNak, Some(503), RADSEC);
    stream.write_all(&nak).await.unwrap();
    assert!(setup.metric_becomes(NAK, 1.0).await, "{}", radiusd.log());

    // The NAS goes away holding the request: reported, and not sent again by UDP.
    let request = spend_quota(&mut stream, Profile::Classic, "fup2", "n-2").await;
    check_coa(&request, "fup2", "n-2");
    drop(stream);
    assert!(setup.metric_becomes(ERROR, 1.0).await, "{}", radiusd.log());

    // No connection open: the next CoA goes by UDP to the NAS's CoA port, signed with
    // its UDP secret, and is the first datagram there.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (id, status) in [(1, 1), (2, 3)] {
        let packet = acct(
            Profile::Classic,
            id,
            status,
            "fup3",
            "n-3",
            SECRET.as_bytes(),
        );
        let reply = exchange(&udp, radiusd.acct, &packet, WAIT).expect("accounted");
        assert_eq!(
            Packet::decode(&reply).unwrap().code(),
            Code::AccountingResponse
        );
    }
    let nas = &setup.udp_nas;
    nas.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 4096];
    let (len, from) = nas.recv_from(&mut buf).expect("a CoA by UDP");
    let request = Packet::decode(&buf[..len]).unwrap();
    assert_eq!(request.code(), Code::CoaRequest);
    assert!(verify_request_digest(&request, SECRET.as_bytes()));
    assert_eq!(request.value(attr::USER_NAME), Some(&b"fup3"[..]));
    nas.send_to(
        &answer(&buf[..len], Code::CoaAck, None, SECRET.as_bytes()),
        from,
    )
    .unwrap();
    assert!(setup.metric_becomes(ACK, 1.0).await, "{}", radiusd.log());

    // radiusd serves new connections as before.
    let mut stream = setup.connect(&[]).await;
    stream.write_all(&status_server(3)).await.unwrap();
    let reply = read_packet(&mut stream).await.unwrap();
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessAccept);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_radius_1_1_the_coa_carries_a_token_and_the_ack_is_matched_by_it() {
    let setup = setup().await;
    let mut stream = setup.connect(&[b"radius/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"radius/1.1"[..]));
    let request = spend_quota(&mut stream, Profile::Radius11, "fup1", "v-1").await;
    let p = Packet::decode(&request).unwrap();
    assert_eq!(p.identifier(), 0);
    assert_eq!(&request[8..20], &[0; 12]);
    assert!(p.attr(attr::MESSAGE_AUTHENTICATOR).is_none());
    assert_eq!(p.value(attr::ACCT_SESSION_ID), Some(&b"v-1"[..]));
    assert_eq!(
        p.vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT),
        Some(&b"512k/1M"[..])
    );
    // An ACK with another Token answers nothing; the one with the request's does.
    let ack = |token| {
        let mut buf = BytesMut::new();
        Encoder::radius11(&mut buf, Code::CoaAck, token)
            .finish(RADSEC)
            .unwrap()
            .to_vec()
    };
    let mut other = p.token();
    other[0] ^= 0xff;
    stream.write_all(&ack(other)).await.unwrap();
    stream.write_all(&ack(p.token())).await.unwrap();
    assert!(
        setup.metric_becomes(ACK, 1.0).await,
        "{}",
        setup.radiusd.log()
    );
    assert_eq!(
        setup
            .radiusd
            .metric("radius_dropped_packets_total{reason=\"unexpected_code\"}"),
        1.0
    );
}
