//! Against FreeRADIUS: exact accept/reject counts, every reply verified.

use crate::freeradius::FreeRadius;
use crate::harness::{Run, run_json};

/// Subscribers the server knows.
const USERS: u64 = 20;

fn auth(server: &FreeRadius, extra: &[&str]) -> Run {
    let mut args: Vec<String> = vec!["auth".into()];
    args.extend(server.auth_args());
    args.extend(["--users".into(), USERS.to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    run_json(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// 200 logins, one in four with a wrong password: 150 accepts, 50 rejects, nothing else.
fn right_and_wrong_passwords(method: &str) {
    let server = FreeRadius::start(USERS);
    let run = auth(
        &server,
        &[
            "--method",
            method,
            "-n",
            "200",
            "-c",
            "8",
            "--wrong-password-percent",
            "25",
        ],
    );
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.count("sent"), 200);
    assert_eq!(run.count("accepts"), 150, "{}", run.report);
    assert_eq!(run.count("rejects"), 50, "{}", run.report);
    for zero in [
        "bad_replies",
        "unexpected",
        "timeouts",
        "late",
        "send_errors",
        "challenges",
    ] {
        assert_eq!(run.count(zero), 0, "{zero}: {}", run.report);
    }
    assert_eq!(run.report["ok"], true);
    assert_eq!(run.report["latency_us"]["count"], 200);
}

#[test]
fn pap_accepts_right_and_rejects_wrong_passwords() {
    right_and_wrong_passwords("pap");
}

#[test]
fn chap_accepts_right_and_rejects_wrong_passwords() {
    right_and_wrong_passwords("chap");
}

#[test]
fn mschapv2_accepts_right_and_rejects_wrong_passwords() {
    // Accepts also pass the MS-CHAP2-Success check: FreeRADIUS proves it knows the
    // password.
    right_and_wrong_passwords("mschapv2");
}

#[test]
fn open_loop_sends_on_schedule_and_reports_send_lag() {
    let server = FreeRadius::start(USERS);
    let run = auth(
        &server,
        &[
            "--rate",
            "400",
            "-n",
            "200",
            "--no-message-authenticator",
            "--wrong-password-percent",
            "10",
        ],
    );
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!((run.count("sent"), run.count("not_sent")), (200, 0));
    assert_eq!((run.count("accepts"), run.count("rejects")), (180, 20));
    assert_eq!(run.count("bad_replies"), 0);
    assert_eq!(run.report["load"]["model"], "open");
    assert_eq!(run.report["send_lag_us"]["count"], 200);
}

#[test]
fn replies_failing_verification_are_bad_and_fail_the_run() {
    let server = FreeRadius::start(USERS);
    // FreeRADIUS 3.2.1 signs no Message-Authenticator into replies: every reply is bad
    // when one is required. A bad reply does not answer its request (a forged reply must
    // not), so each request then times out as well.
    let run = auth(
        &server,
        &[
            "-n",
            "30",
            "-c",
            "30",
            "--timeout",
            "300ms",
            "--require-message-authenticator",
        ],
    );
    assert_eq!(run.status, Some(3), "{}", run.report);
    assert_eq!(run.count("bad_replies"), 30);
    assert_eq!(run.count("timeouts"), 30);
    assert_eq!(run.report["bad"]["message_authenticator"], 30);
    assert_eq!(run.report["ok"], false);

    // A wrong secret without Message-Authenticator: FreeRADIUS reads a garbled password,
    // rejects, and signs the reject with the real secret, which then fails to verify.
    let mut args: Vec<String> = vec!["auth".into(), "--server".into(), server.auth.to_string()];
    args.extend(
        [
            "--secret",
            "not-the-secret",
            "--no-message-authenticator",
            "-n",
            "10",
            "-c",
            "10",
        ]
        .map(String::from),
    );
    args.extend(["--timeout", "300ms"].map(String::from));
    let run = run_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.status, Some(3), "{}", run.report);
    assert_eq!(
        run.report["bad"]["response_authenticator"], 10,
        "{}",
        run.report
    );
    assert_eq!(run.count("accepts") + run.count("rejects"), 0);
}

#[test]
fn accounting_sessions_are_all_answered() {
    let server = FreeRadius::start(USERS);
    let mut args: Vec<String> = vec!["acct".into()];
    args.extend(server.acct_args());
    // 10 subscribers × (Start + 2 Interim-Updates + Stop) = 40 per round, two rounds.
    args.extend(["--users", "10", "--interims", "2", "-n", "80", "-c", "4"].map(String::from));
    let run = run_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(run.count("sent"), 80);
    assert_eq!(run.count("responses"), 80);
    assert_eq!(
        run.count("bad_replies") + run.count("timeouts"),
        0,
        "{}",
        run.report
    );
}

#[test]
fn an_accounting_storm_is_accounting_on_then_every_start() {
    let server = FreeRadius::start(USERS);
    let mut args: Vec<String> = vec!["acct".into()];
    args.extend(server.acct_args());
    args.extend(["--users", "50", "--storm", "-c", "16"].map(String::from));
    let run = run_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.status, Some(0), "{}\n{}", run.stderr, run.report);
    assert_eq!(
        run.report["accounting_on"]["responses"], 1,
        "{}",
        run.report
    );
    assert_eq!(run.count("responses"), 50);
    assert_eq!(run.count("bad_replies") + run.count("timeouts"), 0);
}
