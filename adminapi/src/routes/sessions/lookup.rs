//! `GET /sessions/history`: who had this address (IP or MAC), or what did this user do,
//! at an instant or over a period — the open sessions and the history together. Every
//! lookup is audited (`session.lookup`) before it is answered: these are the questions
//! of abuse desks and lawful requests.

use std::net::IpAddr;
use std::time::SystemTime;

use actix_web::{get, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::limit;
use super::past::{decode_cursor, encode_cursor};
use super::query::LookupQuery;
use crate::audit::{self, Entry};
use crate::data::lookup::{FoundSession, LookupCursor, LookupFilter, lookup_sessions};
use crate::error::ApiError;
use crate::permission::Permission;
use crate::routes::fields;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// A session found: open (`state` = `online`) or closed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FoundSessionView {
    /// `online` or `closed`.
    pub state: &'static str,
    /// The open session's id (what kick takes); null once closed.
    pub id: Option<i64>,
    /// The NAS (it may since have been deleted).
    pub nas_id: i64,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// The subscriber, when the name was known at Start.
    pub subscriber_id: Option<i64>,
    /// Start, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// End, RFC 3339 UTC; null while online.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stopped_at: Option<Timestamp>,
    /// Framed-IP-Address.
    #[schema(value_type = Option<String>)]
    pub framed_ip: Option<IpAddr>,
    /// Calling-Station-Id (the subscriber's MAC for PPPoE and Hotspot).
    pub calling_station_id: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Octets the subscriber received.
    pub download_octets: i64,
    /// Octets the subscriber sent.
    pub upload_octets: i64,
    /// Acct-Session-Time, seconds.
    pub session_time_secs: i64,
    /// How it was closed (`stop`, `stale`, `nas-reboot`, `replaced`); null while online.
    pub closed_by: Option<String>,
}

impl From<&FoundSession> for FoundSessionView {
    fn from(s: &FoundSession) -> FoundSessionView {
        FoundSessionView {
            state: if s.stopped_at.is_some() {
                "closed"
            } else {
                "online"
            },
            id: s.live_id,
            nas_id: s.nas_id,
            acct_session_id: s.acct_session_id.clone(),
            username: s.username.clone(),
            subscriber_id: s.subscriber_id,
            started_at: Timestamp::from(s.started_at),
            stopped_at: s.stopped_at.map(Timestamp::from),
            framed_ip: s.framed_ip,
            calling_station_id: s.calling_station_id.clone(),
            nas_port_id: s.nas_port_id.clone(),
            download_octets: s.download_octets,
            upload_octets: s.upload_octets,
            session_time_secs: s.session_time_secs,
            closed_by: s.closed_by.clone(),
        }
    }
}

/// `GET /sessions/history`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupPage {
    /// Sessions, newest start first.
    pub items: Vec<FoundSessionView>,
    /// `before` of the next page (opaque); null on the last page.
    pub next_before: Option<String>,
}

/// Longest User-Name RADIUS carries (RFC 2865 §5.1: an attribute holds 253 octets).
const MAX_USERNAME: usize = 253;

impl LookupQuery {
    fn to_filter(&self) -> Result<LookupFilter, ApiError> {
        let time =
            |field: &'static str, v: &Option<String>| -> Result<Option<SystemTime>, ApiError> {
                v.as_deref()
                    .map(|s| fields::parse::<Timestamp>(field, s).map(Timestamp::system_time))
                    .transpose()
            };
        let (from, to) = match (time("at", &self.at)?, &self.from, &self.to) {
            (Some(_), Some(_), _) => {
                return Err(ApiError::invalid("from", "give at, or from and to"));
            }
            (Some(_), _, Some(_)) => {
                return Err(ApiError::invalid("to", "give at, or from and to"));
            }
            (Some(at), None, None) => (Some(at), Some(at)),
            (None, _, _) => (time("from", &self.from)?, time("to", &self.to)?),
        };
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(ApiError::invalid("to", "must not be before from"));
        }
        let ip = self
            .ip
            .as_deref()
            .map(|s| {
                s.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| ApiError::invalid("ip", "expected an IPv4 or IPv6 address"))
            })
            .transpose()?;
        let mac = self
            .mac
            .as_deref()
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|e| ApiError::invalid("mac", format!("{e}")))
            })
            .transpose()?;
        let username = match self.username.as_deref() {
            Some(u) if u.is_empty() || u.len() > MAX_USERNAME || u.contains('\0') => {
                return Err(ApiError::invalid(
                    "username",
                    format!("1 to {MAX_USERNAME} octets, no NUL"),
                ));
            }
            other => other.map(str::to_owned),
        };
        if ip.is_none() && mac.is_none() && username.is_none() {
            return Err(ApiError::invalid(
                "ip",
                "give ip, mac or username (with at, or from and to)",
            ));
        }
        let before = self
            .before
            .as_deref()
            .map(|b| decode_cursor("before", b))
            .transpose()?
            .map(|(started_at, nas_id, acct_session_id)| LookupCursor {
                started_at,
                nas_id,
                acct_session_id,
            });
        Ok(LookupFilter {
            ip,
            mac,
            username,
            nas_id: self.nas_id,
            from,
            to,
            before,
            limit: limit(self.limit)?,
        })
    }
}

/// Sessions by address, MAC or user name, at an instant or over a period: who had this
/// IP at that time. Open and closed sessions together (history as far as its retention
/// reaches), newest start first. Every lookup is written to the audit log
/// (`session.lookup`, with what was asked) before it is answered.
#[utoipa::path(
    operation_id = "lookupSessions",
    tag = "sessions",
    params(LookupQuery),
    responses(
        (status = 200, description = "A page of sessions", body = LookupPage),
    ),
    security(("bearer" = []))
)]
#[get("/sessions/history")]
pub(crate) async fn find(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<LookupQuery>,
) -> Result<web::Json<LookupPage>, ApiError> {
    session.require(Permission::Read)?;
    let filter = q.to_filter()?;
    let rows = lookup_sessions(state.reads.store().await.pool(), &filter).await?;
    let next_before = (rows.len() == usize::try_from(filter.limit).unwrap_or(0))
        .then(|| {
            rows.last()
                .map(|s| encode_cursor(s.started_at, s.nas_id, &s.acct_session_id))
        })
        .flatten();
    // Audited before answering: a lookup that cannot be recorded is not answered.
    audit::record(
        &state.db,
        &session.actor(),
        Entry {
            action: "session.lookup",
            entity: "session",
            entity_id: None,
            before: None,
            after: Some(json!({
                "ip": filter.ip.map(|ip| ip.to_string()),
                "mac": filter.mac.map(|m| m.to_string()),
                "username": filter.username,
                "nas_id": filter.nas_id,
                "at": q.at,
                "from": q.from,
                "to": q.to,
                "page": q.before.is_some(),
                "found": rows.len(),
            })),
        },
    )
    .await?;
    Ok(web::Json(LookupPage {
        items: rows.iter().map(FoundSessionView::from).collect(),
        next_before,
    }))
}
