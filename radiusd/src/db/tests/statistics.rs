//! The planner's idea of the accounting tables' sizes follows their row counts
//! (`db::refresh_statistics`): a history partition that grew from nothing is not planned
//! as empty.

use super::*;

/// Closes `n` sessions into history with one statement, and has this connection's
/// counts reach the statistics at once.
async fn close_into_history(sql: &tokio_postgres::Client, first: i32, n: i32) {
    sql.execute(
        "INSERT INTO session_history (nas_id, acct_session_id, username, started_at, \
           stopped_at, interim_interval_secs, upload_octets, download_octets, \
           session_time_secs, closed_by) \
         SELECT 1, 'h' || i, 'u1', now() - interval '1 hour', now(), 300, 1, 1, 3600, 'stop' \
         FROM generate_series($1::int, $1::int + $2::int - 1) i",
        &[&first, &n],
    )
    .await
    .unwrap();
    sql.execute("SELECT pg_stat_force_next_flush()", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_history_partition_that_grew_is_analyzed_and_then_left_alone() {
    let f = fixture().await;
    let sql = f.env.sql().await;
    sql.batch_execute("ANALYZE").await.unwrap();
    assert_eq!(
        db::refresh_statistics(&f.store).await.unwrap(),
        Vec::<String>::new()
    );

    close_into_history(&sql, 0, 3_000).await;
    let part: String = sql
        .query_one(
            "SELECT tableoid::regclass::text FROM session_history LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let live =
        format!("SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = '{part}'::regclass");
    assert_eq!(eventually(&sql, &live, 3_000).await, 3_000);
    let planned = format!("SELECT reltuples::int8 FROM pg_class WHERE oid = '{part}'::regclass");
    let before: i64 = sql.query_one(&planned, &[]).await.unwrap().get(0);
    assert!(
        before <= 0,
        "{part} was planned with {before} rows before it grew"
    );

    assert_eq!(
        db::refresh_statistics(&f.store).await.unwrap(),
        vec![part.clone()]
    );
    let after: i64 = sql.query_one(&planned, &[]).await.unwrap().get(0);
    assert_eq!(after, 3_000);

    // A few rows more is within the margin: no second ANALYZE for them.
    close_into_history(&sql, 3_000, 100).await;
    assert_eq!(eventually(&sql, &live, 3_100).await, 3_100);
    assert_eq!(
        db::refresh_statistics(&f.store).await.unwrap(),
        Vec::<String>::new()
    );
    let unchanged: i64 = sql.query_one(&planned, &[]).await.unwrap().get(0);
    assert_eq!(unchanged, 3_000);
}
