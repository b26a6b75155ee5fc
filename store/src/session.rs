//! Accounting: open sessions, session history, usage and the fair-usage state.
//!
//! The rules live in SQL (`proisp_apply_accounting`: `sql/0002_accounting.sql`, and
//! `sql/0006_accounting_event_time.sql` for a session's start) so a batch of any size is
//! one statement and one round trip, and so every radiusd of a pair applies them
//! identically. Every write is idempotent: counters are running totals, the larger value
//! wins and only growth reaches usage, so a retransmission, a spool replay or a retry
//! after a deadlock never counts twice. A Start applied again is recognised by its start
//! time, which comes from the NAS: Event-Timestamp, or the arrival less Acct-Delay-Time.
//!
//! So is a batch given up at its deadline ([`Store::apply_accounting_within`]) whose
//! statement still completes later — PostgreSQL frozen, then thawed — after radiusd
//! spooled the same records and perhaps replayed them already: the copies carry the same
//! arrival times and counters, so whichever lands second finds a Start it knows and no
//! growth to add, whatever was applied in between.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::Object;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;

use super::{Invalidation, Store, StoreError};

/// Acct-Status-Type values the store applies (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcctStatus {
    /// 1: a session began.
    Start,
    /// 2: a session ended.
    Stop,
    /// 3: a session's running totals.
    InterimUpdate,
    /// 7: the NAS started; its earlier sessions are gone.
    AccountingOn,
    /// 8: the NAS is going down; its sessions end.
    AccountingOff,
}

impl AcctStatus {
    /// From the attribute's value; `None` for values the store does not apply (RFC 2866
    /// §5.1 also lists Failed, and tunnel types from RFC 2867).
    pub const fn from_value(value: u32) -> Option<AcctStatus> {
        match value {
            1 => Some(AcctStatus::Start),
            2 => Some(AcctStatus::Stop),
            3 => Some(AcctStatus::InterimUpdate),
            7 => Some(AcctStatus::AccountingOn),
            8 => Some(AcctStatus::AccountingOff),
            _ => None,
        }
    }

    /// The attribute's value.
    pub const fn value(self) -> u32 {
        match self {
            AcctStatus::Start => 1,
            AcctStatus::Stop => 2,
            AcctStatus::InterimUpdate => 3,
            AcctStatus::AccountingOn => 7,
            AcctStatus::AccountingOff => 8,
        }
    }

    /// Whether it concerns the whole NAS rather than one session.
    pub const fn is_nas_wide(self) -> bool {
        matches!(self, AcctStatus::AccountingOn | AcctStatus::AccountingOff)
    }
}

/// One Accounting-Request as the store applies it. Serialisable: radiusd's spool keeps
/// these while PostgreSQL is away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcctRecord {
    /// What happened.
    pub status: AcctStatus,
    /// The NAS (database id).
    pub nas_id: i64,
    /// Acct-Session-Id (empty for Accounting-On/Off).
    pub acct_session_id: String,
    /// User-Name (empty for Accounting-On/Off).
    pub username: String,
    /// Octets the subscriber sent: Acct-Input-Octets and -Gigawords (RFC 2866 §5.3).
    pub upload_octets: u64,
    /// Octets the subscriber received: Acct-Output-Octets and -Gigawords.
    pub download_octets: u64,
    /// Acct-Session-Time.
    pub session_time_secs: u32,
    /// When radiusd received the request, milliseconds since the epoch.
    pub received_at_ms: i64,
    /// Acct-Delay-Time: how long the NAS had been trying to send it.
    pub delay_secs: u32,
    /// Framed-IP-Address.
    pub framed_ip: Option<Ipv4Addr>,
    /// Calling-Station-Id (the subscriber's MAC, for PPPoE and Hotspot).
    pub calling_station_id: Option<String>,
    /// NAS-Port-Id (interface or VLAN).
    pub nas_port_id: Option<String>,
    /// Acct-Terminate-Cause, by its dictionary name (Stop only).
    pub terminate_cause: Option<String>,
}

/// An open session, as kick, FUP and "who is online" need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// The NAS (database id).
    pub nas_id: i64,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Framed-IP-Address, when the NAS reported one.
    pub framed_ip: Option<IpAddr>,
    /// Start, seconds since the epoch.
    pub started_at: i64,
    /// Octets sent by the subscriber so far.
    pub upload_octets: u64,
    /// Octets received by the subscriber so far.
    pub download_octets: u64,
}

/// Usage of one billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Start of the period, seconds since the epoch.
    pub period_start: i64,
    /// Octets sent by the subscriber.
    pub upload_octets: u64,
    /// Octets received by the subscriber.
    pub download_octets: u64,
}

/// How often a batch is retried after a deadlock or a unique-key race with the other
/// radiusd of a pair (both harmless: the batch is idempotent).
const RACE_RETRIES: usize = 3;

fn millis_to_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn octets(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
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

/// Applies a batch on `client`: `proisp_apply_accounting`, retried after a race.
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
    let mut attempt = 0;
    loop {
        let result = client
            .query(
                &stmt,
                &[
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
                ],
            )
            .await;
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
        apply(&client, &columns, stale_after).await
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
        self.within(deadline, async |client| {
            apply(client, &columns, stale_after).await
        })
        .await
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
    async fn within<T>(
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
            tokio::spawn(async move {
                let asked =
                    tokio::time::timeout(CANCEL_WITHIN, cancel.cancel_query(tokio_postgres::NoTls))
                        .await;
                if !matches!(asked, Ok(Ok(()))) {
                    tracing::debug!("could not cancel an abandoned accounting statement");
                }
            });
            drop(Object::take(client));
            Err(late())
        })
    }

    /// The open sessions of `username`.
    pub async fn open_sessions(&self, username: &str) -> Result<Vec<OpenSession>, StoreError> {
        let client = self.pool.get().await?;
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
    pub async fn open_session_count(&self, username: &str) -> Result<u32, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM sessions WHERE username = $1")
            .await?;
        let n: i64 = client.query_one(&stmt, &[&username]).await?.get(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// How many sessions each of `usernames` has open, in one round trip: radiusd counts
    /// them in a batch for subscribers it found in Redis. Names with none are not
    /// returned; a name given twice is returned once.
    pub async fn open_session_counts(
        &self,
        usernames: &[&str],
    ) -> Result<Vec<(String, u32)>, StoreError> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
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

    /// Usage of `username` in the billing period containing now, or `None` for an
    /// unknown subscriber (zero usage is `Some` with zeros).
    pub async fn current_usage(&self, username: &str) -> Result<Option<Usage>, StoreError> {
        let client = self.pool.get().await?;
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
            upload_octets: unsigned(r.get(1)),
            download_octets: unsigned(r.get(2)),
        }))
    }

    /// Closes at most `max_rows` sessions whose NAS stopped reporting them (no update
    /// for `stale_after` interim intervals). Returns how many were closed.
    pub async fn close_stale_sessions(&self, max_rows: u32) -> Result<u32, StoreError> {
        let client = self.pool.get().await?;
        let max_rows = i32::try_from(max_rows).unwrap_or(i32::MAX);
        let n: i32 = client
            .query_one("SELECT proisp_close_stale_sessions($1)", &[&max_rows])
            .await?
            .get(0);
        Ok(u32::try_from(n).unwrap_or(0))
    }

    /// Ends fair usage for every subscriber whose billing period is over, and returns
    /// their names; the caller restores their sessions' full speed. Claimed in one
    /// statement, so when several radiusd run the job each subscriber goes to one.
    pub async fn end_fair_usage(&self) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await?;
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
        for name in &names {
            self.refresh_subscriber(name).await?;
        }
        Ok(names)
    }

    /// Puts the subscriber's current row to the cache and publishes its invalidation:
    /// for changes made inside SQL functions (fair usage) rather than by this module.
    ///
    /// Its future is `Send` (radiusd spawns it), which the closure-based helpers the
    /// admin writes use are not.
    pub async fn refresh_subscriber(&self, username: &str) -> Result<(), StoreError> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        if let Some(sub) = self.subscriber(username).await? {
            if let Err(e) = cache.put_subscriber(&sub).await {
                tracing::warn!(error = %e, user = username, "cache update after commit failed");
            }
            let message = Invalidation::Subscriber(username.to_owned());
            if let Err(e) = cache.publish(&message).await {
                tracing::warn!(error = %e, user = username, "invalidation after commit failed");
            }
        }
        Ok(())
    }

    /// Keeps `months_ahead` monthly history partitions ready from the current month and
    /// drops those wholly older than `retention`. Returns (created, dropped names).
    pub async fn maintain_history(
        &self,
        retention: Duration,
        months_ahead: u32,
    ) -> Result<(u32, Vec<String>), StoreError> {
        let client = self.pool.get().await?;
        let months = i32::try_from(months_ahead.max(1)).unwrap_or(12);
        let created: i32 = client
            .query_one(
                "SELECT proisp_ensure_history_partitions(now(), $1)",
                &[&months],
            )
            .await?
            .get(0);
        let cutoff = SystemTime::now()
            .checked_sub(retention)
            .unwrap_or(UNIX_EPOCH);
        let dropped = client
            .query("SELECT proisp_drop_history_before($1)", &[&cutoff])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok((u32::try_from(created).unwrap_or(0), dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values_round_trip() {
        for s in [
            AcctStatus::Start,
            AcctStatus::Stop,
            AcctStatus::InterimUpdate,
            AcctStatus::AccountingOn,
            AcctStatus::AccountingOff,
        ] {
            assert_eq!(AcctStatus::from_value(s.value()), Some(s));
        }
        assert_eq!(AcctStatus::from_value(15), None);
        assert!(AcctStatus::AccountingOn.is_nas_wide());
        assert!(!AcctStatus::Stop.is_nas_wide());
    }

    #[test]
    fn records_serialise_for_the_spool() {
        let r = AcctRecord {
            status: AcctStatus::InterimUpdate,
            nas_id: 3,
            acct_session_id: "81a0".into(),
            username: "user000001".into(),
            upload_octets: 5 << 32,
            download_octets: 7,
            session_time_secs: 600,
            received_at_ms: 1_800_000_000_000,
            delay_secs: 0,
            framed_ip: Some(Ipv4Addr::new(10, 0, 0, 9)),
            calling_station_id: None,
            nas_port_id: Some("<pppoe-user000001>".into()),
            terminate_cause: None,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"interim-update\""), "{line}");
        assert_eq!(serde_json::from_str::<AcctRecord>(&line).unwrap(), r);
    }
}
