//! `[log]` and the log subscriber both binaries install.

use serde::{Deserialize, Deserializer};
use tracing_subscriber::EnvFilter;

use crate::Error;

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for a terminal, `json` for a log pipeline.
    #[serde(default = "default_format")]
    pub format: LogFormat,
    /// tracing filter, e.g. `info` or `proisp_radiusd=debug,proisp_store=debug`
    /// (`RUST_LOG` overrides it). Checked at start-up: a directive that does not parse is
    /// refused, not silently dropped.
    #[serde(default = "default_level", deserialize_with = "filter")]
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

fn default_format() -> LogFormat {
    LogFormat::Text
}

fn default_level() -> String {
    "info".to_owned()
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: default_format(),
            level: default_level(),
        }
    }
}

/// A `level` that tracing-subscriber accepts as a filter.
fn filter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let level = String::deserialize(deserializer)?;
    EnvFilter::builder()
        .parse(&level)
        .map_err(|e| serde::de::Error::custom(format!("not a tracing filter: {e}")))?;
    Ok(level)
}

/// Installs the process's log subscriber: lines to standard error (standard output is
/// for what a command prints), filtered by `RUST_LOG` when it is set and parses, else by
/// `config.level`.
pub fn init(config: &LogConfig) -> Result<(), Error> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    }
    .map_err(|e| Error::Logging {
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format as _, Toml};

    use super::*;

    fn parse(toml: &str) -> Result<LogConfig, Error> {
        Ok(Figment::from(Toml::string(toml)).extract()?)
    }

    #[test]
    fn formats_and_filters_parse() {
        assert_eq!(parse("").unwrap(), LogConfig::default());
        let config = parse("format = \"json\"\nlevel = \"warn,proisp_store=debug\"\n").unwrap();
        assert_eq!(config.format, LogFormat::Json);
        assert_eq!(config.level, "warn,proisp_store=debug");
        let err = parse("format = \"xml\"\n").unwrap_err().to_string();
        assert!(err.contains("format"), "{err}");
        let err = parse("level = \"proisp=loud\"\n").unwrap_err().to_string();
        assert!(err.contains("level") && err.contains("filter"), "{err}");
    }
}
