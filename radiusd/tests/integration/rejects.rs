//! What radiusd records in Redis for the admin console: each known subscriber's last
//! Access-Rejects and the accepts and rejects of every minute, added up over a radiusd
//! pair (on a Redis Cluster too); and that Redis being down costs the log, counted, never
//! an answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proisp_store::{AuthStats, Cache as _, unix_minute};
use proisp_testing::{PrivateRedis, PrivateRedisCluster, TestEnv, wait_until, wait_until_blocking};

use crate::harness::{Options, Radiusd, pap, seed};

fn this_minute() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    unix_minute(i64::try_from(now.as_secs()).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reject_shows_in_redis_with_its_reply_message_and_the_minute_counts_it() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 2).await;
    let id = store.subscriber("user000001").await.unwrap().unwrap().id;
    let radiusd = Radiusd::start(&env, Options::default());
    let first_minute = this_minute();
    assert_eq!(
        pap(radiusd.auth, "user000001", "wrong").code,
        "Access-Reject"
    );
    assert_eq!(pap(radiusd.auth, "nobody", "wrong").code, "Access-Reject");
    assert_eq!(
        pap(radiusd.auth, "user000002", "pw000002").code,
        "Access-Accept"
    );

    let cache = env.cache().await;
    let mut got = Vec::new();
    wait_until(Duration::from_secs(5), async || {
        got = cache.rejects(id).await.unwrap();
        !got.is_empty()
    })
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].username, "user000001");
    assert_eq!(got[0].reason, "wrong_password");
    assert_eq!(got[0].reply_message, "Wrong password");
    assert_eq!(got[0].nas, "bras-1");
    assert!(got[0].at > 0);

    // Flushed every second; the requests may straddle a minute's end.
    let mut sum = AuthStats::default();
    wait_until(Duration::from_secs(5), async || {
        let minutes: Vec<i64> = (first_minute..=this_minute()).collect();
        let counts = cache.auth_minutes(&minutes).await.unwrap();
        sum = AuthStats {
            accepts: counts.iter().map(|c| c.accepts).sum(),
            rejects: counts.iter().map(|c| c.rejects).sum(),
        };
        sum == AuthStats {
            accepts: 1,
            rejects: 2,
        }
    })
    .await;
    assert_eq!(
        sum,
        AuthStats {
            accepts: 1,
            rejects: 2
        }
    );
    assert_eq!(radiusd.metric("radius_reject_log_written_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_down_rejects_are_still_answered_and_the_lost_records_counted() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 2).await;
    let mut redis = PrivateRedis::start().await.unwrap();
    let radiusd = Radiusd::start(
        &env,
        Options {
            redis_url: Some(redis.url()),
            ..Options::default()
        },
    );
    redis.stop().await;
    for _ in 0..3 {
        assert_eq!(
            pap(radiusd.auth, "user000001", "wrong").code,
            "Access-Reject"
        );
    }
    assert_eq!(
        pap(radiusd.auth, "user000002", "pw000002").code,
        "Access-Accept"
    );
    let counted = wait_until_blocking(Duration::from_secs(5), || {
        radiusd.metric("radius_reject_log_dropped_total{reason=\"redis\"}") == 3.0
    });
    assert!(
        counted,
        "dropped: {}\n{}",
        radiusd.metric("radius_reject_log_dropped_total{reason=\"redis\"}"),
        radiusd.log()
    );
    assert_eq!(radiusd.metric("radius_reject_log_written_total"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_radiusd_pair_on_a_redis_cluster_adds_to_the_same_lists_and_minutes() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 5).await;
    let cluster = PrivateRedisCluster::start().await.unwrap();
    let options = || Options {
        redis_url: Some(cluster.url()),
        ..Options::default()
    };
    let pair = [
        Radiusd::start(&env, options()),
        Radiusd::start(&env, options()),
    ];
    let first_minute = this_minute();
    // Five users: their lists fall in several hash slots, so on several masters.
    for i in 1..=5 {
        for r in &pair {
            let name = format!("user{i:06}");
            assert_eq!(pap(r.auth, &name, "wrong").code, "Access-Reject");
        }
    }
    let cache = proisp_store::RedisCache::connect(
        &proisp_store::RedisConfig {
            url: cluster.url(),
            ..env.cache_config()
        },
        env.keys.clone(),
    )
    .await
    .unwrap();
    for i in 1..=5 {
        let id = store
            .subscriber(&format!("user{i:06}"))
            .await
            .unwrap()
            .unwrap()
            .id;
        let mut n = 0;
        wait_until(Duration::from_secs(5), async || {
            n = cache.rejects(id).await.unwrap().len();
            n == 2
        })
        .await;
        assert_eq!(n, 2, "user{i:06}: one reject from each radiusd");
    }
    let mut rejects = 0;
    wait_until(Duration::from_secs(5), async || {
        let minutes: Vec<i64> = (first_minute..=this_minute()).collect();
        rejects = cache
            .auth_minutes(&minutes)
            .await
            .unwrap()
            .iter()
            .map(|c| c.rejects)
            .sum();
        rejects == 10
    })
    .await;
    assert_eq!(rejects, 10, "both radiusd add to the same minutes");
}
