//! Bad arguments get a clear message and exit status 2; a missing file, status 1.

use crate::harness::loadtest;

/// Runs with `args` and returns (exit status, stderr).
fn fails(args: &[&str]) -> (Option<i32>, String) {
    let out = loadtest()
        .args(args)
        .output()
        .expect("cannot run proisp-loadtest");
    assert!(
        out.stdout.is_empty(),
        "printed a report: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_are_named_in_the_error() {
    let cases: &[(&[&str], &str)] = &[
        (&["auth", "--rate", "0"], "rate must be above 0"),
        (
            &["auth", "--rate", "fast"],
            "not a number of requests per second",
        ),
        (
            &["auth", "--rate", "10", "--concurrency", "4"],
            "cannot be used with",
        ),
        (&["auth", "--duration", "5 fortnights"], "unknown unit"),
        (&["auth", "--timeout", "5m"], "timeout must be between"),
        (&["auth", "--server", "localhost"], "--server"),
        (
            &["auth", "--method", "eap"],
            "possible values: pap, chap, mschapv2",
        ),
        (&["auth", "--wrong-password-percent", "150"], "0..=100"),
        (&["auth", "--users", "0"], "--users"),
        (&["auth", "--secret", ""], "shared secret must not be empty"),
        (
            &["auth", "--concurrency", "600", "--sockets", "2"],
            "needs at least 3 sockets",
        ),
        (&["acct", "--storm", "--interims", "x"], "--interims"),
        (
            &["auth", "--fallback", "127.0.0.1:1812"],
            "--fallback takes the retransmissions",
        ),
        (
            &[
                "auth",
                "--transport",
                "radsec",
                "--retries",
                "1",
                "--fallback",
                "127.0.0.1:2083",
            ],
            "--retries is for UDP",
        ),
        (&["null-server", "--listen", "nowhere:1812"], "--listen"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let (status, stderr) = fails(args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: expected `{needle}` in:\n{stderr}"
        );
    }
}

#[test]
fn a_missing_users_file_is_an_error() {
    let (status, stderr) = fails(&["auth", "--users-file", "/nonexistent/users.txt", "-n", "1"]);
    assert_eq!(status, Some(1));
    assert!(
        stderr.contains("cannot read users file /nonexistent/users.txt"),
        "{stderr}"
    );
}
