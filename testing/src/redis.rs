//! A private Redis for tests that kill, freeze or restart it, and probing a Redis URL.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

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

/// Whether the TLS port `port` of 127.0.0.1 answers `PING`, its certificate verified
/// against `ca` (blocking: at most a second).
fn redis_answers_tls(port: u16, ca: &Path) -> bool {
    ping_redis_tls(port, ca).unwrap_or(false)
}

fn ping_redis_tls(port: u16, ca: &Path) -> Result<bool, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1")?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    tcp.set_read_timeout(Some(Duration::from_secs(1)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(1)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 7];
    let n = tls.read(&mut buf)?;
    Ok(buf[..n].starts_with(b"+PONG"))
}

/// TLS for a private Redis: `redis-server --port 0 --tls-port …`, clients not asked for
/// a certificate.
#[derive(Debug, Clone)]
pub struct RedisTls {
    /// The server's certificate (PEM), e.g. [`crate::Pki`]'s `server.cert`.
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA (PEM) of the server's certificate (Redis also wants it for clients').
    pub ca: PathBuf,
}

/// A private Redis server owned by the test: its own port, nothing persisted.
#[derive(Debug)]
pub struct PrivateRedis {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    tls: Option<RedisTls>,
    server: Option<Child>,
    guard: Option<Child>,
}

impl PrivateRedis {
    /// Starts `redis-server` on a free port.
    pub async fn start() -> std::io::Result<PrivateRedis> {
        PrivateRedis::start_with(None).await
    }

    /// Starts `redis-server` with TLS only, on a free port.
    pub async fn start_tls(tls: RedisTls) -> std::io::Result<PrivateRedis> {
        PrivateRedis::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<RedisTls>) -> std::io::Result<PrivateRedis> {
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
            tls,
            server: None,
            guard: None,
        };
        redis.restart().await?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://…` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
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
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--bind", "127.0.0.1"]);
        match &self.tls {
            None => cmd.arg("--port").arg(self.port.to_string()),
            Some(tls) => cmd
                .args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args(["--tls-auth-clients", "no"]),
        };
        let server = cmd
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
        let port = self.port;
        let ca = self.tls.as_ref().map(|tls| tls.ca.clone());
        let answers = async || match &ca {
            None => redis_answers_async(&url).await,
            Some(ca) => {
                let ca = ca.clone();
                tokio::task::spawn_blocking(move || redis_answers_tls(port, &ca))
                    .await
                    .unwrap_or(false)
            }
        };
        if wait_until(START_TIMEOUT, answers).await {
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
