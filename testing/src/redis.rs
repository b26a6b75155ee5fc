//! A private Redis for tests that kill, freeze or restart it, and probing a Redis URL.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::postgres::START_TIMEOUT;
use crate::process::{dismiss, find_program, free_port, reap, signal, watchdog};
use crate::random_hex;
use crate::wait::wait_until;

/// Whether the Redis at `url` answers `PING` (blocking: at most a second per address).
pub(crate) fn redis_answers(url: &str) -> bool {
    let Some(addr) = url
        .strip_prefix("redis://")
        .map(|rest| rest.rsplit('@').next().unwrap_or(rest))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
    else {
        return false;
    };
    let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(addr) else {
        return false;
    };
    addrs.into_iter().any(|a| ping_redis(a).unwrap_or(false))
}

fn ping_redis(addr: SocketAddr) -> std::io::Result<bool> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 7];
    let n = s.read(&mut buf)?;
    Ok(buf[..n].starts_with(b"+PONG"))
}

/// [`redis_answers`] off the runtime's worker threads.
pub(crate) async fn redis_answers_async(url: &str) -> bool {
    let probe = url.to_owned();
    tokio::task::spawn_blocking(move || redis_answers(&probe))
        .await
        .unwrap_or(false)
}

/// A private Redis server owned by the test: its own port, nothing persisted.
#[derive(Debug)]
pub struct PrivateRedis {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    server: Option<Child>,
    guard: Option<Child>,
}

impl PrivateRedis {
    /// Starts `redis-server` on a free port.
    pub async fn start() -> std::io::Result<PrivateRedis> {
        let bin = find_program("redis-server", &[PathBuf::from("/usr/bin/redis-server")])
            .ok_or_else(|| std::io::Error::other("redis-server not found"))?;
        let dir = std::env::temp_dir().join(format!(
            "proisp-redis-{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut redis = PrivateRedis {
            dir,
            port: free_port()?,
            bin,
            server: None,
            guard: None,
        };
        redis.restart().await?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL, like a crash); the port stays reserved for
    /// [`PrivateRedis::restart`].
    pub async fn stop(&mut self) {
        dismiss(self.guard.take());
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            reap(&mut server, Duration::from_secs(10)).await;
        }
    }

    /// Freezes the server with SIGSTOP, as a hung Redis: connections stay open, nothing
    /// answers.
    pub fn freeze(&self) {
        if let Some(server) = &self.server {
            signal(server.id(), "STOP");
        }
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        if let Some(server) = &self.server {
            signal(server.id(), "CONT");
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted); returns
    /// once it answers `PING`. (Starts it the first time, too.)
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.stop().await;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))?;
        let server = Command::new(&self.bin)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.guard = watchdog(server.id(), "KILL", &self.dir).ok();
        self.server = Some(server);
        let url = self.url();
        if wait_until(START_TIMEOUT, async || redis_answers_async(&url).await).await {
            Ok(())
        } else {
            Err(std::io::Error::other("redis-server did not start in time"))
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        dismiss(self.guard.take());
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
