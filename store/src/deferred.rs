//! Changes waiting for a NAS that does not answer CoA (`coa_deferred`, migration 0010):
//! the durable half of the CoA lanes (`proisp_coa::lanes`).
//!
//! One row per session, the newest change winning; claimed with a lease by whichever
//! process sends it, deleted once answered, and deleted unsent when its session has
//! closed.

use std::time::{Duration, SystemTime};

use crate::{Store, StoreError};

/// A change to one session, kept while its NAS does not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredChange {
    /// The NAS it goes to.
    pub nas_id: i64,
    /// The session, as the NAS reported it.
    pub acct_session_id: String,
    /// Its user, as the NAS reported it.
    pub username: String,
    /// The request's octets (`Request::to_octets`).
    pub request: Vec<u8>,
    /// When the change was made: of two for one session, the later one wins.
    pub made_at: SystemTime,
}

/// How much waits for one NAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeferredCount {
    /// The NAS.
    pub nas_id: i64,
    /// Changes waiting for it.
    pub changes: i64,
    /// When the oldest of them was made.
    pub oldest: SystemTime,
}

impl Store {
    /// Keeps `changes`: a change replaces the kept one for its session unless that one is
    /// newer, and is unclaimed afterwards (a claimed change put back is free to take).
    pub async fn defer_changes(&self, changes: &[DeferredChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO coa_deferred AS d \
                     (nas_id, acct_session_id, username, request, made_at) \
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::bytea[], \
                     $5::timestamptz[]) \
                 ON CONFLICT (nas_id, acct_session_id, username) DO UPDATE \
                     SET request = excluded.request, made_at = excluded.made_at, \
                         claimed_until = NULL \
                     WHERE d.made_at <= excluded.made_at",
            )
            .await?;
        // One statement cannot touch a row twice: of two changes for one session in the
        // same call, the later one goes.
        let mut latest: Vec<&DeferredChange> = Vec::with_capacity(changes.len());
        for c in changes {
            match latest.iter_mut().find(|l| same_session(l, c)) {
                Some(l) if l.made_at <= c.made_at => *l = c,
                Some(_) => {}
                None => latest.push(c),
            }
        }
        let nas: Vec<i64> = latest.iter().map(|c| c.nas_id).collect();
        let sid: Vec<&str> = latest.iter().map(|c| c.acct_session_id.as_str()).collect();
        let user: Vec<&str> = latest.iter().map(|c| c.username.as_str()).collect();
        let request: Vec<&[u8]> = latest.iter().map(|c| c.request.as_slice()).collect();
        let made: Vec<SystemTime> = latest.iter().map(|c| c.made_at).collect();
        client
            .execute(&stmt, &[&nas, &sid, &user, &request, &made])
            .await?;
        Ok(())
    }

    /// Takes up to `limit` of the changes waiting for `nas_id`, oldest first, for `lease`:
    /// nobody else takes them until it has run out, or they are put back
    /// ([`Store::defer_changes`]) or settled ([`Store::settle_changes`]). Changes whose
    /// session has closed are deleted first, unsent.
    pub async fn claim_changes(
        &self,
        nas_id: i64,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<DeferredChange>, StoreError> {
        let client = self.pool.get().await?;
        let gone = client
            .prepare_cached(
                "DELETE FROM coa_deferred d WHERE d.nas_id = $1 \
                   AND (d.claimed_until IS NULL OR d.claimed_until < now()) \
                   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.nas_id = d.nas_id \
                       AND s.acct_session_id = d.acct_session_id AND s.username = d.username)",
            )
            .await?;
        let claim = client
            .prepare_cached(
                "UPDATE coa_deferred d SET claimed_until = now() + $3::int8 * interval '1 ms' \
                 FROM (SELECT nas_id, acct_session_id, username FROM coa_deferred \
                       WHERE nas_id = $1 \
                         AND (claimed_until IS NULL OR claimed_until < now()) \
                       ORDER BY made_at LIMIT $2 FOR UPDATE SKIP LOCKED) picked \
                 WHERE (d.nas_id, d.acct_session_id, d.username) \
                     = (picked.nas_id, picked.acct_session_id, picked.username) \
                 RETURNING d.acct_session_id, d.username, d.request, d.made_at",
            )
            .await?;
        let closed = client.execute(&gone, &[&nas_id]).await?;
        if closed > 0 {
            tracing::debug!(
                nas_id,
                changes = closed,
                "changes for closed sessions dropped"
            );
        }
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut changes: Vec<DeferredChange> = client
            .query(&claim, &[&nas_id, &i64::from(limit), &lease])
            .await?
            .iter()
            .map(|row| DeferredChange {
                nas_id,
                acct_session_id: row.get(0),
                username: row.get(1),
                request: row.get(2),
                made_at: row.get(3),
            })
            .collect();
        changes.sort_by_key(|c| c.made_at);
        Ok(changes)
    }

    /// Deletes changes that were sent and answered, each with any older change of its
    /// session (one it replaced in a process's memory), but not a newer one kept
    /// meanwhile.
    pub async fn settle_changes(&self, changes: &[DeferredChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM coa_deferred d \
                 USING unnest($1::int8[], $2::text[], $3::text[], $4::timestamptz[]) \
                     AS s(nas_id, acct_session_id, username, made_at) \
                 WHERE (d.nas_id, d.acct_session_id, d.username) \
                     = (s.nas_id, s.acct_session_id, s.username) \
                   AND d.made_at <= s.made_at",
            )
            .await?;
        let nas: Vec<i64> = changes.iter().map(|c| c.nas_id).collect();
        let sid: Vec<&str> = changes.iter().map(|c| c.acct_session_id.as_str()).collect();
        let user: Vec<&str> = changes.iter().map(|c| c.username.as_str()).collect();
        let made: Vec<SystemTime> = changes.iter().map(|c| c.made_at).collect();
        client.execute(&stmt, &[&nas, &sid, &user, &made]).await?;
        Ok(())
    }

    /// How many changes wait for each NAS that has any, claimed or not.
    pub async fn deferred_counts(&self) -> Result<Vec<DeferredCount>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT nas_id, count(*), min(made_at) FROM coa_deferred \
                 GROUP BY nas_id ORDER BY nas_id",
            )
            .await?;
        Ok(client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|row| DeferredCount {
                nas_id: row.get(0),
                changes: row.get(1),
                oldest: row.get(2),
            })
            .collect())
    }
}

fn same_session(a: &DeferredChange, b: &DeferredChange) -> bool {
    a.nas_id == b.nas_id && a.acct_session_id == b.acct_session_id && a.username == b.username
}
