//! A private PostgreSQL for tests that stop, freeze or restart the database, and probing
//! a PostgreSQL URL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proisp_store::error_chain;

use crate::process::{dismiss, find_program, free_ports, reap, reap_blocking, signal, watchdog};
use crate::random_hex;
use crate::wait::wait_until;

/// How long a private server may take to start answering.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `url` pointing at database `db` (URL or key=value form).
pub fn with_database(url: &str, db: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={db}");
    };
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_start = scheme_end + 3;
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// A client connected to `url`, or why not.
pub(crate) async fn pg_answers(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut cfg: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    cfg.connect_timeout(Duration::from_secs(3));
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| error_chain(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// uid and gid of an OS user, from /etc/passwd.
fn os_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _password = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

/// The directory holding PostgreSQL's server binaries (`initdb` and `postgres`).
fn postgres_bin_dir() -> Option<PathBuf> {
    let on_path = find_program("initdb", &[])
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|d| d.join("postgres").is_file());
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// TLS for a private PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresTls {
    /// The server's certificate (PEM), e.g. [`crate::Pki`]'s `server.cert`.
    pub cert: PathBuf,
    /// Its key (PEM); copied into the data directory, owned by the server's user with
    /// mode 0600 as PostgreSQL demands.
    pub key: PathBuf,
    /// Whether pg_hba.conf has only `hostssl` lines for TCP, so a plain connection is
    /// refused (Unix sockets stay open, for the readiness probe).
    pub ssl_only: bool,
    /// When set, TCP clients must present a certificate of this CA (PEM) whose CN names
    /// the user they log in as (`hostssl … cert`); implies `ssl_only`.
    pub client_ca: Option<PathBuf>,
}

/// A private PostgreSQL server owned by the test: its own data directory and port.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    ssl: bool,
    server: Option<Child>,
    guard: Option<Child>,
}

impl PrivatePostgres {
    /// Creates a cluster (`initdb`, trust authentication, superuser `postgres`) in a new
    /// temporary directory and starts it on a free port.
    pub async fn start() -> std::io::Result<PrivatePostgres> {
        PrivatePostgres::start_with(None).await
    }

    /// [`PrivatePostgres::start`] with `ssl = on` and the certificate of `tls`.
    pub async fn start_tls(tls: &PostgresTls) -> std::io::Result<PrivatePostgres> {
        PrivatePostgres::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<&PostgresTls>) -> std::io::Result<PrivatePostgres> {
        use std::os::unix::process::CommandExt as _;
        let bin = postgres_bin_dir().ok_or_else(|| {
            std::io::Error::other("PostgreSQL server binaries (initdb, postgres) not found")
        })?;
        let run_as = if is_root() {
            Some(os_user("postgres").ok_or_else(|| {
                std::io::Error::other(
                    "running as root, and initdb refuses root: no `postgres` OS user to run as",
                )
            })?)
        } else {
            None
        };
        let dir = server_dir(run_as)?;
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = run_as {
            initdb.uid(uid).gid(gid);
        }
        let out = tokio::task::spawn_blocking(move || initdb.output())
            .await
            .map_err(std::io::Error::other)??;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        if let Some(tls) = tls {
            install_tls(&dir.join("data"), tls, run_as)?;
        }
        let mut pg = PrivatePostgres {
            dir,
            port: free_ports::<1>()[0],
            bin,
            run_as,
            ssl: tls.is_some(),
            server: None,
            guard: None,
        };
        pg.restart().await?;
        Ok(pg)
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the server at once, as a crash would (immediate shutdown, SIGQUIT: no
    /// checkpoint, sessions cut), keeping the data.
    pub async fn stop_immediate(&mut self) {
        dismiss(self.guard.take());
        if let Some(mut server) = self.server.take() {
            signal(server.id(), "QUIT");
            reap(&mut server, Duration::from_secs(30)).await;
        }
    }

    /// Stops the server (fast shutdown: sessions are cut), keeping the data.
    pub async fn stop(&mut self) {
        dismiss(self.guard.take());
        if let Some(mut server) = self.server.take() {
            signal(server.id(), "INT");
            reap(&mut server, Duration::from_secs(30)).await;
        }
    }

    /// Starts the server again on the same port and data directory; returns once it
    /// accepts connections. (Starts it the first time, too.)
    pub async fn restart(&mut self) -> std::io::Result<()> {
        use std::os::unix::process::CommandExt as _;
        self.stop().await;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("postgres.log"))?;
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            // A replica's (a primary ignores it); wal_level=replica and max_wal_senders=10
            // are the defaults a replica needs of its primary.
            .args(["-c", "hot_standby=on"])
            // server.crt and server.key, PostgreSQL's defaults, in the data directory.
            .args(["-c", if self.ssl { "ssl=on" } else { "ssl=off" }])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let mut server = cmd.spawn()?;
        self.guard = watchdog(server.id(), "INT", &self.dir).ok();
        // A TLS server may refuse plain TCP: probe it over its Unix socket.
        let url = if self.ssl {
            format!(
                "host={} port={} user=postgres dbname=postgres",
                self.dir.display(),
                self.port
            )
        } else {
            self.url("postgres")
        };
        let mut exited = None;
        let answers = wait_until(START_TIMEOUT, async || {
            if pg_answers(&url).await.is_ok() {
                return true;
            }
            exited = server.try_wait().ok().flatten();
            exited.is_some()
        })
        .await;
        self.server = Some(server);
        match exited {
            Some(status) => Err(std::io::Error::other(format!(
                "postgres exited ({status}); see {}",
                self.dir.join("postgres.log").display()
            ))),
            None if answers => Ok(()),
            None => Err(std::io::Error::other("postgres did not start in time")),
        }
    }
}

/// Streaming replication between private servers, for the tests of reads from a replica
/// and of a promotion.
impl PrivatePostgres {
    /// A streaming replica of this server: `pg_basebackup -R -X stream` into a new
    /// directory, started on a port of its own as a hot standby. Returns once it accepts
    /// (read-only) connections.
    pub async fn start_replica(&self) -> std::io::Result<PrivatePostgres> {
        use std::os::unix::process::CommandExt as _;
        let dir = server_dir(self.run_as)?;
        let mut backup = Command::new(self.bin.join("pg_basebackup"));
        // Over the primary's Unix socket, which initdb's pg_hba.conf lets replicate (TCP
        // may be hostssl-only); -R writes primary_conninfo and standby.signal.
        backup
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args([
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ])
            .arg("-D")
            .arg(dir.join("data"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = self.run_as {
            backup.uid(uid).gid(gid);
        }
        let out = tokio::task::spawn_blocking(move || backup.output())
            .await
            .map_err(std::io::Error::other)??;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(std::io::Error::other(format!(
                "pg_basebackup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let mut replica = PrivatePostgres {
            dir,
            port: free_ports::<1>()[0],
            bin: self.bin.clone(),
            run_as: self.run_as,
            ssl: self.ssl,
            server: None,
            guard: None,
        };
        replica.restart().await?;
        Ok(replica)
    }

    /// A superuser connection to database `postgres`, over the Unix socket (TCP may
    /// demand TLS).
    async fn admin(&self) -> std::io::Result<tokio_postgres::Client> {
        pg_answers(&format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.display(),
            self.port
        ))
        .await
        .map_err(std::io::Error::other)
    }

    /// One value of type `T` from `query`, run as the superuser.
    async fn one<T>(&self, query: &str) -> std::io::Result<T>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let row = self
            .admin()
            .await?
            .query_one(query, &[])
            .await
            .map_err(|e| std::io::Error::other(error_chain(&e)))?;
        row.try_get(0)
            .map_err(|e| std::io::Error::other(error_chain(&e)))
    }

    /// Runs `sql` as the superuser.
    async fn run(&self, sql: &str) -> std::io::Result<()> {
        self.admin()
            .await?
            .batch_execute(sql)
            .await
            .map_err(|e| std::io::Error::other(error_chain(&e)))
    }

    /// Whether the server is a standby (in recovery).
    pub async fn in_recovery(&self) -> std::io::Result<bool> {
        self.one("SELECT pg_is_in_recovery()").await
    }

    /// Promotes this replica to a primary (`pg_promote`, as `pg_ctl promote` does) and
    /// returns once `pg_is_in_recovery()` is false, so it takes writes.
    pub async fn promote(&self) -> std::io::Result<()> {
        let _: bool = self.one("SELECT pg_promote(true, 60)").await?;
        let mut last = Ok(true);
        wait_until(START_TIMEOUT, async || {
            last = self.in_recovery().await;
            matches!(last, Ok(false))
        })
        .await;
        match last? {
            false => Ok(()),
            true => Err(std::io::Error::other("still in recovery after pg_promote")),
        }
    }

    /// Pauses this replica's replay of WAL (it keeps receiving), so it falls behind the
    /// primary by every write from now on; returns once replay has stopped.
    pub async fn pause_replay(&self) -> std::io::Result<()> {
        self.run("SELECT pg_wal_replay_pause()").await?;
        let mut state = String::new();
        wait_until(START_TIMEOUT, async || {
            state = self
                .one("SELECT pg_get_wal_replay_pause_state()")
                .await
                .unwrap_or_default();
            state == "paused"
        })
        .await;
        match state.as_str() {
            "paused" => Ok(()),
            other => Err(std::io::Error::other(format!(
                "replay pause state {other:?}"
            ))),
        }
    }

    /// Resumes the replay paused by [`PrivatePostgres::pause_replay`].
    pub async fn resume_replay(&self) -> std::io::Result<()> {
        self.run("SELECT pg_wal_replay_resume()").await
    }

    /// Waits until this replica has replayed everything `primary` had committed when
    /// called.
    pub async fn wait_replayed(&self, primary: &PrivatePostgres) -> std::io::Result<()> {
        // The insert position, not the write position: these servers commit
        // asynchronously (synchronous_commit=off), so a commit already answered may still
        // be in WAL buffers, past pg_current_wal_lsn(), until the WAL writer writes it.
        let target: String = primary
            .one("SELECT pg_current_wal_insert_lsn()::text")
            .await?;
        let query = format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn");
        if wait_until(START_TIMEOUT, async || {
            self.one::<bool>(&query).await.unwrap_or(false)
        })
        .await
        {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "the replica did not replay up to {target} in time"
            )))
        }
    }
}

/// A private server frozen with SIGSTOP (a hang: connections stay open, nothing
/// answers), thawed with SIGCONT when dropped, so a failing test leaves no stopped server
/// behind.
#[derive(Debug)]
pub struct Frozen {
    pids: Vec<u32>,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in &self.pids {
            signal(*pid, "CONT");
        }
    }
}

impl PrivatePostgres {
    /// Freezes the server: its postmaster first (so it forks nothing meanwhile), then
    /// every process it has forked (backends, WAL receiver, startup process).
    pub fn freeze(&self) -> std::io::Result<Frozen> {
        let postmaster = self
            .server
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| std::io::Error::other("the server is not running"))?;
        signal(postmaster, "STOP");
        let mut frozen = Frozen {
            pids: vec![postmaster],
        };
        for pid in children_of(postmaster)? {
            signal(pid, "STOP");
            frozen.pids.push(pid);
        }
        Ok(frozen)
    }
}

/// The processes whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> std::io::Result<Vec<u32>> {
    Ok(std::fs::read_dir("/proc")?
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid …": comm may hold spaces and parentheses.
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect())
}

/// A new directory for a server's files, owned by the user it runs as.
fn server_dir(run_as: Option<(u32, u32)>) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "proisp-pg-{}-{}",
        std::process::id(),
        random_hex(4)
    ));
    std::fs::create_dir_all(&dir)?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
    }
    Ok(dir)
}

/// Puts `tls`'s certificate and key where PostgreSQL looks for them (`server.crt`,
/// `server.key` in the data directory), owned by the server's user, the key readable by it
/// alone; with `ssl_only`, makes pg_hba.conf refuse plain TCP; with `client_ca`, asks
/// for client certificates (`ssl_ca_file = 'root.crt'`, set in postgresql.auto.conf).
/// Unix sockets stay open to the superuser, for replication too (a replica's base backup
/// and its WAL stream).
fn install_tls(data: &Path, tls: &PostgresTls, run_as: Option<(u32, u32)>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let cert = data.join("server.crt");
    let key = data.join("server.key");
    std::fs::copy(&tls.cert, &cert)?;
    std::fs::copy(&tls.key, &key)?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    let mut owned = vec![cert, key, data.join("pg_hba.conf")];
    if let Some(ca) = &tls.client_ca {
        let root = data.join("root.crt");
        std::fs::copy(ca, &root)?;
        owned.push(root);
        let mut auto = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.auto.conf"))?;
        std::io::Write::write_all(&mut auto, b"ssl_ca_file = 'root.crt'\n")?;
    }
    let method = if tls.client_ca.is_some() {
        "cert"
    } else {
        "trust"
    };
    if tls.ssl_only || tls.client_ca.is_some() {
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all all trust\n\
                 local replication all trust\n\
                 hostssl all all 127.0.0.1/32 {method}\n\
                 hostssl all all ::1/128 {method}\n"
            ),
        )?;
    }
    if let Some((uid, gid)) = run_as {
        for file in &owned {
            std::os::unix::fs::chown(file, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        dismiss(self.guard.take());
        if let Some(mut server) = self.server.take() {
            signal(server.id(), "INT");
            reap_blocking(&mut server, Duration::from_secs(30));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_path_only() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t1"),
            "postgres://h:5432/t1"
        );
        assert_eq!(
            with_database("host=h user=u", "t1"),
            "host=h user=u dbname=t1"
        );
    }
}
