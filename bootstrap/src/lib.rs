//! What both ProISP binaries do before their own work starts: read the configuration,
//! set logging up, and the config sections they share.
//!
//! # Where configuration comes from
//!
//! Each binary has one config struct of its own (`#[serde(deny_unknown_fields)]`, defaults
//! from `fn default_*()`) and a list of the systemd credentials it reads. [`Layers`] stacks,
//! later over earlier:
//!
//! 1. the struct's serde defaults;
//! 2. the TOML file (`--config`);
//! 3. `PROISP_*` environment variables: the key path upper-cased with `__` between the
//!    levels (`PROISP_LISTEN__AUTH`, `PROISP_LOG__LEVEL`), and the short forms
//!    `PROISP_DATABASE_URL` (`database.url`), `PROISP_REDIS_URL` (`redis.url`) and
//!    `PROISP_NATS_URL` (`nats.url`).
//!    Variables outside the top-level keys of the binary's struct are another program's
//!    (radiusd and adminapi share `var/stack.env`) and are ignored;
//! 4. systemd credentials in `$CREDENTIALS_DIRECTORY` ([`credential`]), for the keys the
//!    layers above leave unset: a value set on purpose in the file or the environment wins.
//!
//! A value that does not parse fails start-up with a message naming the key and the layer
//! it came from (the file, the variable, the credential): [`Error`].
//!
//! # Shared sections
//!
//! [`LogConfig`] (`[log]`, with [`log::init`]), [`CoaConfig`] (`[coa]`), and the
//! connection settings of PostgreSQL ([`StoreConfig`], `[database]`) and Redis
//! ([`RedisConfig`], `[redis]`). The last two live in `proisp-store`, which connects with
//! them and must not depend on this crate, and are re-exported here.
#![forbid(unsafe_code)]

mod config;
pub mod credential;
mod env;
mod error;
pub mod http;
pub mod log;
pub mod signal;

pub use config::{Layers, Sources};
pub use credential::Credential;
pub use error::Error;
pub use log::{LogConfig, LogFormat};
pub use proisp_coa::ClientConfig as CoaConfig;
pub use proisp_store::{RedisConfig, StoreConfig};
