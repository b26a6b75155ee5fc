//! `proisp-adminapi seed` against real PostgreSQL: demo plans, NAS devices and a bulk of
//! subscribers, idempotent.

use std::net::IpAddr;

use proisp_adminapi::data::seed::{SeedOptions, demo_plans, seed};
use proisp_model::Status;
use proisp_radius::secret::SharedSecret as _;
use proisp_testing::TestEnv;

#[tokio::test]
async fn seed_is_idempotent() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let opts = SeedOptions {
        subscribers: 120_000,
        ..SeedOptions::default()
    };
    let first = seed(&store, &opts).await.unwrap();
    assert_eq!(first.plans_created.len(), demo_plans().len());
    for demo in demo_plans() {
        assert!(store.plan_by_name(&demo.name).await.unwrap().is_some());
    }
    assert_eq!(first.nas_created, vec![IpAddr::from([127, 0, 0, 1])]);
    assert_eq!(first.subscribers_created, 120_000);
    assert_eq!(first.subscribers_present, 0);
    let again = seed(&store, &opts).await.unwrap();
    assert!(again.plans_created.is_empty() && again.nas_created.is_empty());
    assert!(again.nas_updated.is_empty());
    assert_eq!(again.subscribers_created, 0);
    assert_eq!(again.subscribers_present, 120_000);

    let sql = env.sql().await;
    let count: i64 = sql
        .query_one("SELECT count(*) FROM subscribers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 120_000);
    // The bulk load rebuilt every index and the plan foreign key it set aside.
    let indexes: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'subscribers'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let fresh = TestEnv::start().await;
    let want: i64 = fresh
        .sql()
        .await
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'subscribers'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, want);
    let fk: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'subscribers_plan_id_fkey'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(fk, 1);
    for n in [1, 99_999, 120_000] {
        let s = store
            .subscriber(&format!("user{n:06}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.password.as_bytes(), format!("pw{n:06}").as_bytes());
        assert_eq!(s.status, Status::Active);
    }
    assert!(store.subscriber("user120001").await.unwrap().is_none());
    let nas = store.all_nas().await.unwrap();
    assert_eq!(nas[0].secret.as_bytes(), b"testing123");

    // More subscribers and another secret: only the difference is written.
    let grown = seed(
        &store,
        &SeedOptions {
            subscribers: 120_500,
            secret: b"changed".to_vec(),
            ..SeedOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(grown.subscribers_created, 500);
    assert_eq!(grown.nas_updated, vec![IpAddr::from([127, 0, 0, 1])]);

    // The demo NAS mapped to a RadSec client certificate, once.
    let radsec = SeedOptions {
        subscribers: 0,
        secret: b"changed".to_vec(),
        tls_identity: Some("nas1.proisp.test".into()),
        ..SeedOptions::default()
    };
    let mapped = seed(&store, &radsec).await.unwrap();
    assert_eq!(mapped.nas_updated, vec![IpAddr::from([127, 0, 0, 1])]);
    let nas = store.all_nas().await.unwrap();
    assert_eq!(nas[0].tls.identity.as_deref(), Some("nas1.proisp.test"));
    assert_eq!(nas[0].secret.as_bytes(), b"changed");
    assert!(seed(&store, &radsec).await.unwrap().nas_updated.is_empty());
}
