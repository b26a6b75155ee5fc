//! PostgreSQL's change feed (sql/0005): the triggers write a row for every change to what
//! radiusd caches, in the change's own transaction, and a reader finds a number committed
//! out of order by asking for it again.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use proisp_model::Status;
use proisp_store::{
    Cache as _, CacheEvent, Change, NewNas, NewPlan, NewSubscriber, RedisCache, RedisConfig,
};
use proisp_testing::{PrivateRedis, TestEnv};

fn sub(username: &str, version: i64) -> Change {
    Change::Subscriber {
        username: username.to_owned(),
        version,
    }
}

#[tokio::test]
async fn every_change_to_what_radiusd_caches_is_in_the_feed() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let head = store.feed_head().await.unwrap();
    let plan = store
        .create_plan(&NewPlan::new("p-10", 10_000, 5_000))
        .await
        .unwrap();
    let ada = store
        .create_subscriber(&NewSubscriber::new("ada", b"pw".to_vec(), plan.id))
        .await
        .unwrap();
    let suspended = store.set_status("ada", Status::Suspended).await.unwrap();
    store
        .create_nas(&NewNas::new(
            "bras",
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            b"s3cret",
        ))
        .await
        .unwrap();
    store.delete_subscriber("ada").await.unwrap();
    let changes: Vec<Change> = store
        .feed_after(head, &[], 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.change)
        .collect();
    assert_eq!(changes.len(), 5, "{changes:?}");
    assert_eq!(changes[0], Change::Plans);
    assert_eq!(changes[1], sub("ada", ada.version));
    assert_eq!(changes[2], sub("ada", suspended.version));
    assert_eq!(changes[3], Change::Nas);
    // The soft delete is a new version of the row.
    assert!(
        matches!(&changes[4], Change::Subscriber { username, version } if username == "ada" && *version > suspended.version)
    );

    // A rename reports both names; accounting's statements that change no subscriber
    // report nothing.
    let sql = env.sql().await;
    let head = store.feed_head().await.unwrap();
    store
        .create_subscriber(&NewSubscriber::new("bob", b"pw".to_vec(), plan.id))
        .await
        .unwrap();
    sql.execute(
        "UPDATE subscribers SET username = 'robert', version = nextval('entry_version') \
         WHERE username = 'bob'",
        &[],
    )
    .await
    .unwrap();
    sql.execute("UPDATE subscribers SET updated_at = updated_at", &[])
        .await
        .unwrap();
    let names: Vec<String> = store
        .feed_after(head, &[], 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.change {
            Change::Subscriber { username, .. } => Some(username),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["bob", "robert", "bob"]);

    // One statement over more than 10,000 subscribers is one `all` row.
    let head = store.feed_head().await.unwrap();
    sql.execute(
        "INSERT INTO subscribers (username, password_enc, plan_id) \
         SELECT 'bulk' || i, decode(repeat('00', 28), 'hex'), $1 \
         FROM generate_series(1, 10001) i",
        &[&plan.id],
    )
    .await
    .unwrap();
    let rows = store.feed_after(head, &[], 100).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(matches!(rows[0].change, Change::All { .. }), "{rows:?}");

    // Retention.
    assert_eq!(store.trim_feed(Duration::from_secs(3600)).await.unwrap(), 0);
    assert!(store.trim_feed(Duration::ZERO).await.unwrap() >= 9);
    assert!(store.feed_after(0, &[], 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_number_committed_after_a_later_one_is_found_by_asking_again() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("p-10", 10_000, 5_000))
        .await
        .unwrap();
    let head = store.feed_head().await.unwrap();
    // The first writer takes its number and holds its transaction open.
    let mut slow = env.sql().await;
    let txn = slow.transaction().await.unwrap();
    txn.execute(
        "INSERT INTO subscribers (username, password_enc, plan_id) \
         VALUES ('slow', decode(repeat('00', 28), 'hex'), $1)",
        &[&plan.id],
    )
    .await
    .unwrap();
    store
        .create_subscriber(&NewSubscriber::new("quick", b"pw".to_vec(), plan.id))
        .await
        .unwrap();
    let seen = store.feed_after(head, &[], 100).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].seq, head + 2, "the later number is visible first");
    txn.commit().await.unwrap();
    let late = store.feed_after(head + 2, &[head + 1], 100).await.unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].seq, head + 1);
    assert!(matches!(&late[0].change, Change::Subscriber { username, .. } if username == "slow"));
}

#[tokio::test]
async fn a_hung_redis_subscription_is_reported_lost() {
    let env = TestEnv::start().await;
    let redis = PrivateRedis::start().await.unwrap();
    let cache = RedisCache::connect(
        &RedisConfig {
            url: redis.url(),
            key_prefix: env.key_prefix.clone(),
            command_timeout: Duration::from_millis(200),
            ..RedisConfig::default()
        },
        env.keys.clone(),
    )
    .await
    .unwrap();
    let mut events = cache.subscribe();
    assert_eq!(events.recv().await, Some(CacheEvent::Connected));
    // The TCP connection stays up; only the missed ping can tell.
    redis.freeze();
    let lost = tokio::time::timeout(Duration::from_secs(30), events.recv()).await;
    redis.thaw();
    assert_eq!(lost.ok().flatten(), Some(CacheEvent::Disconnected));
    let back = tokio::time::timeout(Duration::from_secs(30), events.recv()).await;
    assert_eq!(back.ok().flatten(), Some(CacheEvent::Connected));
}
