//! proisp-adminapi against real PostgreSQL and Redis (proisp_testing): the
//! operator commands run as a process (this file), the REST API in process (`api`), and
//! two servers behind HAProxy (`haproxy`).

mod api;
mod haproxy;
mod import_kill;
mod replica;
mod seed;

use std::process::{Command, Output};
use std::time::Duration;

use proisp_store::{Cache as _, CacheEvent, Invalidation, Keyring, Store};
use proisp_testing::TestEnv;

/// What `serve` logs once its socket is bound, and the log filter that shows it.
const LISTENING: &str = "admin API listening";
const LISTENING_LOG: &str = "warn,proisp_adminapi::server=info";

/// Runs the binary with only the environment the test gives it.
fn adminapi(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proisp-adminapi"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run proisp-adminapi")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn stack_env(env: &TestEnv) -> Vec<(&'static str, String)> {
    vec![
        ("PROISP_DATABASE_URL", env.database_url.clone()),
        ("PROISP_REDIS_URL", env.redis_url.clone()),
        ("PROISP_REDIS__KEY_PREFIX", env.key_prefix.clone()),
        ("PROISP_KEY_FILE", env.key_file.display().to_string()),
        // radiusd's variables in a shared environment file are ignored, not refused.
        ("PROISP_LISTEN__AUTH", "127.0.0.1:1812".to_owned()),
    ]
}

/// The lines a child process writes to a pipe, as they come: a thread reads the pipe
/// (and keeps draining it, so the child never blocks on a full pipe) and hands each line
/// over, optionally copying it to a file too.
pub(crate) struct Lines {
    rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Lines {
    pub(crate) fn new(pipe: impl std::io::Read + Send + 'static) -> Lines {
        Lines::copied(pipe, None)
    }

    /// Also appends every line to `copy`.
    pub(crate) fn copied(
        pipe: impl std::io::Read + Send + 'static,
        mut copy: Option<std::fs::File>,
    ) -> Lines {
        use std::io::{BufRead as _, Write as _};
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(file) = copy.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                let _ = tx.send(line);
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// The next line, or `None` once `deadline` has passed or the pipe is closed.
    pub(crate) async fn next_before(&mut self, deadline: tokio::time::Instant) -> Option<String> {
        let line = tokio::time::timeout_at(deadline, self.rx.recv())
            .await
            .ok()
            .flatten()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits for a line containing `needle`; panics, showing what was written, when none
    /// comes within `within`.
    pub(crate) async fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Some(line) = self.next_before(deadline).await {
            if line.contains(needle) {
                return;
            }
        }
        panic!(
            "no line with {needle:?} within {within:?}; written: {:#?}",
            self.seen
        );
    }

    /// Evaluates `check` now and again after every line until it holds; panics after
    /// `within`, showing what was written. The lines are the events that can change the
    /// answer (a health check logged, a state change), so nothing is polled on a timer.
    pub(crate) async fn until<F, Fut>(&mut self, what: &str, within: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if check().await {
                return;
            }
            if self.next_before(deadline).await.is_none() {
                panic!(
                    "{what}: not so within {within:?}; written: {:#?}",
                    self.seen
                );
            }
        }
    }
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn migrate_applies_once() {
    let env = TestEnv::start_unmigrated().await;
    let vars = stack_env(&env);
    let out = adminapi(&as_refs(&vars), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("applied 0001_"), "{stdout}");
    let again = adminapi(&as_refs(&vars), &["migrate"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout).trim(),
        format!("schema is up to date at version {}", Store::SCHEMA_VERSION)
    );
    assert_eq!(
        env.store().await.schema_version().await.unwrap(),
        Store::SCHEMA_VERSION
    );
}

#[tokio::test]
async fn seed_twice_creates_exactly_n_and_announces_it() {
    let env = TestEnv::start().await;
    let vars = stack_env(&env);
    let cache = env.cache().await;
    let mut events = cache.subscribe();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Connected)
    );

    let args = [
        "seed",
        "--subscribers",
        "2500",
        "--nas",
        "127.0.0.1",
        "--secret",
        "s3cret",
    ];
    let out = adminapi(&as_refs(&vars), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("2500 created, 0 already present"),
        "{stdout}"
    );
    assert!(stdout.contains("nas 127.0.0.1: created"), "{stdout}");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Invalidate(Invalidation::All))
    );

    let again = adminapi(&as_refs(&vars), &args);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let stdout = text(&again.stdout);
    assert!(
        stdout.contains("0 created, 2500 already present"),
        "{stdout}"
    );
    assert!(
        stdout.contains("nas 127.0.0.1: already present"),
        "{stdout}"
    );
    assert!(stdout.contains("demo plans already present"), "{stdout}");

    let sql = env.sql().await;
    let count: i64 = sql
        .query_one("SELECT count(*) FROM subscribers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2500);
    let store = env.store().await;
    let s = store.subscriber("user002500").await.unwrap().unwrap();
    assert_eq!(s.password.as_bytes(), b"pw002500");
    let nas = store.all_nas().await.unwrap();
    assert_eq!(nas.len(), 1);
    assert_eq!(
        proisp_radius::secret::SharedSecret::as_bytes(&nas[0].secret),
        b"s3cret"
    );
}

#[tokio::test]
async fn seed_refuses_an_unmigrated_database_and_a_missing_key() {
    let env = TestEnv::start_unmigrated().await;
    let vars = stack_env(&env);
    let out = adminapi(&as_refs(&vars), &["seed", "--subscribers", "1"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("proisp-adminapi migrate"), "{stderr}");

    let no_key: Vec<_> = as_refs(&vars)
        .into_iter()
        .filter(|(k, _)| *k != "PROISP_KEY_FILE")
        .collect();
    let out = adminapi(&no_key, &["seed"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("gen-key"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn gen_key_prints_a_usable_key() {
    let out = adminapi(&[], &["gen-key"]);
    assert!(out.status.success());
    let key = text(&out.stdout);
    assert_eq!(key.trim().len(), 64);
    assert!(key.ends_with('\n'));
    let path = std::env::temp_dir().join(format!("proisp-gen-key-{}.key", std::process::id()));
    std::fs::write(&path, &key).unwrap();
    assert!(Keyring::from_file(&path).is_ok());
    std::fs::remove_file(&path).unwrap();
    assert_ne!(key, text(&adminapi(&[], &["gen-key"]).stdout));
}

#[test]
fn bad_configuration_names_the_key() {
    let out = adminapi(
        &[
            ("PROISP_DATABASE_URL", "postgres://x"),
            ("PROISP_DATABASE__POOL_SIZE", "many"),
        ],
        &["migrate"],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.to_lowercase().contains("database.pool_size"),
        "{stderr}"
    );
    assert!(stderr.contains("PROISP_"), "{stderr}");

    let out = adminapi(&[], &["--config", "/nonexistent/adminapi.toml", "migrate"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/adminapi.toml"));

    let out = adminapi(
        &[("PROISP_DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
        &["migrate"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unavailable"),
        "{}",
        text(&out.stderr)
    );
}

/// `check-config` on the shipped example with both keys as the unit passes them
/// (credentials) and the example's CA files replaced by a real one; then the example's
/// own CA path (absent here) and a damaged token key must fail and be named.
#[test]
fn check_config_reads_the_example_and_its_files() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/adminapi.toml.example");
    let example = example.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("adminapi-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = proisp_testing::Pki::generate(&dir, "nas.check.test").unwrap();
    let ca = pki.ca.to_str().unwrap();
    let key = format!("{}\n", "cd".repeat(32));
    std::fs::write(dir.join("secret.key"), &key).unwrap();
    std::fs::write(dir.join("jwt.key"), &key).unwrap();
    let credentials = dir.to_str().unwrap();
    let check = |env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("CREDENTIALS_DIRECTORY", credentials));
        adminapi(&env, &["--config", example, "check-config"])
    };
    let cas = [
        ("PROISP_DATABASE__SSLROOTCERT", ca),
        ("PROISP_REDIS__TLS_CA", ca),
    ];
    let good = check(&cas);
    let as_shipped = check(&[]);
    std::fs::write(dir.join("jwt.key"), "short\n").unwrap();
    let damaged = check(&cas);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert_eq!(text(&good.stdout), "configuration is valid\n");
    for (out, names) in [
        (as_shipped, "sslrootcert: /etc/proisp/postgres-ca.pem"),
        (damaged, "tokens.jwt_key_file"),
    ] {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(names),
            "{names} not in: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn the_systemd_units_verify() {
    // The API, and the weekly security report it runs as a subcommand.
    let built = env!("CARGO_BIN_EXE_proisp-adminapi");
    let verified = proisp_testing::verify_units(
        &[
            "proisp-adminapi.service",
            "proisp-security-report.service",
            "proisp-security-report.timer",
        ],
        &[("/usr/bin/proisp-adminapi", built)],
    );
    assert_eq!(verified, Ok(()));
}

/// Runs the binary with `stdin` as its standard input.
fn adminapi_stdin(env: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proisp-adminapi"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run proisp-adminapi");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin_or_a_file() {
    let env = TestEnv::start().await;
    let vars = stack_env(&env);
    let password = "a-long-enough-password";
    let out = adminapi_stdin(
        &as_refs(&vars),
        &["create-admin", "--username", "root", "--role", "superadmin"],
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created admin root (superadmin)"));
    assert!(!text(&out.stdout).contains(password));

    let file = std::env::temp_dir().join(format!("proisp-pw-{}", std::process::id()));
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let file_arg = file.display().to_string();
    let out = adminapi(
        &as_refs(&vars),
        &[
            "create-admin",
            "--username",
            "desk",
            "--role",
            "support",
            "--password-file",
            &file_arg,
            "--allow",
            "10.0.0.0/8",
        ],
    );
    std::fs::remove_file(&file).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Duplicates, short passwords and unknown roles are refused; there is no --password.
    let again = adminapi_stdin(
        &as_refs(&vars),
        &["create-admin", "--username", "root", "--role", "admin"],
        password,
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already taken"),
        "{}",
        text(&again.stderr)
    );
    let short = adminapi_stdin(
        &as_refs(&vars),
        &["create-admin", "--username", "x", "--role", "admin"],
        "short",
    );
    assert!(!short.status.success());
    assert!(text(&short.stderr).contains("at least 12"));
    let role = adminapi(
        &as_refs(&vars),
        &["create-admin", "--username", "x", "--role", "root"],
    );
    assert!(!role.status.success());
    let argv = adminapi(
        &as_refs(&vars),
        &[
            "create-admin",
            "--username",
            "x",
            "--role",
            "admin",
            "--password",
            password,
        ],
    );
    assert!(!argv.status.success());

    let sql = env.sql().await;
    let rows = sql
        .query(
            "SELECT username, role, password_hash, allowed_networks::text[] FROM admins ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let hash: String = rows[0].get(2);
    assert!(hash.starts_with("$argon2id$"));
    let nets: Vec<String> = rows[1].get(3);
    assert_eq!(nets, ["10.0.0.0/8"]);
    let audited: i64 = sql
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'admin.create'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn serve_answers_health_on_its_port() {
    use std::io::{Read as _, Write as _};
    let env = TestEnv::start().await;
    let mut vars = stack_env(&env);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    vars.push(("PROISP_HTTP__LISTEN", format!("127.0.0.1:{port}")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proisp-adminapi"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", LISTENING_LOG)
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in &vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut log = Lines::new(child.stderr.take().unwrap());
    log.wait_for(LISTENING, Duration::from_secs(20)).await;
    let mut answer = String::new();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    s.read_to_string(&mut answer).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\":\"ok\""), "{answer}");
}
