//! RadSec (RADIUS/TLS, RFC 6614) with peers no one here wrote: Debian's radsecproxy and
//! FreeRADIUS turn radclient's UDP requests into RadSec to radiusd; radsecproxy also
//! through HAProxy running the RadSec part of haproxy/haproxy.cfg in front of a radiusd
//! pair, one of which dies.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    Options, RadclientReply, Radiusd, SECRET, exchange, free_ports, pap, pap_packet,
    private_database, radclient, seed,
};

/// Where Debian's packages put them (outside a non-root PATH).
const RADSECPROXY: &str = "/usr/sbin/radsecproxy";
const HAPROXY: &str = "/usr/sbin/haproxy";
const FREERADIUS: &str = "/usr/sbin/freeradius";

/// The identity the test NAS's certificate (radsecproxy's client certificate) carries.
const NAS_NAME: &str = "nas1.proisp.test";

/// How long a test waits for a peer to come up or a state to be reached.
const WAIT: Duration = Duration::from_secs(20);

/// A process this test started: killed and reaped when dropped; its log is printed when
/// the test fails.
struct Peer {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Peer {
    /// Starts `command` with standard output and error in `log`.
    fn spawn(name: &'static str, command: &mut Command, log: PathBuf) -> Peer {
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Peer { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the process has exited.
    fn assert_running(&mut self) {
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
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let [port] = free_ports::<1>();
        let dir = std::env::temp_dir().join(format!(
            "interop-radsec-{tag}-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn installed(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: scripts/deps.sh (run by `make test`) installs Debian's {package}"
    );
}

/// A database with three subscribers and the NAS the RadSec client is.
async fn database() -> TestEnv {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 3).await;
    store.create_nas(&tls_nas()).await.unwrap();
    env
}

/// The NAS the RadSec client (radsecproxy, FreeRADIUS) is: known by its certificate's
/// identity (at an address no connection comes from), signing with `radsec` inside TLS.
fn tls_nas() -> NewNas {
    let mut nas = NewNas::new(
        "bras-radsecproxy",
        "192.0.2.1".parse().unwrap(),
        b"unused-udp-secret",
    );
    nas.tls = NasTls {
        identity: Some(NAS_NAME.into()),
        own_secret: false,
    };
    nas
}

/// radiusd with `options` and a `[radsec]` listener on a free port (and more `settings`):
/// the process and the listener's address.
fn radiusd(env: &TestEnv, pki: &Pki, settings: &str, options: Options) -> (Radiusd, SocketAddr) {
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
fn radsecproxy(dir: &Path, pki: &Pki, server: SocketAddr) -> (Peer, SocketAddr) {
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
fn mschapv2_request(id: u8, user: &str, pw: &str) -> (Vec<u8>, [u8; 16], [u8; 24]) {
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
fn acct(to: SocketAddr, status: &str, user: &str, session: &str) -> RadclientReply {
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

/// The RadSec part of the shipped haproxy/haproxy.cfg on loopback ports: its global
/// settings without what only root may do, logging to standard error; the HTTP defaults
/// and stats frontend (the test reads the servers' states there); the RadSec defaults,
/// frontend and backend with `radiusd`'s (RadSec, metrics) ports, and every health check
/// logged. The admin API's frontend and backend are left out. Every edit must apply
/// exactly once, so a change to the shipped file that this copy would silently miss fails
/// the test instead.
fn haproxy_config(front: u16, stats: u16, radiusd: [(SocketAddr, SocketAddr); 2]) -> String {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../haproxy/haproxy.cfg");
    let shipped = std::fs::read_to_string(shipped).unwrap();
    let mut cfg = String::new();
    let mut keep = true;
    let mut left_out = 0;
    for line in shipped.split_inclusive('\n') {
        if line.starts_with(|c: char| c.is_ascii_alphabetic()) {
            keep = !matches!(line.trim(), "frontend adminapi" | "backend adminapi");
            left_out += usize::from(!keep);
        }
        if keep {
            cfg.push_str(line);
        }
    }
    assert_eq!(
        left_out, 2,
        "haproxy.cfg changed: no adminapi frontend and backend"
    );
    let server = |n: usize| {
        let (radsec, metrics) = radiusd[n - 1];
        (
            format!(" radiusd{n} 10.0.0.1{n}:2083 send-proxy-v2 check port 9812\n"),
            format!(
                " radiusd{n} {radsec} send-proxy-v2 check port {}\n",
                metrics.port()
            ),
        )
    };
    let edits = [
        (
            "    log /dev/log local0\n".to_owned(),
            "    log stderr format short local0\n".to_owned(),
        ),
        ("    chroot /var/lib/haproxy\n".to_owned(), String::new()),
        ("    user haproxy\n".to_owned(), String::new()),
        ("    group haproxy\n".to_owned(), String::new()),
        (
            "    stats socket /run/haproxy/admin.sock mode 660 level admin\n".to_owned(),
            String::new(),
        ),
        (
            "    bind :2083\n".to_owned(),
            format!("    bind 127.0.0.1:{front}\n"),
        ),
        (
            "    bind 127.0.0.1:8404\n".to_owned(),
            format!("    bind 127.0.0.1:{stats}\n"),
        ),
        (
            "    option httpchk\n".to_owned(),
            "    option httpchk\n    option log-health-checks\n".to_owned(),
        ),
        server(1),
        server(2),
    ];
    for (from, to) in edits {
        assert_eq!(
            cfg.matches(&from).count(),
            1,
            "haproxy.cfg changed: this test expects `{}` once",
            from.trim()
        );
        cfg = cfg.replace(&from, &to);
    }
    cfg
}

/// One `GET path` over HTTP/1.0: the body, unchunked (HAProxy's stats page is chunked even
/// to HTTP/1.0). `None` when nothing answers.
fn http_get(to: SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, mut body) = answer.split_once("\r\n\r\n")?;
    if !head
        .to_ascii_lowercase()
        .contains("\r\ntransfer-encoding: chunked")
    {
        return Some(body.to_owned());
    }
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest[size..].trim_start_matches("\r\n");
    }
}

/// The RadSec servers' `status` and `check_status` in HAProxy's stats CSV, in order:
/// `["UP L7OK", "DOWN L4CON"]`.
fn server_states(stats: SocketAddr) -> Vec<String> {
    let Some(csv) = http_get(stats, "/stats;csv") else {
        return Vec::new();
    };
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(proxy), Some(server), Some(state), Some(check)) = (
        column("pxname"),
        column("svname"),
        column("status"),
        column("check_status"),
    ) else {
        return Vec::new();
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() == header.len() && f[proxy] == "radsec")
        .filter(|f| f[server].starts_with("radiusd"))
        .map(|f| format!("{} {}", f[state], f[check]))
        .collect()
}

/// Waits until HAProxy reports the RadSec servers in `want`.
fn wait_for_states(haproxy: &mut Peer, stats: SocketAddr, want: [&str; 2]) {
    let mut seen = Vec::new();
    let reached = wait_until_blocking(WAIT, || {
        haproxy.assert_running();
        seen = server_states(stats);
        seen == want
    });
    assert!(
        reached,
        "HAProxy's RadSec servers are {seen:?}, not {want:?}"
    );
}

/// radsecproxy 1.9 does not reconnect to a server within 30 s of its last successful
/// connection (`connect_wait` in its util.c: a hold-off against flapping), and reconnects
/// at once after that; a second more for its whole-second clock.
const RECONNECT_HOLD_OFF: Duration = Duration::from_secs(31);

/// What became of one request sent through radsecproxy.
#[derive(Debug, Default)]
struct Tally {
    /// Answered right within the request's own wait.
    answered: usize,
    /// Answered right, but only after the next requests had been sent.
    late: usize,
    /// Never answered.
    lost: usize,
    /// The wrong answer (an Accept for a wrong password, a Reject for the right one, a
    /// reply that does not verify), and to which request.
    wrong: Vec<String>,
}

/// Sends up to `max` PAP requests through `udp` one after another, until `stop`, each
/// waiting `wait` for its reply, alternating the right and a wrong password, and counts in
/// `done` the requests whose wait is over. Replies that come late are still checked, from
/// a socket of each 256 requests' own (an Identifier is not reused on one socket), until
/// `wait` after its last request.
fn pap_series(
    udp: SocketAddr,
    max: usize,
    wait: Duration,
    done: &AtomicUsize,
    stop: &AtomicBool,
) -> Tally {
    let mut tally = Tally::default();
    let mut sent = 0;
    while sent < max && !stop.load(Ordering::Relaxed) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut pending: HashMap<u8, ([u8; 16], bool)> = HashMap::new();
        for id in 0..=u8::MAX {
            if sent == max || stop.load(Ordering::Relaxed) {
                break;
            }
            let accept = id % 2 == 0;
            let pw = if accept { "pw000001" } else { "pw000002" };
            let (packet, auth) = pap_packet(id, "user000001", pw, true);
            pending.insert(id, (auth, accept));
            socket.send_to(&packet, udp).unwrap();
            collect(&socket, &mut pending, &mut tally, Some(id), wait);
            sent += 1;
            done.fetch_add(1, Ordering::Relaxed);
        }
        collect(&socket, &mut pending, &mut tally, None, wait);
        tally.lost += pending.len();
    }
    tally
}

/// Takes the replies `socket` receives, checking each against its request in `pending`,
/// until request `id` is answered (`None`: until none is pending) or `wait` has passed.
fn collect(
    socket: &UdpSocket,
    pending: &mut HashMap<u8, ([u8; 16], bool)>,
    tally: &mut Tally,
    id: Option<u8>,
    wait: Duration,
) {
    let until = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < until && id.map_or(!pending.is_empty(), |id| pending.contains_key(&id)) {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let Ok(reply) = Packet::decode(&buf[..n]) else {
            tally
                .wrong
                .push(format!("undecodable reply {:02x?}", &buf[..n]));
            continue;
        };
        let Some((auth, accept)) = pending.remove(&reply.identifier()) else {
            tally
                .wrong
                .push(format!("a second reply to {}", reply.identifier()));
            continue;
        };
        let want = if accept {
            Code::AccessAccept
        } else {
            Code::AccessReject
        };
        if reply.code() != want || verify_reply(&reply, &auth, SECRET.as_bytes(), true).is_err() {
            tally.wrong.push(format!(
                "{:?} to request {} (accept due: {accept})",
                reply.code(),
                reply.identifier()
            ));
        } else if Some(reply.identifier()) == id {
            tally.answered += 1;
        } else {
            tally.late += 1;
        }
    }
}

/// What haproxy/README.md asks of radiusd behind HAProxy, which connects from 127.0.0.1.
const PROXIED: &str = "proxy_from = [\"127.0.0.1/32\"]";

/// HAProxy on the shipped config's RadSec part in front of `pair`, and radsecproxy
/// connected to it, once HAProxy's checks have passed: HAProxy, its stats address,
/// radsecproxy and its UDP address.
fn behind_haproxy(
    dir: &Path,
    pki: &Pki,
    pair: &[(Radiusd, SocketAddr); 2],
) -> (Peer, SocketAddr, Peer, SocketAddr) {
    installed(HAPROXY, "haproxy");
    let [front, stats] = free_ports::<2>();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        haproxy_config(
            front,
            stats,
            pair.each_ref().map(|(r, radsec)| (*radsec, r.metrics)),
        ),
    )
    .unwrap();
    let mut haproxy = Peer::spawn(
        "haproxy",
        Command::new(HAPROXY).arg("-db").arg("-f").arg(&cfg),
        dir.join("haproxy.log"),
    );
    let (front, stats) = (
        SocketAddr::from(([127, 0, 0, 1], front)),
        SocketAddr::from(([127, 0, 0, 1], stats)),
    );
    // A check must have passed: servers start UP before their first check.
    wait_for_states(&mut haproxy, stats, ["UP L7OK", "UP L7OK"]);
    let (radsecproxy, udp) = radsecproxy(dir, pki, front);
    (haproxy, stats, radsecproxy, udp)
}

/// Which radiusd of `pair` holds radsecproxy's one connection, once a request went
/// through, and a time after it opened.
fn holder(pair: &[(Radiusd, SocketAddr); 2]) -> (usize, Instant) {
    let open = pair
        .each_ref()
        .map(|(r, _)| r.metric("radius_stream_connections{listener=\"tls\"}"));
    let open_since = Instant::now();
    match open {
        [1.0, 0.0] => (0, open_since),
        [0.0, 1.0] => (1, open_since),
        _ => panic!("radsecproxy's one connection is not on one radiusd: {open:?}"),
    }
}

/// Returns once radsecproxy's connection to `holder`, open since before `open_since`, is
/// past radsecproxy's reconnect hold-off, and its watchdog has reached `holder` through
/// HAProxy (once the connection has been quiet for 25 s).
fn past_hold_off(holder: &Radiusd, open_since: Instant) {
    let watched = wait_until_blocking(Duration::from_secs(60), || {
        holder.metric("radius_status_server_total") >= 1.0
    });
    assert!(watched, "no Status-Server from radsecproxy through HAProxy");
    // A NAS's connection is days old when its radiusd fails. This one is not past its
    // hold-off yet (see RECONNECT_HOLD_OFF): this waits out radsecproxy's own timer, which
    // nothing outside it announces, so that the switch measured afterwards is HAProxy's
    // and radiusd's rather than the hold-off.
    std::thread::sleep(RECONNECT_HOLD_OFF.saturating_sub(open_since.elapsed()));
}

#[tokio::test(flavor = "multi_thread")]
async fn through_haproxy_a_radiusd_pair_survives_one_dying() {
    let env = database().await;
    let dir = TempDir::new("haproxy");
    let pki = Pki::generate(&dir.0, NAS_NAME).unwrap();
    let mut pair = [
        radiusd(&env, &pki, PROXIED, Options::default()),
        radiusd(&env, &pki, PROXIED, Options::default()),
    ];
    let (mut haproxy, stats, _radsecproxy, udp) = behind_haproxy(&dir.0, &pki, &pair);

    // Through HAProxy: the PROXY header is read (radiusd refuses a connection from
    // 127.0.0.1 without one) and the certificate names the NAS.
    let ok = pap(udp, "user000001", "pw000001");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
    let bad = pap(udp, "user000001", "pw000002");
    assert_eq!(bad.code, "Access-Reject", "{}", bad.output);
    let start = acct(udp, "Start", "user000003", "haproxy-1");
    assert_eq!(start.code, "Accounting-Response", "{}", start.output);
    let (holder, open_since) = holder(&pair);
    let survivor = 1 - holder;
    past_hold_off(&pair[holder].0, open_since);

    // The radiusd holding radsecproxy's connection dies in the middle of a series of
    // requests, one after another as a NAS's logins come.
    let done = AtomicUsize::new(0);
    let never = AtomicBool::new(false);
    let tally = std::thread::scope(|scope| {
        let series = scope.spawn(|| pap_series(udp, 200, Duration::from_secs(2), &done, &never));
        let started = wait_until_blocking(WAIT, || done.load(Ordering::Relaxed) >= 50);
        pair[holder].0.kill9();
        let tally = series.join().unwrap();
        assert!(started, "the first 50 requests took too long: {tally:?}");
        tally
    });
    eprintln!(
        "RadSec failover through HAProxy, radiusd killed: of 200 requests {} answered in \
         time, {} late, {} lost",
        tally.answered, tally.late, tally.lost
    );
    assert!(tally.wrong.is_empty(), "wrong answers: {:?}", tally.wrong);
    let (survivor, _) = &pair[survivor];
    assert_eq!(
        survivor.metric("radius_stream_connections{listener=\"tls\"}"),
        1.0,
        "radsecproxy did not reconnect to the surviving radiusd"
    );
    let mut want = ["UP L7OK"; 2];
    want[holder] = "DOWN L4CON";
    wait_for_states(&mut haproxy, stats, want);
    let ok = pap(udp, "user000001", "pw000001");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
}

#[tokio::test(flavor = "multi_thread")]
async fn through_haproxy_a_radiusd_marked_down_loses_its_connections_to_the_other() {
    let env = TestEnv::start().await;
    let dir = TempDir::new("marked-down");
    let pki = Pki::generate(&dir.0, NAS_NAME).unwrap();
    // Each radiusd with a PostgreSQL of its own and no Redis: stopping one's PostgreSQL
    // fails that one's /health alone, while the process lives on.
    let mut databases = Vec::new();
    let mut pair = Vec::new();
    for i in 0..2 {
        let (pg, url, store) = private_database(&env, &format!("radsec_{i}"), 3).await;
        store.create_nas(&tls_nas()).await.unwrap();
        let options = Options {
            database_url: Some(url),
            redis: false,
            ..Options::default()
        };
        pair.push(radiusd(&env, &pki, PROXIED, options));
        databases.push(pg);
    }
    let Ok(pair) = <[_; 2]>::try_from(pair) else {
        unreachable!("two radiusd")
    };
    let (mut haproxy, stats, _radsecproxy, udp) = behind_haproxy(&dir.0, &pki, &pair);
    let ok = pap(udp, "user000001", "pw000001");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
    let (holder, open_since) = holder(&pair);
    let (survivor, _) = &pair[1 - holder];
    past_hold_off(&pair[holder].0, open_since);

    // The holder's PostgreSQL stops: its /health fails, HAProxy marks it down and closes
    // its connections (on-marked-down shutdown-sessions); radsecproxy reconnects and lands
    // on the other. Requests keep coming meanwhile, until 50 after the switch.
    databases[holder].stop().await;
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tally, switched) = std::thread::scope(|scope| {
        let series = scope.spawn(|| pap_series(udp, 20_000, Duration::from_secs(2), &done, &stop));
        let switched = wait_until_blocking(WAIT, || {
            survivor.metric("radius_stream_connections{listener=\"tls\"}") == 1.0
        });
        let at = done.load(Ordering::Relaxed);
        wait_until_blocking(WAIT, || done.load(Ordering::Relaxed) >= at + 50);
        stop.store(true, Ordering::Relaxed);
        (series.join().unwrap(), switched)
    });
    eprintln!(
        "RadSec failover through HAProxy, radiusd marked down: of {} requests {} answered \
         in time, {} late, {} lost",
        done.load(Ordering::Relaxed),
        tally.answered,
        tally.late,
        tally.lost
    );
    assert!(tally.wrong.is_empty(), "wrong answers: {:?}", tally.wrong);
    assert!(
        switched,
        "radsecproxy's connection did not move to the other radiusd"
    );
    let mut want = ["UP L7OK"; 2];
    want[holder] = "DOWN L7STS";
    wait_for_states(&mut haproxy, stats, want);
    // The holder lives on; HAProxy closed its connection.
    assert_eq!(
        pair[holder]
            .0
            .metric("radius_stream_closed_total{listener=\"tls\",reason=\"peer\"}"),
        1.0
    );
}

/// FreeRADIUS 3.2 as a RadSec client: clients on UDP 127.0.0.1 with `SECRET`, every
/// request proxied to a home server over TLS (`proto = tcp` with a `tls` block) at
/// `server`, with the NAS certificate. Returns once it is ready: the process and its auth
/// and accounting ports.
fn freeradius(dir: &Path, pki: &Pki, server: SocketAddr) -> (Peer, SocketAddr, SocketAddr) {
    installed(FREERADIUS, "freeradius");
    let [auth, acct] = free_ports::<2>().map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    let confdir = dir.join(format!("freeradius-{}", auth.port()));
    std::fs::create_dir_all(&confdir).unwrap();
    let d = confdir.display();
    std::fs::write(
        confdir.join("radiusd.conf"),
        format!(
            r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {d}
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
confdir = {d}
modconfdir = {d}
certdir = {d}
cadir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
    destination = stdout
}}
security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = yes
}}
thread pool {{
    start_servers = 2
    max_servers = 4
    min_spare_servers = 1
    max_spare_servers = 4
}}
proxy_requests = yes
proxy server {{
    default_fallback = no
}}
home_server radiusd {{
    ipaddr = {ip}
    port = {port}
    type = auth+acct
    proto = tcp
    secret = radsec
    status_check = none
    tls {{
        private_key_file = {key}
        certificate_file = {cert}
        ca_file = {ca}
        fragment_size = 8192
        cipher_list = "DEFAULT"
        connect_timeout = 5
    }}
}}
home_server_pool radsec {{
    type = fail-over
    home_server = radiusd
}}
realm radsec {{
    auth_pool = radsec
    acct_pool = radsec
    nostrip
}}
client test {{
    ipaddr = 127.0.0.1
    secret = {SECRET}
}}
modules {{
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {auth_port}
    }}
    listen {{
        type = acct
        ipaddr = 127.0.0.1
        port = {acct_port}
    }}
    authorize {{
        update control {{
            &Proxy-To-Realm := "radsec"
        }}
    }}
    authenticate {{
    }}
    preacct {{
        update control {{
            &Proxy-To-Realm := "radsec"
        }}
    }}
    accounting {{
    }}
}}
"#,
            ip = server.ip(),
            port = server.port(),
            key = pki.nas.key.display(),
            cert = pki.nas.cert.display(),
            ca = pki.ca.display(),
            auth_port = auth.port(),
            acct_port = acct.port(),
        ),
    )
    .unwrap();
    let mut peer = Peer::spawn(
        "freeradius",
        Command::new(FREERADIUS)
            .arg("-X")
            .arg("-n")
            .arg("radiusd")
            .arg("-d")
            .arg(&confdir),
        confdir.join("freeradius.log"),
    );
    let ready = wait_until_blocking(WAIT, || {
        peer.assert_running();
        peer.log().contains("Ready to process requests")
    });
    assert!(ready, "FreeRADIUS is not ready:\n{}", peer.log());
    (peer, auth, acct)
}

#[tokio::test(flavor = "multi_thread")]
async fn freeradius_proxies_every_method_and_accounting_to_radiusd() {
    let env = database().await;
    let dir = TempDir::new("freeradius");
    let pki = Pki::generate(&dir.0, NAS_NAME).unwrap();
    let (radiusd, radsec) = radiusd(&env, &pki, "", Options::default());
    let (freeradius, auth, acct_port) = freeradius(&dir.0, &pki, radsec);
    let log = || freeradius.log();

    // FreeRADIUS (TLS 1.2, its default ceiling) re-hides the password under `radsec` and
    // echoes radiusd's reply, Proxy-State removed, to radclient.
    let ok = pap(auth, "user000001", "pw000001");
    assert_eq!(ok.code, "Access-Accept", "{}\n{}", ok.output, log());
    assert!(ok.has("Mikrotik-Rate-Limit", "10M/20M"), "{}", ok.output);
    let bad = pap(auth, "user000001", "pw000002");
    assert_eq!(bad.code, "Access-Reject", "{}\n{}", bad.output, log());
    assert!(bad.has("Reply-Message", "Wrong password"), "{}", bad.output);

    // FreeRADIUS adds the Request Authenticator it received as a CHAP-Challenge when it
    // proxies CHAP: radiusd checks the response against that, not its own authenticator.
    let chap = |pw: &str| {
        radclient(
            auth,
            "auth",
            &format!(
                "User-Name = \"user000002\"\nCHAP-Password = \"{pw}\"\nMessage-Authenticator = 0x00\n"
            ),
        )
    };
    let ok = chap("pw000002");
    assert_eq!(ok.code, "Access-Accept", "{}\n{}", ok.output, log());
    let bad = chap("pw000001");
    assert_eq!(bad.code, "Access-Reject", "{}\n{}", bad.output, log());

    // MS-CHAPv2: the MPPE keys come back re-encrypted under the client's secret.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (raw, request_auth, nt) = mschapv2_request(7, "user000003", "pw000003");
    let reply = exchange(&socket, auth, &raw, Duration::from_secs(5)).expect("a reply");
    let p = Packet::decode(&reply).unwrap();
    assert_eq!(p.code(), Code::AccessAccept, "{}", log());
    verify_reply(&p, &request_auth, SECRET.as_bytes(), true).unwrap();
    let hash = mschap::nt_password_hash(b"pw000003").unwrap();
    let keys = mschap::mppe_keys_v2(&hash, &nt);
    let recv = p
        .vendor_value(vendor::MICROSOFT, ms::MPPE_RECV_KEY)
        .expect("MS-MPPE-Recv-Key");
    let recv = password::mppe_key_decrypt(recv, SECRET.as_bytes(), &request_auth).unwrap();
    assert_eq!(recv.as_bytes(), &keys.recv);

    // Accounting through FreeRADIUS's accounting listener, over the same home server.
    let start = acct(acct_port, "Start", "user000001", "fr-1");
    assert_eq!(
        start.code,
        "Accounting-Response",
        "{}\n{}",
        start.output,
        log()
    );
    let stop = acct(acct_port, "Stop", "user000001", "fr-1");
    assert_eq!(
        stop.code,
        "Accounting-Response",
        "{}\n{}",
        stop.output,
        log()
    );
    let sql = env.sql().await;
    let closed_by: String = sql
        .query_one(
            "SELECT closed_by FROM session_history WHERE acct_session_id = 'fr-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(closed_by, "stop");

    // One connection for all of it.
    let metrics = radiusd.http("/metrics").unwrap().1;
    assert_eq!(
        radiusd.metric("radius_auth_requests_total{result=\"accept\"}"),
        3.0,
        "{metrics}"
    );
    assert_eq!(
        radiusd.metric("radius_auth_requests_total{result=\"reject\"}"),
        2.0,
        "{metrics}"
    );
    assert_eq!(
        radiusd.metric("radius_stream_connections_total{listener=\"tls\"}"),
        1.0,
        "{metrics}"
    );
}
