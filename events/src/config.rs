//! proisp-events' configuration: defaults, then the TOML file (`--config`), then
//! `PROISP_*` environment variables, then systemd credentials for what is still unset —
//! the loader the other binaries use (`proisp_bootstrap`).
//!
//! Environment names: `PROISP_DATABASE_URL` (→ `database.url`), `PROISP_NATS_URL`
//! (→ `nats.url`) and `PROISP_<SECTION>__<KEY>` for the rest (`PROISP_STREAM__REPLICAS=3`,
//! `PROISP_RELAY__LISTEN`). Its sections (`nats`, `stream`, `relay`, `delivery`) are names
//! the other binaries do not use, so a shared environment file configures each its own;
//! `key_file` (`PROISP_KEY_FILE`) and `webhooks` are shared with adminapi on purpose.
//!
//! Credentials: `database.url` (its content), `secret.key` (→ `key_file`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use proisp_bootstrap::credential;
use proisp_bootstrap::{Credential, Error, Layers, LogConfig, Sources, StoreConfig};
use serde::Deserialize;

/// The systemd credentials proisp-events reads, each for a key left unset.
const CREDENTIALS: &[Credential] = &[credential::DATABASE_URL, credential::SECRET_KEY];

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL, where the outbox is.
    pub database: StoreConfig,
    /// The NATS server (or cluster) JetStream runs on.
    #[serde(default)]
    pub nats: NatsConfig,
    /// The stream the events go to, created or updated at start.
    #[serde(default)]
    pub stream: StreamConfig,
    /// The relay: batches, waits, its metrics and health port.
    #[serde(default)]
    pub relay: RelayConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The key webhook signing secrets are encrypted with (64 hex digits, the file
    /// adminapi's `key_file` names). Unset: the systemd credential `secret.key`; without
    /// either, webhooks are not delivered (events still reach the stream).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Webhook destinations: the setting adminapi reads too.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Webhook delivery: timeouts, the retry schedule, concurrency.
    #[serde(default)]
    pub delivery: DeliveryConfig,
}

/// Webhook destinations (the section and key adminapi reads too, so one environment
/// variable, `PROISP_WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS`, sets both).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Deliver to loopback, private (RFC 1918, fc00::/7), link-local, CGNAT and other
    /// internal addresses too. Off: such destinations are refused at every attempt (a
    /// guard against server-side request forgery). On for a demo or a billing system on
    /// the ISP's own network.
    #[serde(default)]
    pub allow_private_destinations: bool,
}

/// Webhook delivery workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Deliver webhooks from this process (several may: each claims its own rows).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Deliveries in flight to one webhook at once from this process: a slow or dead
    /// endpoint uses only these, never another webhook's.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// One attempt, connecting to the end of the answer's head, at most.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the workers look for due deliveries (new ones of this process's relay
    /// are claimed at once).
    #[serde(default = "default_delivery_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// The pause after the first failed attempt, before jitter; it doubles with each
    /// failure up to `max_retry_interval`, and each pause is drawn uniformly from zero up
    /// to that (full jitter).
    #[serde(default = "default_first_retry", with = "humantime_serde")]
    pub first_retry_interval: Duration,
    /// The longest pause between attempts, before jitter.
    #[serde(default = "default_max_retry", with = "humantime_serde")]
    pub max_retry_interval: Duration,
    /// A delivery is retried for this long after its first attempt; the first failure
    /// after that makes it dead (listed by the API, redelivered on request).
    #[serde(default = "default_retry_for", with = "humantime_serde")]
    pub retry_for: Duration,
    /// Delivered rows are kept this long (for the API's lists), then removed.
    #[serde(default = "default_keep_delivered", with = "humantime_serde")]
    pub keep_delivered: Duration,
    /// Dead rows are kept this long after their last attempt (to be listed and
    /// redelivered), then removed: an endpoint gone for good cannot fill the database.
    #[serde(default = "default_keep_dead", with = "humantime_serde")]
    pub keep_dead: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> DeliveryConfig {
        DeliveryConfig {
            enabled: true,
            concurrency: default_concurrency(),
            timeout: default_timeout(),
            poll_interval: default_delivery_poll(),
            first_retry_interval: default_first_retry(),
            max_retry_interval: default_max_retry(),
            retry_for: default_retry_for(),
            keep_delivered: default_keep_delivered(),
            keep_dead: default_keep_dead(),
        }
    }
}

const fn default_true() -> bool {
    true
}

const fn default_concurrency() -> u32 {
    4
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_delivery_poll() -> Duration {
    Duration::from_secs(1)
}

fn default_first_retry() -> Duration {
    Duration::from_secs(5)
}

fn default_max_retry() -> Duration {
    Duration::from_secs(3600)
}

fn default_retry_for() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_keep_delivered() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

fn default_keep_dead() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

/// The NATS connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated for a cluster: `nats://user:password@127.0.0.1:4222`
    /// (credentials in the URL for a server with accounts).
    #[serde(default = "default_nats_url")]
    pub url: String,
    /// How long a PubAck may take before the publish counts as failed (and is retried:
    /// the `Nats-Msg-Id` makes a retry of a stored event a duplicate JetStream drops).
    #[serde(default = "default_ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
}

impl Default for NatsConfig {
    fn default() -> NatsConfig {
        NatsConfig {
            url: default_nats_url(),
            ack_timeout: default_ack_timeout(),
        }
    }
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Stream `PROISP_EVENTS` on the event subjects (`stream::SUBJECTS`), file storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The stream's name.
    #[serde(default = "default_stream_name")]
    pub name: String,
    /// Events older than this are removed from the stream.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// The stream's size limit, octets; the oldest events go first.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: i64,
    /// Copies kept in a NATS cluster (1, 3 or 5); 1 for a single server.
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id`: a relay that published an event and
    /// died before deleting its row republishes it within this window after its restart
    /// (or the standby's takeover), and JetStream drops the copy.
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    pub duplicate_window: Duration,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            name: default_stream_name(),
            max_age: default_max_age(),
            max_bytes: default_max_bytes(),
            replicas: default_replicas(),
            duplicate_window: default_duplicate_window(),
        }
    }
}

fn default_stream_name() -> String {
    "PROISP_EVENTS".to_owned()
}

fn default_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

fn default_max_bytes() -> i64 {
    10 * 1024 * 1024 * 1024
}

const fn default_replicas() -> usize {
    1
}

fn default_duplicate_window() -> Duration {
    Duration::from_secs(10 * 60)
}

/// The relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// `GET /health` and `GET /metrics` (Prometheus).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Outbox rows read per query.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// Publishes awaiting their PubAck at once, at most (one per subscriber at a time).
    #[serde(default = "default_window")]
    pub window: usize,
    /// The relay wakes on each committed insert (LISTEN/NOTIFY); it also looks at the
    /// outbox this often, in case a notification was lost with a connection.
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Longest pause between attempts while NATS or PostgreSQL is away (the pause
    /// doubles from 50 ms up to this).
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            listen: default_listen(),
            batch: default_batch(),
            window: default_window(),
            poll_interval: default_poll_interval(),
            max_backoff: default_max_backoff(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9813)
}

const fn default_batch() -> u32 {
    4096
}

const fn default_window() -> usize {
    1024
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(2)
}

impl Config {
    /// Layers defaults, the file, the environment and the credentials of `sources`.
    /// Errors name the key and where its value came from.
    pub fn load(sources: &Sources) -> Result<Config, Error> {
        let layers = Layers::<Config>::new(CREDENTIALS, sources)?;
        let config = layers.extract()?;
        if !matches!(config.stream.replicas, 1..=5) {
            return Err(layers.inconsistent("stream.replicas", "must be 1 to 5"));
        }
        if config.relay.batch == 0 {
            return Err(layers.inconsistent("relay.batch", "must be at least 1"));
        }
        if config.relay.window == 0 {
            return Err(layers.inconsistent("relay.window", "must be at least 1"));
        }
        if !(1..=1024).contains(&config.delivery.concurrency) {
            return Err(layers.inconsistent("delivery.concurrency", "must be 1 to 1024"));
        }
        if config.delivery.timeout.is_zero() {
            return Err(layers.inconsistent("delivery.timeout", "must be more than 0"));
        }
        if config.delivery.first_retry_interval.is_zero()
            || config.delivery.first_retry_interval > config.delivery.max_retry_interval
        {
            return Err(layers.inconsistent(
                "delivery.first_retry_interval",
                "must be more than 0 and at most delivery.max_retry_interval",
            ));
        }
        if config.stream.max_bytes == 0 || config.stream.max_bytes < -1 {
            return Err(
                layers.inconsistent("stream.max_bytes", "must be positive (or -1: no limit)")
            );
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/events.toml.example");
        let cfg = Config::load(&Sources::default().with_file(path)).unwrap();
        assert_eq!(cfg.stream.name, "PROISP_EVENTS");
        assert_eq!(cfg.stream.replicas, 1);
        assert_eq!(cfg.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(cfg.relay.listen.port(), 9813);
    }

    #[test]
    fn the_environment_sets_nats_and_refuses_bad_values() {
        let cfg = Config::load(&Sources::default().with_env(&[
            ("PROISP_DATABASE_URL", "postgres://x@127.0.0.1/x"),
            ("PROISP_NATS_URL", "nats://127.0.0.1:14222"),
            ("PROISP_STREAM__REPLICAS", "3"),
            ("PROISP_HTTP__LISTEN", "127.0.0.1:8080"),
        ]))
        .unwrap();
        assert_eq!(cfg.nats.url, "nats://127.0.0.1:14222");
        assert_eq!(cfg.stream.replicas, 3);
        let err = Config::load(&Sources::default().with_env(&[
            ("PROISP_DATABASE_URL", "postgres://x@127.0.0.1/x"),
            ("PROISP_STREAM__REPLICAS", "6"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("stream.replicas"), "{err}");
    }
}
