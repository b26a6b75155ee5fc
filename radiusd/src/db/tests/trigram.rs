//! The batch lookup by name (`subscribers_with_open_sessions`) never reads the username's
//! trigram index (sql/0025), even where the planner would take it for `= ANY`: seen on a
//! young table right after a bulk import (GIN statistics stale, pending list long), and
//! made certain here by leaving the trigram index the only one on the column.

use proisp_store::{ImportMode, ImportRow};

use super::*;

/// Index scans of `index` so far, this connection's counts flushed first.
async fn scans(sql: &tokio_postgres::Client, index: &str) -> i64 {
    sql.execute("SELECT pg_stat_force_next_flush()", &[])
        .await
        .unwrap();
    sql.query_one(
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1",
        &[&index],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn a_batch_lookup_by_name_never_reads_the_trigram_index() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let sql = env.sql().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 10_000, 5_000))
        .await
        .unwrap()
        .id;
    let rows: Vec<ImportRow> = (1..=2_000)
        .map(|i| ImportRow {
            row: i + 1,
            subscriber: NewSubscriber::new(format!("u{i}"), "pw", plan),
        })
        .collect();
    store
        .import_subscribers(rows, ImportMode::ValidRows)
        .await
        .unwrap();
    sql.batch_execute("DROP INDEX subscribers_username_key; ANALYZE subscribers")
        .await
        .unwrap();
    let names = ["u20", "u400", "u1999"];
    const TRIGRAM: &str = "subscribers_username_trgm";

    // A plain `= ANY` now reads the trigram index…
    let before = scans(&sql, TRIGRAM).await;
    let plain = sql
        .query(
            "SELECT id FROM subscribers WHERE username = ANY($1::text[]) AND deleted_at IS NULL",
            &[&&names[..]],
        )
        .await
        .unwrap();
    assert_eq!(plain.len(), 3);
    assert!(scans(&sql, TRIGRAM).await > before);

    // …the lookup radiusd makes does not.
    let before = scans(&sql, TRIGRAM).await;
    let found = sql
        .query(
            "SELECT username FROM proisp_live_subscribers($1::text[])",
            &[&&names[..]],
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    let mut got: Vec<String> = store
        .subscribers_with_open_sessions(&names)
        .await
        .unwrap()
        .into_iter()
        .map(|(s, _)| s.username)
        .collect();
    got.sort();
    assert_eq!(got, ["u1999", "u20", "u400"]);
    assert_eq!(scans(&sql, TRIGRAM).await, before);
}
