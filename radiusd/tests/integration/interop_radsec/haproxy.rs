//! radsecproxy through HAProxy running the RadSec part of the shipped haproxy/haproxy.cfg
//! in front of a radiusd pair: one radiusd dies, or is marked down, in the middle of a
//! series of requests; none is answered wrongly, and the lost ones are counted.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proisp_radius::authenticator::verify_reply;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_testing::{Pki, TestEnv, wait_until_blocking};

use super::{
    NAS_NAME, Peer, TempDir, WAIT, acct, database, installed, radiusd, radsecproxy, tls_nas,
};
use crate::harness::{Options, Radiusd, SECRET, free_ports, pap, pap_packet, private_database};

/// Where Debian's package puts it (outside a non-root PATH).
const HAPROXY: &str = "/usr/sbin/haproxy";

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

/// How long radsecproxy may take to connect again: 1.9 does not reconnect to a server
/// within 30 s of its last successful connection (`connect_wait` in its util.c: a hold-off
/// against flapping), and the tests' connections are younger than that when their radiusd
/// goes; a few seconds more for its whole-second clock and HAProxy's checks.
const RECONNECT: Duration = Duration::from_secs(45);

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
/// through.
fn holder(pair: &[(Radiusd, SocketAddr); 2]) -> usize {
    let open = pair
        .each_ref()
        .map(|(r, _)| r.metric("radius_stream_connections{listener=\"tls\"}"));
    match open {
        [1.0, 0.0] => 0,
        [0.0, 1.0] => 1,
        _ => panic!("radsecproxy's one connection is not on one radiusd: {open:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_radiusd_pair_survives_one_dying() {
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
    let holder = holder(&pair);
    let survivor = 1 - holder;

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
    // radsecproxy's reconnect hold-off is in these figures (see RECONNECT).
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
async fn a_radiusd_marked_down_loses_its_connections_to_the_other() {
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
    let holder = holder(&pair);
    let (survivor, _) = &pair[1 - holder];

    // The holder's PostgreSQL stops: its /health fails, HAProxy marks it down and closes
    // its connections (on-marked-down shutdown-sessions); radsecproxy reconnects and lands
    // on the other. Requests keep coming meanwhile, until 50 after the switch.
    databases[holder].stop().await;
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tally, switched) = std::thread::scope(|scope| {
        let series = scope.spawn(|| pap_series(udp, 20_000, Duration::from_secs(2), &done, &stop));
        let switched = wait_until_blocking(RECONNECT, || {
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
