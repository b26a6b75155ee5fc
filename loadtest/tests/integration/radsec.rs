//! RadSec against FreeRADIUS 3.2's TLS listener, with certificates scripts/pki.sh makes:
//! every request answered as expected over pipelined connections, wrong client
//! certificates refused at the handshake (counted, not a crash), idle connections held.

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::freeradius::{FreeRadius, RADSEC_SECRET};
use crate::harness::{Run, free_port, loadtest, run_json};

/// Subscribers the server knows.
const USERS: u64 = 20;

/// A test PKI made by scripts/pki.sh (a real openssl) in a directory of its own, removed
/// when dropped. One per test: nextest runs each test in a process of its own.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "proisp-loadtest-pki-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pki.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(&dir)
            .args(["--expired", "--stranger", "--force"])
            .output()
            .expect("cannot run scripts/pki.sh");
        assert!(
            out.status.success(),
            "scripts/pki.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Pki { dir }
    }

    /// `--ca`, `--cert` and `--key` with client certificate `name` (nas, stranger, expired).
    fn tls_args(&self, name: &str) -> Vec<String> {
        let file = |f: String| self.dir.join(f).display().to_string();
        vec![
            "--ca".into(),
            file("ca.pem".into()),
            "--cert".into(),
            file(format!("{name}.pem")),
            "--key".into(),
            file(format!("{name}.key")),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `command` (auth, acct) over RadSec to `server` with client certificate `cert`.
fn radsec(pki: &Pki, command: &str, server: &str, cert: &str, extra: &[&str]) -> Run {
    let mut args: Vec<String> = vec![
        command.into(),
        "--transport".into(),
        "radsec".into(),
        "--server".into(),
        server.into(),
        "--secret".into(),
        RADSEC_SECRET.into(),
    ];
    args.extend(pki.tls_args(cert));
    args.extend(extra.iter().map(|s| s.to_string()));
    run_json(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn address(server: &FreeRadius) -> String {
    server.radsec.expect("a RadSec listener").to_string()
}

#[test]
fn every_login_over_pipelined_connections_is_accepted() {
    let pki = Pki::new();
    let server = FreeRadius::start_radsec(USERS, &pki.dir);
    let run = radsec(
        &pki,
        "auth",
        &address(&server),
        "nas",
        &[
            "--users",
            &USERS.to_string(),
            "-n",
            "400",
            "--connections",
            "4",
            "--pipeline",
            "16",
        ],
    );
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.report["transport"], "radsec");
    assert_eq!(run.count("sent"), 400);
    assert_eq!(run.count("accepts"), 400, "{}", run.report);
    for zero in ["rejects", "bad_replies", "unexpected", "timeouts", "late"] {
        assert_eq!(run.count(zero), 0, "{zero}: {}", run.report);
    }
    let r = &run.report["radsec"];
    assert_eq!(r["opened"], 4, "{}", run.report);
    assert_eq!(r["errors"]["tls"], 0);
    assert_eq!(r["tls"]["version"], "TLSv1_3");
    assert_eq!(run.report["latency_us"]["count"], 400);

    // Wrong passwords are rejected, right ones accepted, on one connection of 255 in
    // flight (every Identifier in use at once).
    let run = radsec(
        &pki,
        "auth",
        &address(&server),
        "nas",
        &[
            "--users",
            &USERS.to_string(),
            "--method",
            "chap",
            "-n",
            "600",
            "--connections",
            "1",
            "--pipeline",
            "255",
            "--wrong-password-percent",
            "25",
        ],
    );
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(
        (run.count("accepts"), run.count("rejects")),
        (450, 150),
        "{}",
        run.report
    );
    assert_eq!(run.count("bad_replies") + run.count("timeouts"), 0);
}

#[test]
fn an_open_loop_spreads_its_schedule_over_the_connections() {
    let pki = Pki::new();
    let server = FreeRadius::start_radsec(USERS, &pki.dir);
    let run = radsec(
        &pki,
        "auth",
        &address(&server),
        "nas",
        &[
            "--users",
            &USERS.to_string(),
            "--rate",
            "400",
            "-n",
            "200",
            "--connections",
            "3",
            "--wrong-password-percent",
            "10",
        ],
    );
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.report["load"]["model"], "open");
    assert_eq!((run.count("sent"), run.count("not_sent")), (200, 0));
    assert_eq!((run.count("accepts"), run.count("rejects")), (180, 20));
    assert_eq!(run.count("bad_replies") + run.count("timeouts"), 0);
    assert_eq!(run.report["send_lag_us"]["count"], 200);
}

#[test]
fn accounting_travels_over_radsec_too() {
    let pki = Pki::new();
    let server = FreeRadius::start_radsec(USERS, &pki.dir);
    let run = radsec(
        &pki,
        "acct",
        &address(&server),
        "nas",
        &[
            "--users",
            "10",
            "--interims",
            "2",
            "-n",
            "80",
            "--pipeline",
            "8",
        ],
    );
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.count("responses"), 80, "{}", run.report);
    assert_eq!(run.count("bad_replies") + run.count("timeouts"), 0);
}

#[test]
fn client_certificates_the_server_does_not_trust_are_refused() {
    let pki = Pki::new();
    let server = FreeRadius::start_radsec(USERS, &pki.dir);
    for cert in ["stranger", "expired"] {
        let run = radsec(
            &pki,
            "auth",
            &address(&server),
            cert,
            &[
                "-n",
                "20",
                "--connections",
                "2",
                "--pipeline",
                "4",
                "--timeout",
                "500ms",
            ],
        );
        // A completed run with failures: exit status 3, a report, no panic.
        assert_eq!(
            run.status,
            Some(3),
            "{cert}: {}\n{}",
            run.stderr,
            run.report
        );
        let errors = &run.report["radsec"]["errors"];
        assert_eq!(errors["tls"], 2, "{cert}: {}", run.report);
        assert!(errors["first"].is_string(), "{}", run.report);
        assert_eq!(run.count("answered"), 0, "{}", run.report);
        assert_eq!(run.report["ok"], false);
    }
}

#[test]
fn idle_connections_are_held_and_counted() {
    let pki = Pki::new();
    let server = FreeRadius::start_radsec(USERS, &pki.dir);
    let mut args: Vec<String> = vec!["idle".into(), "--server".into(), address(&server)];
    args.extend(pki.tls_args("nas"));
    args.extend(["--connections", "40", "--hold", "1s"].map(String::from));
    let run = run_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.count("opened"), 40);
    assert_eq!(run.count("open_at_end"), 40);
    assert_eq!(run.count("closed_by_server"), 0);

    // Refused certificates: opened by the client's reckoning, then ended by the server.
    let mut args: Vec<String> = vec!["idle".into(), "--server".into(), address(&server)];
    args.extend(pki.tls_args("stranger"));
    args.extend(["--connections", "5", "--hold", "1s"].map(String::from));
    let run = run_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.status, Some(3), "{}", run.report);
    assert_eq!(run.count("open_at_end"), 0, "{}", run.report);
}

#[test]
fn nothing_listening_is_a_tcp_error() {
    let server = format!("127.0.0.1:{}", free_port());
    let pki = Pki::new();
    let run = radsec(
        &pki,
        "auth",
        &server,
        "nas",
        &["-n", "10", "--connections", "3"],
    );
    assert_eq!(run.status, Some(3), "{}", run.report);
    assert_eq!(run.report["radsec"]["errors"]["tcp"], 3, "{}", run.report);
    assert_eq!(run.count("sent"), 0);
}

#[test]
fn radius_1_1_is_offered_and_spoken_when_the_server_selects_it() {
    // FreeRADIUS 3.2.1 knows no ALPN: the offer changes nothing.
    let pki = Pki::new();
    let server = FreeRadius::start_radsec(USERS, &pki.dir);
    let run = radsec(
        &pki,
        "auth",
        &address(&server),
        "nas",
        &[
            "--users",
            &USERS.to_string(),
            "-n",
            "20",
            "--alpn",
            "radius/1.1",
            "--alpn",
            "radius/1.0",
        ],
    );
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.count("accepts"), 20);
    assert!(
        run.report["radsec"]["tls"]["alpn"].is_null(),
        "{}",
        run.report
    );

    // OpenSSL's test server selects radius/1.1, prints what arrives and sends what it
    // reads: the test reads the request off it and answers by hand.
    let port = free_port();
    let mut s_server = Command::new("openssl")
        .args(["s_server", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(pki.dir.join("server.pem"))
        .arg("-key")
        .arg(pki.dir.join("server.key"))
        .arg("-CAfile")
        .arg(pki.dir.join("ca.pem"))
        .args(["-Verify", "1", "-alpn", "radius/1.1", "-naccept", "1"])
        // Its stdin stays open: at end of input s_server closes the connection.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start openssl s_server");
    let received = ReadAll::new(s_server.stdout.take().expect("stdout is piped"));
    received.until(|seen| find(seen, b"ACCEPT").map(|_| ()));
    let mut args = vec![
        "auth".to_owned(),
        "--transport".into(),
        "radsec".into(),
        "--server".into(),
        format!("127.0.0.1:{port}"),
        "--users".into(),
        USERS.to_string(),
        "--connections".into(),
        "1".into(),
        "-n".into(),
        "1".into(),
        "--timeout".into(),
        "20s".into(),
        "--alpn".into(),
        "radius/1.1".into(),
        "--json".into(),
        "--quiet".into(),
    ];
    args.extend(pki.tls_args("nas"));
    let generator = loadtest()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run proisp-loadtest");
    let request = received.until(access_request_v11);
    // RFC 9765: Identifier zero, the rest of the Authenticator after the Token zero, the
    // password in clear, no Message-Authenticator (type 80 right after the header).
    assert_eq!(request[1], 0);
    assert_eq!(&request[8..20], &[0; 12]);
    assert!(find(&request, b"pw000001").is_some(), "{request:?}");
    assert_ne!(request[20], 80);
    let mut reply = vec![2, 0, 0, 20];
    reply.extend_from_slice(&request[4..8]);
    reply.extend_from_slice(&[0; 12]);
    let mut stdin = s_server.stdin.take().expect("stdin is piped");
    stdin.write_all(&reply).expect("cannot write to s_server");
    stdin.flush().expect("cannot write to s_server");
    let out = generator
        .wait_with_output()
        .expect("proisp-loadtest did not end");
    let _ = s_server.kill();
    let _ = s_server.wait();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["accepts"], 1, "{report}");
    assert_eq!(report["radsec"]["tls"]["alpn"], "radius/1.1", "{report}");
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The first whole RADIUS/1.1 Access-Request (code 1, Identifier 0, twelve zero octets
/// after the Token) in what s_server printed, among its own lines of text.
fn access_request_v11(seen: &[u8]) -> Option<Vec<u8>> {
    (0..seen.len().saturating_sub(20)).find_map(|i| {
        let len = usize::from(u16::from_be_bytes([seen[i + 2], seen[i + 3]]));
        let whole = seen[i] == 1
            && seen[i + 1] == 0
            && len >= 20
            && i + len <= seen.len()
            && seen[i + 8..i + 20].iter().all(|&b| b == 0);
        whole.then(|| seen[i..i + len].to_vec())
    })
}

/// Everything a child process writes to a pipe, gathered by a thread.
struct ReadAll {
    chunks: mpsc::Receiver<Vec<u8>>,
    seen: std::cell::RefCell<Vec<u8>>,
}

impl ReadAll {
    fn new(mut from: impl Read + Send + 'static) -> ReadAll {
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        ReadAll {
            chunks,
            seen: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Reads until `found` finds what it looks for in everything read so far (at most
    /// 20 s, a bound against a hang, not a timing).
    fn until<T>(&self, found: impl Fn(&[u8]) -> Option<T>) -> T {
        loop {
            if let Some(t) = found(&self.seen.borrow()) {
                return t;
            }
            match self.chunks.recv_timeout(Duration::from_secs(20)) {
                Ok(chunk) => self.seen.borrow_mut().extend(chunk),
                Err(e) => panic!(
                    "not found ({e}) in: {}",
                    String::from_utf8_lossy(&self.seen.borrow())
                ),
            }
        }
    }
}

#[test]
fn radsec_options_are_checked() {
    let out = loadtest()
        .args(["auth", "--transport", "radsec", "-n", "1"])
        .output()
        .expect("cannot run proisp-loadtest");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca, --cert and --key"));

    let pki = Pki::new();
    let mut args = vec!["auth".to_owned(), "--transport".into(), "radsec".into()];
    args.extend(pki.tls_args("nas"));
    args.extend(["--concurrency", "100"].map(String::from));
    let out = loadtest()
        .args(&args)
        .output()
        .expect("cannot run proisp-loadtest");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--concurrency is for UDP"));
}
