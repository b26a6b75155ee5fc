//! TLS to PostgreSQL and Redis against private servers that speak it, with certificates
//! from proisp_testing::Pki.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proisp_model::{Status, Subscriber};
use proisp_store::{
    Cache as _, CacheError, CacheEvent, CacheLookup, Keyring, RedisCache, RedisConfig, SslMode,
    Store, StoreConfig, StoreError,
};
use proisp_testing::{Pki, PostgresTls, PrivatePostgres, PrivateRedis, RedisTls, TestEnv, cached};

/// A directory removed when the test ends.
struct Dir(PathBuf);

impl Dir {
    fn new(what: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "proisp-{what}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keys() -> Arc<Keyring> {
    Arc::new(Keyring::from_key(&[7; 32]))
}

fn config(url: String, mode: Option<SslMode>, ca: Option<&PathBuf>) -> StoreConfig {
    StoreConfig {
        connect_timeout: Duration::from_secs(5),
        sslmode: mode,
        sslrootcert: ca.cloned(),
        ..StoreConfig::new(url)
    }
}

/// Whether the session serving this store is encrypted, as the server sees it.
async fn encrypted(store: &Store) -> bool {
    store
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn postgres_verify_full_connects_encrypted_and_refuses_a_stranger() {
    let dir = Dir::new("pg-tls");
    let pki = Pki::generate(&dir.0, "nas.proisp.test").unwrap();
    let other = Dir::new("pg-tls-other");
    let stranger = Pki::generate(&other.0, "nas.proisp.test").unwrap();
    let pg = PrivatePostgres::start_tls(&PostgresTls {
        cert: pki.server.cert.clone(),
        key: pki.server.key.clone(),
        ssl_only: true,
        client_ca: None,
    })
    .await
    .unwrap();
    let url = pg.url("postgres");

    // The keys of [database] …
    let cfg = config(url.clone(), Some(SslMode::VerifyFull), Some(&pki.ca));
    let store = Store::connect(&cfg, keys()).await.unwrap();
    assert!(encrypted(&store).await);
    // … and libpq's URL parameters, which tokio-postgres alone would refuse.
    let with_params = format!(
        "{url}?sslmode=verify-full&sslrootcert={}&application_name=tls-test",
        pki.ca.display()
    );
    let store = Store::connect(&config(with_params, None, None), keys())
        .await
        .unwrap();
    assert!(encrypted(&store).await);
    let name: String = store
        .client()
        .await
        .unwrap()
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "tls-test");
    // The default (prefer) encrypts when the server offers TLS.
    let store = Store::connect(&config(url.clone(), None, None), keys())
        .await
        .unwrap();
    assert!(encrypted(&store).await);

    // A server whose certificate another CA signed: an error saying so, in time.
    let cfg = config(url.clone(), Some(SslMode::VerifyFull), Some(&stranger.ca));
    let err = tokio::time::timeout(Duration::from_secs(30), Store::connect(&cfg, keys()))
        .await
        .expect("a refused certificate hangs the connect")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );

    // Plain TCP against a server that accepts only hostssl.
    let cfg = config(url.clone(), Some(SslMode::Disable), None);
    let err = Store::connect(&cfg, keys()).await.unwrap_err();
    assert!(err.to_string().contains("no encryption"), "{err}");

    // A CA file that is not there is a configuration error naming the key.
    let cfg = config(
        url,
        Some(SslMode::VerifyFull),
        Some(&dir.0.join("missing.pem")),
    );
    match Store::connect_lazy(&cfg, keys()) {
        Err(StoreError::Invalid { field, reason }) => {
            assert_eq!(field, "sslrootcert");
            assert!(reason.contains("missing.pem"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn postgres_verify_ca_checks_the_chain_but_not_the_name() {
    let dir = Dir::new("pg-tls-name");
    let pki = Pki::generate(&dir.0, "nas.proisp.test").unwrap();
    let other = Dir::new("pg-tls-name-other");
    let stranger = Pki::generate(&other.0, "nas.proisp.test").unwrap();
    // The server at 127.0.0.1 presents a certificate for elsewhere.proisp.test.
    let pg = PrivatePostgres::start_tls(&PostgresTls {
        cert: pki.misnamed.cert.clone(),
        key: pki.misnamed.key.clone(),
        ssl_only: true,
        client_ca: None,
    })
    .await
    .unwrap();
    let url = pg.url("postgres");

    let cfg = config(url.clone(), Some(SslMode::VerifyFull), Some(&pki.ca));
    let err = Store::connect(&cfg, keys()).await.unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");

    let cfg = config(url.clone(), Some(SslMode::VerifyCa), Some(&pki.ca));
    let store = Store::connect(&cfg, keys()).await.unwrap();
    assert!(encrypted(&store).await);

    // verify-ca still wants the chain.
    let cfg = config(url.clone(), Some(SslMode::VerifyCa), Some(&stranger.ca));
    let err = Store::connect(&cfg, keys()).await.unwrap_err();
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );

    // require without a CA encrypts and checks nothing, as libpq does; with one it checks
    // the chain, as libpq does with a root certificate.
    let store = Store::connect(&config(url.clone(), Some(SslMode::Require), None), keys())
        .await
        .unwrap();
    assert!(encrypted(&store).await);
    let cfg = config(url, Some(SslMode::Require), Some(&stranger.ca));
    let err = Store::connect(&cfg, keys()).await.unwrap_err();
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_logs_in_with_a_client_certificate() {
    let dir = Dir::new("pg-tls-cert");
    // The client certificates' CN is "postgres": the user they log in as.
    let pki = Pki::generate(&dir.0, "postgres").unwrap();
    let pg = PrivatePostgres::start_tls(&PostgresTls {
        cert: pki.server.cert.clone(),
        key: pki.server.key.clone(),
        ssl_only: true,
        client_ca: Some(pki.ca.clone()),
    })
    .await
    .unwrap();
    let url = pg.url("postgres");

    let with_params = format!(
        "{url}?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        pki.ca.display(),
        pki.nas.cert.display(),
        pki.nas.key.display()
    );
    let store = Store::connect(&config(with_params, None, None), keys())
        .await
        .unwrap();
    let dn: String = store
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(dn.contains("CN=postgres"), "{dn}");

    // No certificate, and one that names someone else.
    let cfg = config(url.clone(), Some(SslMode::VerifyFull), Some(&pki.ca));
    let err = Store::connect(&cfg, keys()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("requires a valid client certificate"),
        "{err}"
    );
    let cfg = StoreConfig {
        sslcert: Some(pki.other.cert.clone()),
        sslkey: Some(pki.other.key.clone()),
        ..cfg
    };
    let err = Store::connect(&cfg, keys()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("certificate authentication failed"),
        "{err}"
    );
}

fn subscriber() -> Subscriber {
    Subscriber {
        id: 1,
        username: "tls-user".into(),
        password: proisp_model::Password::new("pw-over-tls"),
        status: Status::Active,
        plan_id: 2,
        expires_at: None,
        mac: None,
        ipv4: Some(Ipv4Addr::new(10, 9, 8, 7)),
        ipv6_prefix: None,
        delegated_ipv6_prefix: None,
        simultaneous_use: 1,
        fup_until: None,
        version: 5,
    }
}

#[tokio::test]
async fn redis_over_tls_verifies_the_server() {
    let env = TestEnv::start().await;
    let dir = Dir::new("redis-tls");
    let pki = Pki::generate(&dir.0, "nas.proisp.test").unwrap();
    let other = Dir::new("redis-tls-other");
    let stranger = Pki::generate(&other.0, "nas.proisp.test").unwrap();
    let redis = PrivateRedis::start_tls(RedisTls {
        cert: pki.server.cert.clone(),
        key: pki.server.key.clone(),
        ca: pki.ca.clone(),
        client: None,
    })
    .await
    .unwrap();
    assert!(redis.url().starts_with("rediss://"));

    let cfg = RedisConfig {
        url: redis.url(),
        tls_ca: Some(pki.ca.clone()),
        connect_timeout: Duration::from_secs(5),
        ..env.cache_config()
    };
    let cache = RedisCache::connect(&cfg, env.keys.clone()).await.unwrap();
    assert!(cache.is_connected());
    // The invalidation subscription has a connection of its own, over TLS too.
    let mut events = cache.subscribe();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Connected)
    );
    let entry = subscriber();
    cache.put_subscriber(&entry).await.unwrap();
    assert_eq!(
        cached(&cache, "tls-user").await.unwrap(),
        CacheLookup::Hit(entry)
    );

    // Another CA's server: never connected, every command unavailable.
    let wrong = RedisConfig {
        tls_ca: Some(stranger.ca.clone()),
        connect_timeout: Duration::from_millis(500),
        ..cfg.clone()
    };
    let cache = RedisCache::connect(&wrong, env.keys.clone()).await.unwrap();
    assert!(!cache.is_connected());
    assert!(
        cached(&cache, "tls-user")
            .await
            .unwrap_err()
            .is_unavailable()
    );

    // TLS files with a plain URL: the operator meant TLS.
    let plain = RedisConfig {
        url: redis.url().replacen("rediss://", "redis://", 1),
        ..cfg
    };
    match RedisCache::connect(&plain, env.keys.clone()).await {
        Err(CacheError::Config(reason)) => assert!(reason.contains("tls_ca"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn redis_asking_for_client_certificates_gets_ours() {
    let env = TestEnv::start().await;
    let dir = Dir::new("redis-mtls");
    let pki = Pki::generate(&dir.0, "nas.proisp.test").unwrap();
    let redis = PrivateRedis::start_tls(RedisTls {
        cert: pki.server.cert.clone(),
        key: pki.server.key.clone(),
        ca: pki.ca.clone(),
        client: Some(pki.nas.clone()),
    })
    .await
    .unwrap();
    let cfg = RedisConfig {
        url: redis.url(),
        tls_ca: Some(pki.ca.clone()),
        tls_cert: Some(pki.other.cert.clone()),
        tls_key: Some(pki.other.key.clone()),
        connect_timeout: Duration::from_secs(5),
        ..env.cache_config()
    };
    let cache = RedisCache::connect(&cfg, env.keys.clone()).await.unwrap();
    assert!(cache.is_connected());
    let entry = subscriber();
    cache.put_subscriber(&entry).await.unwrap();
    assert_eq!(
        cached(&cache, "tls-user").await.unwrap(),
        CacheLookup::Hit(entry)
    );

    let anonymous = RedisConfig {
        tls_cert: None,
        tls_key: None,
        connect_timeout: Duration::from_millis(500),
        ..cfg
    };
    let cache = RedisCache::connect(&anonymous, env.keys.clone())
        .await
        .unwrap();
    assert!(!cache.is_connected());
    assert!(
        cached(&cache, "tls-user")
            .await
            .unwrap_err()
            .is_unavailable()
    );
}
