//! The cache contract on a Redis Cluster of three masters and their replicas: batches
//! across slots, versioned writes, invalidations, and a master's failover.

use std::sync::Arc;
use std::time::Duration;

use proisp_model::Subscriber;
use proisp_store::{Cache as _, CacheEvent, CacheLookup, Invalidation, RedisCache, RedisConfig};
use proisp_testing::{PrivateRedisCluster, TestEnv, wait_until};
use tokio::sync::mpsc;

use crate::store::{next_event, sample};

/// Enough names that every master holds some (16,384 slots over three).
const NAMES: usize = 300;

fn subscriber(i: usize) -> Subscriber {
    Subscriber {
        username: format!("cl{i}"),
        ..sample(10 + i as i64)
    }
}

async fn connect(env: &TestEnv, cluster: &PrivateRedisCluster) -> Arc<RedisCache> {
    let cfg = RedisConfig {
        url: cluster.url(),
        ..env.cache_config()
    };
    Arc::new(RedisCache::connect(&cfg, env.keys.clone()).await.unwrap())
}

/// Waits for an invalidation naming `name`, skipping `Connected` and `Disconnected`.
async fn heard(events: &mut mpsc::Receiver<CacheEvent>, name: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if event == CacheEvent::Invalidate(Invalidation::Subscriber(name.to_owned())) {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn the_cache_contract_holds_on_a_cluster() {
    let env = TestEnv::start().await;
    let cluster = PrivateRedisCluster::start().await.unwrap();
    let cache = connect(&env, &cluster).await;
    let mut events = cache.subscribe();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(10)).await,
        Some(CacheEvent::Connected)
    );

    let all: Vec<Subscriber> = (0..NAMES).map(subscriber).collect();
    let refs: Vec<&Subscriber> = all.iter().collect();
    cache.put_subscribers(&refs).await.unwrap();
    cache
        .put_negatives(&["nobody-1", "nobody-2"])
        .await
        .unwrap();
    cache.put_deleted("cl0", 1_000).await.unwrap();
    // A stale write loses, on whichever master its slot lives.
    cache.put_subscriber(&subscriber(1)).await.unwrap();
    cache
        .put_subscriber(&Subscriber {
            version: 5,
            ..subscriber(2)
        })
        .await
        .unwrap();

    // One batch spanning every master: answered in order, name by name.
    let mut names: Vec<String> = (0..NAMES).map(|i| format!("cl{i}")).collect();
    names.extend(["nobody-1", "nobody-2", "never-seen"].map(str::to_owned));
    let batch: Vec<&str> = names.iter().map(String::as_str).collect();
    let found = cache.get_subscribers(&batch).await.unwrap();
    assert_eq!(found.len(), batch.len());
    assert_eq!(found[0], CacheLookup::Negative, "cl0's tombstone");
    for (i, lookup) in found.iter().enumerate().take(NAMES).skip(1) {
        assert_eq!(lookup, &CacheLookup::Hit(subscriber(i)), "cl{i}");
    }
    assert_eq!(
        found[NAMES..],
        [
            CacheLookup::Negative,
            CacheLookup::Negative,
            CacheLookup::Miss
        ]
    );

    // The keys really are spread over the three masters.
    let masters = cluster.masters().await.unwrap();
    assert_eq!(masters.len(), 3);
    for port in masters {
        assert!(
            cluster.keys_on(port).await.unwrap() > 0,
            "master {port} holds nothing"
        );
    }

    // Invalidations reach a subscriber wherever each side is connected.
    cache
        .publish(&Invalidation::Subscriber("cl7".into()))
        .await
        .unwrap();
    assert!(heard(&mut events, "cl7", Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_masters_failover_is_followed() {
    let env = TestEnv::start().await;
    let mut cluster = PrivateRedisCluster::start().await.unwrap();
    let cache = connect(&env, &cluster).await;
    let mut events = cache.subscribe();
    assert_eq!(
        next_event(&mut events, Duration::from_secs(10)).await,
        Some(CacheEvent::Connected)
    );
    let all: Vec<Subscriber> = (0..NAMES).map(subscriber).collect();
    let refs: Vec<&Subscriber> = all.iter().collect();
    cache.put_subscribers(&refs).await.unwrap();

    let masters = cluster.masters().await.unwrap();
    cluster.kill(masters[0]).await;
    assert!(
        cluster.wait_healthy(Duration::from_secs(30)).await,
        "no replica took over"
    );
    assert!(!cluster.masters().await.unwrap().contains(&masters[0]));

    // Lookups of every name answer again (from the promoted replica: a hit, or a miss
    // where replication had not caught up — PostgreSQL answers those).
    let names: Vec<String> = (0..NAMES).map(|i| format!("cl{i}")).collect();
    let batch: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(
        wait_until(Duration::from_secs(30), async || cache
            .get_subscribers(&batch)
            .await
            .is_ok())
        .await,
        "lookups did not recover after the failover"
    );
    let found = cache.get_subscribers(&batch).await.unwrap();
    for (i, lookup) in found.iter().enumerate() {
        assert!(
            matches!(lookup, CacheLookup::Hit(s) if *s == subscriber(i))
                || *lookup == CacheLookup::Miss,
            "cl{i}: {lookup:?}"
        );
    }
    // Writes land on the new master.
    cache.put_subscribers(&refs).await.unwrap();
    let found = cache.get_subscribers(&batch).await.unwrap();
    assert!(found.iter().all(|l| matches!(l, CacheLookup::Hit(_))));

    // Invalidations still arrive: published until heard, since the subscription may be
    // reconnecting (it reports the gap, and radiusd catches up from PostgreSQL).
    let mut round = 0;
    assert!(
        wait_until(Duration::from_secs(30), async || {
            round += 1;
            let name = format!("after-failover-{round}");
            cache
                .publish(&Invalidation::Subscriber(name.clone()))
                .await
                .is_ok()
                && heard(&mut events, &name, Duration::from_millis(500)).await
        })
        .await,
        "no invalidation arrived after the failover"
    );
}
