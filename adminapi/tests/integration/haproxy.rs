//! haproxy/haproxy.cfg: it passes `haproxy -c` as shipped, and a copy moved to loopback
//! ports balances two real adminapi instances, keeps answering when one stops and hands
//! the client's address over in X-Forwarded-For.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proisp_testing::{TestEnv, free_ports};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpSocket;

use crate::{LISTENING, LISTENING_LOG, Lines, adminapi, adminapi_stdin, as_refs, stack_env, text};

/// Where Debian's haproxy package puts it (outside a non-root PATH).
const HAPROXY: &str = "/usr/sbin/haproxy";

/// HAProxy and adminapi listen here.
const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The test's client: another loopback address, so that the address adminapi records
/// tells the client (127.0.0.2) from HAProxy (127.0.0.1).
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../haproxy/haproxy.cfg")
}

fn haproxy() -> Command {
    assert!(
        Path::new(HAPROXY).exists(),
        "HAProxy is not installed: scripts/deps.sh (run by `make test`) installs Debian's \
         haproxy package"
    );
    Command::new(HAPROXY)
}

#[test]
fn the_shipped_config_is_valid() {
    let out = haproxy()
        .arg("-c")
        .arg("-f")
        .arg(shipped_config())
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("WARNING"), "{said}");
}

/// A process this test started: killed and reaped when dropped, a failed assert too.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy, with its log in a file that is printed when the test fails.
struct Haproxy {
    process: Child,
    log: PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if std::thread::panicking() {
            eprintln!("{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

/// This test's files; removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shipped config with its addresses moved to loopback ports, its log on standard
/// error (printed when the test fails), and without what only root may do or what reaches
/// outside the test (chroot, user switch, admin socket). Every edit must apply exactly once, so a change to the shipped file that
/// this copy would silently miss fails the test instead. The RadSec frontend listens on
/// a loopback port too, in front of radiusd addresses where nothing listens (radiusd's
/// own tests run it: radiusd/tests/integration/interop_radsec.rs).
fn loopback_config(front: u16, stats: u16, instances: [u16; 2]) -> String {
    let mut cfg = std::fs::read_to_string(shipped_config()).unwrap();
    let [radsec, nobody] = free_ports::<2>();
    let edits = [
        (
            "    log /dev/log local0\n",
            "    log stderr format short local0\n".to_owned(),
        ),
        ("    chroot /var/lib/haproxy\n", String::new()),
        // Every check result in the log: the events the test waits on.
        (
            "    option httpchk GET /health\n",
            "    option httpchk GET /health\n    option log-health-checks\n".to_owned(),
        ),
        ("    user haproxy\n", String::new()),
        ("    group haproxy\n", String::new()),
        (
            "    stats socket /run/haproxy/admin.sock mode 660 level admin\n",
            String::new(),
        ),
        ("    bind :8080\n", format!("    bind {LOCAL}:{front}\n")),
        (
            "    bind 127.0.0.1:8404\n",
            format!("    bind {LOCAL}:{stats}\n"),
        ),
        (
            " adminapi1 10.0.0.11:8080 ",
            format!(" adminapi1 {LOCAL}:{} ", instances[0]),
        ),
        (
            " adminapi2 10.0.0.12:8080 ",
            format!(" adminapi2 {LOCAL}:{} ", instances[1]),
        ),
        ("    bind :2083\n", format!("    bind {LOCAL}:{radsec}\n")),
        (
            " radiusd1 10.0.0.11:2083 send-proxy-v2 check port 9812\n",
            format!(" radiusd1 {LOCAL}:{nobody} send-proxy-v2 check port {nobody}\n"),
        ),
        (
            " radiusd2 10.0.0.12:2083 send-proxy-v2 check port 9812\n",
            format!(" radiusd2 {LOCAL}:{nobody} send-proxy-v2 check port {nobody}\n"),
        ),
    ];
    for (from, to) in edits {
        assert_eq!(
            cfg.matches(from).count(),
            1,
            "haproxy.cfg changed: this test expects `{}` once",
            from.trim()
        );
        cfg = cfg.replace(from, &to);
    }
    cfg
}

/// One HTTP/1.0 exchange from `from` (no keep-alive, no chunked answers): the status
/// and the body.
pub(crate) async fn exchange(from: Ipv4Addr, to: SocketAddr, request: &str) -> (u16, String) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.into(), 0)).unwrap();
    let mut stream = socket
        .connect(to)
        .await
        .unwrap_or_else(|e| panic!("connect to {to}: {e}"));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("no answer from {to} within 10 s to {request}"))
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not HTTP from {to}: {answer}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status from {to}: {head}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("\r\ntransfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    )
}

/// A chunked body's octets (HAProxy's stats page is chunked even to HTTP/1.0).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body
            .split_once("\r\n")
            .unwrap_or_else(|| panic!("bad chunk in {body}"));
        let size = usize::from_str_radix(size.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size}"));
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
}

/// `method path` with `headers` (each ending in CRLF) and `body`.
pub(crate) async fn http(
    from: Ipv4Addr,
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: adminapi\r\n{headers}");
    if !body.is_empty() {
        write!(
            request,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
        .unwrap();
    }
    request.push_str("\r\n");
    request.push_str(body);
    exchange(from, to, &request).await
}

/// `GET /api/v1/events/stream` from `from` to `to`, left open: read it with
/// [`read_until`].
async fn open_stream(from: Ipv4Addr, to: SocketAddr, bearer: &str) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.into(), 0)).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let request = format!(
        "GET /api/v1/events/stream HTTP/1.1\r\nHost: adminapi\r\nAccept: text/event-stream\r\n\
         {bearer}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Reads `stream` into `seen` until what came after `from` (an offset in `seen`) holds
/// `want`; the offset past it. Panics after 10 s or at the stream's end.
async fn read_until(
    stream: &mut tokio::net::TcpStream,
    seen: &mut String,
    from: usize,
    want: &str,
) -> usize {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(at) = seen[from..].find(want) {
            return from + at + want.len();
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {want} within 10 s; so far: {seen}"))
            .unwrap();
        assert!(n > 0, "the stream ended before {want}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// `GET /api/v1/auth/me` answers with status 200 counted by `instance`'s own metrics.
async fn served_me(instance: SocketAddr) -> u64 {
    let (status, metrics) = http(LOCAL, instance, "GET", "/metrics", "", "").await;
    assert_eq!(status, 200, "{metrics}");
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("http_request_duration_seconds_count{")
                && l.contains("route=\"/api/v1/auth/me\"")
                && l.contains("status=\"200\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The adminapi servers' `status` and `check_status` in HAProxy's stats CSV, in order:
/// `["UP L7OK", "DOWN L4CON"]`.
async fn server_states(stats: SocketAddr) -> Vec<String> {
    let (status, csv) = http(LOCAL, stats, "GET", "/stats;csv", "", "").await;
    assert_eq!(status, 200, "{csv}");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column in {csv}"))
    };
    let (proxy, server, state, check) = (
        column("pxname"),
        column("svname"),
        column("status"),
        column("check_status"),
    );
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() == header.len() && f[proxy] == "adminapi")
        .filter(|f| f[server].starts_with("adminapi"))
        .map(|f| format!("{} {}", f[state], f[check]))
        .collect()
}

/// Waits until the servers are in `want`, checking the stats again after each line
/// HAProxy logs (every health check result and state change is logged); panics after
/// `within`.
async fn wait_for_states(log: &mut Lines, stats: SocketAddr, want: &[&str], within: Duration) {
    log.until(&format!("servers {want:?}"), within, || async {
        server_states(stats).await == want
    })
    .await;
}

/// `proisp-adminapi serve` on `port`, and its log.
pub(crate) fn serve(vars: &[(&'static str, String)], port: u16) -> (Proc, Lines) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proisp-adminapi"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", LISTENING_LOG)
        .env("PROISP_HTTP__LISTEN", format!("{LOCAL}:{port}"))
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start proisp-adminapi serve");
    let log = Lines::new(child.stderr.take().expect("piped"));
    (Proc(child), log)
}

#[tokio::test]
async fn balances_two_instances_and_fails_over() {
    let env = TestEnv::start().await;
    let dir = TempDir(std::env::temp_dir().join(format!(
        "proisp-haproxy-{}-{}",
        std::process::id(),
        env.key_prefix.trim_end_matches(':')
    )));
    std::fs::create_dir_all(&dir.0).unwrap();

    // What haproxy/README.md asks of adminapi: one access-token key for both instances,
    // and HAProxy's address among the trusted proxies.
    let jwt_key = dir.0.join("jwt.key");
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let key = adminapi(&[], &["gen-key"]);
        assert!(key.status.success(), "{}", text(&key.stderr));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&jwt_key)
            .unwrap();
        std::io::Write::write_all(&mut file, &key.stdout).unwrap();
    }
    let mut vars = stack_env(&env);
    vars.push(("PROISP_TOKENS__JWT_KEY_FILE", jwt_key.display().to_string()));
    vars.push(("PROISP_HTTP__TRUSTED_PROXIES", format!("[\"{LOCAL}/32\"]")));
    vars.push(("PROISP_HTTP__WORKERS", "2".to_owned()));

    // An admin who may log in from the test's client address only: refused unless
    // adminapi believes HAProxy's X-Forwarded-For.
    let password = "a-long-enough-password";
    let out = adminapi_stdin(
        &as_refs(&vars),
        &[
            "create-admin",
            "--username",
            "desk",
            "--role",
            "admin",
            "--allow",
            &format!("{CLIENT}/32"),
        ],
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let ports = free_ports::<2>();
    let instances = ports.map(|p| SocketAddr::from((LOCAL, p)));
    let mut servers = ports.map(|p| Some(serve(&vars, p)));
    for (_, log) in servers.iter_mut().flatten() {
        log.wait_for(LISTENING, Duration::from_secs(20)).await;
    }

    let [front, stats] = free_ports::<2>();
    let cfg = dir.0.join("haproxy.cfg");
    std::fs::write(&cfg, loopback_config(front, stats, ports)).unwrap();
    let log = dir.0.join("haproxy.log");
    let mut process = haproxy()
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start haproxy");
    let mut haproxy_log = Lines::copied(
        process.stderr.take().expect("piped"),
        Some(std::fs::File::create(&log).unwrap()),
    );
    let _haproxy = Haproxy { process, log };
    let (front, stats) = (
        SocketAddr::from((LOCAL, front)),
        SocketAddr::from((LOCAL, stats)),
    );
    haproxy_log
        .until(
            "the stats port answers",
            Duration::from_secs(10),
            || async { tokio::net::TcpStream::connect(stats).await.is_ok() },
        )
        .await;
    // A check must have passed: servers start UP before their first check.
    wait_for_states(
        &mut haproxy_log,
        stats,
        &["UP L7OK", "UP L7OK"],
        Duration::from_secs(10),
    )
    .await;

    // Logged in through HAProxy, with a forged X-Forwarded-For that HAProxy appends to.
    let (status, body) = http(
        CLIENT,
        front,
        "POST",
        "/api/v1/auth/login",
        "X-Forwarded-For: 203.0.113.9\r\n",
        &format!(r#"{{"username":"desk","password":"{password}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let login: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let sql = env.sql().await;
    let recorded: Option<String> = sql
        .query_one(
            "SELECT host(client_ip) FROM audit_log WHERE action = 'auth.login'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded.as_deref(), Some("127.0.0.2"));

    // Round robin: the same token is good on both instances (one jwt.key).
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let me = || http(CLIENT, front, "GET", "/api/v1/auth/me", &bearer, "");
    for _ in 0..6 {
        let (status, body) = me().await;
        assert_eq!(status, 200, "{body}");
    }
    let before = [served_me(instances[0]).await, served_me(instances[1]).await];
    assert_eq!(before, [3, 3]);

    // Live figures across the pair: a stream through HAProxy and one from the first
    // instance directly both see a subscriber that the second instance creates, because
    // each reads PostgreSQL, not its own memory; HAProxy passes events on unbuffered.
    let mut streams = [
        open_stream(CLIENT, front, &bearer).await,
        open_stream(CLIENT, instances[0], &bearer).await,
    ];
    let mut seen = [String::new(), String::new()];
    let mut read = [0; 2];
    for ((stream, seen), read) in streams.iter_mut().zip(&mut seen).zip(&mut read) {
        *read = read_until(stream, seen, 0, "event: figures").await;
        assert!(seen.contains("text/event-stream"), "{seen}");
    }
    let plan = r#"{"name":"live","download_kbps":1000,"upload_kbps":1000}"#;
    let (status, body) = http(CLIENT, instances[1], "POST", "/api/v1/plans", &bearer, plan).await;
    assert_eq!(status, 201, "{body}");
    let plan: serde_json::Value = serde_json::from_str(&body).unwrap();
    let subscriber = format!(
        r#"{{"username":"live-1","password":"Pw-for-a-live-sub","plan_id":{}}}"#,
        plan["id"]
    );
    let (status, body) = http(
        CLIENT,
        instances[1],
        "POST",
        "/api/v1/subscribers",
        &bearer,
        &subscriber,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for ((stream, seen), read) in streams.iter_mut().zip(&mut seen).zip(read) {
        read_until(stream, seen, read, r#""total":1"#).await;
    }
    drop(streams);

    // The edge refuses what no instance should see.
    let (status, body) = http(CLIENT, front, "GET", "/metrics", "", "").await;
    assert_eq!(status, 403, "{body}");
    let huge = "POST /api/v1/subscribers/import HTTP/1.0\r\nHost: adminapi\r\n\
                Content-Type: text/csv\r\nContent-Length: 40000000\r\n\r\n";
    let (status, body) = exchange(CLIENT, front, huge).await;
    assert_eq!(status, 413, "{body}");

    // The second instance dies: requests keep succeeding (retried on the first) while
    // its checks fail, then it is marked down and the first serves everything.
    drop(servers[1].take());
    for _ in 0..4 {
        let (status, body) = me().await;
        assert_eq!(status, 200, "{body}");
    }
    wait_for_states(
        &mut haproxy_log,
        stats,
        &["UP L7OK", "DOWN L4CON"],
        Duration::from_secs(15),
    )
    .await;
    for _ in 0..4 {
        let (status, body) = me().await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(served_me(instances[0]).await, before[0] + 8);

    // Both gone: HAProxy answers for them, in the API's error shape.
    drop(servers[0].take());
    wait_for_states(
        &mut haproxy_log,
        stats,
        &["DOWN L4CON", "DOWN L4CON"],
        Duration::from_secs(15),
    )
    .await;
    let (status, body) = me().await;
    assert_eq!(status, 503, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "unavailable", "{body}");
}
