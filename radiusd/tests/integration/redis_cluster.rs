//! Two radiusd sharing a Redis Cluster (three masters and their replicas): entries one
//! fills the other reads, a change is in force on both, and a master's death costs no
//! wrong answer.

use std::time::Duration;

use proisp_model::Status;
use proisp_testing::{PrivateRedisCluster, TestEnv, wait_until_blocking};

use crate::harness::{Options, Radiusd, pap, seed};

const USERS: usize = 40;

fn user(i: usize) -> (String, String) {
    (format!("user{i:06}"), format!("pw{i:06}"))
}

/// Whether `user` gets `want` from every radiusd within `within` (each login is the
/// signal; the deadline only bounds a failing run).
fn all_answer(pair: &[&Radiusd], i: usize, want: &str, within: Duration) -> bool {
    let (name, password) = user(i);
    pair.iter()
        .all(|r| wait_until_blocking(within, || pap(r.auth, &name, &password).code == want))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_radiusd_pair_on_a_redis_cluster_survives_a_masters_death() {
    let env = TestEnv::start().await;
    let (store, _) = env.store_with_cache().await;
    seed(&store, USERS).await;
    let mut cluster = PrivateRedisCluster::start().await.unwrap();
    let options = || Options {
        redis_url: Some(cluster.url()),
        ..Options::default()
    };
    let a = Radiusd::start(&env, options());
    let b = Radiusd::start(&env, options());

    // A fills Redis from PostgreSQL; B, whose process cache is empty, finds it there.
    assert_eq!(pap(a.auth, "user000001", "pw000001").code, "Access-Accept");
    assert!(
        wait_until_blocking(Duration::from_secs(10), || {
            pap(b.auth, "user000001", "pw000001").code == "Access-Accept"
                && b.metric("radius_cache_lookups_total{level=\"redis\",result=\"hit\"}") >= 1.0
        }),
        "B did not find A's entry in the cluster:\n{}",
        b.log()
    );

    // The admin API's store, writing through the cluster too.
    let cache = proisp_store::RedisConfig {
        url: cluster.url(),
        ..env.cache_config()
    };
    let cache = std::sync::Arc::new(
        proisp_store::RedisCache::connect(&cache, env.keys.clone())
            .await
            .unwrap(),
    );
    let admin = env.store().await.with_cache(cache);
    admin
        .set_status("user000001", Status::Suspended)
        .await
        .unwrap();
    assert!(
        all_answer(&[&a, &b], 1, "Access-Reject", Duration::from_secs(10)),
        "a suspension is not in force on both"
    );

    // A master dies under logins: every answer is still the right one, from the kill
    // until a replica has taken over (passes over the users until the cluster is whole).
    let masters = cluster.masters().await.unwrap();
    cluster.kill(masters[0]).await;
    let mut answered = 0;
    let mut passes = 0;
    loop {
        passes += 1;
        for i in 2..=USERS {
            let (name, password) = user(i);
            for r in [&a, &b] {
                let right = pap(r.auth, &name, &password).code;
                assert_ne!(right, "Access-Reject", "pass {passes}: {name} refused");
                let wrong = pap(r.auth, &name, "not-the-password").code;
                assert_ne!(
                    wrong, "Access-Accept",
                    "pass {passes}: {name} let in wrongly"
                );
                answered += usize::from(right == "Access-Accept");
            }
        }
        if cluster.healthy().await {
            break;
        }
        assert!(passes < 30, "no replica took over");
    }
    assert!(answered > 0, "nothing answered while the master was gone");

    // After the failover, changes still reach both, both ways.
    admin
        .set_status("user000003", Status::Suspended)
        .await
        .unwrap();
    admin
        .set_status("user000001", Status::Active)
        .await
        .unwrap();
    assert!(all_answer(
        &[&a, &b],
        3,
        "Access-Reject",
        Duration::from_secs(10)
    ));
    assert!(all_answer(
        &[&a, &b],
        1,
        "Access-Accept",
        Duration::from_secs(10)
    ));
}
