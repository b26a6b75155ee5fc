//! The lanes with PostgreSQL keeping the changes of an unreachable NAS: they outlive the
//! process that kept them, go out once each when the NAS is back (the newest of a session
//! only), and not at all once their sessions have closed.

use std::sync::Arc;
use std::time::Duration;

use proisp_coa::{Client, ClientConfig, Dispatcher, LaneConfig, Outcome, Target};
use proisp_model::{AcctRecord, AcctStatus};
use proisp_store::{NewNas, Store};
use proisp_testing::{TestEnv, acct_record, wait_until};

use proisp_testing::fake_nas::Answer;

use crate::fake_nas;
use crate::lanes::{change, dispatcher, send_all, target};

/// Records of `status` for `user`'s sessions on `nas_id`, applied as a NAS would send them.
async fn accounting(store: &Store, nas_id: i64, sessions: &[String], status: AcctStatus) {
    let records: Vec<AcctRecord> = sessions
        .iter()
        .map(|s| acct_record(status, nas_id, "user", s))
        .collect();
    store.apply_accounting(&records, 3).await.unwrap();
}

/// A NAS entry, and `n` open sessions `{prefix}{i}` on it.
async fn nas_with_sessions(store: &Store, address: &str, prefix: &str, n: usize) -> i64 {
    let nas = store
        .create_nas(&NewNas::new("bras", address.parse().unwrap(), b"secret"))
        .await
        .unwrap()
        .id;
    let sessions: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    accounting(store, nas, &sessions, AcctStatus::Start).await;
    nas
}

async fn kept(store: &Store) -> i64 {
    store
        .deferred_counts()
        .await
        .unwrap()
        .iter()
        .map(|c| c.changes)
        .sum()
}

/// A dispatcher keeping in `store`, knowing `target` by its id.
fn durable(store: &Store, target: &Target) -> Dispatcher<Client> {
    let target = target.clone();
    dispatcher(8)
        .with_parking(Arc::new(store.clone()))
        .with_targets(Arc::new(move |id| {
            (id == target.nas_id).then(|| target.clone())
        }))
}

#[tokio::test]
async fn kept_changes_outlive_their_process_and_go_out_once_each_newest_only() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let nas_id = nas_with_sessions(&store, "10.20.0.1", "s", 40).await;
    accounting(&store, nas_id, &["x".into()], AcctStatus::Start).await;
    let nas = fake_nas(Answer::Silence);
    let target = target(&nas, nas_id);

    let first = durable(&store, &target);
    let out = send_all(&first, &target, "s", 40, "1M/1M").await;
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Deferred)),
        "{out:?}"
    );
    // Deferred means written: the rows are there when the callers hear it.
    assert_eq!(kept(&store).await, 40);
    let older = first.send(&target, Some("x"), change("x", "2M/2M")).await;
    let newer = first.send(&target, Some("x"), change("x", "8M/8M")).await;
    assert!(matches!(
        (&older, &newer),
        (Outcome::Deferred, Outcome::Deferred)
    ));
    assert_eq!(kept(&store).await, 41);
    assert_eq!(first.health()[0].queued, 0, "nothing waits in memory");
    drop(first);

    // Another process, started later, learns of them and probes the NAS, which answers.
    nas.set_answer(Answer::Ack);
    let second = durable(&store, &target);
    second.waiting(&[nas_id]);
    nas.until(|seen| seen.acked.len() == 41).await;
    assert!(
        wait_until(Duration::from_secs(10), async || kept(&store).await == 0).await,
        "answered changes are forgotten"
    );
    let seen = nas.seen();
    assert!(
        seen.acked.values().all(|rates| rates.len() == 1),
        "{seen:?}"
    );
    assert_eq!(seen.acked["x"], ["8M/8M"]);
}

#[tokio::test]
async fn kept_changes_for_closed_sessions_are_never_sent() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let nas_id = nas_with_sessions(&store, "10.20.0.2", "g", 10).await;
    let nas = fake_nas(Answer::Silence);
    let target = target(&nas, nas_id);
    let lanes = durable(&store, &target);
    let out = send_all(&lanes, &target, "g", 10, "1M/1M").await;
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Deferred)),
        "{out:?}"
    );
    nas.sync().await;
    let timed_out = nas.seen().requests.len();

    // The NAS rebooted: Accounting-On closes its sessions in the accounting transaction.
    accounting(&store, nas_id, &[String::new()], AcctStatus::AccountingOn).await;
    nas.set_answer(Answer::Ack);
    lanes.alive(nas_id);
    assert!(
        wait_until(Duration::from_secs(10), async || kept(&store).await == 0
            && !lanes.health()[0].waiting)
        .await,
        "the changes of closed sessions are dropped"
    );
    nas.sync().await;
    assert_eq!(
        nas.seen().requests.len(),
        timed_out,
        "nothing sent after the reboot"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_thousand_sessions_over_a_fast_a_slow_and_a_silent_nas() {
    const N: usize = 10_000;
    let env = TestEnv::start().await;
    let store = env.store().await;
    let mut ids = Vec::new();
    for (address, prefix) in [("10.30.0.1", "f"), ("10.30.0.2", "w"), ("10.30.0.3", "d")] {
        let nas = store
            .create_nas(&NewNas::new(prefix, address.parse().unwrap(), b"secret"))
            .await
            .unwrap()
            .id;
        let sessions: Vec<String> = (0..N).map(|i| format!("{prefix}{i}")).collect();
        for batch in sessions.chunks(1000) {
            accounting(&store, nas, batch, AcctStatus::Start).await;
        }
        ids.push(nas);
    }
    let fast = fake_nas(Answer::Ack);
    let slow = fake_nas(Answer::Hold);
    let silent = fake_nas(Answer::Silence);
    let to_fast = target(&fast, ids[0]);
    let to_slow = Target {
        window: Some(128),
        ..target(&slow, ids[1])
    };
    let to_silent = target(&silent, ids[2]);
    // Tries of a second, twice: a loaded test machine does not make a NAS that answers
    // at once look dead.
    let client = Client::new(ClientConfig {
        timeout: Duration::from_secs(1),
        retries: 1,
        ..ClientConfig::default()
    });
    let lanes = Dispatcher::new(
        client,
        LaneConfig {
            probe_interval: Duration::from_secs(3600),
            ..LaneConfig::default()
        },
    )
    .with_parking(Arc::new(store.clone()));

    // The slow NAS takes its window of 128 at a time: it answers each time all 128 are
    // outstanding.
    let (dead, quick, late, ()) = tokio::join!(
        send_all(&lanes, &to_silent, "d", N, "3M/3M"),
        send_all(&lanes, &to_fast, "f", N, "3M/3M"),
        send_all(&lanes, &to_slow, "w", N, "3M/3M"),
        slow.pace(128, N),
    );
    let not = |all: &[Outcome], want: fn(&Outcome) -> bool| {
        all.iter()
            .filter(|o| !want(o))
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(not(&quick, Outcome::is_ack), Vec::<String>::new());
    assert_eq!(not(&late, Outcome::is_ack), Vec::<String>::new());
    assert_eq!(
        not(&dead, |o| matches!(o, Outcome::Deferred)),
        Vec::<String>::new()
    );
    assert_eq!(fast.seen().acked.len(), N);
    assert_eq!(slow.seen().most_held, 128);
    let received = silent.seen().requests.len();
    assert!(
        received <= 32 * 2,
        "one window (two tries each), then it waits: {received}"
    );
    assert_eq!(kept(&store).await, N as i64);

    // An Interim-Update from it: every change goes out, once, a window at a time.
    silent.set_answer(Answer::Hold);
    lanes.alive(ids[2]);
    silent.pace(32, N).await;
    assert!(
        wait_until(Duration::from_secs(30), async || kept(&store).await == 0).await,
        "answered changes are forgotten"
    );
    let seen = silent.seen();
    assert!(seen.acked.values().all(|rates| rates == &["3M/3M"]));
    assert_eq!(seen.acked.len(), N);
    assert_eq!(seen.most_held, 32);
}
