//! proisp-adminapi's configuration: defaults, then the TOML file (`--config`), then
//! `PROISP_*` environment variables, then systemd credentials for what is still unset —
//! the loader and the names radiusd uses too (`proisp_bootstrap`).
//!
//! Environment names: `PROISP_DATABASE_URL` (→ `database.url`), `PROISP_REDIS_URL`
//! (→ `redis.url`), `PROISP_KEY_FILE`, and `PROISP_<SECTION>__<KEY>` for everything else
//! (`PROISP_DATABASE__POOL_SIZE=32`, `PROISP_LOG__LEVEL=debug`, `PROISP_HTTP__LISTEN`).
//! Other `PROISP_*` variables (radiusd's own, from a shared environment file such as
//! `var/stack.env`) are ignored, which is why adminapi's sections have names radiusd does
//! not use (`http`, not `listen`; `login`, not `auth`).
//!
//! Credentials: `secret.key` (→ `key_file`), `jwt.key` (→ `tokens.jwt_key_file`),
//! `database.url` and `redis.url` (their content).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use proisp_bootstrap::credential::{self, Takes};
use proisp_bootstrap::{
    CoaConfig, Credential, Error, Layers, LogConfig, RedisConfig, Sources, StoreConfig,
};
use serde::Deserialize;

use crate::permission::Role;

/// The access-token key, as systemd passes it (`LoadCredential=jwt.key:…`).
const JWT_KEY: Credential = Credential {
    name: "jwt.key",
    key: "tokens.jwt_key_file",
    takes: Takes::Path,
};

/// The systemd credentials adminapi reads, each for a key left unset.
const CREDENTIALS: &[Credential] = &[
    credential::SECRET_KEY,
    JWT_KEY,
    credential::DATABASE_URL,
    credential::REDIS_URL,
];

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL, the source of truth.
    pub database: StoreConfig,
    /// Redis, where changes are announced to radiusd. Without it nothing is published
    /// and radiusd sees changes only when its cached entries expire.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// The key for passwords and NAS secrets at rest (64 hex digits, mode 0600; make one
    /// with `proisp-adminapi gen-key`). Unset: the systemd credential `secret.key`
    /// (`LoadCredential=secret.key:…`) when the unit passes it.
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
    /// The weekly security report (`security-report`).
    #[serde(default)]
    pub security_report: SecurityReportConfig,
    /// The console dashboard's backend checks.
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// Webhook destinations (the section proisp-events reads too).
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Commands from billing over NATS JetStream (off until `nats_url` is set).
    #[serde(default)]
    pub commands: CommandsConfig,
}

/// The console dashboard's backend checks (`GET /api/v1/dashboard/health`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// radiusd metrics ports (`listen.metrics`, `host:port`) whose `/health` the
    /// dashboard shows; none by default.
    #[serde(default)]
    pub radiusd_health: Vec<SocketAddr>,
    /// Longest wait for each check (PostgreSQL, Redis, the outbox, each radiusd).
    #[serde(default = "default_check_timeout", with = "humantime_serde")]
    pub check_timeout: Duration,
}

impl Default for DashboardConfig {
    fn default() -> DashboardConfig {
        DashboardConfig {
            radiusd_health: Vec::new(),
            check_timeout: default_check_timeout(),
        }
    }
}

fn default_check_timeout() -> Duration {
    Duration::from_secs(1)
}

/// Webhook destinations: the same section and key as proisp-events', so one environment
/// variable (`PROISP_WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS`) sets both.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Accept webhook URLs whose host is or resolves to a loopback, private (RFC 1918,
    /// fc00::/7), link-local, CGNAT or other internal address. Off: refused with 422 (a
    /// guard against server-side request forgery).
    #[serde(default)]
    pub allow_private_destinations: bool,
}

/// The weekly security report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityReportConfig {
    /// Days the report looks back over.
    #[serde(default = "default_report_days")]
    pub days: u32,
    /// Where to mail it; unset: it is printed (into the journal, under the timer).
    #[serde(default)]
    pub mail_to: Option<String>,
    /// The MTA's sendmail program (any MTA's: postfix, exim, msmtp-mta, nullmailer).
    #[serde(default = "default_sendmail")]
    pub sendmail: PathBuf,
}

impl Default for SecurityReportConfig {
    fn default() -> SecurityReportConfig {
        SecurityReportConfig {
            days: default_report_days(),
            mail_to: None,
            sendmail: default_sendmail(),
        }
    }
}

fn default_report_days() -> u32 {
    7
}

fn default_sendmail() -> PathBuf {
    PathBuf::from("/usr/sbin/sendmail")
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
    /// gen-key` makes one), the same on every adminapi of a pair. Unset: the systemd
    /// credential `jwt.key` when the unit passes it, else a random key per process
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

/// Commands from billing (issue 22): the durable JetStream consumer that applies
/// `proisp.v1.command.subscriber.>`, and the record of commands (NATS and REST).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsConfig {
    /// The NATS server, with this adminapi's credentials in the URL
    /// (`nats://adminapi:<password>@127.0.0.1:4222`); unset: no consumer (the REST
    /// commands still work).
    #[serde(default)]
    pub nats_url: Option<String>,
    /// The name the audit log and the command record give commands from NATS: the
    /// billing system's credential.
    #[serde(default = "default_command_credential")]
    pub credential: String,
    /// The stream of commands, created (or updated to these limits) by the consumer.
    #[serde(default = "default_command_stream")]
    pub stream: String,
    /// The durable consumer every adminapi shares.
    #[serde(default = "default_command_consumer")]
    pub consumer: String,
    /// Commands delivered and not yet acknowledged, over every adminapi.
    #[serde(default = "default_max_ack_pending")]
    pub max_ack_pending: i64,
    /// Largest command the stream takes, octets; a larger publish is refused by NATS.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: i32,
    /// How long the stream keeps a command.
    #[serde(default = "default_command_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// Most octets the stream holds (the oldest commands go first).
    #[serde(default = "default_command_max_bytes")]
    pub max_bytes: i64,
    /// Stream replicas (a NATS cluster: 3).
    #[serde(default = "default_command_replicas")]
    pub replicas: usize,
    /// A command not acknowledged within this is delivered again.
    #[serde(default = "default_ack_wait", with = "humantime_serde")]
    pub ack_wait: Duration,
    /// While PostgreSQL does not answer, a command is handed back to be delivered again
    /// after this.
    #[serde(default = "default_nak_delay", with = "humantime_serde")]
    pub nak_delay: Duration,
    /// How long a command's id and first result are kept (a replay after that is handled
    /// as a new command).
    #[serde(default = "default_command_retention", with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for CommandsConfig {
    fn default() -> CommandsConfig {
        CommandsConfig {
            nats_url: None,
            credential: default_command_credential(),
            stream: default_command_stream(),
            consumer: default_command_consumer(),
            max_ack_pending: default_max_ack_pending(),
            max_message_size: default_max_message_size(),
            max_age: default_command_max_age(),
            max_bytes: default_command_max_bytes(),
            replicas: default_command_replicas(),
            ack_wait: default_ack_wait(),
            nak_delay: default_nak_delay(),
            retention: default_command_retention(),
        }
    }
}

fn default_command_credential() -> String {
    "billing".to_owned()
}

fn default_command_stream() -> String {
    "PROISP_COMMANDS".to_owned()
}

fn default_command_consumer() -> String {
    "proisp-commands".to_owned()
}

fn default_max_ack_pending() -> i64 {
    256
}

fn default_max_message_size() -> i32 {
    64 * 1024
}

fn default_command_max_age() -> Duration {
    Duration::from_secs(7 * 86400)
}

fn default_command_max_bytes() -> i64 {
    1 << 30
}

fn default_command_replicas() -> usize {
    1
}

fn default_ack_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_nak_delay() -> Duration {
    Duration::from_secs(5)
}

fn default_command_retention() -> Duration {
    Duration::from_secs(7 * 86400)
}

impl Config {
    /// Layers defaults, the file, the environment and the credentials of `sources`.
    /// Errors name the key and where its value came from.
    pub fn load(sources: &Sources) -> Result<Config, Error> {
        Layers::<Config>::new(CREDENTIALS, sources)?.extract()
    }

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
            security_report: SecurityReportConfig::default(),
            dashboard: DashboardConfig::default(),
            webhooks: WebhooksConfig::default(),
            commands: CommandsConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use proisp_bootstrap::LogFormat;

    use super::*;

    /// A directory of its own for one test (tests run in parallel).
    fn dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("adminapi-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `toml` as the config file, no environment, no credentials.
    fn load_toml(test: &str, toml: &str) -> Result<Config, Error> {
        let path = dir(test).join("adminapi.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(&Sources::default().with_file(path))
    }

    #[test]
    fn example_config_parses() {
        // The example leaves both keys to the credentials the unit passes.
        let credentials = dir("example");
        std::fs::write(credentials.join("secret.key"), "").unwrap();
        std::fs::write(credentials.join("jwt.key"), "").unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/adminapi.toml.example");
        let cfg = Config::load(
            &Sources::default()
                .with_file(path)
                .with_credentials(&credentials),
        )
        .unwrap();
        assert_eq!(
            cfg.database.database_url,
            "postgres://proisp@db.isp.example:5432/proisp"
        );
        assert_eq!(
            cfg.database.sslmode,
            Some(proisp_store::SslMode::VerifyFull)
        );
        assert_eq!(cfg.database.pool_size, 16);
        assert_eq!(cfg.database.statement_timeout, Duration::from_secs(5));
        assert_eq!(cfg.database.replica_url, None);
        assert_eq!(cfg.database.replica_max_lag, Duration::from_secs(5));
        assert_eq!(cfg.log.format, LogFormat::Text);
        assert_eq!(cfg.coa.timeout, Duration::from_secs(1));
        assert_eq!(cfg.coa.retries, 2);
        let redis = cfg.redis.unwrap();
        assert_eq!(redis.command_timeout, Duration::from_millis(250));
        assert_eq!(redis.ttl, Duration::from_secs(3600));
        assert_eq!(redis.key_prefix, "proisp:");
        assert_eq!(cfg.key_file.unwrap(), credentials.join("secret.key"));
        assert_eq!(cfg.http.listen, default_listen());
        assert_eq!(cfg.http.body_limit, default_body_limit());
        assert_eq!(cfg.http.trusted_proxies.len(), 2);
        assert!(cfg.http.allowed_networks.is_empty());
        assert_eq!(
            cfg.tokens.jwt_key_file.unwrap(),
            credentials.join("jwt.key")
        );
        assert_eq!(cfg.tokens.access_ttl, default_access_ttl());
        assert_eq!(cfg.tokens.refresh_ttl, default_refresh_ttl());
        assert_eq!(cfg.login.totp_required_roles, [Role::Superadmin]);
        assert_eq!(cfg.login.failures_per_user_address, 5);
        assert_eq!(cfg.login.failures_per_ip, 20);
        assert_eq!(cfg.login.failure_window, default_failure_window());
        assert_eq!(cfg.rate_limit.requests_per_minute, 300);
        assert_eq!(cfg.commands.nats_url, None);
        assert_eq!(cfg.commands.credential, "billing");
        assert_eq!(cfg.commands.max_message_size, 65536);
        assert_eq!(cfg.commands.retention, Duration::from_secs(7 * 86400));
        assert_eq!(cfg.commands.nak_delay, Duration::from_secs(5));
    }

    #[test]
    fn defaults_without_sections() {
        let cfg = load_toml("defaults", "[database]\nurl = \"postgres://x\"\n").unwrap();
        assert_eq!(cfg.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(cfg.tokens.refresh_ttl, Duration::from_secs(30 * 86400));
        assert_eq!(cfg.rate_limit.requests_per_minute, 300);
        assert_eq!(cfg.key_file, None);
        assert_eq!(cfg.tokens.jwt_key_file, None);
        let err = load_toml(
            "roles",
            "[database]\nurl = \"postgres://x\"\n[login]\ntotp_required_roles = [\"root\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("totp_required_roles"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = load_toml(
            "unknown",
            "[database]\nurl = \"postgres://x\"\npool_sise = 3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("pool_sise"), "{err}");
        let err = load_toml(
            "bad",
            "[database]\nurl = \"postgres://x\"\nconnect_timeout = \"soon\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("connect_timeout"), "{err}");
        assert!(err.contains("adminapi.toml"), "{err}");
    }

    #[test]
    fn environment_names_map_to_sections() {
        let cfg = Config::load(&Sources::default().with_env(&[
            ("PROISP_DATABASE_URL", "postgres://env"),
            ("PROISP_REDIS_URL", "redis://env"),
            ("PROISP_KEY_FILE", "/run/secret.key"),
            ("PROISP_DATABASE__POOL_SIZE", "32"),
            ("PROISP_LOG__LEVEL", "debug"),
            ("PROISP_REDIS__KEY_PREFIX", "test:"),
            ("PROISP_HTTP__LISTEN", "127.0.0.1:18080"),
            ("PROISP_HTTP__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]"),
            ("PROISP_RATE_LIMIT__REQUESTS_PER_MINUTE", "0"),
            ("PROISP_DASHBOARD__RADIUSD_HEALTH", "[\"127.0.0.1:9812\"]"),
            (
                "PROISP_COMMANDS__NATS_URL",
                "nats://adminapi:pw@127.0.0.1:54222",
            ),
            // The relay's and billing's, from the same file.
            ("PROISP_NATS_URL", "nats://relay:pw@127.0.0.1:54222"),
            (
                "PROISP_NATS_BILLING_URL",
                "nats://billing:pw@127.0.0.1:54222",
            ),
            // radiusd's and the stack's, from a shared environment file.
            ("PROISP_LISTEN__AUTH", "127.0.0.1:1812"),
            ("PROISP_AUTH__REQUIRE_MESSAGE_AUTHENTICATOR", "true"),
            ("PROISP_PG_PORT", "5432"),
            ("PROISP_RADIUSD__THREADS", "4"),
        ]))
        .unwrap();
        assert_eq!(cfg.database.database_url, "postgres://env");
        assert_eq!(cfg.database.pool_size, 32);
        let redis = cfg.redis.unwrap();
        assert_eq!(redis.url, "redis://env");
        assert_eq!(redis.key_prefix, "test:");
        assert_eq!(cfg.key_file.unwrap(), Path::new("/run/secret.key"));
        assert_eq!(cfg.log.level, "debug");
        assert_eq!(cfg.http.listen.port(), 18080);
        assert_eq!(cfg.http.trusted_proxies.len(), 1);
        assert_eq!(cfg.rate_limit.requests_per_minute, 0);
        assert_eq!(
            cfg.dashboard.radiusd_health,
            ["127.0.0.1:9812".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(cfg.dashboard.check_timeout, Duration::from_secs(1));
        assert_eq!(
            cfg.commands.nats_url.as_deref(),
            Some("nats://adminapi:pw@127.0.0.1:54222")
        );
    }

    #[test]
    fn credentials_fill_the_keys_left_unset() {
        let credentials = dir("credentials");
        std::fs::write(credentials.join("secret.key"), "").unwrap();
        std::fs::write(credentials.join("jwt.key"), "").unwrap();
        std::fs::write(credentials.join("database.url"), "postgres://u:pw@db/p\n").unwrap();
        let sources = Sources::default().with_credentials(&credentials);
        let cfg = Config::load(&sources).unwrap();
        assert_eq!(cfg.key_file.unwrap(), credentials.join("secret.key"));
        assert_eq!(
            cfg.tokens.jwt_key_file.unwrap(),
            credentials.join("jwt.key")
        );
        assert_eq!(cfg.database.database_url, "postgres://u:pw@db/p");
        assert!(cfg.redis.is_none());

        // A key file configured on purpose wins over the credential, as it always did.
        let cfg = Config::load(&sources.with_env(&[("PROISP_KEY_FILE", "/etc/proisp/secret.key")]))
            .unwrap();
        assert_eq!(cfg.key_file.unwrap(), Path::new("/etc/proisp/secret.key"));
        assert_eq!(
            cfg.tokens.jwt_key_file.unwrap(),
            credentials.join("jwt.key")
        );
    }
}
