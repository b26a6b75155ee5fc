//! Why start-up stops before the binary's own work begins.

use std::path::PathBuf;

/// A configuration that cannot be used, or logging that cannot be set up. Every variant
/// about a value names its key and where the value came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--config` names a file that is not there.
    #[error("config file {} does not exist", path.display())]
    NoFile {
        /// The file asked for.
        path: PathBuf,
    },
    /// A credential systemd passed could not be read.
    #[error("cannot read systemd credential {name} ({}): {source}", path.display())]
    Credential {
        /// The credential's name (`database.url`).
        name: &'static str,
        /// Its file in `$CREDENTIALS_DIRECTORY`.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value does not parse, a key is unknown or a required one is missing. figment's
    /// message names the key and its source (`for key "database.pool_size" in environment
    /// variable PROISP_DATABASE__POOL_SIZE`).
    #[error("{0}")]
    Value(Box<figment::Error>),
    /// Values that parsed each alone but do not fit together.
    #[error("{reason} ({key}: {origin})")]
    Inconsistent {
        /// The key to change.
        key: String,
        /// Where its value came from: `default`, or the file, variable or credential.
        origin: String,
        /// What is wrong, naming the keys involved.
        reason: String,
    },
    /// The log subscriber could not be installed (one was already).
    #[error("cannot set logging up: {reason}")]
    Logging {
        /// tracing-subscriber's explanation.
        reason: String,
    },
}

impl From<figment::Error> for Error {
    fn from(e: figment::Error) -> Error {
        Error::Value(Box::new(e))
    }
}
