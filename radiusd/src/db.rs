//! radiusd's own SQL: open sessions and their counts, a billing period's usage, stale
//! sessions, the end of fair usage and history partitions. The accounting write itself is
//! the store's (`Store::apply_accounting_within`); the rules live in SQL
//! (`sql/0002_accounting.sql`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proisp_model::OpenSession;
use proisp_store::{Store, StoreError};

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
/// The open sessions of `username`.
pub(crate) async fn open_sessions(
    store: &Store,
    username: &str,
) -> Result<Vec<OpenSession>, StoreError> {
    let client = store.client().await?;
    let stmt = client
        .prepare_cached(
            "SELECT nas_id, acct_session_id, username, framed_ip, \
             extract(epoch FROM started_at)::int8, upload_octets, download_octets \
             FROM sessions WHERE username = $1 ORDER BY started_at",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&username])
        .await?
        .iter()
        .map(|r| OpenSession {
            nas_id: r.get(0),
            acct_session_id: r.get(1),
            username: r.get(2),
            framed_ip: r.get(3),
            started_at: r.get(4),
            upload_octets: unsigned(r.get(5)),
            download_octets: unsigned(r.get(6)),
        })
        .collect())
}

/// How many sessions `username` has open (the simultaneous-use check).
pub(crate) async fn open_session_count(store: &Store, username: &str) -> Result<u32, StoreError> {
    let client = store.client().await?;
    let stmt = client
        .prepare_cached("SELECT count(*) FROM sessions WHERE username = $1")
        .await?;
    let n: i64 = client.query_one(&stmt, &[&username]).await?.get(0);
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// How many sessions each of `usernames` has open, in one round trip: radiusd counts
/// them in a batch for subscribers it found in Redis. Names with none are not
/// returned; a name given twice is returned once.
pub(crate) async fn open_session_counts(
    store: &Store,
    usernames: &[&str],
) -> Result<Vec<(String, u32)>, StoreError> {
    if usernames.is_empty() {
        return Ok(Vec::new());
    }
    let client = store.client().await?;
    let stmt = client
        .prepare_cached(
            "SELECT username, count(*) FROM sessions WHERE username = ANY($1) \
             GROUP BY username",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&usernames])
        .await?
        .iter()
        .map(|row| {
            let open: i64 = row.get(1);
            (row.get(0), u32::try_from(open).unwrap_or(u32::MAX))
        })
        .collect())
}

/// Closes at most `max_rows` sessions whose NAS stopped reporting them (no update
/// for `stale_after` interim intervals). Returns how many were closed.
pub(crate) async fn close_stale_sessions(store: &Store, max_rows: u32) -> Result<u32, StoreError> {
    let client = store.client().await?;
    let max_rows = i32::try_from(max_rows).unwrap_or(i32::MAX);
    let n: i32 = client
        .query_one("SELECT proisp_close_stale_sessions($1)", &[&max_rows])
        .await?
        .get(0);
    if n > 0 {
        store.wake_outbox();
    }
    Ok(u32::try_from(n).unwrap_or(0))
}

/// Ends fair usage for every subscriber whose billing period is over, and returns
/// their names; the caller refreshes their cached entries and restores their sessions'
/// full speed ([`crate::fup::enforce_all`]). Claimed in one statement, so when several
/// radiusd run the job each subscriber goes to one.
pub(crate) async fn end_fair_usage(store: &Store) -> Result<Vec<String>, StoreError> {
    let client = store.client().await?;
    let names: Vec<String> = client
        .query(
            "UPDATE subscribers SET fup_until = NULL, version = nextval('entry_version'), \
             updated_at = now() WHERE fup_until <= now() RETURNING username",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(names)
}

/// How far a table's row count may drift from what the planner was last told before
/// [`refresh_statistics`] tells it again: this many rows plus this fraction of the count.
const STALE_ROWS: f64 = 1_000.0;
const STALE_FRACTION: f64 = 0.2;

/// ANALYZEs the accounting tables (`sessions`, `usage` and every partition of
/// `session_history`) whose live row count moved more than `STALE_ROWS` plus
/// `STALE_FRACTION` of the count the planner last saw; returns their names.
///
/// Autovacuum does the same, but at most once a minute per database and with a smaller
/// fraction of a large table's changes: a history partition that grew from nothing in
/// half a minute was still planned as empty, and a NAS's reboot storm of Starts then
/// read the whole partition for each batch (bench/RESULTS.md, "the slow storm is stale
/// statistics"). ANALYZE samples rows and takes no lock that blocks writers;
/// `SKIP_LOCKED` leaves a table another radiusd is analyzing to that one.
pub(crate) async fn refresh_statistics(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut client = store.client().await?;
    let stale: Vec<String> = client
        .query(
            "SELECT c.oid::regclass::text FROM pg_class c \
             JOIN pg_stat_user_tables s ON s.relid = c.oid \
             WHERE c.relkind = 'r' \
               AND (c.oid IN ('sessions'::regclass, 'usage'::regclass) \
                    OR c.oid IN (SELECT inhrelid FROM pg_inherits \
                                 WHERE inhparent = 'session_history'::regclass)) \
               AND abs(s.n_live_tup - greatest(c.reltuples, 0)::float8) \
                   > $1 + $2 * greatest(c.reltuples, 0)::float8",
            &[&STALE_ROWS, &STALE_FRACTION],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in &stale {
        // A sample of a large partition read from disk may take longer than the pool's
        // statement_timeout, which is meant for accounting's statements.
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL statement_timeout = '60s'")
            .await?;
        tx.batch_execute(&format!("ANALYZE (SKIP_LOCKED) {table}"))
            .await?;
        tx.commit().await?;
    }
    Ok(stale)
}

/// What one round of retention did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Retention {
    /// History partitions created ahead; `None`: a reader held the table, for the next
    /// round.
    pub(crate) created: Option<u32>,
    /// History partitions dropped, by name.
    pub(crate) dropped: Vec<String>,
    /// Partitions due to be dropped that a reader held: for the next round.
    pub(crate) postponed: Vec<String>,
    /// Usage rows of periods past their retention deleted.
    pub(crate) usage_rows: u64,
}

impl Retention {
    /// Something due was left for the next round.
    pub(crate) fn postponed(&self) -> bool {
        self.created.is_none() || !self.postponed.is_empty()
    }
}

/// Usage rows deleted per statement; the trim goes on while it finds this many. Small
/// commits: with 5,000 a batch the acks' p99.9 under a trim rose to 220 ms, with 1,000 it
/// stayed at 63 ms (bench/RESULTS.md, "A year of history").
const USAGE_BATCH: i32 = 1_000;

/// After each batch of the usage trim, a pause this many times the batch's length: the
/// trim uses at most a quarter of one PostgreSQL connection's time.
const USAGE_PAUSE: u32 = 3;

/// Keeps `months_ahead` monthly history partitions ready from the current month, drops
/// those wholly older than `history` and deletes usage of periods older than `usage`.
///
/// Creating or dropping a partition locks session_history against every writer, so each
/// waits for its locks at most `lock_wait` and is otherwise postponed
/// (`sql/0011_retention_without_stalls.sql`): an accounting write never queues behind a
/// report for longer than that.
pub(crate) async fn maintain_history(
    store: &Store,
    history: Duration,
    usage: Duration,
    months_ahead: u32,
    lock_wait: Duration,
) -> Result<Retention, StoreError> {
    let client = store.client().await?;
    let months = i32::try_from(months_ahead.max(1)).unwrap_or(12);
    let wait = format!("{} milliseconds", lock_wait.as_millis());
    let mut done = Retention::default();
    let created: Option<i32> = client
        .query_one(
            "SELECT proisp_ensure_history_partitions(now(), $1, $2::text::interval)",
            &[&months, &wait],
        )
        .await?
        .get(0);
    done.created = created.map(|n| u32::try_from(n).unwrap_or(0));
    let cutoff = |keep: Duration| SystemTime::now().checked_sub(keep).unwrap_or(UNIX_EPOCH);
    let due: Vec<String> = client
        .query(
            "SELECT proisp_history_partitions_before($1)",
            &[&cutoff(history)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for part in due {
        let dropped: bool = client
            .query_one(
                "SELECT proisp_drop_history_partition($1, $2::text::interval)",
                &[&part, &wait],
            )
            .await?
            .get(0);
        if dropped {
            done.dropped.push(part);
        } else {
            done.postponed.push(part);
        }
    }
    drop(client);
    // Usage is walked in its key's order, each batch going on from the last one's last
    // row (sql/0021): no batch reads again what an earlier one deleted. Nothing waits for
    // it, so each batch is followed by a pause of USAGE_PAUSE times its length, and the
    // trim takes at most a fraction of PostgreSQL from accounting (a month of a million
    // subscribers is a million rows).
    let usage_cutoff = cutoff(usage);
    let mut after: (i64, SystemTime) = (0, UNIX_EPOCH);
    loop {
        let began = Instant::now();
        let row = store
            .client()
            .await?
            .query_one(
                "SELECT picked, last_subscriber, last_period \
                 FROM proisp_trim_usage($1, $2, $3, $4)",
                &[&usage_cutoff, &USAGE_BATCH, &after.0, &after.1],
            )
            .await?;
        let picked: i32 = row.get(0);
        done.usage_rows += u64::try_from(picked).unwrap_or(0);
        match (row.get(1), row.get(2)) {
            (Some(subscriber), Some(period)) if picked == USAGE_BATCH => {
                after = (subscriber, period);
            }
            _ => return Ok(done),
        }
        tokio::time::sleep(began.elapsed() * USAGE_PAUSE).await;
    }
}

#[cfg(test)]
mod tests;
