//! Starting radiusd against a test database, and talking to it.

use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use proisp_model::Status;
use proisp_radius::authenticator;
use proisp_radius::dictionary::attr;
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::password;
use proisp_store::{NewNas, NewPlan, NewSubscriber, Store, StoreConfig};
use proisp_testing::{PrivatePostgres, TestEnv, wait_until, wait_until_blocking, with_database};

/// The NAS secret every test uses.
pub(crate) const SECRET: &str = "testing123";

pub(crate) use proisp_testing::free_ports;

/// What a test's radiusd is configured with beyond the defaults.
pub(crate) struct Options {
    pub(crate) redis: bool,
    pub(crate) reject_delay: &'static str,
    pub(crate) database_url: Option<String>,
    pub(crate) redis_url: Option<String>,
    /// The accounting spool directory (a fresh one when `None`); a restarted radiusd
    /// given the same one replays what the killed one spooled.
    pub(crate) spool_dir: Option<PathBuf>,
    /// Extra TOML appended to the configuration (sections of their own).
    pub(crate) extra: String,
    /// Environment variables, for keys of sections the harness writes itself
    /// (`PROISP_AUTH__DUPLICATE_WINDOW`…).
    pub(crate) env: Vec<(&'static str, &'static str)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            redis: true,
            reject_delay: "0s",
            database_url: None,
            redis_url: None,
            spool_dir: None,
            extra: String::new(),
            env: Vec::new(),
        }
    }
}

/// A running proisp-radiusd, killed on drop.
pub(crate) struct Radiusd {
    child: Child,
    pub(crate) auth: SocketAddr,
    pub(crate) acct: SocketAddr,
    pub(crate) metrics: SocketAddr,
    pub(crate) spool_dir: PathBuf,
    log: PathBuf,
}

impl Radiusd {
    /// Starts radiusd on free ports and waits until `/health` says it is ready.
    pub(crate) fn start(env: &TestEnv, options: Options) -> Radiusd {
        let [auth, metrics, acct] =
            free_ports::<3>().map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
        let dir = std::env::temp_dir().join(format!(
            "radiusd-test-{}-{}",
            std::process::id(),
            auth.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let database_url = options
            .database_url
            .clone()
            .unwrap_or_else(|| env.database_url.clone());
        let spool_dir = options
            .spool_dir
            .clone()
            .unwrap_or_else(|| dir.join("spool"));
        let mut config = format!(
            "key_file = {:?}\n[listen]\nauth = \"{auth}\"\nacct = \"{acct}\"\n\
             metrics = \"{metrics}\"\nsockets = 2\n\
             [database]\nurl = {:?}\npool_size = 4\nconnect_timeout = \"1s\"\n\
             [auth]\nreject_delay = \"{}\"\nbackend_timeout = \"300ms\"\n\
             [accounting]\nspool_dir = {spool_dir:?}\nsweep_interval = \"200ms\"\n\
             [coa]\ntimeout = \"300ms\"\nretries = 1\n",
            env.key_file, database_url, options.reject_delay
        );
        if options.redis {
            let url = options
                .redis_url
                .clone()
                .unwrap_or_else(|| env.redis_url.clone());
            config.push_str(&format!(
                "[redis]\nurl = {url:?}\nkey_prefix = {:?}\ncommand_timeout = \"200ms\"\n",
                env.key_prefix
            ));
        }
        config.push_str(&options.extra);
        let config_path = dir.join("radiusd.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("radiusd.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_proisp-radiusd"))
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .envs(options.env.iter().copied())
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn proisp-radiusd");
        let mut radiusd = Radiusd {
            child,
            auth,
            acct,
            metrics,
            spool_dir,
            log,
        };
        radiusd.wait_healthy();
        radiusd
    }

    /// Probes `/health` (the readiness probe a load balancer uses) until it answers 200.
    fn wait_healthy(&mut self) {
        let mut exited = None;
        let healthy = wait_until_blocking(Duration::from_secs(30), || {
            exited = self.child.try_wait().ok().flatten();
            exited.is_some() || self.http("/health").is_some_and(|(code, _)| code == 200)
        });
        if let Some(status) = exited {
            panic!("radiusd exited with {status}:\n{}", self.log());
        }
        assert!(healthy, "radiusd did not become healthy:\n{}", self.log());
    }

    /// radiusd's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A GET on the metrics port: (status code, body).
    pub(crate) fn http(&self, path: &str) -> Option<(u16, String)> {
        use std::io::Read as _;
        let mut s =
            std::net::TcpStream::connect_timeout(&self.metrics, Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let code = out.split(' ').nth(1)?.parse().ok()?;
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        Some((code, body))
    }

    /// The value of one Prometheus series, e.g. `radius_dropped_packets_total{reason="unknown_nas"}`.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.http("/metrics").expect("metrics answer");
        body.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Sends a signal with kill(1).
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the process with SIGKILL: no draining, no flushing.
    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit and returns its exit code.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let mut exited = None;
        wait_until_blocking(within, || {
            exited = self.child.try_wait().ok().flatten();
            exited.is_some()
        });
        exited.and_then(|status| status.code())
    }
}

impl Drop for Radiusd {
    /// Stops radiusd; a test that failed shows its log.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("radiusd's log:\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reply radclient printed.
#[derive(Debug)]
pub(crate) struct RadclientReply {
    /// "Access-Accept", "Access-Reject", "Accounting-Response", or "" when none came.
    pub(crate) code: String,
    /// Everything radclient printed.
    pub(crate) output: String,
}

impl RadclientReply {
    /// Whether an attribute line `name = value` (value as radclient prints it) is present.
    pub(crate) fn has(&self, name: &str, value: &str) -> bool {
        self.output.lines().any(|l| {
            let l = l.trim();
            l.starts_with(name)
                && l.split_once(" = ")
                    .is_some_and(|(_, v)| v.trim().trim_matches('"') == value)
        })
    }
}

/// Runs radclient with `attributes` (one per line) against `addr`; `command` is `auth`,
/// `acct` or `status`.
pub(crate) fn radclient(addr: SocketAddr, command: &str, attributes: &str) -> RadclientReply {
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "2"])
        .arg(addr.to_string())
        .arg(command)
        .arg(SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient not found: .ci/run and scripts/deps.sh install freeradius-utils");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attributes.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = ["Access-Accept", "Access-Reject", "Accounting-Response"]
        .into_iter()
        .find(|c| output.contains(&format!("Received {c}")))
        .unwrap_or_default()
        .to_owned();
    RadclientReply { code, output }
}

/// A PAP request through radclient, with Message-Authenticator (Debian's radclient 3.2.1
/// adds one only when the request lists it).
pub(crate) fn pap(addr: SocketAddr, user: &str, password: &str) -> RadclientReply {
    radclient(
        addr,
        "auth",
        &format!(
            "User-Name = \"{user}\"\nUser-Password = \"{password}\"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n"
        ),
    )
}

/// A PostgreSQL of the test's own (so the test may stop it), with database `name`
/// migrated and seeded with `users` subscribers: the server, the database URL and its
/// store.
pub(crate) async fn private_database(
    env: &TestEnv,
    name: &str,
    users: usize,
) -> (PrivatePostgres, String, Store) {
    let pg = PrivatePostgres::start().await.unwrap();
    let url = pg.url("postgres");
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let db = with_database(&url, name);
    let store = Store::connect(&StoreConfig::new(db.clone()), env.keys.clone())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    seed(&store, users).await;
    (pg, db, store)
}

/// A plan, the NAS 127.0.0.1 and `users` subscribers user000001.. / pw000001.. .
pub(crate) async fn seed(store: &Store, users: usize) -> i64 {
    let mut plan = NewPlan::new("home-20", 20_000, 10_000);
    plan.session_timeout_secs = Some(86_400);
    plan.pool = Some("residential".into());
    let plan = store.create_plan(&plan).await.unwrap();
    store
        .create_nas(&NewNas::new(
            "bras-1",
            "127.0.0.1".parse().unwrap(),
            SECRET.as_bytes(),
        ))
        .await
        .unwrap();
    for i in 1..=users {
        let mut s = NewSubscriber::new(format!("user{i:06}"), format!("pw{i:06}"), plan.id);
        s.status = Status::Active;
        store.create_subscriber(&s).await.unwrap();
    }
    plan.id
}

/// Builds a PAP Access-Request with the codec; `message_authenticator` adds one.
pub(crate) fn pap_packet(
    id: u8,
    user: &str,
    pw: &str,
    message_authenticator: bool,
) -> (Vec<u8>, [u8; 16]) {
    let auth = authenticator::random();
    let hidden = password::hide(pw.as_bytes(), SECRET.as_bytes(), &auth).unwrap();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccessRequest, id, &auth);
    if message_authenticator {
        enc.message_authenticator();
    }
    enc.attr(attr::USER_NAME, user.as_bytes())
        .attr(attr::USER_PASSWORD, hidden.as_bytes());
    (enc.finish(SECRET.as_bytes()).unwrap().to_vec(), auth)
}

/// Sends `packet` from `socket` to radiusd and waits up to `wait` for a reply.
pub(crate) fn exchange(
    socket: &UdpSocket,
    to: SocketAddr,
    packet: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(packet, to).unwrap();
    let mut buf = [0u8; 4096];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// One bigint from `query`.
pub(crate) async fn one_i64(sql: &tokio_postgres::Client, query: &str) -> i64 {
    sql.query_one(query, &[]).await.unwrap().get(0)
}

/// Polls `query` until it returns `want`, for up to `within`; what it returned last.
pub(crate) async fn eventually(
    sql: &tokio_postgres::Client,
    query: &str,
    want: i64,
    within: Duration,
) -> i64 {
    let mut got = one_i64(sql, query).await;
    wait_until(within, async || {
        got = one_i64(sql, query).await;
        got == want
    })
    .await;
    got
}
