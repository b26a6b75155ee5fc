//! The relay under faults: NATS killed and restarted during a run of writes, the relay
//! killed -9 twice while publishing, two relays at once with the publisher killed. In
//! each, every event arrives exactly once by id, in order per subscriber.

use proisp_model::Status;
use proisp_store::{NewPlan, NewSubscriber};

use super::*;

/// Toggles `username`'s status through the store's journaled write, its event appended
/// in the write's transaction as adminapi's journals do (the subscriber row's lock orders
/// the events of one subscriber).
async fn toggle(store: &Store, username: &str, status: Status) {
    store
        .set_status_journaled(username, status, async |tx, sub| {
            let event = update_event(&sub.username, sub.version);
            outbox::append(tx, &[event]).await.map(drop)
        })
        .await
        .expect("the write commits whatever NATS does");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_during_writes_loses_and_repeats_nothing() {
    let env = TestEnv::start().await;
    let mut nats = PrivateNats::start().await.expect("nats-server");
    let store = env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("p", 10_000, 10_000))
        .await
        .unwrap();
    let users: Vec<String> = (0..20).map(|i| format!("user{i:04}")).collect();
    for u in &users {
        store
            .create_subscriber(&NewSubscriber::new(u.clone(), "pw-123456", plan.id))
            .await
            .unwrap();
    }
    let (cancel, relay) = relay_in_process(&store, &nats).await;
    let js = js(&nats).await;
    let rounds = 30;
    for round in 0..rounds {
        if round == 10 {
            // Something published already: NATS dies in the middle of the run.
            assert!(wait_until(PATIENCE, async || stream_len(&js).await > 0).await);
            nats.stop().await;
        }
        if round == 20 {
            assert!(
                outbox_depth(&store).await > 0,
                "events waited in the outbox"
            );
            nats.restart().await.expect("nats-server again");
        }
        let status = if round % 2 == 0 {
            Status::Suspended
        } else {
            Status::Active
        };
        for u in &users {
            toggle(&store, u, status).await;
        }
    }
    let events = all_events(&js, &store, users.len() * rounds).await;
    cancel.cancel();
    relay.await.unwrap();
    assert_once_in_order(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_killed_twice_while_publishing_loses_and_repeats_nothing() {
    let env = TestEnv::start().await;
    let nats = PrivateNats::start().await.expect("nats-server");
    let store = env.store().await;
    let ids = append_updates(&store, 40, 600).await;
    let js = js(&nats).await;
    let last = relay_killed_at(&env, &nats, &js, &store, &[3_000, 10_000]).await;
    let events = all_events(&js, &store, ids.len()).await;
    drop(last);
    assert_once_in_order(&events);
    let got: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(
        ids.iter().all(|id| got.contains(id.as_str())),
        "an event was lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_keep_order_and_the_standby_takes_over() {
    let env = TestEnv::start().await;
    let nats = PrivateNats::start().await.expect("nats-server");
    let store = env.store().await;
    let mut a = RelayProcess::start(&env, &nats);
    a.wait_role("leader").await;
    let b = RelayProcess::start(&env, &nats);
    b.wait_role("standby").await;
    let ids = append_updates(&store, 40, 400).await;
    let js = js(&nats).await;
    assert!(wait_until(PATIENCE, async || stream_len(&js).await >= 4_000).await);
    let (_, metrics) = a.get("/metrics").await.expect("metrics");
    for name in [
        "proisp_events_published_total",
        "proisp_events_outbox_depth",
        "proisp_events_outbox_oldest_age_seconds",
        "proisp_events_leader 1",
    ] {
        assert!(metrics.contains(name), "no {name} in {metrics}");
    }
    a.kill();
    assert!(
        outbox_depth(&store).await > 0,
        "the leader had finished before it was killed"
    );
    b.wait_role("leader").await;
    let events = all_events(&js, &store, ids.len()).await;
    assert_once_in_order(&events);
    let (_, metrics) = b.get("/metrics").await.expect("metrics");
    assert!(
        metrics.contains("proisp_events_outbox_depth 0"),
        "{metrics}"
    );
}

/// The private server's JetStream budget is its own, not the disk's free space: a stream
/// reserving 200 GiB is accepted on any machine (CI once refused the default 10 GiB one
/// on a nearly full disk); one past the budget is refused with a hint for the operator.
#[tokio::test]
async fn the_streams_reservation_never_depends_on_the_free_disk() {
    let nats = PrivateNats::start().await.expect("nats-server");
    let js = js(&nats).await;
    let big = StreamConfig {
        max_bytes: 200 << 30,
        ..stream_config()
    };
    proisp_events::stream::ensure(&js, &big)
        .await
        .expect("a 200 GiB reservation fits the private server's budget");
    let info = js
        .get_stream(&big.name)
        .await
        .expect("the stream exists")
        .cached_info()
        .config
        .max_bytes;
    assert_eq!(info, 200 << 30);
    // Past the budget (1 TB): refused, and the relay's warning says what to change.
    let huge = StreamConfig {
        max_bytes: 2 << 40,
        ..stream_config()
    };
    let refused = proisp_events::stream::ensure(&js, &huge)
        .await
        .expect_err("2 TiB past a 1 TB budget");
    let hint = proisp_events::stream::hint(&refused).expect("a hint");
    assert!(hint.contains("max_file_store"), "{hint}");
}
