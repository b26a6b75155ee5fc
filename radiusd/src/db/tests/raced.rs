//! The same Start applied by both radiusd of a pair while one of them applies it with its
//! Stop in one transaction (sql/0023): one session, closed once, counted once.

use super::*;

/// Backends of this test's database waiting for a lock.
const WAITING: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE datname = current_database() AND wait_event_type = 'Lock'";

#[tokio::test]
async fn a_start_that_waited_for_its_own_start_and_stop_elsewhere_opens_nothing() {
    let f = fixture().await;
    let sql = f.env.sql().await;
    let start = record(&f, AcctStatus::Start, "u1", "raced", 0, 0);
    let stop = record(&f, AcctStatus::Stop, "u1", "raced", 100, 200);
    // u1's usage row exists and a third session holds it: the first radiusd's batch
    // (the Start and its Stop, one transaction) stops at its usage write, with the
    // session already opened and moved to history, uncommitted.
    f.store
        .apply_accounting(&[record(&f, AcctStatus::Stop, "u1", "earlier", 1, 1)], 3)
        .await
        .unwrap();
    let mut holder = f.env.sql().await;
    let usage = holder.transaction().await.unwrap();
    usage
        .batch_execute(
            "SELECT * FROM usage WHERE subscriber_id = \
             (SELECT id FROM subscribers WHERE username = 'u1') FOR UPDATE",
        )
        .await
        .unwrap();
    let first = {
        let s = f.store.clone();
        let batch = [start.clone(), stop];
        tokio::spawn(async move { s.apply_accounting(&batch, 3).await })
    };
    assert_eq!(
        eventually(&sql, WAITING, 1).await,
        1,
        "the first batch waits for usage"
    );
    // The second radiusd's copy of the Start looked before the first committed: it
    // waits on the session's key.
    let second = {
        let s = f.store.clone();
        tokio::spawn(async move { s.apply_accounting(&[start], 3).await })
    };
    assert_eq!(
        eventually(&sql, WAITING, 2).await,
        2,
        "the second waits for the key"
    );
    usage.commit().await.unwrap();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();

    assert_eq!(db::open_session_count(&f.store, "u1").await.unwrap(), 0);
    assert_eq!(history(&f, "raced").await, [(100, 200, "stop".to_owned())]);
    let starts: i64 = sql
        .query_one(
            "SELECT count(*) FROM event_outbox \
             WHERE subject = 'proisp.v1.session.start' AND acct_session_id = 'raced'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(starts, 1, "one session.start");
    assert_eq!(
        total(current_usage(&f.store, "u1").await.unwrap()),
        (101, 201)
    );
}
