//! History at scale: retention (sql/0011) drops partitions and trims usage without
//! accounting ever queueing behind a reader of the history; a Start reads only recent
//! partitions (sql/0012).

use super::*;

const YEAR: Duration = Duration::from_secs(365 * 86_400);
const QUARTER: Duration = Duration::from_secs(90 * 86_400);
/// How long retention waits for its locks in these tests.
const LOCK_WAIT: Duration = Duration::from_millis(50);
/// Far longer than LOCK_WAIT, far shorter than the reader holds history: a batch past it
/// waited for the reader.
const ACK_DEADLINE: Duration = Duration::from_secs(2);

async fn partition_exists(sql: &tokio_postgres::Client, name: &str) -> bool {
    sql.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_partition_drop_waits_for_a_reader_without_stalling_accounting() {
    let f = fixture().await;
    // Retention's own store has no statement_timeout: a drop that waited for its lock
    // would wait as long as the reader holds it.
    let config = StoreConfig {
        statement_timeout: Duration::ZERO,
        ..f.env.store_config()
    };
    let retention_store = Store::connect(&config, f.env.keys.clone()).await.unwrap();
    let sql = f.env.sql().await;
    sql.batch_execute(
        "SELECT proisp_ensure_history_partitions('2020-01-01', 1); \
         INSERT INTO session_history (nas_id, acct_session_id, username, started_at, \
           stopped_at, interim_interval_secs, upload_octets, download_octets, \
           session_time_secs, closed_by) \
         VALUES (1, 'old', 'u1', '2020-01-15', '2020-01-15 01:00', 300, 1, 1, 3600, 'stop')",
    )
    .await
    .unwrap();

    // A report reads history and keeps its transaction open.
    let mut reader = f.env.sql().await;
    let report = reader.transaction().await.unwrap();
    let seen: i64 = report
        .query_one("SELECT count(*) FROM session_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 1);

    // Retention rounds try the drop again and again while accounting runs.
    let rounds = tokio::spawn(async move {
        let mut postponed = Vec::new();
        for _ in 0..10 {
            let done = db::maintain_history(&retention_store, QUARTER, YEAR, 3, LOCK_WAIT)
                .await
                .unwrap();
            postponed.push(done.postponed);
        }
        postponed
    });
    let mut sessions = 0u64;
    while !rounds.is_finished() || sessions < 20 {
        let sid = format!("k{sessions}");
        let batch = [
            record(&f, AcctStatus::Start, "u1", &sid, 0, 0),
            record(&f, AcctStatus::Stop, "u1", &sid, 10, 100),
        ];
        f.store
            .apply_accounting_within(batch.iter().map(|r| (r, None)), 3, ACK_DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("batch {sessions} waited for the drop: {e}"));
        sessions += 1;
    }
    let postponed = rounds.await.unwrap();
    assert!(
        postponed
            .iter()
            .all(|p| p == &["session_history_2020_01".to_owned()]),
        "{postponed:?}"
    );
    assert!(partition_exists(&sql, "session_history_2020_01").await);

    // The report ends: the next round drops the partition.
    report.commit().await.unwrap();
    let done = db::maintain_history(&f.store, QUARTER, YEAR, 3, LOCK_WAIT)
        .await
        .unwrap();
    assert_eq!(done.dropped, vec!["session_history_2020_01".to_owned()]);
    assert!(!done.postponed());
    assert!(!partition_exists(&sql, "session_history_2020_01").await);

    // Nothing acknowledged was lost: every session in history, its bytes in usage once.
    let closed: i64 = sql
        .query_one(
            "SELECT count(*) FROM session_history WHERE acct_session_id LIKE 'k%' \
             AND closed_by = 'stop'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(u64::try_from(closed).unwrap(), sessions);
    assert_eq!(
        total(current_usage(&f.store, "u1").await.unwrap()),
        (10 * sessions, 100 * sessions)
    );
}

/// `user`'s usage of the current period (from a Stop), then the old rows `old` inserts:
/// one round of retention deletes `expected` rows and keeps the current period's alone.
async fn only_the_current_period_stays(user: &str, old: &str, expected: u64) {
    let f = fixture().await;
    let s = &f.store;
    s.apply_accounting(&[record(&f, AcctStatus::Stop, user, "now", 5, 7)], 3)
        .await
        .unwrap();
    let sql = f.env.sql().await;
    sql.batch_execute(old).await.unwrap();
    let done = db::maintain_history(s, QUARTER, YEAR, 3, LOCK_WAIT)
        .await
        .unwrap();
    assert_eq!(done.usage_rows, expected);
    assert_eq!(total(current_usage(s, user).await.unwrap()), (5, 7));
    let left: i64 = sql
        .query_one("SELECT count(*) FROM usage", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
}

#[tokio::test]
async fn usage_past_its_retention_is_deleted_and_the_current_period_kept() {
    only_the_current_period_stays(
        "u2",
        "INSERT INTO usage (subscriber_id, period_start, upload_octets, download_octets) \
         SELECT id, '2020-01-01', 1, 1 FROM subscribers WHERE username = 'u2'",
        1,
    )
    .await;
}

#[tokio::test]
async fn usage_retention_goes_on_past_a_batch_and_keeps_the_current_periods() {
    // More old rows than one batch deletes: a day's period each, from 2000 on.
    only_the_current_period_stays(
        "u1",
        "INSERT INTO usage (subscriber_id, period_start, upload_octets, download_octets) \
         SELECT s.id, timestamptz '2000-01-01' + make_interval(days => d), 1, 1 \
         FROM subscribers s, generate_series(0, 5999) d WHERE s.username IN ('u1', 'u2')",
        12_000,
    )
    .await;
}

#[tokio::test]
async fn each_batch_of_usage_retention_reads_on_from_where_the_last_stopped() {
    let f = fixture().await;
    let mut sql = f.env.sql().await;
    sql.batch_execute(
        "INSERT INTO usage (subscriber_id, period_start, upload_octets, download_octets) \
         SELECT s.id, timestamptz '2000-01-01' + make_interval(months => m), 1, 1 \
         FROM subscribers s, generate_series(0, 99) m WHERE s.username IN ('u1', 'u2')",
    )
    .await
    .unwrap();
    // In one transaction the rows each batch deletes stay in the index, as they do for
    // everyone while a report's snapshot is open: a batch that started over from the
    // first old row would read them all again. The index is what a large table uses.
    let tx = sql.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL enable_seqscan = off")
        .await
        .unwrap();
    let mut after: (i64, SystemTime) = (0, UNIX_EPOCH);
    let mut batches = 0;
    loop {
        let row = tx
            .query_one(
                "SELECT picked, last_subscriber, last_period \
                 FROM proisp_trim_usage(now(), 10, $1, $2)",
                &[&after.0, &after.1],
            )
            .await
            .unwrap();
        let picked: i32 = row.get(0);
        if picked < 10 {
            assert_eq!(picked, 0);
            break;
        }
        batches += 1;
        after = (row.get(1), row.get(2));
    }
    assert_eq!(batches, 20);
    let read: i64 = tx
        .query_one(
            "SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::int8 FROM pg_index \
             WHERE indrelid = 'usage'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Each of the 200 entries once, and the end found once; starting over each batch
    // reads 10 + 20 + … + 200 = 2,100.
    assert!(read <= 2 * 200, "{read} index entries read for 200 rows");
    let left: i64 = tx
        .query_one("SELECT count(*) FROM usage", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

/// Scans of `partition` by this connection (counted in its transaction, and in earlier
/// ones not yet flushed to the statistics: compare two readings).
async fn scans(tx: &tokio_postgres::Transaction<'_>, partition: &str) -> i64 {
    tx.query_one(
        "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)::int8 \
         FROM pg_stat_xact_user_tables WHERE relname = $1",
        &[&partition],
    )
    .await
    .unwrap()
    .get(0)
}

/// How many times `status` (one request of session 'fresh', not open) scanned the old
/// and the current partition.
async fn partition_scans(f: &Fixture, status: i16, current: &str) -> (i64, i64) {
    let mut sql = f.env.sql().await;
    let tx = sql.transaction().await.unwrap();
    let old = "session_history_2020_01";
    let (old_before, current_before) = (scans(&tx, old).await, scans(&tx, current).await);
    tx.batch_execute(&format!(
        "SELECT * FROM proisp_apply_accounting(ARRAY[{status}]::int2[], ARRAY[{}]::int8[], \
         ARRAY['fresh'], ARRAY['u1'], ARRAY[0]::int8[], ARRAY[0]::int8[], ARRAY[0]::int8[], \
         ARRAY[now()], ARRAY[0], ARRAY[NULL]::timestamptz[], ARRAY[NULL]::inet[], \
         ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::text[], 3)",
        f.nas_id
    ))
    .await
    .unwrap();
    let seen = (
        scans(&tx, old).await - old_before,
        scans(&tx, current).await - current_before,
    );
    tx.rollback().await.unwrap();
    seen
}

#[tokio::test]
async fn a_start_reads_recent_history_only_and_a_late_update_all_of_it() {
    let f = fixture().await;
    let sql = f.env.sql().await;
    sql.batch_execute("SELECT proisp_ensure_history_partitions('2020-01-01', 1)")
        .await
        .unwrap();
    let current: String = sql
        .query_one(
            "SELECT 'session_history_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let (old, recent) = partition_scans(&f, 1, &current).await;
    assert_eq!(old, 0, "a Start searched a partition of 2020");
    assert!(recent > 0, "{current} was searched");

    // An Interim-Update of a session that is not open may be late for one closed long
    // ago: it searches every partition.
    let (old, _) = partition_scans(&f, 3, &current).await;
    assert!(old > 0);
}
