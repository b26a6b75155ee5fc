//! Test harness for the crates' integration tests: real PostgreSQL and Redis, a fresh
//! database and a fresh key prefix per [`TestEnv`], and private server instances that
//! fault tests can stop and start.
//!
//! Backends, in order of preference:
//! - PostgreSQL at `$PROISP_TEST_DATABASE_URL` (must answer), else
//!   `postgres://postgres@127.0.0.1:5432/postgres` if it answers, else a private instance
//!   (`initdb` + `postgres` on a free port; binaries from `PATH` or
//!   `/usr/lib/postgresql/*/bin`; as root, run as the `postgres` OS user);
//! - Redis at `$PROISP_TEST_REDIS_URL` (must answer), else `redis://127.0.0.1:6379` if it
//!   answers `PING`, else a private `redis-server` on a free port.
//!
//! `PROISP_TEST_PRIVATE=1` skips the shared servers and always starts private ones.
//!
//! A private backend is shared by the tests of one process. Every server this module
//! starts is stopped when its handle is dropped, and also by a watchdog when the test
//! process exits (statics are never dropped), so nothing outlives the test run.
//! Databases are named `proisp_test_<unix time>_<random>`, dropped when their `TestEnv`
//! is dropped; ones left by killed runs are dropped after six hours.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngCore as _;
use tokio::sync::OnceCell;

use proisp_store::{
    Cache, CacheError, CacheLookup, Keyring, RedisCache, RedisConfig, Store, StoreConfig,
    error_chain,
};

/// How long a private server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Test databases older than this are leftovers of killed runs.
const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// Everything a test needs: a migrated database of its own, Redis with a key prefix of its
/// own, and a key. Dropping it drops the database.
#[derive(Debug)]
pub struct TestEnv {
    /// URL of this test's database (migrated).
    pub database_url: String,
    /// URL of Redis.
    pub redis_url: String,
    /// Key prefix of this test (unique), for [`RedisConfig::key_prefix`].
    pub key_prefix: String,
    /// The key secrets are encrypted with.
    pub keys: Arc<Keyring>,
    /// The same key in a key file (mode 0600), for binaries under test.
    pub key_file: PathBuf,
    admin_url: String,
    database: String,
}

fn random_hex(octets: usize) -> String {
    let mut buf = vec![0u8; octets];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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

fn force_private() -> bool {
    std::env::var_os("PROISP_TEST_PRIVATE").is_some_and(|v| v == "1")
}

struct PgBackend {
    admin_url: String,
    _private: Option<PrivatePostgres>,
}

struct RedisBackend {
    url: String,
    _private: Option<PrivateRedis>,
}

static POSTGRES: OnceCell<PgBackend> = OnceCell::const_new();
static REDIS: OnceCell<RedisBackend> = OnceCell::const_new();

async fn pg_answers(url: &str) -> Result<tokio_postgres::Client, String> {
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

async fn postgres() -> &'static PgBackend {
    POSTGRES
        .get_or_init(|| async {
            let backend = if let Ok(url) = std::env::var("PROISP_TEST_DATABASE_URL") {
                if let Err(e) = pg_answers(&url).await {
                    panic!("PROISP_TEST_DATABASE_URL does not answer: {e}");
                }
                PgBackend {
                    admin_url: url,
                    _private: None,
                }
            } else {
                let local = "postgres://postgres@127.0.0.1:5432/postgres";
                if !force_private() && pg_answers(local).await.is_ok() {
                    PgBackend {
                        admin_url: local.to_owned(),
                        _private: None,
                    }
                } else {
                    let private = PrivatePostgres::start()
                        .await
                        .unwrap_or_else(|e| panic!("cannot start a private PostgreSQL: {e}"));
                    PgBackend {
                        admin_url: private.url("postgres"),
                        _private: Some(private),
                    }
                }
            };
            drop_stale_databases(&backend.admin_url).await;
            backend
        })
        .await
}

async fn drop_stale_databases(admin_url: &str) {
    let Ok(client) = pg_answers(admin_url).await else {
        return;
    };
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'proisp\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let now = unix_now();
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > STALE_AFTER.as_secs() {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

fn redis_answers(url: &str) -> bool {
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

async fn redis() -> &'static RedisBackend {
    REDIS
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("PROISP_TEST_REDIS_URL") {
                let probe = url.clone();
                let ok = tokio::task::spawn_blocking(move || redis_answers(&probe))
                    .await
                    .unwrap_or(false);
                assert!(ok, "PROISP_TEST_REDIS_URL ({url}) does not answer PING");
                return RedisBackend {
                    url,
                    _private: None,
                };
            }
            let local = "redis://127.0.0.1:6379";
            let ok = !force_private()
                && tokio::task::spawn_blocking(|| redis_answers("redis://127.0.0.1:6379"))
                    .await
                    .unwrap_or(false);
            if ok {
                return RedisBackend {
                    url: local.to_owned(),
                    _private: None,
                };
            }
            let private = PrivateRedis::start()
                .await
                .unwrap_or_else(|e| panic!("cannot start a private Redis: {e}"));
            RedisBackend {
                url: private.url(),
                _private: Some(private),
            }
        })
        .await
}

/// What `cache` holds for one name, read the way radiusd reads a batch.
pub async fn cached(cache: &dyn Cache, username: &str) -> Result<CacheLookup, CacheError> {
    let answers = cache.get_subscribers(&[username]).await?;
    let [answer] = <[CacheLookup; 1]>::try_from(answers)
        .unwrap_or_else(|a| panic!("{} answers for one name", a.len()));
    Ok(answer)
}

impl TestEnv {
    /// A fresh, migrated database and a fresh key prefix (see the module docs for where
    /// the servers come from). Panics with the reason when no backend can be had.
    pub async fn start() -> TestEnv {
        let env = TestEnv::start_unmigrated().await;
        env.store()
            .await
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrations: {e}"));
        env
    }

    /// Like [`TestEnv::start`], but the database is left empty (schema version 0): for
    /// tests of migrations and of refusing an old schema.
    pub async fn start_unmigrated() -> TestEnv {
        let pg = postgres().await;
        let redis = redis().await;
        let database = format!("proisp_test_{}_{}", unix_now(), random_hex(4));
        let admin = pg_answers(&pg.admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL stopped answering: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{database}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE: {}", error_chain(&e)));
        let hex = Keyring::generate_hex();
        let key_file = std::env::temp_dir().join(format!("proisp-test-{database}.key"));
        write_private(&key_file, hex.as_bytes()).expect("write the test key file");
        let keys = Arc::new(Keyring::from_file(&key_file).expect("read the test key file"));
        TestEnv {
            database_url: with_database(&pg.admin_url, &database),
            redis_url: redis.url.clone(),
            key_prefix: format!("proisp-test-{}:", random_hex(6)),
            keys,
            key_file,
            admin_url: pg.admin_url.clone(),
            database,
        }
    }

    /// The store config of this test's database (small pool, short timeouts).
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            pool_size: 4,
            connect_timeout: Duration::from_secs(2),
            ..StoreConfig::new(self.database_url.clone())
        }
    }

    /// The cache config of this test's Redis and key prefix.
    pub fn cache_config(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            key_prefix: self.key_prefix.clone(),
            ..RedisConfig::default()
        }
    }

    /// A connected store without cache.
    pub async fn store(&self) -> Store {
        Store::connect(&self.store_config(), Arc::clone(&self.keys))
            .await
            .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
    }

    /// A connected Redis cache on this test's key prefix.
    pub async fn cache(&self) -> RedisCache {
        RedisCache::connect(&self.cache_config(), Arc::clone(&self.keys))
            .await
            .unwrap_or_else(|e| panic!("connect to Redis: {e}"))
    }

    /// A store whose writes keep the returned cache coherent.
    pub async fn store_with_cache(&self) -> (Store, Arc<RedisCache>) {
        let cache = Arc::new(self.cache().await);
        let store = self.store().await.with_cache(cache.clone());
        (store, cache)
    }

    /// A plain connection to this test's database, for assertions on raw rows.
    pub async fn sql(&self) -> tokio_postgres::Client {
        pg_answers(&self.database_url)
            .await
            .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.key_file);
        let admin_url = self.admin_url.clone();
        let database = self.database.clone();
        // Drop may run inside a runtime (or after it): use a thread with its own.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(client) = pg_answers(&admin_url).await {
                    let _ = client
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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

/// A program on `PATH`, else the first existing candidate.
fn find_program(name: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(candidates.iter().cloned())
        .find(|p| p.is_file())
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

/// When this (test) process exits, kills `server` with `signal` and removes `dir`: the
/// guard for servers held in statics, which are never dropped.
fn watchdog(server: u32, signal: &str, dir: &Path) -> std::io::Result<Child> {
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

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg("kill -s $1 $0 2>/dev/null")
        .arg(pid.to_string())
        .arg(signal)
        .status();
}

/// Waits (asynchronously) for a child to exit, killing it after `grace`.
async fn reap(child: &mut Child, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Blocking variant for `Drop`.
fn reap_blocking(child: &mut Child, grace: Duration) {
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A private PostgreSQL server owned by the test: its own data directory and port.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    server: Option<Child>,
    guard: Option<Child>,
}

impl PrivatePostgres {
    /// Creates a cluster (`initdb`, trust authentication, superuser `postgres`) in a new
    /// temporary directory and starts it on a free port.
    pub async fn start() -> std::io::Result<PrivatePostgres> {
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
        let dir = std::env::temp_dir().join(format!(
            "proisp-pg-{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        std::fs::create_dir_all(&dir)?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
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
        let mut pg = PrivatePostgres {
            dir,
            port: free_port()?,
            bin,
            run_as,
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

    /// Stops the server (fast shutdown: sessions are cut), keeping the data.
    pub async fn stop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let _ = guard.kill();
            let _ = guard.wait();
        }
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
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let server = cmd.spawn()?;
        self.guard = watchdog(server.id(), "INT", &self.dir).ok();
        self.server = Some(server);
        let url = self.url("postgres");
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if pg_answers(&url).await.is_ok() {
                return Ok(());
            }
            if let Some(server) = &mut self.server
                && let Ok(Some(status)) = server.try_wait()
            {
                return Err(std::io::Error::other(format!(
                    "postgres exited ({status}); see {}",
                    self.dir.join("postgres.log").display()
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(std::io::Error::other("postgres did not start in time"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let _ = guard.kill();
            let _ = guard.wait();
        }
        if let Some(mut server) = self.server.take() {
            signal(server.id(), "INT");
            reap_blocking(&mut server, Duration::from_secs(30));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
        if let Some(mut guard) = self.guard.take() {
            let _ = guard.kill();
            let _ = guard.wait();
        }
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
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let probe = url.clone();
            if tokio::task::spawn_blocking(move || redis_answers(&probe))
                .await
                .unwrap_or(false)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(std::io::Error::other("redis-server did not start in time"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let _ = guard.kill();
            let _ = guard.wait();
        }
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
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
