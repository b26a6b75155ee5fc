//! A private FreeRADIUS 3.2 for the tests: its own configuration under a temporary
//! directory (from bench/freeradius/radiusd.conf.in, the template the benchmark uses, and
//! for RadSec bench/freeradius/radsec.conf.in), loopback ports of its own, in the
//! foreground, killed when dropped. Never the system service.
//!
//! It logs to a pipe, which a thread of the test copies to `log/radius.log`: the line
//! "Ready to process requests" says it is up, the end of the pipe that it has exited.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::harness::free_port;

/// The configuration template shared with bench/compare.sh.
const TEMPLATE: &str = include_str!("../../../bench/freeradius/radiusd.conf.in");

/// The RadSec listener appended to it, shared with bench/radsec.sh.
const RADSEC_TEMPLATE: &str = include_str!("../../../bench/freeradius/radsec.conf.in");

/// The shared secret inside TLS.
pub(crate) const RADSEC_SECRET: &str = "radsec";

/// Where Debian's freeradius-config package keeps dictionaries and module configuration.
const SYSTEM_RADDB: &str = "/etc/freeradius/3.0";

/// The shared secret of the tests' client definition.
pub(crate) const SECRET: &str = "testing123";

/// A running private FreeRADIUS.
#[derive(Debug)]
pub(crate) struct FreeRadius {
    child: Child,
    /// The thread copying its log, until FreeRADIUS exits.
    log_copier: Option<JoinHandle<()>>,
    dir: PathBuf,
    /// Its authentication port.
    pub(crate) auth: SocketAddr,
    /// Its accounting port.
    pub(crate) acct: SocketAddr,
    /// Its RadSec port, when it has one.
    pub(crate) radsec: Option<SocketAddr>,
}

fn binary() -> PathBuf {
    for candidate in ["/usr/sbin/freeradius", "/usr/sbin/radiusd"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "FreeRADIUS is not installed. These tests run proisp-loadtest against a real \
         FreeRADIUS 3.2; `.ci/run` installs it (apt-get install freeradius freeradius-utils). \
         On a workstation: sudo apt-get install freeradius freeradius-utils"
    );
}

impl FreeRadius {
    /// Starts one with subscribers `user000001`…`user{users}` (passwords `pw…`), files
    /// module, reject_delay 0.
    pub(crate) fn start(users: u64) -> FreeRadius {
        FreeRadius::start_with(users, None)
    }

    /// The same with a RadSec listener too, whose certificates are those scripts/pki.sh
    /// made in `pki`.
    pub(crate) fn start_radsec(users: u64, pki: &Path) -> FreeRadius {
        FreeRadius::start_with(users, Some(pki))
    }

    fn start_with(users: u64, pki: Option<&Path>) -> FreeRadius {
        let bin = binary();
        assert!(
            Path::new(SYSTEM_RADDB).join("dictionary").exists(),
            "{SYSTEM_RADDB} is missing: install freeradius-config (with freeradius)"
        );
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "proisp-loadtest-freeradius-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["raddb", "log", "run", "radacct"] {
            std::fs::create_dir_all(dir.join(sub)).expect("cannot create the FreeRADIUS dir");
        }
        for link in ["dictionary", "mods-config"] {
            std::os::unix::fs::symlink(
                Path::new(SYSTEM_RADDB).join(link),
                dir.join("raddb").join(link),
            )
            .expect("cannot link the system dictionaries");
        }
        let mut users_file = String::new();
        for n in 1..=users {
            let _ = writeln!(users_file, "user{n:06} Cleartext-Password := \"pw{n:06}\"");
        }
        std::fs::write(dir.join("users"), users_file).expect("cannot write the users file");

        // A port picked free may be taken before FreeRADIUS binds it; try again then.
        for _ in 0..5 {
            let [auth, acct] = proisp_testing::free_ports::<2>();
            let radsec = pki.map(|_| free_port());
            let mut config = TEMPLATE
                .replace("@DIR@", &dir.display().to_string())
                .replace("@SECRET@", SECRET)
                .replace("@THREADS@", "4")
                .replace("@AUTH_PORT@", &auth.to_string())
                .replace("@ACCT_PORT@", &acct.to_string())
                .replace("@SQL_MODULE@", "")
                .replace("@USERS_MODULE@", "files")
                .replace("@ACCT_MODULE@", "ok");
            if let (Some(pki), Some(port)) = (pki, radsec) {
                config.push_str(
                    &RADSEC_TEMPLATE
                        .replace("@RADSEC_PORT@", &port.to_string())
                        .replace("@PKI@", &pki.display().to_string())
                        .replace("@RADSEC_SECRET@", RADSEC_SECRET),
                );
            }
            std::fs::write(dir.join("raddb/radiusd.conf"), config)
                .expect("cannot write radiusd.conf");
            let log = dir.join("log/radius.log");
            let mut child = Command::new(&bin)
                .args(["-f", "-l", "stdout", "-d"])
                .arg(dir.join("raddb"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start freeradius");
            let (events, started) = mpsc::channel();
            let stdout = child.stdout.take().expect("stdout is piped");
            let copy_to = log.clone();
            let server = FreeRadius {
                child,
                log_copier: Some(std::thread::spawn(move || {
                    copy_log(stdout, &copy_to, &events);
                })),
                dir: dir.clone(),
                auth: SocketAddr::from(([127, 0, 0, 1], auth)),
                acct: SocketAddr::from(([127, 0, 0, 1], acct)),
                radsec: radsec.map(|port| SocketAddr::from(([127, 0, 0, 1], port))),
            };
            if server.wait_ready(&started, &log) {
                return server;
            }
        }
        panic!(
            "FreeRADIUS did not start; see the logs under {}",
            dir.display()
        );
    }

    /// Waits for "Ready to process requests"; false if FreeRADIUS exited (a port clash).
    fn wait_ready(&self, started: &mpsc::Receiver<Started>, log: &Path) -> bool {
        let started = started.recv_timeout(Duration::from_secs(20));
        let text = || std::fs::read_to_string(log).unwrap_or_default();
        match started {
            Ok(Started::Ready) => true,
            Ok(Started::Exited) => {
                eprintln!("freeradius exited:\n{}", text());
                false
            }
            Err(_) => panic!("FreeRADIUS not ready after 20 s:\n{}", text()),
        }
    }

    /// `--server` and `--secret` arguments for the auth port.
    pub(crate) fn auth_args(&self) -> Vec<String> {
        vec![
            "--server".into(),
            self.auth.to_string(),
            "--secret".into(),
            SECRET.into(),
        ]
    }

    /// `--server` and `--secret` arguments for the accounting port.
    pub(crate) fn acct_args(&self) -> Vec<String> {
        vec![
            "--server".into(),
            self.acct.to_string(),
            "--secret".into(),
            SECRET.into(),
        ]
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The pipe has ended with the process: the copier is done, or about to be.
        if let Some(copier) = self.log_copier.take() {
            let _ = copier.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a FreeRADIUS start ended.
enum Started {
    /// It logged "Ready to process requests".
    Ready,
    /// Its log ended first: it exited (a port clash, a bad configuration).
    Exited,
}

/// Copies FreeRADIUS's log from `stdout` to the file `to` line by line until it exits,
/// reporting on `events` when it is ready, or that it exited before.
fn copy_log(stdout: ChildStdout, to: &Path, events: &mpsc::Sender<Started>) {
    // Without a file the log is still read: a full pipe would stall FreeRADIUS.
    let mut file = std::fs::File::create(to).ok();
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else {
            break;
        };
        if let Some(file) = &mut file {
            let _ = writeln!(file, "{line}");
        }
        if !ready && line.contains("Ready to process requests") {
            ready = true;
            let _ = events.send(Started::Ready);
        }
    }
    if !ready {
        let _ = events.send(Started::Exited);
    }
}
