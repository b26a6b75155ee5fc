//! Against proisp-loadtest's own null server, and against nothing at all.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::harness::{free_port, loadtest, run_json};

/// A null server on a free port, stopped when dropped (and by itself after 30 s).
struct NullServer {
    child: Child,
    port: u16,
}

impl NullServer {
    fn start() -> NullServer {
        let port = free_port();
        let mut child = loadtest()
            .args([
                "null-server",
                "--threads",
                "2",
                "--duration",
                "30s",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the null server");
        // It prints one line once its sockets are bound.
        let mut line = String::new();
        let stderr = child.stderr.take().expect("stderr is piped");
        BufReader::new(stderr)
            .read_line(&mut line)
            .expect("no output from the null server");
        assert!(line.contains("answering on"), "null server: {line}");
        NullServer { child, port }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for NullServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_null_server_accepts_everything_with_verified_replies() {
    let server = NullServer::start();
    let run = run_json(&[
        "auth",
        "-s",
        &server.addr(),
        "-n",
        "500",
        "-c",
        "32",
        "--require-message-authenticator",
    ]);
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.count("accepts"), 500);
    assert_eq!(run.count("bad_replies") + run.count("timeouts"), 0);
    assert_eq!(run.count("without_message_authenticator"), 0);

    let run = run_json(&["acct", "-s", &server.addr(), "-n", "100", "-c", "8"]);
    assert_eq!(run.status, Some(0), "{}", run.report);
    assert_eq!(run.count("responses"), 100);
}

#[test]
fn retransmissions_go_to_the_fallback_server() {
    // A NAS listing two servers: the first one dead (its port closed: ICMP port
    // unreachable) or hung (a socket that never answers), the second the null server.
    let server = NullServer::start();
    let hung = UdpSocket::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
    let hung = hung.local_addr().expect("no local address").to_string();
    let dead = format!("127.0.0.1:{}", free_port());
    for primary in [&dead, &hung] {
        let run = run_json(&[
            "auth",
            "-s",
            primary,
            "--fallback",
            &server.addr(),
            "-n",
            "100",
            "-c",
            "8",
            "--timeout",
            "100ms",
            "--retries",
            "1",
        ]);
        assert_eq!(run.status, Some(0), "{primary}: {}", run.report);
        assert_eq!(run.count("accepts"), 100, "{primary}: {}", run.report);
        assert_eq!(run.count("retransmits"), 100, "{primary}: {}", run.report);
        assert_eq!(run.count("timeouts"), 0, "{primary}: {}", run.report);
    }
    // With a live primary the fallback sees nothing: every request answered first time.
    let run = run_json(&[
        "auth",
        "-s",
        &server.addr(),
        "--fallback",
        &dead,
        "-n",
        "100",
        "-c",
        "8",
        "--retries",
        "1",
    ]);
    assert_eq!(run.status, Some(0), "{}", run.report);
    assert_eq!(run.count("accepts"), 100);
    assert_eq!(run.count("retransmits"), 0);
}

#[test]
fn a_wrong_password_accepted_is_an_unexpected_answer() {
    // The null server accepts everything, so every wrong password is a wrong answer.
    let server = NullServer::start();
    let run = run_json(&[
        "auth",
        "-s",
        &server.addr(),
        "-n",
        "100",
        "-c",
        "4",
        "--wrong-password-percent",
        "20",
    ]);
    assert_eq!(run.status, Some(3), "{}", run.report);
    assert_eq!(run.count("accepts"), 100);
    assert_eq!(run.count("unexpected"), 20);
}

#[test]
fn an_accept_where_a_reject_is_expected_is_a_wrong_accept() {
    // --expect-reject: suspended subscribers, say. The null server lets them all in.
    let server = NullServer::start();
    let run = run_json(&[
        "auth",
        "-s",
        &server.addr(),
        "-n",
        "50",
        "-c",
        "4",
        "--expect-reject",
    ]);
    assert_eq!(run.status, Some(3), "{}", run.report);
    assert_eq!(run.count("unexpected"), 50);
    assert_eq!(run.count("wrong_accepts"), 50);
}

#[test]
fn every_acknowledged_accounting_request_is_logged() {
    let server = NullServer::start();
    let dir = std::env::temp_dir().join(format!("loadtest-acked-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("acked.tsv");
    let run = run_json(&[
        "acct",
        "-s",
        &server.addr(),
        "-n",
        "60",
        "-c",
        "8",
        "--users",
        "10",
        "--interims",
        "1",
        "--acked-log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(run.status, Some(0), "{}", run.report);
    assert_eq!(run.count("responses"), 60);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 60);
    assert!(lines.iter().all(|l| l.len() == 6), "{text}");
    // 10 subscribers, one update: two whole sessions each (start, interim, stop).
    lines.sort();
    let count = |status: &str| lines.iter().filter(|l| l[2] == status).count();
    assert_eq!(
        (count("start"), count("interim"), count("stop")),
        (20, 20, 20)
    );
    let stop = lines.iter().find(|l| l[2] == "stop").unwrap();
    assert_eq!(stop[3], "2");
    assert_eq!(stop[5], (2u64 * (1536 << 20)).to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dead_port_ends_on_time_with_every_request_timed_out() {
    let port = free_port().to_string();
    let server = format!("127.0.0.1:{port}");
    // Open loop: 1 s of sending, then 0.5 s for the last request's timeout.
    let run = run_json(&[
        "auth",
        "-s",
        &server,
        "-r",
        "100",
        "-d",
        "1s",
        "--timeout",
        "500ms",
    ]);
    assert_eq!(
        run.status,
        Some(0),
        "timeouts alone do not fail a run: {}",
        run.report
    );
    assert_eq!(run.count("sent"), 100);
    assert_eq!(run.count("timeouts"), 100);
    assert_eq!(run.count("answered"), 0);
    // Ends when its requests have timed out, not later: a generous bound for a loaded CI
    // machine, far below a hang.
    assert!(run.took < Duration::from_secs(6), "took {:?}", run.took);

    // Closed loop: each slot waits out its timeout, then tries again until the duration
    // is up.
    let run = run_json(&[
        "auth",
        "-s",
        &server,
        "-c",
        "4",
        "-d",
        "1s",
        "--timeout",
        "300ms",
        "--retries",
        "1",
    ]);
    assert_eq!(run.status, Some(0), "{}", run.report);
    assert!(run.count("sent") >= 4);
    assert_eq!(run.count("timeouts"), run.count("sent"), "{}", run.report);
    assert_eq!(run.count("retransmits"), run.count("sent"));
    assert!(run.took < Duration::from_secs(6), "took {:?}", run.took);
}
