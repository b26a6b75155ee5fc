//! Running the binary and reading its JSON report.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub(crate) fn loadtest() -> Command {
    Command::new(env!("CARGO_BIN_EXE_proisp-loadtest"))
}

/// A finished run: exit status, stderr, the JSON report and how long it took.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: Option<i32>,
    pub(crate) stderr: String,
    pub(crate) report: Value,
    pub(crate) took: Duration,
}

impl Run {
    /// A counter of the report.
    pub(crate) fn count(&self, key: &str) -> u64 {
        self.report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("report has no counter {key}: {}", self.report))
    }
}

/// Runs `proisp-loadtest <args> --json --quiet` and parses its report.
pub(crate) fn run_json(args: &[&str]) -> Run {
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = loadtest()
        .args(args)
        .args(["--json", "--quiet"])
        .output()
        .expect("cannot run proisp-loadtest");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&stdout);
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    Run {
        status: status.code(),
        stderr,
        report,
        took,
    }
}

/// A port on 127.0.0.1 that nothing listens on right now (TCP or UDP).
pub(crate) fn free_port() -> u16 {
    let [port] = proisp_testing::free_ports::<1>();
    port
}
