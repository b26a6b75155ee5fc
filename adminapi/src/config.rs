//! proisp-adminapi's configuration: defaults, then the TOML file (`--config`), then
//! `PROISP_*` environment variables.
//!
//! Environment names: `PROISP_DATABASE_URL` (→ `database.url`), `PROISP_REDIS_URL`
//! (→ `redis.url`), `PROISP_KEY_FILE`, and `PROISP_<SECTION>__<KEY>` for everything else
//! (`PROISP_DATABASE__POOL_SIZE=32`, `PROISP_LOG__LEVEL=debug`) — the same names as
//! radiusd's. Other `PROISP_*` variables (radiusd's own, from a shared environment file
//! such as `var/stack.env`) are ignored.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use figment::value::Uncased;
use proisp_shared::store::{CacheConfig, StoreConfig};
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// PostgreSQL, the source of truth.
    pub(crate) database: StoreConfig,
    /// Redis, where changes are announced to radiusd. Without it nothing is published
    /// and radiusd sees changes only when its cached entries expire.
    #[serde(default)]
    pub(crate) redis: Option<CacheConfig>,
    /// The key for passwords and NAS secrets at rest (64 hex digits, mode 0600; make one
    /// with `proisp-adminapi gen-key`). Unset: `$CREDENTIALS_DIRECTORY/secret.key` when
    /// systemd passes the credential (`LoadCredential=secret.key:…`).
    #[serde(default)]
    pub(crate) key_file: Option<PathBuf>,
    /// Logging.
    #[serde(default)]
    pub(crate) log: LogConfig,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogConfig {
    /// `text` for a terminal, `json` for a log pipeline.
    #[serde(default)]
    pub(crate) format: LogFormat,
    /// tracing filter, e.g. `info` or `proisp_shared=debug` (RUST_LOG overrides it).
    #[serde(default = "default_log_level")]
    pub(crate) level: String,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn default_log_level() -> String {
    "info".to_owned()
}

/// Top-level keys the environment may set.
const KEYS: &[&str] = &["database", "redis", "key_file", "log"];

/// Maps `PROISP_*` names (lowercased, prefix stripped) to config paths.
fn env_key(key: &str) -> Option<String> {
    let path = match key {
        "database_url" => "database.url".to_owned(),
        "redis_url" => "redis.url".to_owned(),
        other => other.replace("__", "."),
    };
    let top = path.split('.').next().unwrap_or_default();
    KEYS.contains(&top).then_some(path)
}

impl Config {
    /// Layers the file (if any) and the environment.
    pub(crate) fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    path.display()
                ))));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // figment lowercases keys only after this map: match case-insensitively here.
        figment = figment.merge(
            Env::prefixed("PROISP_")
                .filter_map(|k| env_key(&k.as_str().to_ascii_lowercase()).map(Uncased::from)),
        );
        figment.extract().map_err(Box::new)
    }

    /// The key file to use: the configured one, else systemd's credential.
    pub(crate) fn key_path(&self) -> Option<PathBuf> {
        self.key_file.clone().or_else(|| {
            let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
            let path = Path::new(&dir).join("secret.key");
            path.is_file().then_some(path)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/adminapi.toml.example");
        let cfg: Config = Figment::from(Toml::file_exact(&path)).extract().unwrap();
        assert_eq!(
            cfg.database.database_url,
            "postgres://proisp@127.0.0.1:5432/proisp"
        );
        assert_eq!(cfg.database.pool_size, 16);
        assert_eq!(cfg.database.statement_timeout, Duration::from_secs(5));
        assert_eq!(cfg.log.format, LogFormat::Text);
        let redis = cfg.redis.unwrap();
        assert_eq!(redis.command_timeout, Duration::from_millis(250));
        assert_eq!(redis.ttl, Duration::from_secs(3600));
        assert_eq!(redis.key_prefix, "proisp:");
        assert_eq!(cfg.key_file.unwrap(), Path::new("/etc/proisp/secret.key"));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = Figment::from(Toml::string(
            "[database]\nurl = \"postgres://x\"\npool_sise = 3\n",
        ))
        .extract::<Config>()
        .unwrap_err()
        .to_string();
        assert!(err.contains("pool_sise"), "{err}");
        let err = Figment::from(Toml::string(
            "[database]\nurl = \"postgres://x\"\nconnect_timeout = \"soon\"\n",
        ))
        .extract::<Config>()
        .unwrap_err()
        .to_string();
        assert!(err.contains("connect_timeout"), "{err}");
    }

    #[test]
    fn environment_names_map_to_sections() {
        assert_eq!(env_key("database_url").unwrap(), "database.url");
        assert_eq!(env_key("redis_url").unwrap(), "redis.url");
        assert_eq!(env_key("key_file").unwrap(), "key_file");
        assert_eq!(
            env_key("database__pool_size").unwrap(),
            "database.pool_size"
        );
        assert_eq!(env_key("log__level").unwrap(), "log.level");
        assert_eq!(env_key("redis__key_prefix").unwrap(), "redis.key_prefix");
        assert_eq!(env_key("listen__auth"), None);
        assert_eq!(env_key("pg_port"), None);
        assert_eq!(env_key("radiusd__threads"), None);
    }
}
