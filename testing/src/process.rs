//! What the private servers need of their processes: a free port, a program to run, a
//! watchdog for when the test process dies, signals, and reaping with a grace period.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::{wait_until, wait_until_blocking};

/// Ports [`free_ports`] picks from: below Linux's ephemeral range (32768–60999), where
/// the kernel never hands a port to a socket bound to port 0. A port picked from the
/// ephemeral range and released before the server binds it may meanwhile be given to
/// any client socket of a test running beside it ("Address already in use").
const PICKED: std::ops::Range<u16> = 20_000..32_000;

/// How long a port [`free_ports`] handed out stays claimed: no picker on this machine
/// hands it out again meanwhile, however long its server takes to bind it.
const CLAIM: Duration = Duration::from_secs(600);

/// `N` distinct ports on 127.0.0.1 that nothing listens on right now, for TCP and UDP
/// alike, picked at random below the ephemeral range, and claimed for [`CLAIM`] (a file
/// each, created exclusively, under the temporary directory) so that no other picker —
/// another test process beside this one — hands one out before its server binds it.
pub fn free_ports<const N: usize>() -> [u16; N] {
    free_ports_in(PICKED, None)
}

/// How far above a Redis Cluster node's port its cluster bus listens (Redis's rule).
pub(crate) const CLUSTER_BUS_OFFSET: u16 = 10_000;

/// A port for a Redis Cluster node: it and its cluster bus port
/// ([`CLUSTER_BUS_OFFSET`] above) both free, both claimed, both below the ephemeral range.
/// A bus port left to chance lands in the ephemeral range three times in four, where a
/// client socket of a test beside it may hold it, or on a port another picker claimed.
pub(crate) fn free_cluster_port() -> u16 {
    let [p] = free_ports_in::<1>(
        PICKED.start..PICKED.end - CLUSTER_BUS_OFFSET,
        Some(CLUSTER_BUS_OFFSET),
    );
    p
}

/// [`free_ports`] from `range`, each with the port `offset` above it free and claimed
/// too, when given.
fn free_ports_in<const N: usize>(range: std::ops::Range<u16>, offset: Option<u16>) -> [u16; N] {
    use rand::Rng as _;
    let free = |p: u16| {
        TcpListener::bind(("127.0.0.1", p)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
    };
    let mut ports = [0; N];
    let mut rng = rand::rng();
    for port in &mut ports {
        // A port handed out already (here or by another picker) is claimed: its claim
        // fails. A port claimed whose pair could not be stays claimed, unused.
        *port = loop {
            let p = rng.random_range(range.clone());
            let pair = offset.map(|o| p + o);
            if free(p) && pair.is_none_or(free) && claim(p) && pair.is_none_or(claim) {
                break p;
            }
        };
    }
    ports
}

/// Claims port `p` for this picker, unless another claimed it less than [`CLAIM`] ago.
fn claim(p: u16) -> bool {
    let dir = std::env::temp_dir().join("proisp-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(p.to_string());
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .is_ok()
    };
    if create() {
        return true;
    }
    let stale = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().unwrap_or_default() > CLAIM);
    // Of two pickers finding the same stale claim, one creates it anew.
    stale && std::fs::remove_file(&path).is_ok() && create()
}

/// A program on `PATH`, else the first existing candidate.
pub(crate) fn find_program(name: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(candidates.iter().cloned())
        .find(|p| p.is_file())
}

/// When this (test) process exits, kills `server` with `signal` and removes `dir`: the
/// guard for servers held in statics, which are never dropped.
///
/// The shell polls `/proc` once a second: nothing else tells another process that this
/// one has died, and the guard only has to act eventually.
pub(crate) fn watchdog(server: u32, signal: &str, dir: &Path) -> std::io::Result<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(
            "while [ -d /proc/$0 ]; do sleep 1; done; kill -s $2 $1 2>/dev/null; \
             while [ -d /proc/$1 ]; do sleep 0.2; done; rm -rf \"$3\"",
        )
        .arg(std::process::id().to_string())
        .arg(server.to_string())
        .arg(signal)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Ends a watchdog: the server it guards is being stopped by its owner.
pub(crate) fn dismiss(guard: Option<Child>) {
    if let Some(mut guard) = guard {
        let _ = guard.kill();
        let _ = guard.wait();
    }
}

/// Sends `signal` (a name: `INT`, `STOP` …) to process `pid` with kill(1).
pub(crate) fn signal(pid: u32, signal: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg("kill -s $1 $0 2>/dev/null")
        .arg(pid.to_string())
        .arg(signal)
        .status();
}

/// Waits (asynchronously) for a child to exit, killing it after `grace`.
pub(crate) async fn reap(child: &mut Child, grace: Duration) {
    if !wait_until(grace, async || exited(child)).await {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// [`reap`] for `Drop`.
pub(crate) fn reap_blocking(child: &mut Child, grace: Duration) {
    if !wait_until_blocking(grace, || exited(child)) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn exited(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(Some(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_port_and_its_bus_port_are_both_claimed_below_the_ephemeral_range() {
        for _ in 0..8 {
            let p = free_cluster_port();
            let bus = p + CLUSTER_BUS_OFFSET;
            assert!(
                PICKED.contains(&p) && PICKED.contains(&bus),
                "{p} and {bus}"
            );
            assert!(!claim(p), "port {p} not claimed");
            assert!(!claim(bus), "bus port {bus} not claimed");
        }
    }

    #[test]
    fn a_port_handed_out_is_not_handed_out_again_while_claimed() {
        let ports = free_ports::<8>();
        for p in ports {
            assert!(!claim(p), "port {p} claimed twice");
        }
        let again = free_ports::<8>();
        assert!(again.iter().all(|p| !ports.contains(p)));
    }
}
