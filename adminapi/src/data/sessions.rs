//! What the admin API reads about sessions and usage: the online list, history per
//! subscriber, usage per period, and the dashboard's aggregates.
//!
//! Every query here is bounded by an index: open sessions by `sessions_key` (leading
//! `nas_id`) or `sessions_username_idx`, history by `session_history_subscriber_idx`
//! in the monthly partitions up to the page's cursor, usage by its primary key, the dashboard by the counters
//! `sql/0004_subscriber_counts.sql` keeps and by `usage_period_total_idx`. None scans history.

use std::net::IpAddr;
use std::time::SystemTime;

use tokio_postgres::Row;

use deadpool_postgres::Pool;
use proisp_store::StoreError;

/// An open session with everything the online list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// Row id (what kick takes).
    pub id: i64,
    /// The NAS (database id).
    pub nas_id: i64,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// The subscriber, when the name was known at Start.
    pub subscriber_id: Option<i64>,
    /// Start (radiusd's clock minus Acct-Session-Time and Acct-Delay-Time).
    pub started_at: SystemTime,
    /// Last accounting packet.
    pub updated_at: SystemTime,
    /// Framed-IP-Address.
    pub framed_ip: Option<IpAddr>,
    /// Calling-Station-Id (MAC).
    pub calling_station_id: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Octets the subscriber sent.
    pub upload_octets: i64,
    /// Octets the subscriber received.
    pub download_octets: i64,
    /// Acct-Session-Time.
    pub session_time_secs: i64,
}

const LIVE_COLUMNS: &str = "id, nas_id, acct_session_id, username, subscriber_id, started_at, \
    updated_at, framed_ip, calling_station_id, nas_port_id, upload_octets, download_octets, \
    session_time_secs";

fn live(r: &Row) -> LiveSession {
    LiveSession {
        id: r.get(0),
        nas_id: r.get(1),
        acct_session_id: r.get(2),
        username: r.get(3),
        subscriber_id: r.get(4),
        started_at: r.get(5),
        updated_at: r.get(6),
        framed_ip: r.get(7),
        calling_station_id: r.get(8),
        nas_port_id: r.get(9),
        upload_octets: r.get(10),
        download_octets: r.get(11),
        session_time_secs: r.get(12),
    }
}

/// Filters of the online list; `None` is "any".
#[derive(Debug, Clone, Default)]
pub struct LiveFilter {
    /// Only this NAS.
    pub nas_id: Option<i64>,
    /// Only this User-Name.
    pub username: Option<String>,
    /// Only sessions with an id above this (the previous page's last id).
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A closed session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastSession {
    /// The NAS (database id; the NAS may since have been deleted).
    pub nas_id: i64,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Start.
    pub started_at: SystemTime,
    /// End.
    pub stopped_at: SystemTime,
    /// Framed-IP-Address.
    pub framed_ip: Option<IpAddr>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Octets the subscriber sent.
    pub upload_octets: i64,
    /// Octets the subscriber received.
    pub download_octets: i64,
    /// Acct-Session-Time.
    pub session_time_secs: i64,
    /// Acct-Terminate-Cause, as the dictionary names it.
    pub terminate_cause: Option<String>,
    /// `stop`, `stale`, `nas-reboot` or `replaced`.
    pub closed_by: String,
}

/// Where a page of history starts: the last row of the previous page (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    /// Its end.
    pub stopped_at: SystemTime,
    /// Its NAS.
    pub nas_id: i64,
    /// Its Acct-Session-Id.
    pub acct_session_id: String,
}

/// Usage of one billing period, with the plan's period kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodUsage {
    /// Start of the period.
    pub period_start: SystemTime,
    /// Octets received by the subscriber.
    pub download_octets: i64,
    /// Octets sent by the subscriber.
    pub upload_octets: i64,
    /// Last growth.
    pub updated_at: SystemTime,
}

/// A subscriber as the usage view needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageOwner {
    /// User name.
    pub username: String,
    /// `day`, `week` or `month`: the plan's billing period.
    pub quota_period: String,
    /// Start of the current period.
    pub current_period_start: SystemTime,
    /// The plan's quota, octets per period.
    pub quota_bytes: Option<i64>,
    /// Fair usage in force until then.
    pub fup_until: Option<SystemTime>,
}

/// One of the dashboard's top users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUser {
    /// Subscriber id.
    pub subscriber_id: i64,
    /// User name.
    pub username: String,
    /// Octets received.
    pub download_octets: i64,
    /// Octets sent.
    pub upload_octets: i64,
}

/// The dashboard's figures, read in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardCounts {
    /// Live (not deleted) subscribers by status: `active`, `suspended`, `disabled`.
    pub by_status: Vec<(String, i64)>,
    /// Rows in `sessions`.
    pub online_sessions: i64,
    /// Sessions opened in the last hour that are still open (`sessions.started_at`).
    pub sessions_started_last_hour: i64,
    /// Start of the calendar month (UTC) the top users are of.
    pub month_start: SystemTime,
    /// Top users of the month by download + upload, largest first.
    pub top_users: Vec<TopUser>,
}

/// How many sessions are open on NAS `nas_id`.
pub async fn nas_open_sessions(pool: &Pool, nas_id: i64) -> Result<i64, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT count(*) FROM sessions WHERE nas_id = $1")
        .await?;
    Ok(client.query_one(&stmt, &[&nas_id]).await?.get(0))
}

/// A page of open sessions by id.
pub async fn live_sessions(pool: &Pool, f: &LiveFilter) -> Result<Vec<LiveSession>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {LIVE_COLUMNS} FROM sessions \
             WHERE ($1::int8 IS NULL OR nas_id = $1) \
               AND ($2::text IS NULL OR username = $2) \
               AND ($3::int8 IS NULL OR id > $3) \
             ORDER BY id LIMIT $4"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&f.nas_id, &f.username, &f.after_id, &f.limit])
        .await?
        .iter()
        .map(live)
        .collect())
}

/// Open session `id`.
pub async fn live_session(pool: &Pool, id: i64) -> Result<Option<LiveSession>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {LIVE_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .await?;
    Ok(client.query_opt(&stmt, &[&id]).await?.as_ref().map(live))
}

/// The user name of live subscriber `id`; `None` when there is no such row or the
/// subscriber is deleted (the API answers 404 for it, as for every subscriber route).
pub async fn subscriber_username(pool: &Pool, id: i64) -> Result<Option<String>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT username FROM subscribers WHERE id = $1 AND deleted_at IS NULL")
        .await?;
    Ok(client.query_opt(&stmt, &[&id]).await?.map(|r| r.get(0)))
}

/// A page of subscriber `id`'s closed sessions, newest first, after `cursor`.
///
/// Keyset on the partition key: a next page names `stopped_at <= cursor` as a bound of
/// its own, so PostgreSQL skips the partitions after the cursor and starts each index
/// scan at it — a page costs the same at any depth. (A cursor given as `$2 IS NULL OR
/// (…) < (…)` was a filter in the cached generic plan: every page read all partitions
/// from the newest row down to the cursor.)
pub async fn session_history(
    pool: &Pool,
    subscriber_id: i64,
    cursor: Option<&HistoryCursor>,
    limit: i64,
) -> Result<Vec<PastSession>, StoreError> {
    const COLUMNS: &str = "nas_id, acct_session_id, username, started_at, stopped_at, \
        framed_ip, calling_station_id, nas_port_id, upload_octets, download_octets, \
        session_time_secs, terminate_cause, closed_by";
    const ORDER: &str = "ORDER BY stopped_at DESC, nas_id DESC, acct_session_id DESC";
    let client = pool.get().await?;
    let rows = match cursor {
        None => {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM session_history WHERE subscriber_id = $1 \
                     {ORDER} LIMIT $2"
                ))
                .await?;
            client.query(&stmt, &[&subscriber_id, &limit]).await?
        }
        Some(c) => {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM session_history WHERE subscriber_id = $1 \
                       AND stopped_at <= $2 \
                       AND (stopped_at, nas_id, acct_session_id) < ($2, $3, $4) \
                     {ORDER} LIMIT $5"
                ))
                .await?;
            client
                .query(
                    &stmt,
                    &[
                        &subscriber_id,
                        &c.stopped_at,
                        &c.nas_id,
                        &c.acct_session_id,
                        &limit,
                    ],
                )
                .await?
        }
    };
    Ok(rows
        .iter()
        .map(|r| PastSession {
            nas_id: r.get(0),
            acct_session_id: r.get(1),
            username: r.get(2),
            started_at: r.get(3),
            stopped_at: r.get(4),
            framed_ip: r.get(5),
            calling_station_id: r.get(6),
            nas_port_id: r.get(7),
            upload_octets: r.get(8),
            download_octets: r.get(9),
            session_time_secs: r.get(10),
            terminate_cause: r.get(11),
            closed_by: r.get(12),
        })
        .collect())
}

/// Live subscriber `id`'s plan period and quota state; `None` when there is no such
/// row or the subscriber is deleted.
pub async fn usage_owner(pool: &Pool, id: i64) -> Result<Option<UsageOwner>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT s.username, p.quota_period, proisp_period_start(p.quota_period, now()), \
             p.quota_bytes, s.fup_until \
             FROM subscribers s JOIN plans p ON p.id = s.plan_id \
             WHERE s.id = $1 AND s.deleted_at IS NULL",
        )
        .await?;
    Ok(client.query_opt(&stmt, &[&id]).await?.map(|r| UsageOwner {
        username: r.get(0),
        quota_period: r.get(1),
        current_period_start: r.get(2),
        quota_bytes: r.get(3),
        fup_until: r.get(4),
    }))
}

/// Subscriber `id`'s usage, newest period first, periods before `before` only.
pub async fn usage_periods(
    pool: &Pool,
    subscriber_id: i64,
    before: Option<SystemTime>,
    limit: i64,
) -> Result<Vec<PeriodUsage>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT period_start, download_octets, upload_octets, updated_at FROM usage \
             WHERE subscriber_id = $1 AND ($2::timestamptz IS NULL OR period_start < $2) \
             ORDER BY period_start DESC LIMIT $3",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&subscriber_id, &before, &limit])
        .await?
        .iter()
        .map(|r| PeriodUsage {
            period_start: r.get(0),
            download_octets: r.get(1),
            upload_octets: r.get(2),
            updated_at: r.get(3),
        })
        .collect())
}

/// What the live event stream watches, read every second by each adminapi process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCounts {
    /// Live (not deleted) subscribers by status.
    pub by_status: Vec<(String, i64)>,
    /// Rows in `sessions`.
    pub online_sessions: i64,
    /// The newest open session's id (0 when none): with the count it tells a start, a
    /// stop, or both at once, from no change.
    pub newest_session_id: i64,
}

/// A read-only, repeatable-read transaction: several reads of one snapshot.
async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// Subscribers per status, kept by triggers (sql/0004_subscriber_counts.sql): no count
/// over a million rows.
async fn subscribers_by_status(
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(tx
        .query(
            "SELECT status, sum(n)::int8 FROM subscriber_counts GROUP BY status \
             ORDER BY status",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// [`LiveCounts`] in one repeatable-read snapshot: two small reads, no count over the
/// subscribers (`subscriber_counts`) and one over `sessions`, which holds only who is
/// online.
pub async fn live_counts(pool: &Pool) -> Result<LiveCounts, StoreError> {
    let mut client = pool.get().await?;
    let tx = snapshot(&mut client).await?;
    let by_status = subscribers_by_status(&tx).await?;
    let online = tx
        .query_one("SELECT count(*), coalesce(max(id), 0) FROM sessions", &[])
        .await?;
    tx.commit().await?;
    Ok(LiveCounts {
        by_status,
        online_sessions: online.get(0),
        newest_session_id: online.get(1),
    })
}

/// The dashboard's figures, in one repeatable-read snapshot.
pub async fn dashboard_counts(pool: &Pool, top: i64) -> Result<DashboardCounts, StoreError> {
    let mut client = pool.get().await?;
    let tx = snapshot(&mut client).await?;
    let by_status = subscribers_by_status(&tx).await?;
    let online = tx
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE started_at > now() - interval '1 hour') \
             FROM sessions",
            &[],
        )
        .await?;
    let month_start: SystemTime = tx
        .query_one("SELECT proisp_period_start('month', now())", &[])
        .await?
        .get(0);
    let top_users = tx
        .query(
            "SELECT u.subscriber_id, s.username, u.download_octets, u.upload_octets \
             FROM (SELECT subscriber_id, download_octets, upload_octets FROM usage \
                   WHERE period_start = $1 \
                   ORDER BY download_octets + upload_octets DESC LIMIT $2) u \
             JOIN subscribers s ON s.id = u.subscriber_id \
             ORDER BY u.download_octets + u.upload_octets DESC, u.subscriber_id",
            &[&month_start, &top],
        )
        .await?
        .iter()
        .map(|r| TopUser {
            subscriber_id: r.get(0),
            username: r.get(1),
            download_octets: r.get(2),
            upload_octets: r.get(3),
        })
        .collect();
    tx.commit().await?;
    Ok(DashboardCounts {
        by_status,
        online_sessions: online.get(0),
        sessions_started_last_hour: online.get(1),
        month_start,
        top_users,
    })
}

/// An open session of a plan's subscriber, for a live plan change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSession {
    /// The session.
    pub session: LiveSession,
    /// The subscriber's quota is spent: the fair-usage rate applies.
    pub in_fair_usage: bool,
}

/// Every open session of the subscribers on plan `plan_id`.
pub async fn plan_live_sessions(pool: &Pool, plan_id: i64) -> Result<Vec<PlanSession>, StoreError> {
    rated_sessions(pool, "s.plan_id = $1", &plan_id).await
}

/// Every open session of live subscriber `username`, with their fair-usage state.
pub async fn subscriber_live_sessions(
    pool: &Pool,
    username: &str,
) -> Result<Vec<PlanSession>, StoreError> {
    rated_sessions(pool, "s.username = $1", &username).await
}

/// The open sessions of the live subscribers `filter` (on `s`, with `$1` = `arg`) selects.
async fn rated_sessions(
    pool: &Pool,
    filter: &str,
    arg: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Vec<PlanSession>, StoreError> {
    let client = pool.get().await?;
    let columns = LIVE_COLUMNS
        .split(", ")
        .map(|c| format!("x.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {columns}, coalesce(s.fup_until > now(), false) \
             FROM sessions x JOIN subscribers s \
               ON s.username = x.username AND s.deleted_at IS NULL \
             WHERE {filter} ORDER BY x.id"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[arg])
        .await?
        .iter()
        .map(|r| PlanSession {
            session: live(r),
            in_fair_usage: r.get(13),
        })
        .collect())
}
