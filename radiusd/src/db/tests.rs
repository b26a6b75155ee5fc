//! Accounting in PostgreSQL (the store's write, this module's reads and sql/0002): sessions, history, usage,
//! idempotency, stale sessions, NAS reboots and quota crossings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proisp_model::RateLimit;
use proisp_model::{AcctRecord, AcctStatus, Usage};
use proisp_store::{NewNas, NewPlan, NewSubscriber, Store, StoreConfig, StoreError};
use proisp_testing::TestEnv;

use crate::db;

mod events;
mod partitions;
mod raced;
mod set_wise;
mod statistics;
mod trigram;

const GIB: u64 = 1 << 30;

struct Fixture {
    env: TestEnv,
    store: Store,
    nas_id: i64,
}

/// A NAS, a plan with a 10 GiB quota, and subscribers u1, u2.
async fn fixture() -> Fixture {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let mut plan = NewPlan::new("fup-10g", 50_000, 10_000);
    plan.quota_bytes = Some(10 * GIB);
    plan.fup_rate = Some(RateLimit {
        download_kbps: 1_000,
        upload_kbps: 512,
        ..RateLimit::default()
    });
    let plan_id = store.create_plan(&plan).await.unwrap().id;
    for name in ["u1", "u2"] {
        store
            .create_subscriber(&NewSubscriber::new(name, "pw", plan_id))
            .await
            .unwrap();
    }
    let nas_id = store
        .create_nas(&NewNas::new(
            "bras",
            "127.0.0.1".parse().unwrap(),
            b"testing123",
        ))
        .await
        .unwrap()
        .id;
    Fixture { env, store, nas_id }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn record(
    f: &Fixture,
    status: AcctStatus,
    user: &str,
    sid: &str,
    up: u64,
    down: u64,
) -> AcctRecord {
    AcctRecord {
        status,
        nas_id: f.nas_id,
        acct_session_id: sid.into(),
        username: user.into(),
        upload_octets: up,
        download_octets: down,
        session_time_secs: if status == AcctStatus::Start { 0 } else { 600 },
        received_at_ms: now_ms(),
        delay_secs: 0,
        framed_ip: Some("100.64.0.7".parse().unwrap()),
        calling_station_id: Some("4C:5E:0C:12:34:56".into()),
        nas_port_id: Some("vlan100".into()),
        terminate_cause: (status == AcctStatus::Stop).then(|| "User-Request".into()),
    }
}

async fn history(f: &Fixture, sid: &str) -> Vec<(i64, i64, String)> {
    f.env
        .sql()
        .await
        .query(
            "SELECT upload_octets, download_octets, closed_by FROM session_history \
             WHERE acct_session_id = $1 ORDER BY stopped_at",
            &[&sid],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn total(u: Option<Usage>) -> (u64, u64) {
    let u = u.unwrap();
    (u.upload_octets, u.download_octets)
}

#[tokio::test]
async fn batched_lookups_find_live_subscribers_with_their_open_sessions() {
    let f = fixture().await;
    let s = &f.store;
    let plan_id = s.subscriber("u1").await.unwrap().unwrap().plan_id;
    let mut unlimited = NewSubscriber::new("u3", "pw", plan_id);
    unlimited.simultaneous_use = 0;
    s.create_subscriber(&unlimited).await.unwrap();
    s.create_subscriber(&NewSubscriber::new("gone", "pw", plan_id))
        .await
        .unwrap();
    s.delete_subscriber("gone").await.unwrap();
    let sessions = [("u1", "a1"), ("u1", "a2"), ("u3", "c1"), ("gone", "g1")];
    let starts: Vec<_> = sessions
        .iter()
        .map(|(user, sid)| record(&f, AcctStatus::Start, user, sid, 0, 0))
        .collect();
    s.apply_accounting(&starts, 3).await.unwrap();

    // u3 has a session but no limit, so its sessions are not counted; deleted and
    // unknown names are left out; u1 asked for twice is returned once.
    let names = ["u1", "nobody", "u2", "gone", "u1", "u3"];
    let mut found: Vec<(String, u32, String)> = s
        .subscribers_with_open_sessions(&names)
        .await
        .unwrap()
        .into_iter()
        .map(|(sub, open)| {
            let password = String::from_utf8(sub.password.as_bytes().to_vec()).unwrap();
            (sub.username, open, password)
        })
        .collect();
    found.sort();
    let want = [("u1", 2, "pw"), ("u2", 0, "pw"), ("u3", 0, "pw")]
        .map(|(u, n, p)| (u.to_owned(), n, p.to_owned()));
    assert_eq!(found, want);
    assert!(
        s.subscribers_with_open_sessions(&["nobody"])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.subscribers_with_open_sessions(&[])
            .await
            .unwrap()
            .is_empty()
    );

    // Counted by name alone, limit or not; names without sessions are left out.
    let mut counts = db::open_session_counts(s, &["u1", "u2", "u3", "u1", "nobody"])
        .await
        .unwrap();
    counts.sort();
    assert_eq!(counts, [("u1".to_owned(), 2), ("u3".to_owned(), 1)]);
    assert!(db::open_session_counts(s, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn start_interim_stop_with_gigawords_counts_exactly_once() {
    let f = fixture().await;
    let s = &f.store;
    let start = record(&f, AcctStatus::Start, "u1", "a1", 0, 0);
    let interim = record(&f, AcctStatus::InterimUpdate, "u1", "a1", GIB, 5 * GIB + 7);
    let stop = record(&f, AcctStatus::Stop, "u1", "a1", 2 * GIB, 6 * GIB + 9);
    s.apply_accounting(std::slice::from_ref(&start), 3)
        .await
        .unwrap();
    assert_eq!(db::open_session_count(s, "u1").await.unwrap(), 1);
    let open = db::open_sessions(s, "u1").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].acct_session_id, "a1");
    assert_eq!(open[0].framed_ip, Some("100.64.0.7".parse().unwrap()));

    // The interim twice in one batch, and again later: counted once.
    s.apply_accounting(&[interim.clone(), interim.clone()], 3)
        .await
        .unwrap();
    s.apply_accounting(&[interim, start], 3).await.unwrap();
    assert_eq!(
        total(current_usage(s, "u1").await.unwrap()),
        (GIB, 5 * GIB + 7)
    );
    assert_eq!(
        db::open_sessions(s, "u1").await.unwrap()[0].download_octets,
        5 * GIB + 7
    );

    s.apply_accounting(std::slice::from_ref(&stop), 3)
        .await
        .unwrap();
    s.apply_accounting(std::slice::from_ref(&stop), 3)
        .await
        .unwrap();
    assert_eq!(db::open_session_count(s, "u1").await.unwrap(), 0);
    assert_eq!(
        history(&f, "a1").await,
        vec![(2 * GIB as i64, (6 * GIB + 9) as i64, "stop".to_owned())]
    );
    assert_eq!(
        total(current_usage(s, "u1").await.unwrap()),
        (2 * GIB, 6 * GIB + 9)
    );
    // A late interim after the Stop neither re-opens the session nor counts again.
    let late = record(&f, AcctStatus::InterimUpdate, "u1", "a1", GIB, 5 * GIB);
    s.apply_accounting(&[late], 3).await.unwrap();
    assert_eq!(db::open_session_count(s, "u1").await.unwrap(), 0);
    assert_eq!(
        total(current_usage(s, "u1").await.unwrap()),
        (2 * GIB, 6 * GIB + 9)
    );
}

#[tokio::test]
async fn usage_sums_sessions_and_the_crossing_is_reported_once() {
    let f = fixture().await;
    let s = &f.store;
    let batch = [
        record(&f, AcctStatus::Start, "u1", "x1", 0, 0),
        record(&f, AcctStatus::Start, "u1", "x2", 0, 0),
        record(&f, AcctStatus::InterimUpdate, "u1", "x1", GIB, 4 * GIB),
        record(&f, AcctStatus::InterimUpdate, "u1", "x2", 0, 4 * GIB),
    ];
    assert!(s.apply_accounting(&batch, 3).await.unwrap().is_empty());
    let crossing = record(&f, AcctStatus::InterimUpdate, "u1", "x2", 0, 5 * GIB);
    assert_eq!(
        s.apply_accounting(&[crossing], 3).await.unwrap(),
        vec!["u1".to_owned()]
    );
    let more = record(&f, AcctStatus::InterimUpdate, "u1", "x1", GIB, 6 * GIB);
    assert!(s.apply_accounting(&[more], 3).await.unwrap().is_empty());
    assert_eq!(
        total(current_usage(s, "u1").await.unwrap()),
        (GIB, 11 * GIB)
    );
    let sub = s.subscriber("u1").await.unwrap().unwrap();
    let until = sub.fup_until.expect("fair usage in force");
    assert!(until > now_ms() / 1000, "until the period ends");
    assert!(
        s.subscriber("u2")
            .await
            .unwrap()
            .unwrap()
            .fup_until
            .is_none()
    );

    // The period ends: fair usage is lifted once, for whoever claims it.
    f.env
        .sql()
        .await
        .execute(
            "UPDATE subscribers SET fup_until = now() - interval '1 second' WHERE username = 'u1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(db::end_fair_usage(s).await.unwrap(), vec!["u1".to_owned()]);
    assert!(db::end_fair_usage(s).await.unwrap().is_empty());
    assert!(
        s.subscriber("u1")
            .await
            .unwrap()
            .unwrap()
            .fup_until
            .is_none()
    );
}

#[tokio::test]
async fn stale_sessions_close_and_reopen_on_a_late_interim() {
    let f = fixture().await;
    let s = &f.store;
    s.apply_accounting(&[record(&f, AcctStatus::Start, "u1", "st", 0, 0)], 3)
        .await
        .unwrap();
    s.apply_accounting(
        &[record(&f, AcctStatus::InterimUpdate, "u1", "st", 10, 20)],
        3,
    )
    .await
    .unwrap();
    let sql = f.env.sql().await;
    sql.execute(
        "UPDATE sessions SET stale_at = now() - interval '1 second'",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(db::close_stale_sessions(s, 100).await.unwrap(), 1);
    assert_eq!(db::open_session_count(s, "u1").await.unwrap(), 0);
    assert_eq!(history(&f, "st").await, vec![(10, 20, "stale".to_owned())]);

    s.apply_accounting(
        &[record(&f, AcctStatus::InterimUpdate, "u1", "st", 15, 30)],
        3,
    )
    .await
    .unwrap();
    assert_eq!(
        db::open_session_count(s, "u1").await.unwrap(),
        1,
        "re-opened"
    );
    assert!(history(&f, "st").await.is_empty());
    assert_eq!(total(current_usage(s, "u1").await.unwrap()), (15, 30));
    s.apply_accounting(&[record(&f, AcctStatus::Stop, "u1", "st", 16, 31)], 3)
        .await
        .unwrap();
    assert_eq!(history(&f, "st").await, vec![(16, 31, "stop".to_owned())]);
    assert_eq!(total(current_usage(s, "u1").await.unwrap()), (16, 31));
}

#[tokio::test]
async fn accounting_on_closes_the_nas_sessions_and_a_reused_id_replaces() {
    let f = fixture().await;
    let s = &f.store;
    s.apply_accounting(
        &[
            record(&f, AcctStatus::Start, "u1", "r1", 0, 0),
            record(&f, AcctStatus::Start, "u2", "r2", 0, 0),
        ],
        3,
    )
    .await
    .unwrap();
    // The reboot, then a new session that arrived after it, in one batch: their arrival
    // times are set apart rather than waited apart.
    let on = AcctRecord {
        acct_session_id: String::new(),
        username: String::new(),
        received_at_ms: now_ms() + 5,
        ..record(&f, AcctStatus::AccountingOn, "", "", 0, 0)
    };
    let after = AcctRecord {
        received_at_ms: now_ms() + 10,
        ..record(&f, AcctStatus::Start, "u2", "r3", 0, 0)
    };
    s.apply_accounting(&[on, after], 3).await.unwrap();
    assert_eq!(db::open_session_count(s, "u1").await.unwrap(), 0);
    let open = db::open_sessions(s, "u2").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].acct_session_id, "r3");
    assert_eq!(history(&f, "r1").await[0].2, "nas-reboot");

    // The NAS reuses r3 for a new session once r3 has had traffic: the old one closes.
    s.apply_accounting(
        &[record(&f, AcctStatus::InterimUpdate, "u2", "r3", 5, 5)],
        3,
    )
    .await
    .unwrap();
    let reused = AcctRecord {
        received_at_ms: now_ms() + 60_000,
        ..record(&f, AcctStatus::Start, "u2", "r3", 0, 0)
    };
    s.apply_accounting(&[reused], 3).await.unwrap();
    assert_eq!(db::open_session_count(s, "u2").await.unwrap(), 1);
    assert_eq!(history(&f, "r3").await, vec![(5, 5, "replaced".to_owned())]);
}

#[tokio::test]
async fn unknown_users_are_recorded_without_usage_and_history_partitions_rotate() {
    let f = fixture().await;
    let s = &f.store;
    s.apply_accounting(&[record(&f, AcctStatus::Stop, "ghost", "g1", 1, 2)], 3)
        .await
        .unwrap();
    assert_eq!(history(&f, "g1").await, vec![(1, 2, "stop".to_owned())]);
    assert!(current_usage(s, "ghost").await.unwrap().is_none());

    let sql = f.env.sql().await;
    sql.batch_execute("SELECT proisp_ensure_history_partitions('2020-01-01', 1)")
        .await
        .unwrap();
    let done = db::maintain_history(
        s,
        Duration::from_secs(90 * 86_400),
        Duration::from_secs(730 * 86_400),
        3,
        Duration::from_millis(50),
    )
    .await
    .unwrap();
    assert_eq!(done.dropped, vec!["session_history_2020_01".to_owned()]);
    let current: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'session_history'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        current >= 4,
        "default + this month + months ahead: {current}"
    );
    // The Stop landed in this month's partition, not the default one.
    let in_default: i64 = sql
        .query_one("SELECT count(*) FROM session_history_default", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_default, 0);
}

#[tokio::test]
async fn a_daily_quota_counts_from_midnight_utc_and_ends_at_the_next() {
    let f = fixture().await;
    let s = &f.store;
    let mut plan = s.plan_by_name("fup-10g").await.unwrap().unwrap();
    plan.quota_period = proisp_model::QuotaPeriod::Day;
    let mut new = NewPlan::new(plan.name.clone(), 50_000, 10_000);
    new.quota_bytes = plan.quota_bytes;
    new.fup_rate = plan.fup_rate.clone();
    new.quota_period = plan.quota_period;
    let updated = s.update_plan(plan.id, &new).await.unwrap();
    assert_eq!(updated.quota_period, proisp_model::QuotaPeriod::Day);

    let day = 86_400;
    let midnight = now_ms() / 1000 / day * day;
    let crossing = [
        record(&f, AcctStatus::Start, "u2", "d1", 0, 0),
        record(&f, AcctStatus::InterimUpdate, "u2", "d1", 0, 11 * GIB),
    ];
    assert_eq!(
        s.apply_accounting(&crossing, 3).await.unwrap(),
        vec!["u2".to_owned()]
    );
    assert_eq!(
        current_usage(s, "u2").await.unwrap().unwrap().period_start,
        midnight
    );
    let sub = s.subscriber("u2").await.unwrap().unwrap();
    assert_eq!(sub.fup_until, Some(midnight + day));
}

/// A long deadline: these batches are not meant to run out of time.
const PATIENT: Duration = Duration::from_secs(60);

/// Applies `records`, each with its Event-Timestamp or none.
async fn apply_stamped(s: &Store, records: &[(AcctRecord, Option<u32>)]) -> Vec<String> {
    s.apply_accounting_within(records.iter().map(|(r, e)| (r, *e)), 3, PATIENT)
        .await
        .unwrap()
}

async fn started_at(f: &Fixture, sid: &str) -> Vec<i64> {
    f.env
        .sql()
        .await
        .query(
            "SELECT extract(epoch FROM started_at)::int8 FROM sessions WHERE acct_session_id = $1 \
             UNION ALL SELECT extract(epoch FROM started_at)::int8 FROM session_history \
             WHERE acct_session_id = $1",
            &[&sid],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_start_arriving_again_later_is_the_same_session_by_event_time_or_delay() {
    let f = fixture().await;
    let s = &f.store;
    let now = now_ms();
    let at = |status, sid: &str, up, down, after_ms: i64| AcctRecord {
        received_at_ms: now + after_ms,
        ..record(&f, status, "u1", sid, up, down)
    };
    let event = (now / 1000) as u32 - 2;

    // With Event-Timestamp: the Start's copy evaluated again 40 s after the first one (a
    // retransmission while PostgreSQL was slow) names the same start.
    apply_stamped(
        s,
        &[
            (at(AcctStatus::Start, "e1", 0, 0, 0), Some(event)),
            (
                at(AcctStatus::InterimUpdate, "e1", GIB, 2 * GIB, 1_000),
                Some(event + 600),
            ),
        ],
    )
    .await;
    apply_stamped(
        s,
        &[(at(AcctStatus::Start, "e1", 0, 0, 40_000), Some(event))],
    )
    .await;
    apply_stamped(
        s,
        &[(
            at(AcctStatus::Stop, "e1", GIB, 2 * GIB, 41_000),
            Some(event + 600),
        )],
    )
    .await;
    assert_eq!(
        history(&f, "e1").await,
        vec![(GIB as i64, 2 * GIB as i64, "stop".to_owned())],
        "one session, closed by its Stop"
    );
    assert_eq!(started_at(&f, "e1").await, vec![i64::from(event)]);
    assert_eq!(total(current_usage(s, "u1").await.unwrap()), (GIB, 2 * GIB));

    // Without it: the copy resent 40 s later says so in Acct-Delay-Time.
    apply_stamped(s, &[(at(AcctStatus::Start, "d1", 0, 0, 0), None)]).await;
    apply_stamped(
        s,
        &[(at(AcctStatus::InterimUpdate, "d1", GIB, GIB, 1_000), None)],
    )
    .await;
    let resent = AcctRecord {
        delay_secs: 40,
        ..at(AcctStatus::Start, "d1", 0, 0, 40_000)
    };
    apply_stamped(s, &[(resent, None)]).await;
    apply_stamped(s, &[(at(AcctStatus::Stop, "d1", GIB, GIB, 41_000), None)]).await;
    assert_eq!(
        history(&f, "d1").await,
        vec![(GIB as i64, GIB as i64, "stop".to_owned())]
    );
    assert_eq!(
        total(current_usage(s, "u1").await.unwrap()),
        (2 * GIB, 3 * GIB)
    );

    // A new Event-Timestamp on the same key is a new session: the NAS reused the id.
    apply_stamped(
        s,
        &[
            (at(AcctStatus::Start, "r1", 0, 0, 0), Some(event)),
            (
                at(AcctStatus::InterimUpdate, "r1", 5, 5, 0),
                Some(event + 600),
            ),
            (
                at(AcctStatus::Start, "r1", 0, 0, 3_600_000),
                Some(event + 3_600),
            ),
        ],
    )
    .await;
    assert_eq!(history(&f, "r1").await, vec![(5, 5, "replaced".to_owned())]);
    let mut starts = started_at(&f, "r1").await;
    starts.sort_unstable();
    assert_eq!(starts, vec![i64::from(event), i64::from(event) + 3_600]);
    // A session whose Start was lost starts at Event-Timestamp less Acct-Session-Time.
    apply_stamped(
        s,
        &[(at(AcctStatus::InterimUpdate, "l1", 0, 0, 0), Some(event))],
    )
    .await;
    assert_eq!(started_at(&f, "l1").await, vec![i64::from(event) - 600]);
}

#[tokio::test]
async fn a_batch_applied_again_after_later_ones_changes_nothing() {
    let f = fixture().await;
    let s = &f.store;
    // A commit given up at its deadline lands after the spool replayed the same batch
    // and the ones behind it.
    let first = [
        record(&f, AcctStatus::Start, "u1", "late", 0, 0),
        record(&f, AcctStatus::InterimUpdate, "u1", "late", GIB, GIB),
    ];
    let later = [
        record(
            &f,
            AcctStatus::InterimUpdate,
            "u1",
            "late",
            2 * GIB,
            2 * GIB,
        ),
        record(&f, AcctStatus::Stop, "u1", "late", 3 * GIB, 3 * GIB),
    ];
    for batch in [&first[..], &later[..], &first[..], &later[..]] {
        s.apply_accounting(batch, 3).await.unwrap();
    }
    assert_eq!(
        history(&f, "late").await,
        vec![(3 * GIB as i64, 3 * GIB as i64, "stop".to_owned())]
    );
    assert_eq!(db::open_session_count(s, "u1").await.unwrap(), 0);
    assert_eq!(
        total(current_usage(s, "u1").await.unwrap()),
        (3 * GIB, 3 * GIB)
    );
}

/// Polls `query` until it returns `want`, for up to ten seconds; returns the last value.
async fn eventually(sql: &tokio_postgres::Client, query: &str, want: i64) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got: i64 = sql.query_one(query, &[]).await.unwrap().get(0);
        if got == want || std::time::Instant::now() > deadline {
            return got;
        }
        // Each look is a round trip to PostgreSQL: the query itself paces the wait.
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_batch_past_its_deadline_fails_as_unavailable_and_is_cancelled_on_the_server() {
    let f = fixture().await;
    // No statement_timeout to cut the waiting statement short.
    let config = StoreConfig {
        statement_timeout: Duration::ZERO,
        ..f.env.store_config()
    };
    let s = &Store::connect(&config, f.env.keys.clone()).await.unwrap();
    let batch = [
        record(&f, AcctStatus::Start, "u2", "slow", 0, 0),
        record(&f, AcctStatus::InterimUpdate, "u2", "slow", GIB, GIB),
    ];
    // Another session holds `subscribers`: the batch waits for it.
    let mut holder = f.env.sql().await;
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE subscribers IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let err = s
        .apply_accounting_within(
            batch.iter().map(|r| (r, None)),
            3,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    // Its statement is cancelled on the server while the lock still holds it, so it
    // cannot land later beside the spool's replay of the same batch (the two would race
    // on the same sessions); the pool answers on another connection meanwhile.
    let sql = f.env.sql().await;
    let waiting = "SELECT count(*) FROM pg_stat_activity \
                   WHERE wait_event_type = 'Lock' AND query LIKE '%proisp_apply_accounting%'";
    assert_eq!(eventually(&sql, waiting, 0).await, 0);
    s.ping_within(Duration::from_secs(5)).await.unwrap();
    lock.commit().await.unwrap();
    let landed = "SELECT count(*) FROM sessions WHERE acct_session_id = 'slow'";
    assert_eq!(eventually(&sql, landed, 0).await, 0);
    // The spool's replay, twice (a replay cut short by a crash runs again): once.
    for _ in 0..2 {
        s.apply_accounting_within(batch.iter().map(|r| (r, None)), 3, PATIENT)
            .await
            .unwrap();
    }
    assert_eq!(total(current_usage(s, "u2").await.unwrap()), (GIB, GIB));
    assert_eq!(db::open_session_count(s, "u2").await.unwrap(), 1);
}

/// Usage of `username` in the billing period containing now, or `None` for an
/// unknown subscriber (zero usage is `Some` with zeros).
async fn current_usage(store: &Store, username: &str) -> Result<Option<Usage>, StoreError> {
    let client = store.client().await?;
    let stmt = client
        .prepare_cached(
            "SELECT extract(epoch FROM proisp_period_start(p.quota_period, now()))::int8, \
             coalesce(u.upload_octets, 0), coalesce(u.download_octets, 0) \
             FROM subscribers s JOIN plans p ON p.id = s.plan_id \
             LEFT JOIN usage u ON u.subscriber_id = s.id \
               AND u.period_start = proisp_period_start(p.quota_period, now()) \
             WHERE s.username = $1 AND s.deleted_at IS NULL",
        )
        .await?;
    Ok(client.query_opt(&stmt, &[&username]).await?.map(|r| Usage {
        period_start: r.get(0),
        upload_octets: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        download_octets: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
    }))
}
