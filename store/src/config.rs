//! Connection settings of PostgreSQL (`[database]`) and Redis (`[redis]`), sections of
//! both binaries' config files.
//!
//! They live here, beside the code that connects with them, and `proisp-bootstrap`
//! re-exports them: the store must not depend on the bootstrap. Both connections are
//! plain TCP today; TLS settings come with the HA topology (issue 16).

use std::time::Duration;

use serde::Deserialize;

/// PostgreSQL connection pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// PostgreSQL URL, e.g. `postgres://proisp:PASSWORD@127.0.0.1:5432/proisp` (or a
    /// key=value connection string). Also accepted as `url`, so a `[database]` section
    /// reads naturally.
    #[serde(alias = "url")]
    pub database_url: String,
    /// Connections in the pool.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// How long opening a connection (or waiting for a free one) may take before the
    /// database counts as unavailable.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for every connection: a query that runs longer is
    /// cancelled and reported as unavailable, so a stuck database cannot hold a login.
    #[serde(default = "default_statement_timeout", with = "humantime_serde")]
    pub statement_timeout: Duration,
}

fn default_pool_size() -> usize {
    16
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}

fn default_statement_timeout() -> Duration {
    Duration::from_secs(5)
}

impl StoreConfig {
    /// A config with the defaults for everything but the URL.
    pub fn new(database_url: impl Into<String>) -> StoreConfig {
        StoreConfig {
            database_url: database_url.into(),
            pool_size: default_pool_size(),
            connect_timeout: default_connect_timeout(),
            statement_timeout: default_statement_timeout(),
        }
    }
}

/// Redis: the shared cache and the invalidation channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    #[serde(default = "default_redis_url")]
    pub url: String,
    /// Prefix of every key and of the invalidation channel, so several deployments (or
    /// test runs) can share one Redis.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Lifetime of a subscriber entry. Invalidation keeps entries right; the TTL bounds
    /// how long a missed invalidation can matter and how much memory idle subscribers use.
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// Lifetime of a "no such subscriber" entry, which shields PostgreSQL from floods of
    /// unknown names.
    #[serde(default = "default_negative_ttl", with = "humantime_serde")]
    pub negative_ttl: Duration,
    /// Longest wait for one Redis command. Short: a login must not hang on a dead Redis
    /// when PostgreSQL can answer.
    #[serde(default = "default_command_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// How long start-up waits for the first connection. Redis being down is not fatal
    /// (the client keeps reconnecting in the background); this only bounds the wait.
    #[serde(default = "default_redis_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
}

fn default_redis_url() -> String {
    "redis://127.0.0.1:6379".to_owned()
}

fn default_key_prefix() -> String {
    "proisp:".to_owned()
}

fn default_ttl() -> Duration {
    Duration::from_secs(3600)
}

fn default_negative_ttl() -> Duration {
    Duration::from_secs(60)
}

fn default_command_timeout() -> Duration {
    Duration::from_millis(250)
}

fn default_redis_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

impl Default for RedisConfig {
    fn default() -> RedisConfig {
        RedisConfig {
            url: default_redis_url(),
            key_prefix: default_key_prefix(),
            ttl: default_ttl(),
            negative_ttl: default_negative_ttl(),
            command_timeout: default_command_timeout(),
            connect_timeout: default_redis_connect_timeout(),
        }
    }
}
