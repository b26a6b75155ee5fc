//! The data layer: PostgreSQL (the source of truth) and the Redis cache contract.
//!
//! adminapi writes through [`Store`]; radiusd reads through it on a cold cache and keeps
//! the NAS table and plans in memory. Every write is one PostgreSQL transaction that bumps
//! the row's `version` and, in its `*_journaled` form, records itself through the caller's
//! [`Journal`] before COMMIT (adminapi's audit log); after the commit, when a [`Cache`] is attached
//! ([`Store::with_cache`]), the new entry is put to Redis and an [`Invalidation`] is
//! published so every radiusd drops its in-process copy. A Redis failure after the commit
//! is logged, not returned: PostgreSQL is the truth, and the change feed ([`Change`],
//! written by triggers in the same transaction) reaches every radiusd whatever Redis did. See [`cache`] for the key
//! layout, the entry encoding and the versioning rules.
//!
//! # Versions
//!
//! `version` columns are drawn from one PostgreSQL sequence (`entry_version`), so every
//! write gets a larger number than any write before it — of that row or any other. A
//! subscriber deleted and created again under the same name, or renamed away and back,
//! therefore never reuses a version, which the cache's stale-write check relies on.
//!
//! # Secrets
//!
//! Subscriber passwords and NAS secrets are AES-256-GCM ciphertexts in PostgreSQL and in
//! Redis ([`crypto`]); only this module's readers turn them into clear text.
#![forbid(unsafe_code)]

mod accounting;
pub mod activity;
pub mod cache;
pub mod config;
pub mod crypto;
mod deferred;
mod feed;
mod import;
mod journal;
mod migrate;
mod nas;
pub mod outbox;
mod plan;
mod redis;
mod replica;
mod subscriber;
mod tls;
// Issue 22's signed webhooks: what adminapi and proisp-events share.
#[cfg(feature = "webhook")]
pub mod webhook;

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

pub use activity::{RejectRecord, unix_minute};
pub use cache::{AuthStats, Cache, CacheError, CacheEvent, CacheLookup, Invalidation};
pub use config::{RedisConfig, SslMode, StoreConfig};
pub use crypto::{KeyError, Keyring, Label, Purpose, read_key_file};
pub use deferred::{DeferredChange, DeferredCount};
pub use feed::{Change, FeedEntry};
pub use import::{ImportError, ImportMode, ImportOutcome, ImportRow};
pub use journal::Journal;
pub use migrate::Migration;
pub use nas::{MAX_COA_RATE, MAX_COA_WINDOW, NewNas};
pub use plan::NewPlan;
pub use redis::RedisCache;
pub use replica::{ReadRoute, ReadStats, Reads};
pub use subscriber::{COLUMNS as SUBSCRIBER_COLUMNS, MAX_USERNAME_LEN, NewSubscriber};
pub use tls::{TlsError, pem_certificates, pem_private_key};

/// Errors of the data layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// PostgreSQL cannot be reached or does not answer in time (connection refused, pool
    /// timeout, connection lost, statement timeout, server shutting down). radiusd treats
    /// this as "backend down".
    #[error("PostgreSQL is unavailable: {0}")]
    Unavailable(String),
    /// No such row (or the subscriber is deleted).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for.
        entity: Entity,
    },
    /// A unique value is taken, e.g. `subscriber.username`.
    #[error("{what} already exists")]
    Conflict {
        /// Which value, as `entity.field`.
        what: String,
    },
    /// A value the schema refuses.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, as the `New*` structs name it.
        field: String,
        /// Why.
        reason: String,
    },
    /// A stored secret does not decrypt: wrong key file, or altered data.
    #[error("cannot decrypt a stored secret: wrong key file, or the data was altered")]
    Crypto,
    /// The key file is missing or malformed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database has not been migrated to what this build expects.
    #[error(
        "the database schema is at version {found}, this build needs version {expected}: \
         run `proisp-adminapi migrate`"
    )]
    SchemaTooOld {
        /// The version in `schema_migrations` (0: none).
        found: i32,
        /// [`Store::SCHEMA_VERSION`].
        expected: i32,
    },
    /// A migration failed; it was rolled back.
    #[error("migration {version} ({name}) failed: {reason}")]
    Migration {
        /// Its number.
        version: i32,
        /// Its file name.
        name: &'static str,
        /// PostgreSQL's message.
        reason: String,
    },
    /// A stored value this build cannot read (e.g. an unknown vendor name).
    #[error("unexpected value in {column}: {reason}")]
    Corrupt {
        /// `table.column`.
        column: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Any other PostgreSQL error.
    #[error("database error {code}: {message}")]
    Database {
        /// SQLSTATE, or empty for client-side errors.
        code: String,
        /// The message.
        message: String,
    },
}

/// What a [`StoreError::NotFound`] looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entity {
    /// A live subscriber.
    Subscriber,
    /// A plan.
    Plan,
    /// A NAS.
    Nas,
}

impl Entity {
    /// Its name in messages and APIs: `subscriber`, `plan`, `nas`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Entity::Subscriber => "subscriber",
            Entity::Plan => "plan",
            Entity::Nas => "nas",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StoreError {
    /// Whether the database is down or overloaded, rather than the request being wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// [`StoreError::Invalid`] for `field`.
    pub fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The error and its causes on one line (tokio-postgres's own message is just "db error").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = cause.source();
    }
    out
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        let Some(db) = e.as_db_error() else {
            // Client-side: lost or refused connections are unavailability; (de)serialisation
            // errors are bugs and reported as such.
            let io = e
                .source()
                .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
            let message = error_chain(&e);
            if e.is_closed() || io || message.starts_with("timeout") {
                return StoreError::Unavailable(message);
            }
            return StoreError::Database {
                code: String::new(),
                message,
            };
        };
        let code = db.code();
        let class = &code.code()[..2];
        if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::EXCLUSION_VIOLATION {
            return StoreError::Conflict {
                what: conflict_name(db.constraint()),
            };
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return match db.constraint() {
                Some("subscribers_plan_id_fkey") if db.table() == Some("subscribers") => {
                    StoreError::invalid("plan_id", "no such plan")
                }
                Some("subscribers_plan_id_fkey") => StoreError::Conflict {
                    what: "plan in use by subscribers".to_owned(),
                },
                other => StoreError::invalid(other.unwrap_or("reference"), db.message()),
            };
        }
        // 23: integrity (check, not-null); 22: data exceptions (bad cidr, out of range).
        if class == "23" || class == "22" {
            return StoreError::invalid(
                db.constraint().or(db.column()).unwrap_or("value"),
                db.message(),
            );
        }
        // A server in recovery (a standby, a restored primary still replaying its WAL, a
        // URL that reached the replica) refuses writes: it is not the primary yet, or no
        // longer. The write waits (radiusd spools it) rather than being refused for good.
        if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
            return StoreError::Unavailable(error_chain(&e));
        }
        // 08 connection exceptions, 53 insufficient resources, 57 operator intervention
        // (shutdown, statement_timeout's query_canceled), 58 system errors.
        if matches!(class, "08" | "53" | "57" | "58") {
            return StoreError::Unavailable(error_chain(&e));
        }
        StoreError::Database {
            code: code.code().to_owned(),
            message: error_chain(&e),
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> StoreError {
        // Whatever keeps the pool from handing out a connection is unavailability: a
        // timeout, a refused or failed connect, a closed pool.
        StoreError::Unavailable(error_chain(&e))
    }
}

/// `entity.field` for a unique constraint or index name.
fn conflict_name(constraint: Option<&str>) -> String {
    match constraint {
        Some("subscribers_username_key") => "subscriber.username",
        Some("subscribers_ipv4_key") => "subscriber.ipv4",
        Some("plans_name_key") => "plan.name",
        Some("nas_address_key") => "nas.network",
        Some("nas_tls_identity_key") => "nas.tls_identity",
        Some(other) => other,
        None => "value",
    }
    .to_owned()
}

/// PostgreSQL access, with an optional cache to keep coherent on writes. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// The pool's TLS, for the side connections a cancel request opens.
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// The pool's connection settings, for [`Store::connect_dedicated`].
    pg: Arc<tokio_postgres::Config>,
    keys: Arc<Keyring>,
    cache: Option<Arc<dyn Cache>>,
    /// With [`StoreConfig::defer_outbox_notify`]: what wakes the relay after a commit.
    outbox_waker: Option<Arc<outbox::Waker>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("pool", &self.pool.status())
            .field("cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The newest migration this build knows; radiusd refuses to start below it.
    pub const SCHEMA_VERSION: i32 = migrate::LATEST;

    /// Builds the pool and opens one connection, so a wrong URL, password or a stopped
    /// server is reported here as [`StoreError::Unavailable`] (or `Invalid` for an
    /// unparsable URL) rather than at the first login.
    pub async fn connect(cfg: &StoreConfig, keys: Arc<Keyring>) -> Result<Store, StoreError> {
        let store = Store::connect_lazy(cfg, keys)?;
        store.ping().await?;
        Ok(store)
    }

    /// Builds the pool without opening a connection: for processes that must start while
    /// the database is down (radiusd serves from its caches then).
    ///
    /// TLS files are read here: a missing or malformed one is [`StoreError::Invalid`]
    /// naming its key.
    pub fn connect_lazy(cfg: &StoreConfig, keys: Arc<Keyring>) -> Result<Store, StoreError> {
        let tls_error = |e: TlsError| StoreError::invalid(e.key, e.reason);
        let tls = cfg.tls().map_err(tls_error)?;
        let mut pg: tokio_postgres::Config =
            tls.url.parse().map_err(|e: tokio_postgres::Error| {
                StoreError::invalid("database_url", error_chain(&e))
            })?;
        let mode = tls.mode.unwrap_or(match pg.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => SslMode::Disable,
            tokio_postgres::config::SslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        });
        pg.ssl_mode(mode.wire());
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(
            tls.client_config(mode).map_err(tls_error)?,
        );
        if cfg.pool_size == 0 {
            return Err(StoreError::invalid("pool_size", "must be at least 1"));
        }
        pg.connect_timeout(cfg.connect_timeout);
        if pg.get_application_name().is_none() {
            pg.application_name("proisp");
        }
        let mut settings = format!("-c statement_timeout={}", cfg.statement_timeout.as_millis());
        let deferred = cfg.defer_outbox_notify.then_some(outbox::DEFERRED_NOTIFY);
        let custom = cfg.settings.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in custom.chain(deferred) {
            // libpq's options: a space separates settings, a backslash escapes one.
            let value = value.replace('\\', "\\\\").replace(' ', "\\ ");
            settings.push_str(&format!(" -c {name}={value}"));
        }
        let options = match pg.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {settings}"),
            _ => settings,
        };
        pg.options(&options);
        let manager = Manager::from_config(
            pg.clone(),
            connector.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(cfg.pool_size)
            .wait_timeout(Some(cfg.connect_timeout))
            .create_timeout(Some(cfg.connect_timeout))
            .recycle_timeout(Some(cfg.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::invalid("database", error_chain(&e)))?;
        let pg = Arc::new(pg);
        let outbox_waker = cfg
            .defer_outbox_notify
            .then(|| Arc::new(outbox::Waker::new(pg.clone(), connector.clone())));
        Ok(Store {
            pool,
            tls: connector,
            pg,
            keys,
            cache: None,
            outbox_waker,
        })
    }

    /// Attaches a cache that every write keeps coherent (put + invalidation after commit).
    pub fn with_cache(self, cache: Arc<dyn Cache>) -> Store {
        Store {
            cache: Some(cache),
            ..self
        }
    }

    /// The attached cache, if any.
    pub fn cache(&self) -> Option<&Arc<dyn Cache>> {
        self.cache.as_ref()
    }

    /// The key used for secrets at rest.
    pub fn keys(&self) -> &Arc<Keyring> {
        &self.keys
    }

    /// The process's one PostgreSQL pool, for a binary's own tables (adminapi's admins,
    /// refresh tokens and audit log).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A pooled connection, for SQL of a binary's own (radiusd's sessions, adminapi's
    /// admin tables) on the one pool of the process.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// A connection of its own, outside the pool, with the pool's settings (TLS, timeouts):
    /// for what a pooled connection cannot do — `LISTEN` (its notifications arrive on the
    /// returned [`tokio_postgres::Connection`], which the caller must poll) and
    /// session-level advisory locks that must end with the connection.
    pub async fn connect_dedicated(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<
                tokio_postgres::Socket,
                <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
                    tokio_postgres::Socket,
                >>::Stream,
            >,
        ),
        StoreError,
    > {
        Ok(self.pg.connect(self.tls.clone()).await?)
    }

    /// A round trip to PostgreSQL.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// The highest applied migration; 0 on an empty database.
    pub async fn schema_version(&self) -> Result<i32, StoreError> {
        migrate::schema_version(&**self.pool.get().await?).await
    }

    /// [`StoreError::SchemaTooOld`] unless the database is at least at
    /// [`Store::SCHEMA_VERSION`]; returns the version found.
    pub async fn check_schema(&self) -> Result<i32, StoreError> {
        let found = self.schema_version().await?;
        if found < Store::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooOld {
                found,
                expected: Store::SCHEMA_VERSION,
            });
        }
        Ok(found)
    }

    /// Applies pending migrations in order, each in its own transaction, under an
    /// advisory lock so concurrent runs wait for each other. Returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i32>, StoreError> {
        migrate::run(&self.pool).await
    }

    /// Every migration this build carries, oldest first.
    pub fn migrations() -> &'static [Migration] {
        migrate::MIGRATIONS
    }

    /// Runs `write` in a transaction, then `journal` with what it wrote, then commits: the
    /// change and its journal entry are in PostgreSQL together or not at all.
    async fn in_transaction<T, W>(
        &self,
        write: W,
        journal: impl Journal<T>,
    ) -> Result<T, StoreError>
    where
        W: AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T, StoreError>,
    {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let written = write(&tx).await?;
        journal(&tx, &written).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Runs `f` against the attached cache, logging (not returning) a failure: the write
    /// is committed, and PostgreSQL is the truth.
    async fn after_commit<'a, F>(&'a self, what: &str, f: F)
    where
        F: AsyncFnOnce(&'a dyn Cache) -> Result<(), CacheError>,
    {
        if let Some(cache) = &self.cache
            && let Err(e) = f(&**cache).await
        {
            tracing::warn!(error = %e, what, "cache update after commit failed");
        }
    }
}
