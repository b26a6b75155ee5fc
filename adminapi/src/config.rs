//! proisp-adminapi's configuration: defaults, then the TOML file (`--config`), then
//! `PROISP_*` environment variables.
//!
//! Environment names: `PROISP_DATABASE_URL` (→ `database.url`), `PROISP_REDIS_URL`
//! (→ `redis.url`), `PROISP_KEY_FILE`, and `PROISP_<SECTION>__<KEY>` for everything else
//! (`PROISP_DATABASE__POOL_SIZE=32`, `PROISP_LOG__LEVEL=debug`, `PROISP_HTTP__LISTEN`) — the
//! same names as radiusd's. Other `PROISP_*` variables (radiusd's own, from a shared
//! environment file such as `var/stack.env`) are ignored, which is why adminapi's sections
//! have names radiusd does not use (`http`, not `listen`; `login`, not `auth`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use figment::value::Uncased;
use ipnet::IpNet;
use proisp_store::{CacheConfig, StoreConfig};
use serde::Deserialize;

use crate::permission::Role;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL, the source of truth.
    pub database: StoreConfig,
    /// Redis, where changes are announced to radiusd. Without it nothing is published
    /// and radiusd sees changes only when its cached entries expire.
    #[serde(default)]
    pub redis: Option<CacheConfig>,
    /// The key for passwords and NAS secrets at rest (64 hex digits, mode 0600; make one
    /// with `proisp-adminapi gen-key`). Unset: `$CREDENTIALS_DIRECTORY/secret.key` when
    /// systemd passes the credential (`LoadCredential=secret.key:…`).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The HTTP server: address, body limit, proxies, the global allow-list.
    #[serde(default)]
    pub http: HttpConfig,
    /// Access and refresh tokens.
    #[serde(default)]
    pub tokens: TokenConfig,
    /// Login policy: two-factor, failed-login limits.
    #[serde(default)]
    pub login: LoginConfig,
    /// Requests per client address.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// CoA and Disconnect-Requests (kick, live plan changes), RFC 5176.
    #[serde(default)]
    pub coa: CoaConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
}

/// CoA and Disconnect-Requests: the same keys as radiusd's `[coa]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoaConfig {
    /// Wait for the NAS's answer before resending.
    #[serde(default = "default_coa_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Resends after the first try; a kick to a silent NAS answers `timeout` after
    /// `(retries + 1) × timeout`.
    #[serde(default = "default_coa_retries")]
    pub retries: u32,
}

fn default_coa_timeout() -> Duration {
    proisp_coa::DEFAULT_TIMEOUT
}

fn default_coa_retries() -> u32 {
    proisp_coa::DEFAULT_RETRIES
}

impl Default for CoaConfig {
    fn default() -> CoaConfig {
        CoaConfig {
            timeout: default_coa_timeout(),
            retries: default_coa_retries(),
        }
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where the API listens. Loopback by default: put HAProxy (or a firewall) in front
    /// before exposing it to a staff network.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Worker threads; 0 means one per CPU core.
    #[serde(default)]
    pub workers: usize,
    /// Largest request body accepted, octets (JSON payloads; the CSV import has its own).
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// Peers whose `X-Forwarded-For` is believed (HAProxy's addresses, as CIDRs). From any
    /// other peer the header is ignored and the peer address is the client address, so a
    /// client cannot pick the address the rate limits and allow-lists see.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// Client networks allowed to reach `/api/v1` at all; empty: any. Each admin may have
    /// a narrower list of their own.
    #[serde(default)]
    pub allowed_networks: Vec<IpNet>,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            listen: default_listen(),
            workers: 0,
            body_limit: default_body_limit(),
            trusted_proxies: Vec::new(),
            allowed_networks: Vec::new(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080)
}

fn default_body_limit() -> usize {
    256 * 1024
}

/// Access and refresh tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The HS256 signing key of access tokens: a file of 64 hex digits (`proisp-adminapi
    /// gen-key` makes one), the same on every adminapi of a pair. Unset:
    /// `$CREDENTIALS_DIRECTORY/jwt.key` under systemd, else a random key per process
    /// (tokens then die with the process and are not accepted by the other instance).
    #[serde(default)]
    pub jwt_key_file: Option<PathBuf>,
    /// Lifetime of an access token. Short: a revoked access token is refused through a
    /// blacklist, and a disabled admin's token through the per-request admin check, but
    /// the expiry is the bound when both fail.
    #[serde(default = "default_access_ttl", with = "humantime_serde")]
    pub access_ttl: Duration,
    /// Lifetime of a refresh token; each use replaces it with a new one.
    #[serde(default = "default_refresh_ttl", with = "humantime_serde")]
    pub refresh_ttl: Duration,
}

impl Default for TokenConfig {
    fn default() -> TokenConfig {
        TokenConfig {
            jwt_key_file: None,
            access_ttl: default_access_ttl(),
            refresh_ttl: default_refresh_ttl(),
        }
    }
}

fn default_access_ttl() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_refresh_ttl() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

/// Login policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// Roles that must use TOTP two-factor login. An admin of such a role who has not
    /// enrolled yet gets a token good only for enrolling (`/auth/totp/*`, `/auth/me`).
    #[serde(default = "default_totp_roles")]
    pub totp_required_roles: Vec<Role>,
    /// The issuer shown by authenticator apps.
    #[serde(default = "default_totp_issuer")]
    pub totp_issuer: String,
    /// Failed logins of one username from one client address before that pair backs
    /// off: each further failure refuses the pair (429) for twice as long as the one
    /// before, 1 s first, at most `failure_window`. Counted per (username, address), never
    /// per username alone, so a stranger's guesses cannot lock the real admin out from
    /// another address. `failures_per_username` is the key's old name. 0: no limit.
    #[serde(
        default = "default_failures_per_user_address",
        alias = "failures_per_username"
    )]
    pub failures_per_user_address: u32,
    /// Failed logins from one client address, whatever the username, before that
    /// address backs off the same way. 0: no limit.
    #[serde(default = "default_failures_per_ip")]
    pub failures_per_ip: u32,
    /// A counter is forgotten once this long passes without a failure; also the longest
    /// back-off.
    #[serde(default = "default_failure_window", with = "humantime_serde")]
    pub failure_window: Duration,
}

impl Default for LoginConfig {
    fn default() -> LoginConfig {
        LoginConfig {
            totp_required_roles: default_totp_roles(),
            totp_issuer: default_totp_issuer(),
            failures_per_user_address: default_failures_per_user_address(),
            failures_per_ip: default_failures_per_ip(),
            failure_window: default_failure_window(),
        }
    }
}

fn default_totp_roles() -> Vec<Role> {
    vec![Role::Superadmin]
}

fn default_totp_issuer() -> String {
    "ProISP".to_owned()
}

fn default_failures_per_user_address() -> u32 {
    5
}

fn default_failures_per_ip() -> u32 {
    20
}

fn default_failure_window() -> Duration {
    Duration::from_secs(15 * 60)
}

/// Requests per client address (every `/api/v1` request, login included).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per minute per client address; a burst of this many is allowed.
    /// 0 turns the limit off. Kept per process: a pair behind HAProxy allows up to twice
    /// as many.
    #[serde(default = "default_requests_per_minute")]
    pub requests_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig {
            requests_per_minute: default_requests_per_minute(),
        }
    }
}

fn default_requests_per_minute() -> u32 {
    300
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for a terminal, `json` for a log pipeline.
    #[serde(default)]
    pub format: LogFormat,
    /// tracing filter, e.g. `info` or `proisp_store=debug` (RUST_LOG overrides it).
    #[serde(default = "default_log_level")]
    pub level: String,
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
pub enum LogFormat {
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
const KEYS: &[&str] = &[
    "database",
    "redis",
    "key_file",
    "http",
    "tokens",
    "login",
    "rate_limit",
    "coa",
    "log",
];

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
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
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
    pub fn key_path(&self) -> Option<PathBuf> {
        self.key_file.clone().or_else(|| credential("secret.key"))
    }

    /// The JWT key file to use: the configured one, else systemd's credential.
    pub fn jwt_key_path(&self) -> Option<PathBuf> {
        self.tokens
            .jwt_key_file
            .clone()
            .or_else(|| credential("jwt.key"))
    }
}

/// `$CREDENTIALS_DIRECTORY/<name>` when systemd passed it.
fn credential(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let path = Path::new(&dir).join(name);
    path.is_file().then_some(path)
}

impl Config {
    /// A configuration with every default and the given database: for tests and tools.
    pub fn for_database(database: StoreConfig) -> Config {
        Config {
            database,
            redis: None,
            key_file: None,
            http: HttpConfig::default(),
            tokens: TokenConfig::default(),
            login: LoginConfig::default(),
            rate_limit: RateLimitConfig::default(),
            coa: CoaConfig::default(),
            log: LogConfig::default(),
        }
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
        assert_eq!(cfg.coa.timeout, Duration::from_secs(1));
        assert_eq!(cfg.coa.retries, 2);
        let redis = cfg.redis.unwrap();
        assert_eq!(redis.command_timeout, Duration::from_millis(250));
        assert_eq!(redis.ttl, Duration::from_secs(3600));
        assert_eq!(redis.key_prefix, "proisp:");
        assert_eq!(cfg.key_file.unwrap(), Path::new("/etc/proisp/secret.key"));
        assert_eq!(cfg.http.listen, default_listen());
        assert_eq!(cfg.http.body_limit, default_body_limit());
        assert_eq!(cfg.http.trusted_proxies.len(), 2);
        assert!(cfg.http.allowed_networks.is_empty());
        assert_eq!(
            cfg.tokens.jwt_key_file.unwrap(),
            Path::new("/etc/proisp/jwt.key")
        );
        assert_eq!(cfg.tokens.access_ttl, default_access_ttl());
        assert_eq!(cfg.tokens.refresh_ttl, default_refresh_ttl());
        assert_eq!(cfg.login.totp_required_roles, [Role::Superadmin]);
        assert_eq!(cfg.login.failures_per_user_address, 5);
        assert_eq!(cfg.login.failures_per_ip, 20);
        assert_eq!(cfg.login.failure_window, default_failure_window());
        assert_eq!(cfg.rate_limit.requests_per_minute, 300);
    }

    #[test]
    fn defaults_without_sections() {
        let cfg: Config = Figment::from(Toml::string("[database]\nurl = \"postgres://x\"\n"))
            .extract()
            .unwrap();
        assert_eq!(cfg.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(cfg.tokens.refresh_ttl, Duration::from_secs(30 * 86400));
        assert_eq!(cfg.rate_limit.requests_per_minute, 300);
        let err = Figment::from(Toml::string(
            "[database]\nurl = \"postgres://x\"\n[login]\ntotp_required_roles = [\"root\"]\n",
        ))
        .extract::<Config>()
        .unwrap_err()
        .to_string();
        assert!(err.contains("totp_required_roles"), "{err}");
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
        assert_eq!(env_key("http__listen").unwrap(), "http.listen");
        assert_eq!(
            env_key("rate_limit__requests_per_minute").unwrap(),
            "rate_limit.requests_per_minute"
        );
        assert_eq!(env_key("listen__auth"), None);
        assert_eq!(env_key("auth__require_message_authenticator"), None);
        assert_eq!(env_key("pg_port"), None);
        assert_eq!(env_key("radiusd__threads"), None);
    }
}
