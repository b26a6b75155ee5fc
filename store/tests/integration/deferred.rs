//! Changes waiting for an unreachable NAS (`coa_deferred`): newest wins, claims hold
//! others off for their lease, settling spares a newer change, closed sessions go unsent.

use std::time::{Duration, UNIX_EPOCH};

use proisp_model::AcctStatus;
use proisp_store::{DeferredChange, NewNas, Store};
use proisp_testing::{TestEnv, acct_record};

fn change(nas_id: i64, session: &str, request: &[u8], made_s: u64) -> DeferredChange {
    DeferredChange {
        nas_id,
        acct_session_id: session.to_owned(),
        username: format!("user-{session}"),
        request: [request, &[0; 20]].concat(),
        made_at: UNIX_EPOCH + Duration::from_secs(made_s),
    }
}

async fn open_session(store: &Store, nas_id: i64, session: &str, status: AcctStatus) {
    let record = acct_record(status, nas_id, &format!("user-{session}"), session);
    store.apply_accounting(&[record], 3).await.unwrap();
}

#[tokio::test]
async fn the_newest_change_waits_claims_are_leased_and_closed_sessions_go_unsent() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let nas = store
        .create_nas(&NewNas::new("bras", "10.9.0.1".parse().unwrap(), b"secret"))
        .await
        .unwrap()
        .id;
    for s in ["a", "b", "c"] {
        open_session(&store, nas, s, AcctStatus::Start).await;
    }

    // Newest wins, whatever order the writes come in; in one call too.
    store
        .defer_changes(&[change(nas, "a", b"new", 20), change(nas, "a", b"mid", 15)])
        .await
        .unwrap();
    store
        .defer_changes(&[change(nas, "a", b"old", 10), change(nas, "b", b"b1", 11)])
        .await
        .unwrap();
    store
        .defer_changes(&[change(nas, "c", b"c1", 12)])
        .await
        .unwrap();
    let counts = store.deferred_counts().await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].nas_id, counts[0].changes), (nas, 3));

    // c's session closes: its change is dropped, not handed out.
    open_session(&store, nas, "c", AcctStatus::Stop).await;
    let first = store
        .claim_changes(nas, 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(first, vec![change(nas, "b", b"b1", 11)], "oldest first");
    let rest = store
        .claim_changes(nas, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        rest,
        vec![change(nas, "a", b"new", 20)],
        "the claimed one is held off"
    );
    assert!(
        store
            .claim_changes(nas, 10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );

    // A newer change for a's session while the older is out: settling the older keeps it,
    // and it is free to claim at once.
    store
        .defer_changes(&[change(nas, "a", b"newer", 30)])
        .await
        .unwrap();
    store.settle_changes(&rest).await.unwrap();
    store.settle_changes(&first).await.unwrap();
    let again = store
        .claim_changes(nas, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again, vec![change(nas, "a", b"newer", 30)]);

    // A claim whose lease ran out is taken again: its holder died.
    store
        .defer_changes(&[change(nas, "b", b"b2", 40)])
        .await
        .unwrap();
    let lapsed = store.claim_changes(nas, 10, Duration::ZERO).await.unwrap();
    assert_eq!(lapsed, vec![change(nas, "b", b"b2", 40)]);
    let retaken = store
        .claim_changes(nas, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(retaken, lapsed);
    store.settle_changes(&again).await.unwrap();
    store.settle_changes(&retaken).await.unwrap();
    assert!(store.deferred_counts().await.unwrap().is_empty());
}
