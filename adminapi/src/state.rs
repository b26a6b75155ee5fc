//! [`AppState`]: what every handler reaches through `web::Data<AppState>`.

use std::sync::Arc;

use deadpool_postgres::Pool;
use proisp_coa::{Client, Dispatcher};
use proisp_store::{Keyring, Reads, RedisCache, Store};

use crate::config::Config;
use crate::jwt::JwtKey;
use crate::kv::Kv;
use crate::metrics::HttpMetrics;
use crate::ratelimit::RateLimiter;

/// Shared by every worker; cheap to reach, never cloned per request.
#[derive(Debug)]
pub struct AppState {
    /// The configuration the server started with.
    pub config: Config,
    /// Subscribers, plans, NAS devices: writes keep Redis coherent and notify radiusd.
    pub store: Store,
    /// Reads that may be a few seconds stale (lists, search, reports, dashboard, history,
    /// audit log): the replica of `database.replica_url` while it is within
    /// `replica_max_lag`, else the primary. Writes, sign-in and a single entity by id
    /// stay on `store` and `db`, so a client reads its own writes.
    pub reads: Reads,
    /// adminapi's own tables (admins, refresh tokens, audit log): the store's pool, so
    /// the process holds one.
    pub db: Pool,
    /// The key for secrets at rest.
    pub keys: Arc<Keyring>,
    /// The access-token key.
    pub jwt: JwtKey,
    /// Failed-login counters and the token blacklist.
    pub kv: Kv,
    /// Requests per client address.
    pub limiter: RateLimiter,
    /// `/metrics`.
    pub metrics: HttpMetrics,
    /// Every CoA- and Disconnect-Request, through a lane per NAS.
    pub lanes: Dispatcher<Client>,
}

impl AppState {
    /// Builds the state: the pool (connecting lazily), Redis (reconnecting by itself), the
    /// replica's pool and its lag check (a task on the current runtime). The primary must
    /// answer once, so a wrong URL is reported at start-up; the replica need not.
    pub async fn connect(
        config: Config,
        keys: Arc<Keyring>,
        jwt: JwtKey,
    ) -> anyhow::Result<AppState> {
        let mut store = Store::connect(&config.database, keys.clone()).await?;
        let kv = match &config.redis {
            Some(redis) => {
                let cache = RedisCache::connect(redis, keys.clone()).await?;
                let kv = Kv::redis(cache.client(), &redis.key_prefix, redis.command_timeout);
                store = store.with_cache(Arc::new(cache));
                kv
            }
            None => Kv::local(),
        };
        let reads = Reads::connect(store.clone(), &config.database)?;
        let db = store.pool().clone();
        // Changes for a NAS that stops answering are kept in PostgreSQL: radiusd, which
        // hears from the NAS when it is back, sends them then.
        let lanes = Dispatcher::new(Client::new(config.coa), config.coa.lanes())
            .with_parking(Arc::new(store.clone()));
        let limiter = RateLimiter::new(config.rate_limit.requests_per_minute);
        Ok(AppState {
            config,
            store,
            reads,
            db,
            keys,
            jwt,
            kv,
            limiter,
            lanes,
            metrics: HttpMetrics::new(),
        })
    }
}
