//! `[accounting] acknowledge = "journal"`: answered after the journal's fsync, applied to
//! PostgreSQL behind the answers, no further behind than `journal_max_lag` while
//! PostgreSQL answers, and nothing lost or counted twice through an outage or kill -9.

use std::net::UdpSocket;
use std::time::Duration;

use proisp_testing::{TestEnv, wait_until, wait_until_blocking};

use crate::accounting::{
    acct_packet, acknowledged, commit_waits_for_a_lock, kill_9_during_a_burst,
    postgres_down_then_back,
};
use crate::harness::{Options, Radiusd, eventually, exchange, one_i64, seed};

/// radiusd acknowledging from its journal, with no deadline on a commit (a locked table
/// keeps PostgreSQL "reachable" however long it is held) and `max_lag`.
fn journaled(env: &TestEnv, max_lag: &'static str) -> Radiusd {
    Radiusd::start(
        env,
        Options {
            env: vec![
                ("PROISP_ACCOUNTING__ACKNOWLEDGE", "journal"),
                ("PROISP_ACCOUNTING__JOURNAL_MAX_LAG", max_lag),
                ("PROISP_ACCOUNTING__COMMIT_TIMEOUT", "60s"),
                ("PROISP_DATABASE__STATEMENT_TIMEOUT", "0s"),
            ],
            ..Options::default()
        },
    )
}

/// A session of its own holding `sessions` locked against writes until it rolls back:
/// radiusd's commits wait, PostgreSQL still answers.
async fn lock_sessions(env: &TestEnv) -> tokio_postgres::Client {
    let holder = env.sql().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE sessions IN EXCLUSIVE MODE")
        .await
        .unwrap();
    holder
}

fn spooled(radiusd: &Radiusd) -> f64 {
    (0..4)
        .map(|w| radiusd.metric(&format!("radius_acct_spooled_records{{writer=\"{w}\"}}")))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn journaled_records_are_answered_before_postgresql_commits_and_applied_once() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 3).await;
    let radiusd = journaled(&env, "30s");
    let sql = env.sql().await;
    let holder = lock_sessions(&env).await;
    let nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut id = 0u8;
    let mut send = |status: u32, user: &str, session: &str, down: u64| {
        id = id.wrapping_add(1);
        let packet = acct_packet(id, status, user, session, down);
        acknowledged(exchange(
            &nas,
            radiusd.acct,
            &packet,
            Duration::from_secs(5),
        ))
    };
    for i in 1..=3 {
        let (user, session) = (format!("user{i:06}"), format!("j-{i}"));
        assert!(send(1, &user, &session, 0), "Start\n{}", radiusd.log());
        assert!(
            send(3, &user, &session, 5 << 32),
            "Interim\n{}",
            radiusd.log()
        );
        assert!(send(2, &user, &session, 5 << 32), "Stop\n{}", radiusd.log());
    }
    // Every answer went out while PostgreSQL could not have committed any of them.
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE '%proisp_apply_accounting%'";
    assert!(
        wait_until(Duration::from_secs(10), async || one_i64(&sql, waiting)
            .await
            >= 1)
        .await,
        "no commit waits for the lock"
    );
    assert_eq!(
        radiusd.metric("radius_acct_requests_total{status=\"stop\",durability=\"journaled\"}"),
        3.0
    );
    assert_eq!(spooled(&radiusd), 9.0, "nine records in the journals");
    holder.batch_execute("ROLLBACK").await.unwrap();
    let closed = eventually(
        &sql,
        "SELECT count(*) FROM session_history WHERE closed_by = 'stop'",
        3,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(closed, 3, "applied once unlocked:\n{}", radiusd.log());
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 0);
    assert!(
        wait_until_blocking(Duration::from_secs(10), || spooled(&radiusd) == 0.0),
        "the journals emptied"
    );
    // The NAS resends a Stop whose answer it lost: answered, counted once.
    assert!(send(2, "user000001", "j-1", 5 << 32));
    assert_eq!(
        eventually(
            &sql,
            "SELECT coalesce(sum(download_octets), 0)::int8 FROM usage",
            3 * (5 << 32),
            Duration::from_secs(10),
        )
        .await,
        3 * (5 << 32),
        "usage counted once"
    );
    assert!(wait_until_blocking(Duration::from_secs(10), || spooled(
        &radiusd
    ) == 0.0));
    assert_eq!(
        one_i64(&sql, "SELECT count(*) FROM session_history").await,
        3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_journals_max_lag_answers_wait_for_postgresql() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    // No lag allowed: an answer waits whenever an earlier record of its writer is not
    // applied yet.
    let radiusd = journaled(&env, "0s");
    let sql = env.sql().await;
    let holder = lock_sessions(&env).await;
    let nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let first = acct_packet(1, 1, "user000001", "lag-1", 0);
    assert!(
        acknowledged(exchange(&nas, radiusd.acct, &first, Duration::from_secs(5))),
        "the journal was empty: answered at once\n{}",
        radiusd.log()
    );
    commit_waits_for_a_lock(&sql).await;
    // The same user (the same writer): held back while the first waits for PostgreSQL.
    let second = acct_packet(2, 1, "user000001", "lag-2", 0);
    assert!(
        exchange(&nas, radiusd.acct, &second, Duration::from_millis(1500)).is_none(),
        "answered while the journal is behind"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    nas.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = nas.recv_from(&mut buf).expect("answered once applied");
    assert!(acknowledged(Some(buf[..n].to_vec())));
    assert_eq!(
        eventually(
            &sql,
            "SELECT count(*) FROM sessions",
            2,
            Duration::from_secs(10)
        )
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn while_postgres_is_down_the_journal_grows_and_is_applied_once_back() {
    postgres_down_then_back("journal", "journaled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_burst_loses_no_journaled_record() {
    kill_9_during_a_burst("journal").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn records_answered_but_not_applied_survive_kill_9() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 4).await;
    let mut radiusd = journaled(&env, "30s");
    let spool_dir = radiusd.spool_dir.clone();
    let sql = env.sql().await;
    let holder = lock_sessions(&env).await;
    let nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 1..=20u8 {
        let user = format!("user{:06}", 1 + i % 4);
        let packet = acct_packet(i, 1, &user, &format!("k9-{i}"), 0);
        assert!(
            acknowledged(exchange(
                &nas,
                radiusd.acct,
                &packet,
                Duration::from_secs(5)
            )),
            "{}",
            radiusd.log()
        );
    }
    // Answered, none committed: killed with all twenty in the journals only.
    radiusd.kill9();
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 0);
    let radiusd = Radiusd::start(
        &env,
        Options {
            spool_dir: Some(spool_dir),
            env: vec![("PROISP_ACCOUNTING__ACKNOWLEDGE", "journal")],
            ..Options::default()
        },
    );
    let stored = eventually(
        &sql,
        "SELECT count(*) FROM sessions WHERE acct_session_id LIKE 'k9-%'",
        20,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(stored, 20, "replayed after the restart:\n{}", radiusd.log());
}
