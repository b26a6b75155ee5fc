//! [`TestEnv`]: which PostgreSQL and Redis the tests of a process use (see the crate
//! docs), and a migrated database, a key prefix and a key per test.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;

use proisp_store::{
    Cache, CacheError, CacheLookup, Keyring, RedisCache, RedisConfig, Store, StoreConfig,
    error_chain,
};

use crate::postgres::{PrivatePostgres, pg_answers, with_database};
use crate::random_hex;
use crate::redis::{PrivateRedis, redis_answers_async};

/// Test databases older than this are leftovers of killed runs.
const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// Everything a test needs: a migrated database of its own, Redis with a key prefix of its
/// own, and a key. Dropping it drops the database.
#[derive(Debug)]
pub struct TestEnv {
    /// URL of this test's database (migrated).
    pub database_url: String,
    /// URL of Redis.
    pub redis_url: String,
    /// Key prefix of this test (unique), for [`RedisConfig::key_prefix`].
    pub key_prefix: String,
    /// The key secrets are encrypted with.
    pub keys: Arc<Keyring>,
    /// The same key in a key file (mode 0600), for binaries under test.
    pub key_file: PathBuf,
    admin_url: String,
    database: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn force_private() -> bool {
    std::env::var_os("PROISP_TEST_PRIVATE").is_some_and(|v| v == "1")
}

struct PgBackend {
    admin_url: String,
    _private: Option<PrivatePostgres>,
}

struct RedisBackend {
    url: String,
    _private: Option<PrivateRedis>,
}

static POSTGRES: OnceCell<PgBackend> = OnceCell::const_new();
static REDIS: OnceCell<RedisBackend> = OnceCell::const_new();

async fn postgres() -> &'static PgBackend {
    POSTGRES
        .get_or_init(|| async {
            let backend = if let Ok(url) = std::env::var("PROISP_TEST_DATABASE_URL") {
                if let Err(e) = pg_answers(&url).await {
                    panic!("PROISP_TEST_DATABASE_URL does not answer: {e}");
                }
                PgBackend {
                    admin_url: url,
                    _private: None,
                }
            } else {
                let local = "postgres://postgres@127.0.0.1:5432/postgres";
                if !force_private() && pg_answers(local).await.is_ok() {
                    PgBackend {
                        admin_url: local.to_owned(),
                        _private: None,
                    }
                } else {
                    let private = PrivatePostgres::start()
                        .await
                        .unwrap_or_else(|e| panic!("cannot start a private PostgreSQL: {e}"));
                    PgBackend {
                        admin_url: private.url("postgres"),
                        _private: Some(private),
                    }
                }
            };
            drop_stale_databases(&backend.admin_url).await;
            backend
        })
        .await
}

async fn drop_stale_databases(admin_url: &str) {
    let Ok(client) = pg_answers(admin_url).await else {
        return;
    };
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'proisp\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let now = unix_now();
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > STALE_AFTER.as_secs() {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

async fn redis() -> &'static RedisBackend {
    REDIS
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("PROISP_TEST_REDIS_URL") {
                let ok = redis_answers_async(&url).await;
                assert!(ok, "PROISP_TEST_REDIS_URL ({url}) does not answer PING");
                return RedisBackend {
                    url,
                    _private: None,
                };
            }
            let local = "redis://127.0.0.1:6379";
            let ok = !force_private() && redis_answers_async(local).await;
            if ok {
                return RedisBackend {
                    url: local.to_owned(),
                    _private: None,
                };
            }
            let private = PrivateRedis::start()
                .await
                .unwrap_or_else(|e| panic!("cannot start a private Redis: {e}"));
            RedisBackend {
                url: private.url(),
                _private: Some(private),
            }
        })
        .await
}

/// What `cache` holds for one name, read the way radiusd reads a batch.
pub async fn cached(cache: &dyn Cache, username: &str) -> Result<CacheLookup, CacheError> {
    let answers = cache.get_subscribers(&[username]).await?;
    let [answer] = <[CacheLookup; 1]>::try_from(answers)
        .unwrap_or_else(|a| panic!("{} answers for one name", a.len()));
    Ok(answer)
}

impl TestEnv {
    /// A fresh, migrated database and a fresh key prefix (see the module docs for where
    /// the servers come from). Panics with the reason when no backend can be had.
    pub async fn start() -> TestEnv {
        let env = TestEnv::start_unmigrated().await;
        env.store()
            .await
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrations: {e}"));
        env
    }

    /// Like [`TestEnv::start`], but the database is left empty (schema version 0): for
    /// tests of migrations and of refusing an old schema.
    pub async fn start_unmigrated() -> TestEnv {
        let pg = postgres().await;
        let redis = redis().await;
        let database = format!("proisp_test_{}_{}", unix_now(), random_hex(4));
        let admin = pg_answers(&pg.admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL stopped answering: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{database}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE: {}", error_chain(&e)));
        let hex = Keyring::generate_hex();
        let key_file = std::env::temp_dir().join(format!("proisp-test-{database}.key"));
        write_private(&key_file, hex.as_bytes()).expect("write the test key file");
        let keys = Arc::new(Keyring::from_file(&key_file).expect("read the test key file"));
        TestEnv {
            database_url: with_database(&pg.admin_url, &database),
            redis_url: redis.url.clone(),
            key_prefix: format!("proisp-test-{}:", random_hex(6)),
            keys,
            key_file,
            admin_url: pg.admin_url.clone(),
            database,
        }
    }

    /// The store config of this test's database (small pool, short timeouts).
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            pool_size: 4,
            connect_timeout: Duration::from_secs(2),
            ..StoreConfig::new(self.database_url.clone())
        }
    }

    /// The cache config of this test's Redis and key prefix.
    pub fn cache_config(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            key_prefix: self.key_prefix.clone(),
            ..RedisConfig::default()
        }
    }

    /// A connected store without cache.
    pub async fn store(&self) -> Store {
        Store::connect(&self.store_config(), Arc::clone(&self.keys))
            .await
            .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
    }

    /// A connected Redis cache on this test's key prefix.
    pub async fn cache(&self) -> RedisCache {
        RedisCache::connect(&self.cache_config(), Arc::clone(&self.keys))
            .await
            .unwrap_or_else(|e| panic!("connect to Redis: {e}"))
    }

    /// A store whose writes keep the returned cache coherent.
    pub async fn store_with_cache(&self) -> (Store, Arc<RedisCache>) {
        let cache = Arc::new(self.cache().await);
        let store = self.store().await.with_cache(cache.clone());
        (store, cache)
    }

    /// A plain connection to this test's database, for assertions on raw rows.
    pub async fn sql(&self) -> tokio_postgres::Client {
        pg_answers(&self.database_url)
            .await
            .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.key_file);
        let admin_url = self.admin_url.clone();
        let database = self.database.clone();
        // Drop may run inside a runtime (or after it): use a thread with its own.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(client) = pg_answers(&admin_url).await {
                    let _ = client
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}
