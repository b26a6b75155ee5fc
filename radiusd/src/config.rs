//! radiusd's configuration: defaults, then the TOML file, then `PROISP_*` environment
//! variables (nested keys joined with `__`, e.g. `PROISP_LISTEN__AUTH`; the common ones
//! have short forms: `PROISP_DATABASE_URL`, `PROISP_REDIS_URL`, `PROISP_KEY_FILE`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use proisp_store::{CacheConfig as CacheConfigRedis, StoreConfig};
use serde::{Deserialize, Serialize};

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
    pub(crate) redis: Option<CacheConfigRedis>,
    /// File holding the AES-256-GCM key that encrypts passwords and NAS secrets at rest
    /// (64 hex digits; `proisp-adminapi gen-key` writes one).
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
    /// Logging.
    #[serde(default)]
    pub(crate) log: LogConfig,
}

/// Sockets and ports.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Accounting.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Interim intervals without an update after which a session is closed as stale.
    #[serde(default = "default_stale_after")]
    pub(crate) stale_after: u32,
    /// How often stale sessions are looked for, and ended fair usage restored.
    #[serde(default = "default_sweep_interval", with = "humantime_serde")]
    pub(crate) sweep_interval: Duration,
    /// Session history older than this is dropped, a monthly partition at a time.
    #[serde(default = "default_history_retention", with = "humantime_serde")]
    pub(crate) history_retention: Duration,
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

/// CoA and Disconnect-Requests (RFC 5176).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoaConfig {
    /// Wait for an answer before resending.
    #[serde(default = "default_coa_timeout", with = "humantime_serde")]
    pub(crate) timeout: Duration,
    /// Resends after the first try.
    #[serde(default = "default_coa_retries")]
    pub(crate) retries: u32,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogConfig {
    /// `text` for a terminal, `json` for a log pipeline.
    #[serde(default = "default_log_format")]
    pub(crate) format: LogFormat,
    /// tracing filter, e.g. `info` or `proisp_radiusd=debug` (RUST_LOG overrides it).
    #[serde(default = "default_log_level")]
    pub(crate) level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
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
fn default_stale_after() -> u32 {
    3
}
fn default_sweep_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_history_retention() -> Duration {
    Duration::from_secs(90 * 86_400)
}
fn default_session_count_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_session_count_ttl_disconnected() -> Duration {
    Duration::from_secs(10)
}
fn default_coa_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_coa_retries() -> u32 {
    2
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
fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_log_level() -> String {
    "info".into()
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
            stale_after: default_stale_after(),
            sweep_interval: default_sweep_interval(),
            history_retention: default_history_retention(),
            session_count_ttl: default_session_count_ttl(),
            session_count_ttl_disconnected: default_session_count_ttl_disconnected(),
        }
    }
}

impl Default for CoaConfig {
    fn default() -> Self {
        CoaConfig {
            timeout: default_coa_timeout(),
            retries: default_coa_retries(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

/// Maps a `PROISP_*` variable (prefix stripped, lower-cased) to its key path.
fn env_key(key: &str) -> String {
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "database_url" => "database.url".into(),
        "redis_url" => "redis.url".into(),
        other => other.replace("__", "."),
    }
}

/// Whether a `PROISP_*` variable (prefix stripped) configures radiusd; others
/// (`PROISP_CONFIG`, the stack's `PROISP_PG_PORT`, other binaries' keys) are not its
/// business and must not trip `deny_unknown_fields`.
fn is_config_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let section = key.split("__").next().unwrap_or_default();
    matches!(
        section,
        "listen"
            | "database"
            | "redis"
            | "key_file"
            | "cache"
            | "auth"
            | "accounting"
            | "coa"
            | "log"
    ) || matches!(key.as_str(), "database_url" | "redis_url")
}

impl Config {
    /// Layers defaults, the TOML file (if given) and the environment. Errors name the key
    /// and where its value came from.
    pub(crate) fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::new().merge(Serialized::defaults(Defaults::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed("PROISP_")
            .filter(|k| is_config_key(k.as_str()))
            .map(|k| env_key(k.as_str()).into());
        figment = figment.merge(env);
        let config: Config = figment.extract().map_err(Box::new)?;
        config
            .check()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        Ok(config)
    }

    /// Checks across keys that each parsed alone.
    fn check(&self) -> Result<(), String> {
        let (auth, acct) = (self.listen.auth, self.listen.acct);
        let same_ip =
            auth.ip() == acct.ip() || auth.ip().is_unspecified() || acct.ip().is_unspecified();
        if auth.port() == acct.port() && auth.port() != 0 && same_ip {
            // SO_REUSEPORT lets both bind, and the kernel would then hand each request to
            // either port's sockets by source hash: half the NAS's logins dropped.
            return Err(format!(
                "listen.auth ({auth}) and listen.acct ({acct}) are the same port; give \
                 accounting its own (1813 by convention)"
            ));
        }
        if self.cache.feed_interval.is_zero() {
            return Err("cache.feed_interval must be more than 0".to_owned());
        }
        if let Some(redis) = &self.redis
            && self.cache.feed_retention < self.floor_life()
        {
            return Err(format!(
                "cache.feed_retention ({:?}) must be at least redis.ttl ({:?}) and a minute: \
                 a radiusd starting up reads that much of the feed to know which Redis \
                 entries are stale",
                self.cache.feed_retention, redis.ttl
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

/// The sections that have defaults, so a file may leave them out and env vars may set a
/// single key inside them.
#[derive(Serialize, Default)]
struct Defaults {
    listen: ListenConfig,
    cache: CacheConfig,
    auth: AuthConfig,
    accounting: AccountingConfig,
    coa: CoaConfig,
    log: LogConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/radiusd.toml.example");
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.listen.auth.port(), 1812);
        assert_eq!(config.listen.metrics.port(), 9812);
        assert!(config.redis.is_some());
        assert_eq!(config.auth.reject_delay, Duration::from_secs(1));
        assert_eq!(config.listen.acct.port(), 1813);
        assert_eq!(
            config.accounting.history_retention,
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(config.coa.retries, 2);
        assert_eq!(config.accounting.commit_timeout, Duration::from_secs(3));
    }

    #[test]
    fn auth_and_accounting_on_one_port_are_refused() {
        let dir = std::env::temp_dir().join(format!("radiusd-ports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let load = |listen: &str| {
            let path = dir.join("ports.toml");
            std::fs::write(
                &path,
                format!("key_file = \"k\"\n[database]\nurl = \"x\"\n[listen]\n{listen}"),
            )
            .unwrap();
            Config::load(Some(&path)).map(|_| ())
        };
        for listen in [
            "auth = \"127.0.0.1:1812\"\nacct = \"127.0.0.1:1812\"\n",
            "auth = \"0.0.0.0:1812\"\nacct = \"127.0.0.1:1812\"\n",
            "auth = \"[::1]:1812\"\nacct = \"[::]:1812\"\n",
        ] {
            let err = load(listen).unwrap_err().to_string();
            assert!(err.contains("listen.acct"), "{listen}: {err}");
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
        let dir = std::env::temp_dir().join(format!("radiusd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "key_file = \"k\"\n[database]\nurl = \"x\"\n[listen]\nauth = \"nope\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("listen.auth"), "{err}");
        let unknown = dir.join("unknown.toml");
        std::fs::write(
            &unknown,
            "key_file = \"k\"\nsurprise = 1\n[database]\nurl = \"x\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&unknown)).unwrap_err().to_string();
        assert!(err.contains("surprise"), "{err}");
        assert_eq!(env_key("database_url"), "database.url");
        assert_eq!(env_key("listen__auth"), "listen.auth");
        assert!(is_config_key("database_url") && is_config_key("listen__auth"));
        assert!(!is_config_key("config") && !is_config_key("pg_port"));
        assert_eq!(env_key("DATABASE_URL"), "database.url");
        assert!(is_config_key("LISTEN__AUTH"));
    }
}
