//! Against proisp-loadtest's own null server, and against nothing at all.

use std::io::{BufRead, BufReader};
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
