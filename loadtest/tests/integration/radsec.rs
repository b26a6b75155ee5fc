//! RadSec against FreeRADIUS 3.2's TLS listener, with certificates scripts/pki.sh makes:
//! every request answered as expected over pipelined connections, wrong client
//! certificates refused at the handshake (counted, not a crash), idle connections held.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::freeradius::{FreeRadius, RADSEC_SECRET};
use crate::harness::{Run, free_tcp_port, loadtest, run_json};

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
    let server = format!("127.0.0.1:{}", free_tcp_port());
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
fn radius_1_1_is_offered_and_a_server_selecting_it_stops_the_run() {
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
    assert_eq!(
        run.status,
        Some(0),
        "{}
{}",
        run.stderr,
        run.report
    );
    assert_eq!(run.count("accepts"), 20);
    assert!(
        run.report["radsec"]["tls"]["alpn"].is_null(),
        "{}",
        run.report
    );

    // OpenSSL's test server selects radius/1.1.
    let port = free_tcp_port();
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
    let mut line = String::new();
    let mut out = BufReader::new(s_server.stdout.take().expect("stdout is piped"));
    while !line.contains("ACCEPT") {
        line.clear();
        let n = out.read_line(&mut line).expect("no output from s_server");
        assert!(n > 0, "openssl s_server exited before listening");
    }
    let mut args = vec![
        "auth".to_owned(),
        "--transport".into(),
        "radsec".into(),
        "--server".into(),
        format!("127.0.0.1:{port}"),
        "--connections".into(),
        "1".into(),
        "--alpn".into(),
        "radius/1.1".into(),
        "-n".into(),
        "1".into(),
    ];
    args.extend(pki.tls_args("nas"));
    let result = loadtest().args(&args).output();
    let _ = s_server.kill();
    let _ = s_server.wait();
    let result = result.expect("cannot run proisp-loadtest");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("RADIUS/1.1 framing not implemented in loadtest"),
        "{stderr}"
    );
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
