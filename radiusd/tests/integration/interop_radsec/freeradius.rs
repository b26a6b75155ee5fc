//! FreeRADIUS 3.2 as a RadSec client: radclient's UDP requests proxied to radiusd over a
//! home server with `proto = tcp` and a `tls` block.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use proisp_radius::authenticator::verify_reply;
use proisp_radius::dictionary::{ms, vendor};
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::{mschap, password};
use proisp_testing::{Pki, wait_until_blocking};

use super::{NAS_NAME, Peer, TempDir, WAIT, acct, database, installed, mschapv2_request, radiusd};
use crate::harness::{Options, SECRET, exchange, free_ports, pap, radclient};

/// Where Debian's freeradius package puts the server (outside a non-root PATH).
const FREERADIUS: &str = "/usr/sbin/freeradius";

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
async fn proxies_every_method_and_accounting_to_radiusd() {
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
