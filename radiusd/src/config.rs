//! radiusd's configuration: defaults, then the TOML file, then `PROISP_*` environment
//! variables, then systemd credentials for what is still unset (`proisp_bootstrap`
//! describes the layers and the names: `PROISP_LISTEN__AUTH`, `PROISP_DATABASE_URL`,
//! the `secret.key` credential …).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use proisp_bootstrap::{
    CoaConfig, Credential, Error, Layers, LogConfig, RedisConfig, Sources, StoreConfig, credential,
};
use serde::Deserialize;

mod radsec;

pub(crate) use self::radsec::{RadsecConfig, contains};

/// The systemd credentials radiusd reads, each for a key left unset.
const CREDENTIALS: &[Credential] = &[
    credential::SECRET_KEY,
    credential::DATABASE_URL,
    credential::REDIS_URL,
    credential::RADSEC_KEY,
];

/// The whole configuration of proisp-radiusd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Sockets and ports.
    #[serde(default)]
    pub(crate) listen: ListenConfig,
    /// PostgreSQL, the source of truth (`url`, `pool_size`, `connect_timeout`,
    /// `statement_timeout`).
    pub(crate) database: StoreConfig,
    /// Redis, the shared credential cache and invalidation channel (URL, key prefix,
    /// TTLs, command timeout); auth runs from PostgreSQL alone without it.
    #[serde(default)]
    pub(crate) redis: Option<RedisConfig>,
    /// File holding the AES-256-GCM key that encrypts passwords and NAS secrets at rest
    /// (64 hex digits; `proisp-adminapi gen-key` writes one). Unset: the systemd
    /// credential `secret.key`.
    pub(crate) key_file: PathBuf,
    /// The in-process subscriber cache.
    #[serde(default)]
    pub(crate) cache: CacheConfig,
    /// Request handling.
    #[serde(default)]
    pub(crate) auth: AuthConfig,
    /// Accounting: batching, the spool, stale sessions, history retention.
    #[serde(default)]
    pub(crate) accounting: AccountingConfig,
    /// CoA and Disconnect-Requests sent to NASes (fair usage).
    #[serde(default)]
    pub(crate) coa: CoaConfig,
    /// RadSec (RADIUS/TLS) and RADIUS/TCP listeners; absent: UDP only.
    #[serde(default)]
    pub(crate) radsec: Option<RadsecConfig>,
    /// Logging.
    #[serde(default)]
    pub(crate) log: LogConfig,
}

/// Sockets and ports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenConfig {
    /// Where Access-Requests and Status-Server arrive (RFC 2865: 1812/udp).
    #[serde(default = "default_auth")]
    pub(crate) auth: SocketAddr,
    /// Where Accounting-Requests arrive (RFC 2866: 1813/udp).
    #[serde(default = "default_acct")]
    pub(crate) acct: SocketAddr,
    /// SO_REUSEPORT sockets on the auth port, each driven by its own task; 0 means one
    /// per CPU core.
    #[serde(default)]
    pub(crate) sockets: usize,
    /// Prometheus metrics (`/metrics`) and `/health`, over HTTP.
    #[serde(default = "default_metrics")]
    pub(crate) metrics: SocketAddr,
}

/// The in-process subscriber cache (the first level, before Redis and PostgreSQL).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheConfig {
    /// Entries kept; the least recently used go first.
    #[serde(default = "default_capacity")]
    pub(crate) capacity: usize,
    /// How long an entry is trusted while a channel that announces changes is proven
    /// (the Redis subscription answers its pings, or PostgreSQL's change feed answered
    /// its last poll).
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub(crate) ttl: Duration,
    /// How long an entry is trusted while neither channel is proven: the bound on how
    /// stale an answer can be when nothing can announce a change.
    #[serde(default = "default_ttl_disconnected", with = "humantime_serde")]
    pub(crate) ttl_disconnected: Duration,
    /// How often PostgreSQL's change feed is read. With `auth.backend_timeout`, the bound
    /// on how long a change takes to reach this radiusd when Redis loses its message.
    #[serde(default = "default_feed_interval", with = "humantime_serde")]
    pub(crate) feed_interval: Duration,
    /// How long the change feed keeps its rows (radiusd's housekeeping deletes older
    /// ones). At least the Redis entry TTL: a radiusd starting up reads the changes of
    /// that long to know which Redis entries are stale.
    #[serde(default = "default_feed_retention", with = "humantime_serde")]
    pub(crate) feed_retention: Duration,
    /// How long an unknown user name is remembered, so a flood of random names cannot
    /// reach the database.
    #[serde(default = "default_negative_ttl", with = "humantime_serde")]
    pub(crate) negative_ttl: Duration,
}

/// Request handling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthConfig {
    /// How long a reply is kept to answer retransmissions (RFC 5080 §2.2.2).
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    pub(crate) duplicate_window: Duration,
    /// Delay before an Access-Reject leaves, to slow password guessing through a NAS
    /// (FreeRADIUS's reject_delay). 0 sends at once.
    #[serde(default = "default_reject_delay", with = "humantime_serde")]
    pub(crate) reject_delay: Duration,
    /// How long a lookup may wait for Redis or PostgreSQL before the request is dropped
    /// (the NAS retries or fails over).
    #[serde(default = "default_backend_timeout", with = "humantime_serde")]
    pub(crate) backend_timeout: Duration,
}

/// A kind of session event (`[accounting] session_events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SessionEvent {
    /// `session.start`.
    Start,
    /// `session.interim`.
    Interim,
    /// `session.stop`.
    Stop,
}

/// When an Accounting-Response goes out (`[accounting] acknowledge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Acknowledge {
    /// After PostgreSQL committed the record (or, while it is unreachable, after the
    /// spool's fsync).
    #[default]
    Commit,
    /// After the writer's journal's fsync on local disk; the journal is applied to
    /// PostgreSQL behind it, in big batches, at most `journal_max_lag` behind.
    Journal,
}

impl AccountingConfig {
    /// `proisp.session_events`, the connection setting sql/0016's triggers read.
    fn session_events_setting(&self) -> String {
        let names: Vec<&str> = self
            .session_events
            .iter()
            .map(|e| match e {
                SessionEvent::Start => "start",
                SessionEvent::Interim => "interim",
                SessionEvent::Stop => "stop",
            })
            .collect();
        if names.is_empty() {
            "off".to_owned()
        } else {
            names.join(",")
        }
    }
}

/// Accounting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountingConfig {
    /// Where requests are kept (appended with fsync) while PostgreSQL is unreachable, and
    /// records PostgreSQL refuses; replayed in order when it returns.
    #[serde(default = "default_spool_dir")]
    pub(crate) spool_dir: PathBuf,
    /// Database writers; requests are spread over them by user name, so one subscriber's
    /// requests stay in order.
    #[serde(default = "default_writers")]
    pub(crate) writers: usize,
    /// Most requests committed in one transaction.
    #[serde(default = "default_batch_size")]
    pub(crate) batch_size: usize,
    /// Longest wait for PostgreSQL to commit a batch (or a spool replay's batch, or to
    /// answer a probe), waiting for a connection included. Past it the batch is spooled
    /// and acknowledged, and PostgreSQL counts as unreachable until a probe answers:
    /// later batches go straight to the spool instead of each waiting as long. Keep it
    /// well under a NAS's retry budget (timeout × attempts, often 10–30 s).
    #[serde(default = "default_commit_timeout", with = "humantime_serde")]
    pub(crate) commit_timeout: Duration,
    /// When the Accounting-Response goes: `commit` (PostgreSQL committed the record) or
    /// `journal` (the writer appended it to its journal in `spool_dir` with fsync, and
    /// applies the journal to PostgreSQL in big batches behind the answers: cheaper per
    /// record, but until applied the record lives only on this machine's disk, and open
    /// sessions and simultaneous use see it up to `journal_max_lag` later). DESIGN.md,
    /// failure table.
    #[serde(default)]
    pub(crate) acknowledge: Acknowledge,
    /// With `acknowledge = "journal"`: how far the journal may run ahead of PostgreSQL.
    /// Past it answers wait for PostgreSQL to catch up (as with `commit`), except while
    /// PostgreSQL is unreachable, when the journal grows like the spool.
    #[serde(default = "default_journal_max_lag", with = "humantime_serde")]
    pub(crate) journal_max_lag: Duration,
    /// Interim intervals without an update after which a session is closed as stale.
    #[serde(default = "default_stale_after")]
    pub(crate) stale_after: u32,
    /// How often stale sessions are looked for, and ended fair usage restored.
    #[serde(default = "default_sweep_interval", with = "humantime_serde")]
    pub(crate) sweep_interval: Duration,
    /// Session history older than this is dropped, a monthly partition at a time.
    #[serde(default = "default_history_retention", with = "humantime_serde")]
    pub(crate) history_retention: Duration,
    /// Usage per billing period older than this is deleted (a batch of rows at a time,
    /// never blocking accounting). Longer than `history_retention` by default: usage is
    /// what billing disputes and yearly reports read, and it is small.
    #[serde(default = "default_usage_retention", with = "humantime_serde")]
    pub(crate) usage_retention: Duration,
    /// Which session events the accounting path writes to the event outbox (issue 22;
    /// `proisp-events` publishes them): any of `start`, `interim`, `stop`; empty for
    /// none. Interim-Updates are many and off by default. Give both radiusd of a pair the
    /// same list.
    #[serde(default = "default_session_events")]
    pub(crate) session_events: Vec<SessionEvent>,
    /// How long the simultaneous-use check trusts a counted number of open sessions
    /// while the invalidation channel is connected (every radiusd announces the users
    /// whose sessions it opened or closed).
    #[serde(default = "default_session_count_ttl", with = "humantime_serde")]
    pub(crate) session_count_ttl: Duration,
    /// The same while the invalidation channel is down or Redis is not configured.
    #[serde(
        default = "default_session_count_ttl_disconnected",
        with = "humantime_serde"
    )]
    pub(crate) session_count_ttl_disconnected: Duration,
}

fn default_auth() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 1812))
}
fn default_acct() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 1813))
}
fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/proisp/spool")
}
fn default_writers() -> usize {
    4
}
fn default_batch_size() -> usize {
    1000
}
fn default_commit_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_journal_max_lag() -> Duration {
    Duration::from_millis(500)
}
fn default_stale_after() -> u32 {
    3
}
fn default_sweep_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_history_retention() -> Duration {
    Duration::from_secs(90 * 86_400)
}
fn default_session_events() -> Vec<SessionEvent> {
    vec![SessionEvent::Start, SessionEvent::Stop]
}
fn default_usage_retention() -> Duration {
    Duration::from_secs(730 * 86_400)
}
fn default_session_count_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_session_count_ttl_disconnected() -> Duration {
    Duration::from_secs(10)
}
fn default_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9812))
}
fn default_capacity() -> usize {
    1_000_000
}
fn default_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_ttl_disconnected() -> Duration {
    Duration::from_secs(1)
}
fn default_feed_interval() -> Duration {
    Duration::from_millis(250)
}
fn default_feed_retention() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_negative_ttl() -> Duration {
    Duration::from_secs(60)
}
fn default_duplicate_window() -> Duration {
    Duration::from_secs(5)
}
fn default_reject_delay() -> Duration {
    Duration::from_secs(1)
}
fn default_backend_timeout() -> Duration {
    Duration::from_millis(500)
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            auth: default_auth(),
            acct: default_acct(),
            sockets: 0,
            metrics: default_metrics(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity: default_capacity(),
            ttl: default_ttl(),
            ttl_disconnected: default_ttl_disconnected(),
            feed_interval: default_feed_interval(),
            feed_retention: default_feed_retention(),
            negative_ttl: default_negative_ttl(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            duplicate_window: default_duplicate_window(),
            reject_delay: default_reject_delay(),
            backend_timeout: default_backend_timeout(),
        }
    }
}

impl Default for AccountingConfig {
    fn default() -> Self {
        AccountingConfig {
            spool_dir: default_spool_dir(),
            writers: default_writers(),
            batch_size: default_batch_size(),
            commit_timeout: default_commit_timeout(),
            acknowledge: Acknowledge::default(),
            journal_max_lag: default_journal_max_lag(),
            stale_after: default_stale_after(),
            sweep_interval: default_sweep_interval(),
            history_retention: default_history_retention(),
            usage_retention: default_usage_retention(),
            session_events: default_session_events(),
            session_count_ttl: default_session_count_ttl(),
            session_count_ttl_disconnected: default_session_count_ttl_disconnected(),
        }
    }
}

impl Config {
    /// Layers defaults, the TOML file, the environment and the credentials of `sources`.
    /// Errors name the key and where its value came from.
    pub(crate) fn load(sources: &Sources) -> Result<Config, Error> {
        let layers = Layers::<Config>::new(CREDENTIALS, sources)?;
        let mut config: Config = layers.extract()?;
        config
            .check()
            .map_err(|(key, reason)| layers.inconsistent(key, reason))?;
        let events = config.accounting.session_events_setting();
        config
            .database
            .settings
            .push(("proisp.session_events".to_owned(), events));
        // Accounting commits many transactions a second: none NOTIFYs the relay, the store
        // wakes it after them (sql/0020_outbox_deferred_notify.sql).
        config.database.defer_outbox_notify = true;
        Ok(config)
    }

    /// Checks across keys that each parsed alone: the key to change, and why.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let (auth, acct) = (self.listen.auth, self.listen.acct);
        let same_ip =
            auth.ip() == acct.ip() || auth.ip().is_unspecified() || acct.ip().is_unspecified();
        if auth.port() == acct.port() && auth.port() != 0 && same_ip {
            // SO_REUSEPORT lets both bind, and the kernel would then hand each request to
            // either port's sockets by source hash: half the NAS's logins dropped.
            return Err((
                "listen.acct",
                format!(
                    "listen.auth ({auth}) and listen.acct ({acct}) are the same port; give \
                     accounting its own (1813 by convention)"
                ),
            ));
        }
        if let Some(radsec) = &self.radsec {
            radsec.check()?;
        }
        if self.cache.feed_interval.is_zero() {
            return Err((
                "cache.feed_interval",
                "cache.feed_interval must be more than 0".to_owned(),
            ));
        }
        if let Some(redis) = &self.redis
            && self.cache.feed_retention < self.floor_life()
        {
            return Err((
                "cache.feed_retention",
                format!(
                    "cache.feed_retention ({:?}) must be at least redis.ttl ({:?}) and a \
                     minute: a radiusd starting up reads that much of the feed to know which \
                     Redis entries are stale",
                    self.cache.feed_retention, redis.ttl
                ),
            ));
        }
        Ok(())
    }

    /// How long a Redis entry written before a change can live after it: its TTL, and a
    /// minute for a put that was in flight when the change committed.
    pub(crate) fn floor_life(&self) -> Duration {
        self.redis
            .as_ref()
            .map_or(Duration::ZERO, |r| r.ttl + Duration::from_secs(60))
    }

    /// Sockets on each port: the configured number, or one per core.
    pub(crate) fn socket_count(&self) -> usize {
        match self.listen.sockets {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A directory of its own for one test (tests run in parallel).
    fn dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("radiusd-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `toml` as the config file, no environment, no credentials.
    fn load_toml(dir: &Path, toml: &str) -> Result<Config, Error> {
        let path = dir.join("radiusd.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(&Sources::default().with_file(path))
    }

    #[test]
    fn the_shipped_example_parses() {
        // The example leaves key_file to the credential the unit passes.
        let credentials = dir("example");
        std::fs::write(credentials.join("secret.key"), "").unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/radiusd.toml.example");
        let config = Config::load(
            &Sources::default()
                .with_file(path)
                .with_credentials(&credentials),
        )
        .unwrap();
        assert_eq!(config.key_file, credentials.join("secret.key"));
        assert_eq!(config.listen.auth.port(), 1812);
        assert_eq!(config.listen.metrics.port(), 9812);
        // TLS on by default to both backends.
        assert!(config.redis.as_ref().unwrap().url.starts_with("rediss://"));
        assert_eq!(
            config.database.sslmode,
            Some(proisp_store::SslMode::VerifyFull)
        );
        assert_eq!(config.auth.reject_delay, Duration::from_secs(1));
        assert_eq!(config.listen.acct.port(), 1813);
        assert_eq!(
            config.accounting.history_retention,
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(
            config.accounting.usage_retention,
            Duration::from_secs(730 * 86_400)
        );
        assert_eq!(config.coa.retries, 2);
        assert_eq!(config.accounting.commit_timeout, Duration::from_secs(3));
        assert!(
            config
                .database
                .settings
                .contains(&("proisp.session_events".to_owned(), "start,stop".to_owned()))
        );
        assert!(config.database.defer_outbox_notify);
    }

    #[test]
    fn session_events_become_the_connections_setting() {
        let dir = dir("session-events");
        let setting = |list: &str| {
            let toml = format!(
                "key_file = \"k\"\n[database]\nurl = \"x\"\n[accounting]\nsession_events = {list}\n"
            );
            load_toml(&dir, &toml).map(|c| c.database.settings)
        };
        let one = |v: &str| vec![("proisp.session_events".to_owned(), v.to_owned())];
        assert_eq!(setting("[]").unwrap(), one("off"));
        assert_eq!(
            setting("[\"start\", \"interim\", \"stop\"]").unwrap(),
            one("start,interim,stop")
        );
        let err = setting("[\"start\", \"bogus\"]").unwrap_err().to_string();
        assert!(err.contains("session_events"), "{err}");
    }

    #[test]
    fn auth_and_accounting_on_one_port_are_refused() {
        let dir = dir("ports");
        let load = |listen: &str| {
            load_toml(
                &dir,
                &format!("key_file = \"k\"\n[database]\nurl = \"x\"\n[listen]\n{listen}"),
            )
            .map(|_| ())
        };
        for listen in [
            "auth = \"127.0.0.1:1812\"\nacct = \"127.0.0.1:1812\"\n",
            "auth = \"0.0.0.0:1812\"\nacct = \"127.0.0.1:1812\"\n",
            "auth = \"[::1]:1812\"\nacct = \"[::]:1812\"\n",
        ] {
            let err = load(listen).unwrap_err().to_string();
            assert!(err.contains("listen.acct"), "{listen}: {err}");
            assert!(err.contains("radiusd.toml"), "{listen}: {err}");
        }
        for listen in [
            "auth = \"127.0.0.1:1812\"\nacct = \"127.0.0.1:1813\"\n",
            "auth = \"127.0.0.1:1812\"\nacct = \"127.0.0.2:1812\"\n",
        ] {
            load(listen).unwrap();
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let dir = dir("config");
        let err = load_toml(
            &dir,
            "key_file = \"k\"\n[database]\nurl = \"x\"\n[listen]\nauth = \"nope\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("listen.auth"), "{err}");
        let err = load_toml(
            &dir,
            "key_file = \"k\"\nsurprise = 1\n[database]\nurl = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("surprise"), "{err}");
        let err = load_toml(&dir, "[database]\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("key_file"), "{err}");
    }

    #[test]
    fn radiusd_reads_its_variables_and_leaves_the_others() {
        let config = Config::load(&Sources::default().with_env(&[
            ("PROISP_DATABASE_URL", "postgres://env"),
            ("PROISP_KEY_FILE", "/run/secret.key"),
            ("PROISP_LISTEN__AUTH", "127.0.0.1:11812"),
            ("PROISP_CACHE__CAPACITY", "10"),
            ("PROISP_LOG__LEVEL", "debug"),
            // adminapi's and the stack's, from a shared environment file.
            ("PROISP_HTTP__LISTEN", "127.0.0.1:8080"),
            ("PROISP_TOKENS__JWT_KEY_FILE", "/run/jwt.key"),
            ("PROISP_PG_PORT", "5432"),
            ("PROISP_CONFIG", "/etc/proisp/radiusd.toml"),
        ]))
        .unwrap();
        assert_eq!(config.database.database_url, "postgres://env");
        assert_eq!(config.key_file, Path::new("/run/secret.key"));
        assert_eq!(config.listen.auth.port(), 11812);
        assert_eq!(config.listen.acct.port(), 1813);
        assert_eq!(config.cache.capacity, 10);
        assert_eq!(config.log.level, "debug");

        let err = Config::load(&Sources::default().with_env(&[
            ("PROISP_DATABASE_URL", "postgres://env"),
            ("PROISP_KEY_FILE", "/run/secret.key"),
            ("PROISP_CACHE__FEED_INTERVAL", "0s"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cache.feed_interval: environment variable PROISP_CACHE__FEED_INTERVAL"),
            "{err}"
        );
    }

    #[test]
    fn credentials_set_the_key_and_the_connections() {
        let credentials = dir("credentials");
        std::fs::write(credentials.join("secret.key"), "").unwrap();
        std::fs::write(credentials.join("database.url"), "postgres://u:pw@db/p\n").unwrap();
        std::fs::write(credentials.join("redis.url"), "redis://:pw@cache\n").unwrap();
        let config = Config::load(&Sources::default().with_credentials(&credentials)).unwrap();
        assert_eq!(config.key_file, credentials.join("secret.key"));
        assert_eq!(config.database.database_url, "postgres://u:pw@db/p");
        assert_eq!(config.redis.unwrap().url, "redis://:pw@cache");
    }

    #[test]
    fn the_example_s_radsec_section_parses_uncommented_and_its_key_may_be_a_credential() {
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/radiusd.toml.example"),
        )
        .unwrap();
        // The commented section, uncommented: from `# [radsec]` to the next section.
        let start = example.find("# [radsec]\n").unwrap();
        let end = start + example[start..].find("\n\n").unwrap();
        let section: String = example[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with('[') || l.contains(" = "))
            // Under systemd the key comes from the radsec.key credential.
            .filter(|l| !l.starts_with("key = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let credentials = dir("radsec");
        std::fs::write(credentials.join("secret.key"), "").unwrap();
        std::fs::write(credentials.join("radsec.key"), "").unwrap();
        let file = credentials.join("radiusd.toml");
        std::fs::write(
            &file,
            format!(
                "{}\n{section}",
                &example[..example.find("[log]").unwrap()].replace("# [radsec]", "")
            ),
        )
        .unwrap();
        let config = Config::load(
            &Sources::default()
                .with_file(file)
                .with_credentials(&credentials),
        )
        .unwrap();
        let radsec = config.radsec.unwrap();
        assert_eq!(radsec.listen.port(), 2083);
        assert_eq!(radsec.key, credentials.join("radsec.key"));
        assert_eq!(radsec.proxy_from.len(), 2);
        assert_eq!(radsec.tcp.unwrap().allow.len(), 1);

        // RADIUS/TCP without the networks it is for: refused, naming the key.
        let err = load_toml(
            &dir("radsec-tcp"),
            "key_file = \"k\"\n[database]\nurl = \"x\"\n[radsec]\nlisten = \"127.0.0.1:2083\"\n\
             ca = \"c\"\ncertificate = \"c\"\nkey = \"k\"\n[radsec.tcp]\n\
             listen = \"127.0.0.1:1812\"\nallow = []\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("radsec.tcp.allow"), "{err}");
    }
}
