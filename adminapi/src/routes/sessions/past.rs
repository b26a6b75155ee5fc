//! A subscriber's closed sessions (`GET /subscribers/{id}/sessions/history`) and usage
//! per billing period (`GET /subscribers/{id}/usage`).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{get, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use super::limit;
use super::query::{HistoryQuery, UsageQuery};
use crate::data::sessions::{self, HistoryCursor, PastSession};
use crate::error::ApiError;
use crate::permission::Permission;
use crate::routes::fields;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// A closed session.
#[derive(Debug, Serialize, ToSchema)]
pub struct PastSessionView {
    /// The NAS (it may since have been deleted).
    pub nas_id: i64,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Start, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// End, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub stopped_at: Timestamp,
    /// Framed-IP-Address.
    #[schema(value_type = Option<String>)]
    pub framed_ip: Option<IpAddr>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Octets the subscriber received.
    pub download_octets: i64,
    /// Octets the subscriber sent.
    pub upload_octets: i64,
    /// Acct-Session-Time, seconds.
    pub session_time_secs: i64,
    /// Acct-Terminate-Cause, when the NAS said (`User-Request`, `Lost-Carrier`, …).
    pub terminate_cause: Option<String>,
    /// How it was closed: `stop` (the NAS's Stop), `stale` (no update in time),
    /// `nas-reboot` (Accounting-On/Off), `replaced` (a new Start with the same key).
    pub closed_by: String,
}

impl From<&PastSession> for PastSessionView {
    fn from(s: &PastSession) -> PastSessionView {
        PastSessionView {
            nas_id: s.nas_id,
            acct_session_id: s.acct_session_id.clone(),
            username: s.username.clone(),
            started_at: Timestamp::from(s.started_at),
            stopped_at: Timestamp::from(s.stopped_at),
            framed_ip: s.framed_ip,
            calling_station_id: s.calling_station_id.clone(),
            nas_port_id: s.nas_port_id.clone(),
            download_octets: s.download_octets,
            upload_octets: s.upload_octets,
            session_time_secs: s.session_time_secs,
            terminate_cause: s.terminate_cause.clone(),
            closed_by: s.closed_by.clone(),
        }
    }
}

/// `GET /subscribers/{id}/sessions/history`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// Closed sessions, newest first.
    pub items: Vec<PastSessionView>,
    /// `before` of the next page (opaque); null on the last page.
    pub next_before: Option<String>,
}

/// An opaque keyset cursor: a session's time (to the microsecond), NAS and
/// Acct-Session-Id.
pub(super) fn encode_cursor(at: SystemTime, nas_id: i64, acct_session_id: &str) -> String {
    let micros = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    URL_SAFE_NO_PAD.encode(format!("{micros}:{nas_id}:{acct_session_id}"))
}

/// A cursor of [`encode_cursor`], from query parameter `field`.
pub(super) fn decode_cursor(
    field: &'static str,
    s: &str,
) -> Result<(SystemTime, i64, String), ApiError> {
    let bad = || ApiError::invalid(field, "not a cursor this API returned");
    let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(raw)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(bad)?;
    let mut parts = text.splitn(3, ':');
    // Past 9999-12-31 a time is no cursor this API made, and PostgreSQL would refuse it.
    let micros: u64 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .filter(|m| *m < 253_402_300_800_000_000)
        .ok_or_else(bad)?;
    let nas_id: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let acct_session_id = parts.next().ok_or_else(bad)?.to_owned();
    let at = UNIX_EPOCH
        .checked_add(Duration::from_micros(micros))
        .ok_or_else(bad)?;
    Ok((at, nas_id, acct_session_id))
}

/// A subscriber's closed sessions, newest first (the retention period's worth: older
/// monthly partitions are dropped).
#[utoipa::path(
    operation_id = "getSessionHistory",
    tag = "sessions",
    params(("id" = i64, Path, description = "Subscriber id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of closed sessions", body = HistoryPage),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/{id}/sessions/history")]
pub(crate) async fn history(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    q: web::Query<HistoryQuery>,
) -> Result<web::Json<HistoryPage>, ApiError> {
    session.require(Permission::Read)?;
    let limit = limit(q.limit)?;
    let cursor = q
        .before
        .as_deref()
        .map(|b| decode_cursor("before", b))
        .transpose()?
        .map(|(stopped_at, nas_id, acct_session_id)| HistoryCursor {
            stopped_at,
            nas_id,
            acct_session_id,
        });
    let db = state.reads.store().await.pool();
    sessions::subscriber_username(db, *id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })?;
    let rows = sessions::session_history(db, *id, cursor.as_ref(), limit).await?;
    let next_before = (rows.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| {
            rows.last()
                .map(|s| encode_cursor(s.stopped_at, s.nas_id, &s.acct_session_id))
        })
        .flatten();
    Ok(web::Json(HistoryPage {
        items: rows.iter().map(PastSessionView::from).collect(),
        next_before,
    }))
}

/// Usage of one billing period.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    /// Start of the period, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub period_start: Timestamp,
    /// Octets the subscriber received in it.
    pub download_octets: i64,
    /// Octets the subscriber sent in it.
    pub upload_octets: i64,
    /// Both directions.
    pub total_octets: i64,
    /// Last growth, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// `GET /subscribers/{id}/usage`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    /// The subscriber.
    pub subscriber_id: i64,
    /// Their user name.
    pub username: String,
    /// Their plan's billing period: `day`, `week` or `month` (cut in UTC).
    pub period: String,
    /// Start of the current period, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub current_period_start: Timestamp,
    /// The plan's quota per period, octets; null: unlimited.
    pub quota_bytes: Option<i64>,
    /// Fair usage is in force until then (quota spent), RFC 3339 UTC; null: full speed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fair_usage_until: Option<Timestamp>,
    /// Periods with usage, newest first.
    pub items: Vec<PeriodView>,
    /// `before` of the next page; null on the last page.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_before: Option<Timestamp>,
}

/// A subscriber's usage per billing period.
#[utoipa::path(
    operation_id = "getUsage",
    tag = "sessions",
    params(("id" = i64, Path, description = "Subscriber id"), UsageQuery),
    responses(
        (status = 200, description = "Usage per period", body = UsageReport),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/{id}/usage")]
pub(crate) async fn usage(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    q: web::Query<UsageQuery>,
) -> Result<web::Json<UsageReport>, ApiError> {
    session.require(Permission::Read)?;
    let limit = limit(q.limit)?;
    let before = q
        .before
        .as_deref()
        .map(|s| fields::parse::<Timestamp>("before", s).map(Timestamp::system_time))
        .transpose()?;
    let db = state.reads.store().await.pool();
    let owner = sessions::usage_owner(db, *id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })?;
    let rows = sessions::usage_periods(db, *id, before, limit).await?;
    let next_before = (rows.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| rows.last().map(|p| Timestamp::from(p.period_start)))
        .flatten();
    Ok(web::Json(UsageReport {
        subscriber_id: *id,
        username: owner.username,
        period: owner.quota_period,
        current_period_start: Timestamp::from(owner.current_period_start),
        quota_bytes: owner.quota_bytes,
        fair_usage_until: owner
            .fup_until
            .filter(|t| *t > SystemTime::now())
            .map(Timestamp::from),
        items: rows
            .iter()
            .map(|p| PeriodView {
                period_start: Timestamp::from(p.period_start),
                download_octets: p.download_octets,
                upload_octets: p.upload_octets,
                total_octets: p.download_octets.saturating_add(p.upload_octets),
                updated_at: Timestamp::from(p.updated_at),
            })
            .collect(),
        next_before,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        let at = UNIX_EPOCH + Duration::from_micros(1_765_000_000_123_456);
        let c = encode_cursor(at, 7, "sid:with:colons");
        assert_eq!(
            decode_cursor("before", &c).unwrap(),
            (at, 7, "sid:with:colons".to_owned())
        );
        for forged in [
            URL_SAFE_NO_PAD.encode(format!("{}:1:x", u64::MAX)),
            URL_SAFE_NO_PAD.encode("253402300800000000:1:x"),
            URL_SAFE_NO_PAD.encode("1:x:y"),
            URL_SAFE_NO_PAD.encode("1:2"),
            "%%%".to_owned(),
        ] {
            assert!(decode_cursor("before", &forged).is_err(), "{forged}");
        }
    }
}
