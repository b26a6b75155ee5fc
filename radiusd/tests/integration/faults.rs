//! The failure table (DESIGN.md): Redis down, PostgreSQL down, and never a wrong Accept.

use std::net::UdpSocket;
use std::time::Duration;

use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_testing::{PrivateRedis, TestEnv, wait_until_blocking};

use crate::harness::{Options, Radiusd, exchange, pap, pap_packet, private_database, seed};

/// Subscriber `i` gets an Accept for the right password and a Reject for a wrong one.
fn accepts_right_and_rejects_wrong(radiusd: &Radiusd, i: u32) {
    let user = format!("user{i:06}");
    let ok = pap(radiusd.auth, &user, &format!("pw{i:06}"));
    assert_eq!(
        ok.code,
        "Access-Accept",
        "{user}: {}\n{}",
        ok.output,
        radiusd.log()
    );
    assert_eq!(
        pap(radiusd.auth, &user, "wrong").code,
        "Access-Reject",
        "{user}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_stopped_auth_continues_from_postgres() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 20).await;
    let mut redis = PrivateRedis::start().await.unwrap();
    let radiusd = Radiusd::start(
        &env,
        Options {
            redis_url: Some(redis.url()),
            ..Options::default()
        },
    );
    assert_eq!(
        pap(radiusd.auth, "user000001", "pw000001").code,
        "Access-Accept"
    );
    redis.stop().await;
    for i in 1..=20 {
        accepts_right_and_rejects_wrong(&radiusd, i);
    }
    redis.restart().await.unwrap();
    assert_eq!(
        pap(radiusd.auth, "user000002", "pw000002").code,
        "Access-Accept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_postgres_stopped_cached_subscribers_keep_authenticating() {
    let env = TestEnv::start().await;
    let (mut pg, db, _store) = private_database(&env, "proisp_fault", 3).await;
    let radiusd = Radiusd::start(
        &env,
        Options {
            database_url: Some(db),
            ..Options::default()
        },
    );
    // Warm the caches with user 1 and 2; user 3 is never looked up.
    for i in 1..=2 {
        assert_eq!(
            pap(radiusd.auth, &format!("user{i:06}"), &format!("pw{i:06}")).code,
            "Access-Accept"
        );
    }
    pg.stop().await;
    for i in 1..=2 {
        accepts_right_and_rejects_wrong(&radiusd, i);
    }
    // Neither cache knows user 3 and the database is down: no answer, never an Accept.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (packet, _) = pap_packet(1, "user000003", "pw000003", true);
    let reply = exchange(&socket, radiusd.auth, &packet, Duration::from_secs(1));
    assert!(
        reply.is_none_or(|r| Packet::decode(&r).unwrap().code() != Code::AccessAccept),
        "an Accept without a backend"
    );
    assert!(radiusd.metric("radius_dropped_packets_total{reason=\"backend_unavailable\"}") >= 1.0);
    pg.restart().await.unwrap();
    let back = wait_until_blocking(Duration::from_secs(6), || {
        pap(radiusd.auth, "user000003", "pw000003").code == "Access-Accept"
    });
    assert!(
        back,
        "PostgreSQL back, user 3 still not answered:\n{}",
        radiusd.log()
    );
}
