//! [`Reads`] against a real streaming replica: the lag of an idle, caught-up replica
//! (restarted too), a promoted one, TLS with the primary's keys, and a replica URL that does not parse.

use std::sync::Arc;
use std::time::Duration;

use proisp_store::{Keyring, NewPlan, ReadRoute, Reads, SslMode, Store, StoreConfig, StoreError};
use proisp_testing::{Pki, PostgresTls, PrivatePostgres, wait_until, with_database};

/// A private primary with a migrated database `proisp`, its store and config.
async fn primary() -> (PrivatePostgres, Store, StoreConfig) {
    let pg = PrivatePostgres::start().await.unwrap();
    let (admin, conn) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin.batch_execute("CREATE DATABASE proisp").await.unwrap();
    let cfg = StoreConfig {
        connect_timeout: Duration::from_secs(2),
        ..StoreConfig::new(with_database(&pg.url("postgres"), "proisp"))
    };
    let store = Store::connect(&cfg, Arc::new(Keyring::from_key(&[4; 32])))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (pg, store, cfg)
}

/// A [`Reads`] once its first check has answered.
async fn reads(primary: &Store, cfg: &StoreConfig) -> Reads {
    let reads = Reads::connect(primary.clone(), cfg).unwrap();
    let up = wait_until(Duration::from_secs(20), async || reads.stats().up).await;
    assert!(up, "the replica never answered: {:?}", reads.stats());
    reads
}

fn served(reads: &Reads, route: ReadRoute) -> u64 {
    reads
        .stats()
        .served
        .iter()
        .find(|(r, _)| *r == route)
        .map_or(0, |(_, n)| *n)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_replica_that_has_replayed_everything_does_not_lag() {
    let (pg, store, cfg) = primary().await;
    let mut replica = pg.start_replica().await.unwrap();
    store
        .create_plan(&NewPlan::new("home", 10_000, 5_000))
        .await
        .unwrap();
    replica.wait_replayed(&pg).await.unwrap();
    // The last replayed transaction grows old while the primary is idle: past the bound,
    // although nothing is missing.
    let (sql, conn) = tokio_postgres::connect(&replica.url("proisp"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let old = wait_until(Duration::from_secs(20), async || {
        sql.query_one(
            "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 > 2",
            &[],
        )
        .await
        .is_ok_and(|row| row.get::<_, Option<bool>>(0) == Some(true))
    })
    .await;
    assert!(old, "the last replayed transaction never grew old");
    let cfg = StoreConfig {
        replica_url: Some(with_database(&replica.url("postgres"), "proisp")),
        replica_max_lag: Duration::from_secs(1),
        ..cfg
    };
    // A first check made now, on the idle replica: no lag, reads served by it.
    let reads = reads(&store, &cfg).await;
    assert_eq!(reads.stats().lag, Some(Duration::ZERO));
    let plans = reads.store().await.all_plans().await.unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(served(&reads, ReadRoute::Replica), 1);

    // Restarted, it resumes streaming at the start of a WAL segment, behind what it has
    // replayed: still nothing missing.
    replica.stop_immediate().await;
    replica.restart().await.unwrap();
    let (sql, conn) = tokio_postgres::connect(&replica.url("proisp"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // Until its WAL receiver runs it knows of nothing received, and only the age of the
    // last replayed transaction tells.
    let streaming = wait_until(Duration::from_secs(20), async || {
        sql.query_opt(
            "SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'",
            &[],
        )
        .await
        .is_ok_and(|row| row.is_some())
    })
    .await;
    assert!(streaming, "the restarted replica never streamed");
    let restarted = self::reads(&store, &cfg).await;
    assert_eq!(restarted.stats().lag, Some(Duration::ZERO));

    // Promoted, it is a primary of its own: as current as can be.
    replica.promote().await.unwrap();
    let promoted = self::reads(&store, &cfg).await;
    assert_eq!(promoted.stats().lag, Some(Duration::ZERO));
    promoted.store().await.all_plans().await.unwrap();
    assert_eq!(served(&promoted, ReadRoute::Replica), 1);
}

#[tokio::test]
async fn without_a_replica_reads_are_the_primary_s_and_a_bad_replica_url_is_named() {
    let (_pg, store, cfg) = primary().await;
    let reads = Reads::connect(store.clone(), &cfg).unwrap();
    reads.store().await.all_plans().await.unwrap();
    let stats = reads.stats();
    assert!(!stats.configured && !stats.up);
    assert_eq!(served(&reads, ReadRoute::Unconfigured), 1);

    let bad = StoreConfig {
        replica_url: Some("postgres://h/x?target_session_attrs=sometimes".into()),
        ..cfg
    };
    match Reads::connect(store.clone(), &bad) {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "replica_url"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_replica_is_reached_with_the_primary_s_tls_keys() {
    let dir = std::env::temp_dir().join(format!("proisp-replica-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The client certificate's CN is "postgres": the user it logs in as.
    let pki = Pki::generate(&dir, "postgres").unwrap();
    // hostssl with client certificates: without the keys' certificate, no session.
    let pg = PrivatePostgres::start_tls(&PostgresTls {
        cert: pki.server.cert.clone(),
        key: pki.server.key.clone(),
        ssl_only: true,
        client_ca: Some(pki.ca.clone()),
    })
    .await
    .unwrap();
    let replica = pg.start_replica().await.unwrap();
    let cfg = StoreConfig {
        connect_timeout: Duration::from_secs(2),
        sslmode: Some(SslMode::VerifyFull),
        sslrootcert: Some(pki.ca.clone()),
        sslcert: Some(pki.nas.cert.clone()),
        sslkey: Some(pki.nas.key.clone()),
        replica_url: Some(replica.url("postgres")),
        ..StoreConfig::new(pg.url("postgres"))
    };
    let primary = Store::connect(&cfg, Arc::new(Keyring::from_key(&[5; 32])))
        .await
        .unwrap();
    let reads = reads(&primary, &cfg).await;
    let row = reads
        .store()
        .await
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT client_dn, pg_is_in_recovery() FROM pg_stat_ssl \
             WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let dn: Option<String> = row.get(0);
    assert!(
        dn.as_deref().is_some_and(|dn| dn.contains("CN=postgres")),
        "{dn:?}"
    );
    assert!(row.get::<_, bool>(1), "not the replica");
    assert_eq!(served(&reads, ReadRoute::Replica), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_with_every_connection_busy_passes_reads_on_without_counting_as_down() {
    let (pg, store, cfg) = primary().await;
    let replica = pg.start_replica().await.unwrap();
    let cfg = StoreConfig {
        pool_size: 1,
        connect_timeout: Duration::from_millis(500),
        replica_url: Some(with_database(&replica.url("postgres"), "proisp")),
        ..cfg
    };
    let reads = reads(&store, &cfg).await;
    let held = reads.store().await.client().await.unwrap();
    let in_recovery: bool = held
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(in_recovery, "not the replica's connection");
    // Each read waits connect_timeout for the replica's one connection, then goes to
    // the primary; the checks that fall meanwhile find no connection either.
    for _ in 0..3 {
        reads.store().await.all_plans().await.unwrap();
    }
    assert_eq!(served(&reads, ReadRoute::Busy), 3);
    assert_eq!(served(&reads, ReadRoute::Down), 0);
    assert!(reads.stats().up, "a busy replica counted as down");
    drop(held);
    reads.store().await.all_plans().await.unwrap();
    assert_eq!(served(&reads, ReadRoute::Replica), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_that_reaches_a_server_in_recovery_is_unavailable_not_refused() {
    // A restored primary still replaying its WAL, or a URL that reached the standby,
    // answers writes with SQLSTATE 25006: radiusd must spool the record and try again,
    // never file it as refused for good.
    let (pg, store, cfg) = primary().await;
    let replica = pg.start_replica().await.unwrap();
    let on_standby = Store::connect(
        &StoreConfig {
            database_url: with_database(&replica.url("postgres"), "proisp"),
            ..cfg
        },
        store.keys().clone(),
    )
    .await
    .unwrap();
    let err = on_standby
        .create_plan(&NewPlan::new("standby", 10_000, 5_000))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(_)),
        "a write on a standby: {err:?}"
    );
}
