//! The accounting write: a batch of records applied in one statement, within a deadline.
//!
//! The rules live in SQL (`proisp_apply_accounting`: `sql/0002_accounting.sql`,
//! `sql/0006_accounting_event_time.sql` for a session's start, and
//! `sql/0014_accounting_set_wise.sql`, which applies the common requests of a batch —
//! updates and Stops of open sessions, Starts of new ones — in one statement together
//! and the rest one by one) so a batch of any size is one call and one round trip, and
//! so every radiusd of a pair applies them identically. Every write is idempotent: counters are running totals, the larger value
//! wins and only growth reaches usage, so a retransmission, a spool replay or a retry
//! after a deadlock never counts twice. A Start applied again is recognised by its start
//! time, which comes from the NAS: Event-Timestamp, or the arrival less Acct-Delay-Time.
//!
//! So is a batch given up at its deadline ([`Store::apply_accounting_within`]) whose
//! statement still completes later — PostgreSQL frozen, then thawed — after radiusd
//! spooled the same records and perhaps replayed them already: the copies carry the same
//! arrival times and counters, so whichever lands second finds a Start it knows and no
//! growth to add, whatever was applied in between.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::Object;
use proisp_model::AcctRecord;
use tokio_postgres::error::SqlState;

use super::{Store, StoreError};

/// How often a batch is retried after a deadlock or a unique-key race with the other
/// radiusd of a pair (both harmless: the batch is idempotent).
const RACE_RETRIES: usize = 3;

fn millis_to_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn octets(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The batch as parallel arrays, the shape `proisp_apply_accounting` takes; text is
/// borrowed from the records.
#[derive(Default)]
struct Columns<'a> {
    status: Vec<i16>,
    nas: Vec<i64>,
    sid: Vec<&'a str>,
    username: Vec<&'a str>,
    up: Vec<i64>,
    down: Vec<i64>,
    time: Vec<i64>,
    received: Vec<SystemTime>,
    delay: Vec<i32>,
    event: Vec<Option<SystemTime>>,
    framed_ip: Vec<Option<IpAddr>>,
    calling: Vec<Option<&'a str>>,
    port: Vec<Option<&'a str>>,
    cause: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    /// The columns of records with their Event-Timestamps, if any.
    fn of(records: impl Iterator<Item = (&'a AcctRecord, Option<u32>)>) -> Columns<'a> {
        let mut c = Columns::default();
        for (r, event) in records {
            c.status.push(r.status.value() as i16);
            c.nas.push(r.nas_id);
            c.sid.push(&r.acct_session_id);
            c.username.push(&r.username);
            c.up.push(octets(r.upload_octets));
            c.down.push(octets(r.download_octets));
            c.time.push(i64::from(r.session_time_secs));
            c.received.push(millis_to_time(r.received_at_ms));
            c.delay
                .push(i32::try_from(r.delay_secs).unwrap_or(i32::MAX));
            c.event
                .push(event.map(|t| UNIX_EPOCH + Duration::from_secs(u64::from(t))));
            c.framed_ip.push(r.framed_ip.map(IpAddr::V4));
            c.calling.push(r.calling_station_id.as_deref());
            c.port.push(r.nas_port_id.as_deref());
            c.cause.push(r.terminate_cause.as_deref());
        }
        c
    }
}

/// Applies a batch on `client`: `proisp_apply_accounting`, retried after a race. A batch
/// holding an Accounting-On/Off also writes its `nas.accounting_on` events, in the same
/// transaction.
async fn apply(
    client: &Object,
    c: &Columns<'_>,
    stale_after: u32,
) -> Result<Vec<String>, StoreError> {
    let stale_after = i32::try_from(stale_after.max(1)).unwrap_or(i32::MAX);
    let stmt = client
        .prepare_cached(
            "SELECT crossed_username FROM proisp_apply_accounting($1::int2[], $2::int8[], \
             $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[], \
             $8::timestamptz[], $9::int4[], $10::timestamptz[], $11::inet[], $12::text[], \
             $13::text[], $14::text[], $15::int4)",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 15] = [
        &c.status,
        &c.nas,
        &c.sid,
        &c.username,
        &c.up,
        &c.down,
        &c.time,
        &c.received,
        &c.delay,
        &c.event,
        &c.framed_ip,
        &c.calling,
        &c.port,
        &c.cause,
        &stale_after,
    ];
    let reboot = c.status.iter().any(|s| matches!(s, 7 | 8));
    let mut attempt = 0;
    loop {
        let result = if reboot {
            with_nas_events(client, &stmt, &params, c).await
        } else {
            client.query(&stmt, &params).await
        };
        match result {
            Ok(rows) => return Ok(rows.iter().map(|r| r.get(0)).collect()),
            Err(e) if attempt < RACE_RETRIES && is_race(&e) => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "accounting batch raced another writer; retrying");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The batch and its NAS events in one transaction.
async fn with_nas_events(
    client: &Object,
    stmt: &tokio_postgres::Statement,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    c: &Columns<'_>,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let work = async {
        let rows = client.query(stmt, params).await?;
        let events = client
            .prepare_cached(
                "SELECT proisp_nas_accounting_events($1::int8[], $2::int2[], $3::timestamptz[])",
            )
            .await?;
        client
            .execute(&events, &[&c.nas, &c.status, &c.received])
            .await?;
        client.batch_execute("COMMIT").await?;
        Ok(rows)
    };
    let result = work.await;
    if result.is_err() && !client.is_closed() {
        // The transaction is aborted (or never began its work): end it so the connection
        // goes back to the pool clean. A failure here leaves it broken, and the pool's
        // recycling check drops it.
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}

fn is_race(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

/// How long the cancel request for an abandoned statement may take (a frozen server
/// answers it when it wakes).
const CANCEL_WITHIN: Duration = Duration::from_secs(60);

impl Store {
    /// Applies a batch of accounting records, in order, in one transaction. Returns the
    /// user names whose usage crossed their plan's quota in this batch (their
    /// `fup_until` is now set; this caller alone sees them, so only one radiusd acts on
    /// a crossing).
    ///
    /// `stale_after` is how many interim intervals without an update close a session.
    pub async fn apply_accounting(
        &self,
        records: &[AcctRecord],
        stale_after: u32,
    ) -> Result<Vec<String>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let columns = Columns::of(records.iter().map(|r| (r, None)));
        let crossed = apply(&client, &columns, stale_after).await?;
        self.wake_outbox();
        Ok(crossed)
    }

    /// [`Store::apply_accounting`] for records each with its Event-Timestamp (RFC 2869
    /// §5.3) when the NAS sent one, all within `deadline`, waiting for a connection
    /// included.
    ///
    /// Event-Timestamp is when the event happened by the NAS's clock, seconds since the
    /// epoch. Every copy of a request carries the same one however late it arrives, so the
    /// session start taken from it (less Acct-Session-Time) tells a repeated Start from a
    /// new session; without it the start is the arrival less Acct-Delay-Time and
    /// Acct-Session-Time.
    ///
    /// Past the deadline the batch fails as [`StoreError::Unavailable`] and its
    /// connection is closed rather than returned to the pool: the statement's fate is
    /// unknown (a frozen server may complete it when it thaws, which is harmless: see the
    /// module docs).
    pub async fn apply_accounting_within<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a AcctRecord, Option<u32>)>,
        stale_after: u32,
        deadline: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let columns = Columns::of(records.into_iter());
        if columns.status.is_empty() {
            return Ok(Vec::new());
        }
        let crossed = self
            .within(deadline, async |client| {
                apply(client, &columns, stale_after).await
            })
            .await?;
        self.wake_outbox();
        Ok(crossed)
    }

    /// A round trip to PostgreSQL within `deadline`, on the terms of
    /// [`Store::apply_accounting_within`]: whether accounting can be committed again.
    pub async fn ping_within(&self, deadline: Duration) -> Result<(), StoreError> {
        self.within(deadline, async |client| {
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }

    /// Runs `work` on a pooled connection within `deadline`. A connection whose work is
    /// given up may still have a statement running, or queued in a server that stopped
    /// reading: it is taken out of the pool and closed once the server answers.
    pub async fn within<T>(
        &self,
        deadline: Duration,
        work: impl AsyncFnOnce(&Object) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let started = tokio::time::Instant::now();
        let late = || StoreError::Unavailable(format!("no answer within {deadline:?}"));
        let client = tokio::time::timeout(deadline, self.pool.get())
            .await
            .map_err(|_| late())??;
        let left = deadline.saturating_sub(started.elapsed());
        let result = tokio::time::timeout(left, work(&client)).await;
        result.unwrap_or_else(|_| {
            // The statement must not land later, beside the spooled copy of its batch
            // being replayed: the two would race on the same sessions, and one would see
            // the other's rows only after deciding a session was new (a session counted
            // twice). Ask the server to cancel it (a lock wait ends at once; a frozen
            // server acts on it when it wakes), then drop the connection.
            let cancel = client.cancel_token();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let asked = tokio::time::timeout(CANCEL_WITHIN, cancel.cancel_query(tls)).await;
                if !matches!(asked, Ok(Ok(()))) {
                    tracing::debug!("could not cancel an abandoned accounting statement");
                }
            });
            drop(Object::take(client));
            Err(late())
        })
    }
}
