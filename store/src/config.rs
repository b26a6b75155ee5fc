//! Connection settings of PostgreSQL (`[database]`) and Redis (`[redis]`), sections of
//! both binaries' config files.
//!
//! They live here, beside the code that connects with them, and `proisp-bootstrap`
//! re-exports them: the store must not depend on the bootstrap.
//!
//! # TLS
//!
//! PostgreSQL's settings are libpq's, so a URL behaves as it does in `psql`: `sslmode`
//! ([`SslMode`], default `prefer`), `sslrootcert`, `sslcert` and `sslkey`, as keys of
//! `[database]` or as parameters of a `postgres://` URL (a key wins over the URL). Redis
//! speaks TLS when its URL is `rediss://`, verifying the server's name always; `tls_ca`,
//! `tls_cert` and `tls_key` name the PEM files. Without a CA file, the system's trust
//! store is used.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::tls::{Files, TlsError, Verify};

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
    /// TLS to the server, as libpq's `sslmode`. Unset: the URL's `sslmode`, else `prefer`.
    #[serde(default)]
    pub sslmode: Option<SslMode>,
    /// CA certificates (PEM) the server's certificate must chain to. Unset: the URL's
    /// `sslrootcert`, else the system's trust store for `verify-ca`/`verify-full` and no
    /// check for `prefer`/`require` (with a CA file they check the chain, as in libpq).
    #[serde(default)]
    pub sslrootcert: Option<PathBuf>,
    /// Client certificate (PEM) for servers that authenticate by certificate
    /// (`hostssl … cert` in pg_hba.conf). Unset: the URL's `sslcert`, else none.
    #[serde(default)]
    pub sslcert: Option<PathBuf>,
    /// The client certificate's private key (PEM). Unset: the URL's `sslkey`.
    #[serde(default)]
    pub sslkey: Option<PathBuf>,
    /// A streaming replica for adminapi's reports, lists and search (radiusd ignores it):
    /// a URL like `database_url`, usually of a role with SELECT only. The TLS keys above
    /// apply to it as to the primary; its URL's own parameters (`sslmode=…`) are read the
    /// same way. Unset: every read goes to the primary.
    #[serde(default)]
    pub replica_url: Option<String>,
    /// How far the replica may be behind before reads go to the primary instead.
    #[serde(default = "default_replica_max_lag", with = "humantime_serde")]
    pub replica_max_lag: Duration,
    /// PostgreSQL settings (`name`, `value`) for every connection of this process, set by
    /// the binary from its own sections (radiusd's `[accounting] session_events` becomes
    /// `proisp.session_events`), never read from `[database]`.
    #[serde(skip)]
    pub settings: Vec<(String, String)>,
    /// Whether this process's writes to the event outbox skip the NOTIFY in their
    /// transaction and wake the relay afterwards instead ([`crate::outbox::Waker`]): set
    /// by radiusd, whose accounting writers commit many transactions a second
    /// (sql/0020_outbox_deferred_notify.sql says why).
    #[serde(skip)]
    pub defer_outbox_notify: bool,
}

/// TLS to PostgreSQL, libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, else plain TCP; the certificate unchecked unless
    /// `sslrootcert` names a CA. libpq's and tokio-postgres's default.
    Prefer,
    /// TLS or no connection; the certificate unchecked unless `sslrootcert` names a CA.
    Require,
    /// TLS, the certificate chaining to the CA; its name is not checked.
    VerifyCa,
    /// TLS, the certificate chaining to the CA and naming the host dialled.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(format!(
                    "unknown mode {s:?} (disable, prefer, require, verify-ca, verify-full)"
                ));
            }
        })
    }
}

impl SslMode {
    /// How the server's certificate is checked, `ca` given or not.
    fn verify(self, ca: bool) -> Verify {
        match self {
            SslMode::Disable => Verify::Nothing,
            SslMode::Prefer | SslMode::Require if ca => Verify::Chain,
            SslMode::Prefer | SslMode::Require => Verify::Nothing,
            SslMode::VerifyCa => Verify::Chain,
            SslMode::VerifyFull => Verify::Full,
        }
    }

    /// What tokio-postgres is told: whether TLS is optional, required or off.
    pub(crate) fn wire(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// The database connection's TLS once `[database]`'s keys and the URL's parameters are
/// merged. Its `Debug` leaves the URL out: it may hold a password.
pub(crate) struct DatabaseTls {
    /// The URL without the parameters tokio-postgres does not know (`sslrootcert`,
    /// `sslcert`, `sslkey`) or knows only in part (`sslmode`).
    pub(crate) url: String,
    /// The mode, if the key or the URL gave one (a key=value string's `sslmode` is
    /// tokio-postgres's to parse).
    pub(crate) mode: Option<SslMode>,
    rootcert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl fmt::Debug for DatabaseTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseTls")
            .field("mode", &self.mode)
            .field("rootcert", &self.rootcert)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The URL parameters [`DatabaseTls`] takes out of a `postgres://` URL.
const TLS_PARAMS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl DatabaseTls {
    /// The rustls configuration for `mode`; an error names the key at fault.
    pub(crate) fn client_config(&self, mode: SslMode) -> Result<rustls::ClientConfig, TlsError> {
        if mode == SslMode::Disable
            && let Some(key) = [
                ("sslrootcert", &self.rootcert),
                ("sslcert", &self.cert),
                ("sslkey", &self.key),
            ]
            .into_iter()
            .find_map(|(key, path)| path.is_some().then_some(key))
        {
            return Err(TlsError {
                key,
                reason: "set, but sslmode is disable".into(),
            });
        }
        let files = Files {
            ca: self.rootcert.as_deref().map(|p| ("sslrootcert", p)),
            cert: self.cert.as_deref().map(|p| ("sslcert", p)),
            key: self.key.as_deref().map(|p| ("sslkey", p)),
        };
        crate::tls::client_config(mode.verify(self.rootcert.is_some()), files, "sslrootcert")
    }
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

fn default_replica_max_lag() -> Duration {
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
            sslmode: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            replica_url: None,
            replica_max_lag: default_replica_max_lag(),
            settings: Vec::new(),
            defer_outbox_notify: false,
        }
    }

    /// The settings of the replica's pool: this config with `replica_url` as its URL, so
    /// the pool size, timeouts and TLS keys are the primary's. `None` without a replica.
    pub fn replica(&self) -> Option<StoreConfig> {
        let url = self.replica_url.clone()?;
        Some(StoreConfig {
            database_url: url,
            replica_url: None,
            ..self.clone()
        })
    }

    /// The TLS settings from the keys and the URL's parameters; an error names the key.
    pub(crate) fn tls(&self) -> Result<DatabaseTls, TlsError> {
        let mut tls = DatabaseTls {
            url: self.database_url.clone(),
            mode: None,
            rootcert: None,
            cert: None,
            key: None,
        };
        if let Some((base, query)) = url_query(&self.database_url) {
            let mut kept = Vec::new();
            for param in query.split('&') {
                let (name, value) = param.split_once('=').unwrap_or((param, ""));
                let name = percent_decode(name);
                if !TLS_PARAMS.contains(&name.as_str()) {
                    kept.push(param);
                    continue;
                }
                let value = percent_decode(value);
                match name.as_str() {
                    "sslmode" => {
                        tls.mode = Some(value.parse().map_err(|reason| TlsError {
                            key: "sslmode",
                            reason,
                        })?);
                    }
                    "sslrootcert" => tls.rootcert = Some(value.into()),
                    "sslcert" => tls.cert = Some(value.into()),
                    _ => tls.key = Some(value.into()),
                }
            }
            tls.url = if kept.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", kept.join("&"))
            };
        }
        tls.mode = self.sslmode.or(tls.mode);
        tls.rootcert = self.sslrootcert.clone().or(tls.rootcert);
        tls.cert = self.sslcert.clone().or(tls.cert);
        tls.key = self.sslkey.clone().or(tls.key);
        Ok(tls)
    }
}

/// A `postgres://` or `postgresql://` URL split at its query: `None` for the key=value
/// form or a URL without parameters.
fn url_query(url: &str) -> Option<(&str, &str)> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    url.split_once('?')
}

/// `%XX` decoded (as tokio-postgres decodes URL parameters); a malformed escape is kept
/// as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Redis: the shared cache and the invalidation channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. A Redis Cluster:
    /// `redis-cluster://host:port?node=host:port&node=host:port` (`rediss-cluster://` for
    /// TLS), naming as many nodes as the client may start from.
    #[serde(default = "default_redis_url")]
    pub url: String,
    /// CA certificates (PEM) a `rediss://` server's certificate must chain to; it must
    /// also name the URL's host. Unset: the system's trust store.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a Redis that requires one (`tls-auth-clients yes`).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
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

impl RedisConfig {
    /// The rustls configuration of a `rediss://` URL; `None` for `redis://`. TLS files
    /// with a plain URL are an error: the operator meant TLS and would not get it.
    pub(crate) fn client_config(&self) -> Result<Option<rustls::ClientConfig>, TlsError> {
        let files = Files {
            ca: self.tls_ca.as_deref().map(|p| ("tls_ca", p)),
            cert: self.tls_cert.as_deref().map(|p| ("tls_cert", p)),
            key: self.tls_key.as_deref().map(|p| ("tls_key", p)),
        };
        if !self.url.starts_with("rediss") {
            return match [files.ca, files.cert, files.key]
                .into_iter()
                .flatten()
                .next()
            {
                Some((key, _)) => Err(TlsError {
                    key,
                    reason: "set, but the URL is not rediss://".into(),
                }),
                None => Ok(None),
            };
        }
        crate::tls::client_config(Verify::Full, files, "tls_ca").map(Some)
    }
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
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            key_prefix: default_key_prefix(),
            ttl: default_ttl(),
            negative_ttl: default_negative_ttl(),
            command_timeout: default_command_timeout(),
            connect_timeout: default_redis_connect_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_parameters_leave_the_url_and_keys_win_over_them() {
        let cfg = StoreConfig::new(
            "postgres://u:p@db:5432/proisp?application_name=x&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca.pem&sslcert=/c.pem&sslkey=/k.pem",
        );
        let tls = cfg.tls().unwrap();
        assert_eq!(tls.url, "postgres://u:p@db:5432/proisp?application_name=x");
        assert_eq!(tls.mode, Some(SslMode::VerifyFull));
        assert_eq!(tls.rootcert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(tls.cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(tls.key, Some(PathBuf::from("/k.pem")));

        let keyed = StoreConfig {
            sslmode: Some(SslMode::Require),
            sslrootcert: Some("/other.pem".into()),
            ..cfg
        };
        let tls = keyed.tls().unwrap();
        assert_eq!(tls.mode, Some(SslMode::Require));
        assert_eq!(tls.rootcert, Some(PathBuf::from("/other.pem")));

        let only = StoreConfig::new("postgresql://db/proisp?sslmode=disable")
            .tls()
            .unwrap();
        assert_eq!(only.url, "postgresql://db/proisp");
        assert_eq!(only.mode, Some(SslMode::Disable));
        // The key=value form is tokio-postgres's to parse.
        let kv = StoreConfig::new("host=db sslmode=require").tls().unwrap();
        assert_eq!(kv.url, "host=db sslmode=require");
        assert_eq!(kv.mode, None);
        let err = StoreConfig::new("postgres://db/x?sslmode=allow")
            .tls()
            .unwrap_err();
        assert_eq!(err.key, "sslmode");
    }

    #[test]
    fn a_multi_host_url_keeps_its_hosts_and_session_attributes() {
        let cfg = StoreConfig::new(
            "postgres://u@db1:5432,db2:5433/proisp?sslmode=disable\
             &target_session_attrs=read-write",
        );
        let tls = cfg.tls().unwrap();
        assert_eq!(
            tls.url,
            "postgres://u@db1:5432,db2:5433/proisp?target_session_attrs=read-write"
        );
        let pg: tokio_postgres::Config = tls.url.parse().unwrap();
        assert_eq!(pg.get_hosts().len(), 2);
        assert_eq!(pg.get_ports(), [5432, 5433]);
        assert_eq!(
            pg.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
    }

    #[test]
    fn the_replica_shares_the_primary_keys_and_reads_its_own_url() {
        let primary = StoreConfig {
            sslmode: Some(SslMode::VerifyFull),
            sslrootcert: Some("/ca.pem".into()),
            pool_size: 7,
            replica_url: Some("postgres://ro@replica/proisp?sslcert=/ro.pem".into()),
            ..StoreConfig::new("postgres://rw@primary/proisp")
        };
        assert!(StoreConfig::new("postgres://x").replica().is_none());
        let replica = primary.replica().unwrap();
        assert_eq!(replica.replica_url, None);
        assert_eq!(replica.pool_size, 7);
        let tls = replica.tls().unwrap();
        assert_eq!(tls.url, "postgres://ro@replica/proisp");
        assert_eq!(tls.mode, Some(SslMode::VerifyFull));
        assert_eq!(tls.rootcert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(tls.cert, Some(PathBuf::from("/ro.pem")));
    }

    #[test]
    fn files_without_tls_are_refused() {
        let tls = StoreConfig {
            sslrootcert: Some("/ca.pem".into()),
            ..StoreConfig::new("postgres://db/x")
        }
        .tls()
        .unwrap();
        assert_eq!(
            tls.client_config(SslMode::Disable).unwrap_err().key,
            "sslrootcert"
        );
        let redis = RedisConfig {
            tls_cert: Some("/c.pem".into()),
            ..RedisConfig::default()
        };
        assert_eq!(redis.client_config().unwrap_err().key, "tls_cert");
        assert!(RedisConfig::default().client_config().unwrap().is_none());
    }

    #[test]
    fn sslmode_reads_as_libpq_spells_it() {
        #[derive(Deserialize)]
        struct Section {
            sslmode: SslMode,
        }
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let json = format!(r#"{{"sslmode":"{text}"}}"#);
            assert_eq!(
                serde_json::from_str::<Section>(&json).unwrap().sslmode,
                mode
            );
            assert_eq!(text.parse::<SslMode>().unwrap(), mode);
        }
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
