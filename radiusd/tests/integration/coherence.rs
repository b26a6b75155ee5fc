//! The cache contract under a hung Redis: a change through the store is in force on every
//! radiusd within about a second, whatever Redis does (issue 13, defect 1).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{Builder, ClientLike as _, Config, KeysInterface as _};
use proisp_model::Status;
use proisp_store::{RedisCache, RedisConfig};
use proisp_testing::{PrivateRedis, TestEnv, wait_until_blocking};

use crate::harness::{Options, Radiusd, pap, seed};

/// Logs `user` in until the answer is `want`, for at most `within`: returns whether it
/// came. Each login is the signal; the deadline only bounds a failing run.
fn answer_becomes(
    radiusd: &Radiusd,
    user: &str,
    password: &str,
    want: &str,
    within: Duration,
) -> bool {
    wait_until_blocking(within, || pap(radiusd.auth, user, password).code == want)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspension_made_while_redis_hangs_is_in_force_at_once_and_after() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 2).await;
    let redis = PrivateRedis::start().await.unwrap();
    let options = || Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    };
    let radiusd = Radiusd::start(&env, options());
    assert_eq!(
        pap(radiusd.auth, "user000001", "pw000001").code,
        "Access-Accept"
    );

    // The admin API's store: commit, then put to Redis and publish.
    let cache = RedisConfig {
        url: redis.url(),
        key_prefix: env.key_prefix.clone(),
        command_timeout: Duration::from_millis(200),
        ..RedisConfig::default()
    };
    let cache = Arc::new(RedisCache::connect(&cache, env.keys.clone()).await.unwrap());
    let store = env.store().await.with_cache(cache.clone());
    let raw = Builder::from_config(Config::from_url(&redis.url()).unwrap())
        .build()
        .unwrap();
    raw.init().await.unwrap();
    let key = cache.subscriber_key("user000001");
    let before: Bytes = raw.get(&key).await.unwrap();

    redis.freeze();
    // Committed; the put and the invalidation after it time out against the hung Redis.
    store
        .set_status("user000001", Status::Suspended)
        .await
        .unwrap();
    // Before the change feed this stayed an Accept until the in-process TTL (5 min).
    assert!(
        answer_becomes(
            &radiusd,
            "user000001",
            "pw000001",
            "Access-Reject",
            Duration::from_secs(20)
        ),
        "suspended during a Redis hang, still let in:\n{}",
        radiusd.log()
    );
    assert_eq!(
        pap(radiusd.auth, "user000002", "pw000002").code,
        "Access-Accept",
        "others still get in while Redis hangs"
    );

    // Redis answers again and still holds the entry from before the suspension, with an
    // hour to live: it must not be believed.
    redis.thaw();
    assert!(
        answer_becomes(
            &radiusd,
            "user000002",
            "pw000002",
            "Access-Accept",
            Duration::from_secs(20)
        ),
        "Redis back, no Accept:\n{}",
        radiusd.log()
    );
    assert_eq!(
        pap(radiusd.auth, "user000001", "pw000001").code,
        "Access-Reject",
        "{}",
        radiusd.log()
    );

    // The puts that timed out were still in the hung Redis's socket and ran when it woke.
    // A put lost for good (a connection reset) leaves the entry from before the change,
    // for its TTL: a radiusd started afresh must learn from the change feed that it is
    // older than the suspension.
    let _: () = raw.set(&key, before, None, None, false).await.unwrap();
    let fresh = Radiusd::start(&env, options());
    assert_eq!(
        pap(fresh.auth, "user000001", "pw000001").code,
        "Access-Reject",
        "a restarted radiusd believed the stale Redis entry:\n{}",
        fresh.log()
    );
    assert!(
        fresh.metric("radius_cache_lookups_total{level=\"redis\",result=\"stale\"}") >= 1.0,
        "{}",
        fresh.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_arrive_through_postgres_when_redis_is_not_configured() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 1).await;
    // No Redis: the in-process cache would trust an entry for `cache.ttl_disconnected`
    // only; make that long, so only the change feed can end it.
    let radiusd = Radiusd::start(
        &env,
        Options {
            redis: false,
            extra: "[cache]\nttl_disconnected = \"10m\"\n".into(),
            ..Options::default()
        },
    );
    assert_eq!(
        pap(radiusd.auth, "user000001", "pw000001").code,
        "Access-Accept"
    );
    store
        .set_status("user000001", Status::Suspended)
        .await
        .unwrap();
    assert!(
        answer_becomes(
            &radiusd,
            "user000001",
            "pw000001",
            "Access-Reject",
            Duration::from_secs(20)
        ),
        "{}",
        radiusd.log()
    );
    assert!(radiusd.metric("radius_change_feed_changes_total") >= 1.0);
}
