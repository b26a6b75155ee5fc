//! A private NATS server with JetStream for the event tests: its own port below the
//! ephemeral range, its store in a temporary directory, never the machine's 4222.

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::postgres::START_TIMEOUT;
use crate::process::{dismiss, find_program, free_ports, reap, watchdog};
use crate::random_hex;
use crate::wait::wait_until;

/// The users and permissions of `events/nats-users.conf`, which `make run`'s nats-server
/// uses too.
const USERS_CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/nats-users.conf");

/// The users of `events/nats-users.conf`.
pub(crate) const USERS: [&str; 3] = ["relay", "billing", "adminapi"];

/// JetStream's storage budget, set explicitly: left unset, nats-server takes it from the
/// disk's free space when it starts, and on a machine with less than ~15 GB free the
/// streams' reservations (PROISP_EVENTS 10 GiB, PROISP_COMMANDS 1 GiB by default) are
/// refused ("insufficient storage resources", 10047). The budget is a reservation, not
/// space taken: the tests write a few megabytes.
const MAX_FILE_STORE: &str = "1T";

/// `nats-server -js` on a free port of 127.0.0.1, its JetStream store kept across
/// [`PrivateNats::stop`] and [`PrivateNats::restart`] (file storage survives a crash).
#[derive(Debug)]
pub struct PrivateNats {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    server: Option<Child>,
    guard: Option<Child>,
    /// With [`PrivateNats::start_with_users`]: each user of [`USERS`] and its password.
    passwords: Vec<(&'static str, String)>,
}

impl PrivateNats {
    /// Starts the server, open to any client; returns once it accepts clients.
    pub async fn start() -> std::io::Result<PrivateNats> {
        PrivateNats::start_as(Vec::new()).await
    }

    /// Starts the server with the users and subject permissions of
    /// `events/nats-users.conf` (each with a random password; [`PrivateNats::url_as`]);
    /// returns once it accepts clients.
    pub async fn start_with_users() -> std::io::Result<PrivateNats> {
        // A letter first: nats-server reads a variable's value as a number when it looks
        // like one (all decimal digits, `1e2…`), and then refuses to start.
        let passwords = USERS.iter().map(|u| (*u, format!("p{}", random_hex(16))));
        PrivateNats::start_as(passwords.collect()).await
    }

    async fn start_as(passwords: Vec<(&'static str, String)>) -> std::io::Result<PrivateNats> {
        let bin = find_program("nats-server", &[PathBuf::from("/usr/sbin/nats-server")])
            .ok_or_else(|| {
                std::io::Error::other("nats-server not found (scripts/deps.sh installs it)")
            })?;
        let dir = std::env::temp_dir().join(format!(
            "proisp-nats-{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut nats = PrivateNats {
            dir,
            port: free_ports::<1>()[0],
            bin,
            server: None,
            guard: None,
            passwords,
        };
        nats.restart().await?;
        Ok(nats)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `nats://<user>:<password>@127.0.0.1:<port>` for `relay`, `billing` or `adminapi` (a server started
    /// with [`PrivateNats::start_with_users`]); panics for another name.
    pub fn url_as(&self, user: &str) -> String {
        let (_, password) = self
            .passwords
            .iter()
            .find(|(u, _)| *u == user)
            .unwrap_or_else(|| panic!("no NATS user {user}"));
        format!("nats://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL, like a crash); the port and the store stay for
    /// [`PrivateNats::restart`].
    pub async fn stop(&mut self) {
        dismiss(self.guard.take());
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            reap(&mut server, Duration::from_secs(10)).await;
        }
    }

    /// Starts the server again on the same port with the same store (starts it the
    /// first time, too); returns once it accepts clients.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.stop().await;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nats.log"))?;
        let conf = self.dir.join("nats.conf");
        std::fs::write(&conf, self.config()?)?;
        let mut command = Command::new(&self.bin);
        for (user, password) in &self.passwords {
            let var = format!("PROISP_NATS_{}_PASSWORD", user.to_ascii_uppercase());
            command.env(var, password);
        }
        let server = command
            .arg("-c")
            .arg(&conf)
            .args(["-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.guard = watchdog(server.id(), "KILL", &self.dir).ok();
        self.server = Some(server);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let up = wait_until(START_TIMEOUT, async || {
            tokio::task::spawn_blocking(move || says_info(addr))
                .await
                .unwrap_or(false)
        })
        .await;
        if up {
            Ok(())
        } else {
            Err(std::io::Error::other("nats-server did not start in time"))
        }
    }

    /// The server's configuration: JetStream in the store directory with an explicit
    /// budget ([`MAX_FILE_STORE`]), and with users: `events/nats-users.conf` (copied in:
    /// nats-server includes files only relative to the including one).
    fn config(&self) -> std::io::Result<String> {
        let store = self.dir.join("jetstream");
        let mut conf = format!(
            "jetstream {{ store_dir: {:?}, max_file_store: {MAX_FILE_STORE} }}\n",
            store.display().to_string()
        );
        if !self.passwords.is_empty() {
            conf.push_str(&std::fs::read_to_string(USERS_CONF)?);
        }
        Ok(conf)
    }
}

/// Whether a NATS server at `addr` greets with `INFO` (blocking: at most a second).
fn says_info(addr: SocketAddr) -> bool {
    let greet = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf)?;
        Ok(&buf == b"INFO ")
    };
    greet().unwrap_or(false)
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        dismiss(self.guard.take());
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
