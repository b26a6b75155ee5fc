//! The change feed (`cache_changes`, sql/0005): every committed change to what radiusd
//! caches, in PostgreSQL, written by triggers in the change's own transaction.
//!
//! Redis pub/sub is the fast path and may lose a message; the feed cannot. radiusd reads
//! it from the last sequence number it has seen ([`Store::feed_after`]), so whatever
//! happened while Redis hung, or while radiusd could not reach PostgreSQL, arrives once
//! the feed answers again. Sequence numbers are handed out before their transactions
//! commit, so a reader may see a later number first: it asks for the ones it skipped
//! again (`gaps`) until they arrive or are old enough to have been rolled back.

use std::time::Duration;

use tokio_postgres::Row;

use super::{Store, StoreError};

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A subscriber, by username: a cached entry older than `version` is stale.
    Subscriber {
        /// The name (the old one too, after a rename).
        username: String,
        /// The version a cached entry needs to be current.
        version: i64,
    },
    /// Any plan: reload the plans.
    Plans,
    /// Any NAS: reload the NAS table.
    Nas,
    /// Too many subscribers for one row each: every entry older than `version` is stale.
    All {
        /// The largest version the change wrote.
        version: i64,
    },
}

/// One row of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// Its place in the feed.
    pub seq: i64,
    /// Seconds since it was written, as PostgreSQL's clock says.
    pub age: Duration,
    /// What changed.
    pub change: Change,
}

fn entry(row: &Row) -> FeedEntry {
    let kind: &str = row.get(1);
    let name: Option<String> = row.get(2);
    let version: Option<i64> = row.get(3);
    let change = match (kind, name) {
        ("sub", Some(username)) => Change::Subscriber {
            username,
            version: version.unwrap_or(i64::MAX),
        },
        ("plan", _) => Change::Plans,
        ("nas", _) => Change::Nas,
        // An unknown kind (a newer writer) is treated as the widest change.
        _ => Change::All {
            version: version.unwrap_or(i64::MAX),
        },
    };
    let age: f64 = row.get(4);
    FeedEntry {
        seq: row.get(0),
        age: Duration::try_from_secs_f64(age.max(0.0)).unwrap_or(Duration::ZERO),
        change,
    }
}

const COLUMNS: &str = "seq, kind, name, version, extract(epoch FROM now() - at)::float8";

impl Store {
    /// The last sequence number written so far (0 on an empty feed): where a reader that
    /// has nothing cached yet starts.
    pub async fn feed_head(&self) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT coalesce(max(seq), 0) FROM cache_changes", &[])
            .await?;
        Ok(row.get(0))
    }

    /// Entries after `seq`, and those of `gaps` that have appeared since, oldest first,
    /// at most `limit`.
    pub async fn feed_after(
        &self,
        seq: i64,
        gaps: &[i64],
        limit: i64,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM cache_changes WHERE seq > $1 OR seq = ANY($2) \
                 ORDER BY seq LIMIT $3"
            ))
            .await?;
        let rows = client.query(&stmt, &[&seq, &gaps, &limit]).await?;
        Ok(rows.iter().map(entry).collect())
    }

    /// Entries written in the last `window`, oldest first, at most `limit`: what a reader
    /// starting afresh must still hold against Redis entries written before them.
    pub async fn feed_recent(
        &self,
        window: Duration,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM cache_changes \
                 WHERE at > now() - make_interval(secs => $1) ORDER BY seq LIMIT $2"
            ))
            .await?;
        let rows = client
            .query(&stmt, &[&window.as_secs_f64(), &limit])
            .await?;
        Ok(rows.iter().map(entry).collect())
    }

    /// Deletes entries older than `keep`; returns how many.
    pub async fn trim_feed(&self, keep: Duration) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM cache_changes WHERE at < now() - make_interval(secs => $1)",
            )
            .await?;
        Ok(client.execute(&stmt, &[&keep.as_secs_f64()]).await?)
    }
}
