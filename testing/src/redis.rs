//! A private Redis for tests that kill, freeze or restart it, and probing a Redis URL.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::Pair;
use crate::postgres::START_TIMEOUT;
use crate::process::{dismiss, find_program, free_ports, reap, signal, watchdog};
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

/// Whether the TLS port of 127.0.0.1 that `tls` describes answers `PING`, its
/// certificate verified against the CA (blocking: at most a second).
fn redis_answers_tls(port: u16, tls: &RedisTls) -> bool {
    ping_redis_tls(port, tls).unwrap_or(false)
}

fn ping_redis_tls(port: u16, tls: &RedisTls) -> Result<bool, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&tls.ca)? {
        roots.add(cert?)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let config = match &tls.client {
        None => builder.with_no_client_auth(),
        Some(pair) => builder.with_client_auth_cert(
            CertificateDer::pem_file_iter(&pair.cert)?.collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_file(&pair.key)?,
        )?,
    };
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

/// TLS for a private Redis: `redis-server --port 0 --tls-port …`.
#[derive(Debug, Clone)]
pub struct RedisTls {
    /// The server's certificate (PEM), e.g. [`crate::Pki`]'s `server.cert`.
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA (PEM) of the server's certificate, and of clients' certificates.
    pub ca: PathBuf,
    /// When set, clients must present a certificate of `ca` (`--tls-auth-clients yes`);
    /// the readiness probe presents this one.
    pub client: Option<Pair>,
}

/// A private Redis server owned by the test: its own port, nothing persisted.
#[derive(Debug)]
pub struct PrivateRedis {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    tls: Option<RedisTls>,
    args: Vec<String>,
    server: Option<Child>,
    guard: Option<Child>,
}

impl PrivateRedis {
    /// Starts `redis-server` on a free port.
    pub async fn start() -> std::io::Result<PrivateRedis> {
        PrivateRedis::start_with(None, Vec::new()).await
    }

    /// Starts `redis-server` with TLS only, on a free port.
    pub async fn start_tls(tls: RedisTls) -> std::io::Result<PrivateRedis> {
        PrivateRedis::start_with(Some(tls), Vec::new()).await
    }

    /// Starts `redis-server` on a free port with more arguments (`--cluster-enabled yes`
    /// …), kept for every restart.
    pub(crate) async fn start_with(
        tls: Option<RedisTls>,
        args: Vec<String>,
    ) -> std::io::Result<PrivateRedis> {
        PrivateRedis::start_on(free_ports::<1>()[0], tls, args).await
    }

    /// [`PrivateRedis::start_with`] on `port` (a Redis Cluster node's: its bus port,
    /// 10,000 above, picked with it).
    pub(crate) async fn start_on(
        port: u16,
        tls: Option<RedisTls>,
        args: Vec<String>,
    ) -> std::io::Result<PrivateRedis> {
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
            port,
            bin,
            tls,
            args,
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

    /// Whether the server was started and not stopped since.
    pub(crate) fn running(&self) -> bool {
        self.server.is_some()
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
                .arg("--tls-auth-clients")
                .arg(if tls.client.is_some() { "yes" } else { "no" }),
        };
        let server = cmd
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.guard = watchdog(server.id(), "KILL", &self.dir).ok();
        self.server = Some(server);
        let url = self.url();
        let port = self.port;
        let tls = self.tls.clone();
        let answers = async || match &tls {
            None => redis_answers_async(&url).await,
            Some(tls) => {
                let tls = tls.clone();
                tokio::task::spawn_blocking(move || redis_answers_tls(port, &tls))
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
