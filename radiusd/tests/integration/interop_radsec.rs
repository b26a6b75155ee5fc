//! RadSec (RADIUS/TLS, RFC 6614) with peers no one here wrote: Debian's radsecproxy and
//! FreeRADIUS turn radclient's UDP requests into RadSec to radiusd; radsecproxy also
//! through HAProxy running the RadSec part of haproxy/haproxy.cfg in front of a radiusd
//! pair, one of which dies or is marked down.

mod freeradius;
mod haproxy;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use proisp_model::NasTls;
use proisp_radius::authenticator::{self, verify_reply};
use proisp_radius::dictionary::{attr, ms, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::{mschap, password};
use proisp_store::NewNas;
use proisp_testing::{Pki, TestEnv, wait_until_blocking};

use crate::harness::{
    Options, RadclientReply, Radiusd, SECRET, exchange, free_ports, pap, radclient, seed,
};

/// Where Debian's package puts it (outside a non-root PATH).
const RADSECPROXY: &str = "/usr/sbin/radsecproxy";

/// The identity the test NAS's certificate (radsecproxy's client certificate) carries.
pub(super) const NAS_NAME: &str = "nas1.proisp.test";

/// How long a test waits for a peer to come up or a state to be reached.
pub(super) const WAIT: Duration = Duration::from_secs(20);

/// A process this test started: killed and reaped when dropped; its log is printed when
/// the test fails.
pub(super) struct Peer {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Peer {
    /// Starts `command` with standard output and error in `log`.
    pub(super) fn spawn(name: &'static str, command: &mut Command, log: PathBuf) -> Peer {
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Peer { name, child, log }
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the process has exited.
    pub(super) fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}:\n{}", self.name, self.log());
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log:\n{}", self.name, self.log());
        }
    }
}

/// This test's files; removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("interop-radsec-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Panics, naming the Debian package, unless `path` is installed.
pub(super) fn installed(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: scripts/deps.sh (run by `make test`) installs Debian's {package}"
    );
}

/// A database with three subscribers and the NAS the RadSec client is.
pub(super) async fn database() -> TestEnv {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 3).await;
    store.create_nas(&tls_nas()).await.unwrap();
    env
}

/// The NAS the RadSec client (radsecproxy, FreeRADIUS) is: known by its certificate's
/// identity (at an address no connection comes from), signing with `radsec` inside TLS.
pub(super) fn tls_nas() -> NewNas {
    let mut nas = NewNas::new(
        "bras-radsecproxy",
        "192.0.2.1".parse().unwrap(),
        b"unused-udp-secret",
    );
    nas.tls = NasTls {
        identity: Some(NAS_NAME.into()),
        ..NasTls::default()
    };
    nas
}

/// radiusd with `options` and a `[radsec]` listener on a free port (and more `settings`):
/// the process and the listener's address.
pub(super) fn radiusd(
    env: &TestEnv,
    pki: &Pki,
    settings: &str,
    options: Options,
) -> (Radiusd, SocketAddr) {
    let [port] = free_ports::<1>();
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let extra = format!(
        "[radsec]\nlisten = \"{listen}\"\nca = {:?}\ncertificate = {:?}\nkey = {:?}\n{settings}\n",
        pki.ca, pki.server.cert, pki.server.key
    );
    let radiusd = Radiusd::start(env, Options { extra, ..options });
    (radiusd, listen)
}

/// A Status-Server with its Message-Authenticator (RFC 5997 §3), signed with `SECRET`.
fn status_server(id: u8) -> Vec<u8> {
    let auth = authenticator::random();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::StatusServer, id, &auth);
    enc.message_authenticator();
    enc.finish(SECRET.as_bytes()).unwrap().to_vec()
}

/// radsecproxy as a NAS would run it: clients on UDP 127.0.0.1 with `SECRET`, every realm
/// forwarded over RadSec to `server` with the NAS certificate, checking that the server's
/// certificate names 127.0.0.1, and a Status-Server watchdog on the connection. Returns
/// once it answers on its UDP port: the process and that port.
pub(super) fn radsecproxy(dir: &Path, pki: &Pki, server: SocketAddr) -> (Peer, SocketAddr) {
    installed(RADSECPROXY, "radsecproxy");
    let [port] = free_ports::<1>();
    let udp = SocketAddr::from(([127, 0, 0, 1], port));
    let conf = dir.join(format!("radsecproxy-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "ListenUDP {udp}\n\
             LogLevel 4\n\
             tls nas {{\n\
             \tCACertificateFile {ca}\n\
             \tCertificateFile {cert}\n\
             \tCertificateKeyFile {key}\n\
             }}\n\
             client 127.0.0.1 {{\n\
             \ttype udp\n\
             \tsecret {SECRET}\n\
             }}\n\
             server radiusd {{\n\
             \ttype tls\n\
             \thost {host}\n\
             \tport {server_port}\n\
             \tsecret radsec\n\
             \ttls nas\n\
             \tCertificateNameCheck on\n\
             \tStatusServer on\n\
             }}\n\
             realm * {{\n\
             \tserver radiusd\n\
             \taccountingServer radiusd\n\
             }}\n",
            ca = pki.ca.display(),
            cert = pki.nas.cert.display(),
            key = pki.nas.key.display(),
            host = server.ip(),
            server_port = server.port(),
        ),
    )
    .unwrap();
    let mut peer = Peer::spawn(
        "radsecproxy",
        Command::new(RADSECPROXY).arg("-f").arg("-c").arg(&conf),
        dir.join(format!("radsecproxy-{port}.log")),
    );
    // radsecproxy answers a Status-Server on its UDP side itself: it is listening.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up = wait_until_blocking(WAIT, || {
        peer.assert_running();
        exchange(&socket, udp, &status_server(1), Duration::from_millis(200))
            .is_some_and(|r| Packet::decode(&r).is_ok_and(|p| p.code() == Code::AccessAccept))
    });
    assert!(up, "radsecproxy does not answer on {udp}:\n{}", peer.log());
    (peer, udp)
}

/// An MS-CHAPv2 Access-Request as a PPP NAS sends it, signed with `SECRET`: the packet,
/// its Request Authenticator and the NT-Response.
pub(super) fn mschapv2_request(id: u8, user: &str, pw: &str) -> (Vec<u8>, [u8; 16], [u8; 24]) {
    let auth_challenge: [u8; 16] = rand::random();
    let peer: [u8; 16] = rand::random();
    let hash = mschap::nt_password_hash(pw.as_bytes()).unwrap();
    let nt = mschap::generate_nt_response(&auth_challenge, &peer, user.as_bytes(), &hash);
    let mut response = vec![1, 0];
    response.extend_from_slice(&peer);
    response.extend_from_slice(&[0; 8]);
    response.extend_from_slice(&nt);
    let request_auth = authenticator::random();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccessRequest, id, &request_auth);
    enc.message_authenticator()
        .attr(attr::USER_NAME, user.as_bytes())
        .vsa(vendor::MICROSOFT, ms::CHAP_CHALLENGE, &auth_challenge)
        .vsa(vendor::MICROSOFT, ms::CHAP2_RESPONSE, &response);
    let raw = enc.finish(SECRET.as_bytes()).unwrap().to_vec();
    (raw, request_auth, nt)
}

/// radclient's Accounting-Request for `user`'s session `session`.
pub(super) fn acct(to: SocketAddr, status: &str, user: &str, session: &str) -> RadclientReply {
    radclient(
        to,
        "acct",
        &format!(
            "Acct-Status-Type = {status}\nUser-Name = \"{user}\"\nAcct-Session-Id = \"{session}\"\n\
             NAS-IP-Address = 127.0.0.1\nAcct-Session-Time = 60\nAcct-Output-Octets = 5000\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn radsecproxy_forwards_every_method_and_accounting_to_radiusd() {
    let env = database().await;
    let dir = TempDir::new("direct");
    let pki = Pki::generate(&dir.0, NAS_NAME).unwrap();
    let (radiusd, radsec) = radiusd(&env, &pki, "", Options::default());
    let (_radsecproxy, udp) = radsecproxy(&dir.0, &pki, radsec);

    // PAP: radsecproxy hides the password again under `radsec`, radiusd's reply comes back
    // signed with the client's secret.
    let ok = pap(udp, "user000001", "pw000001");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
    assert!(ok.has("Mikrotik-Rate-Limit", "10M/20M"), "{}", ok.output);
    assert!(ok.has("Framed-Pool", "residential"), "{}", ok.output);
    let bad = pap(udp, "user000001", "pw000002");
    assert_eq!(bad.code, "Access-Reject", "{}", bad.output);
    assert!(bad.has("Reply-Message", "Wrong password"), "{}", bad.output);

    // CHAP: the challenge is the Request Authenticator, which the proxy must keep.
    let chap = |pw: &str| {
        radclient(
            udp,
            "auth",
            &format!(
                "User-Name = \"user000002\"\nCHAP-Password = \"{pw}\"\nMessage-Authenticator = 0x00\n"
            ),
        )
    };
    let ok = chap("pw000002");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
    let bad = chap("pw000001");
    assert_eq!(bad.code, "Access-Reject", "{}", bad.output);

    // MS-CHAPv2: the MPPE keys radiusd encrypts under `radsec` reach the NAS encrypted
    // under its own secret, and decrypt to the keys the password derives.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (raw, request_auth, nt) = mschapv2_request(7, "user000003", "pw000003");
    let reply = exchange(&socket, udp, &raw, Duration::from_secs(5)).expect("a reply");
    let p = Packet::decode(&reply).unwrap();
    assert_eq!(p.code(), Code::AccessAccept);
    verify_reply(&p, &request_auth, SECRET.as_bytes(), true).unwrap();
    assert!(
        p.vendor_value(vendor::MICROSOFT, ms::CHAP2_SUCCESS)
            .is_some()
    );
    let hash = mschap::nt_password_hash(b"pw000003").unwrap();
    let keys = mschap::mppe_keys_v2(&hash, &nt);
    let recv = p
        .vendor_value(vendor::MICROSOFT, ms::MPPE_RECV_KEY)
        .expect("MS-MPPE-Recv-Key");
    let recv = password::mppe_key_decrypt(recv, SECRET.as_bytes(), &request_auth).unwrap();
    assert_eq!(recv.as_bytes(), &keys.recv);
    let (raw, _, _) = mschapv2_request(8, "user000003", "pw000001");
    let reply = exchange(&socket, udp, &raw, Duration::from_secs(5)).expect("a reply");
    let p = Packet::decode(&reply).unwrap();
    assert_eq!(p.code(), Code::AccessReject);
    assert!(p.vendor_value(vendor::MICROSOFT, ms::CHAP_ERROR).is_some());

    // Accounting Start and Stop, acknowledged once recorded.
    let start = acct(udp, "Start", "user000001", "rsp-1");
    assert_eq!(start.code, "Accounting-Response", "{}", start.output);
    let stop = acct(udp, "Stop", "user000001", "rsp-1");
    assert_eq!(stop.code, "Accounting-Response", "{}", stop.output);
    let sql = env.sql().await;
    let row = sql
        .query_one(
            "SELECT download_octets, closed_by FROM session_history \
             WHERE acct_session_id = 'rsp-1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 5000);
    assert_eq!(row.get::<_, String>(1), "stop");

    // Status-Server from radclient is answered by radsecproxy itself; radsecproxy's own
    // watchdog Status-Server reaches radiusd over the connection.
    let status = radclient(udp, "status", "Message-Authenticator = 0x00\n");
    assert_eq!(status.code, "Access-Accept", "{}", status.output);
    let watched = wait_until_blocking(Duration::from_secs(60), || {
        radiusd.metric("radius_status_server_total") >= 1.0
    });
    assert!(watched, "no Status-Server from radsecproxy");

    // All of it over one RadSec connection, still open.
    let metrics = radiusd.http("/metrics").unwrap().1;
    for (series, want) in [
        ("radius_auth_requests_total{result=\"accept\"}", 3.0),
        ("radius_auth_requests_total{result=\"reject\"}", 3.0),
        (
            "radius_acct_requests_total{status=\"start\",durability=\"committed\"}",
            1.0,
        ),
        (
            "radius_acct_requests_total{status=\"stop\",durability=\"committed\"}",
            1.0,
        ),
    ] {
        assert_eq!(radiusd.metric(series), want, "{series}\n{metrics}");
    }
    assert_eq!(
        radiusd.metric("radius_stream_connections_total{listener=\"tls\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        radiusd.metric("radius_stream_connections{listener=\"tls\"}"),
        1.0,
        "{metrics}"
    );
}
