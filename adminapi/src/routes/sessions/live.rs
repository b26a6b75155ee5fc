//! `GET /sessions` (who is online) and `POST /sessions/{id}/kick` (RFC 5176 Disconnect).

use std::net::{IpAddr, SocketAddr};

use actix_web::{get, post, web};
use proisp_coa::Outcome;
use proisp_radius::dynauth::Request;
use serde::Serialize;
use utoipa::ToSchema;

use super::limit;
use super::query::ListQuery;
use crate::audit::{self, Actor, Entry};
use crate::data::sessions::{self, LiveFilter, LiveSession};
use crate::dynauth::{self, coa_target, identify, lane_target};
use crate::error::{ApiError, ErrorBody};
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// An open session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Id (what kick takes).
    pub id: i64,
    /// The NAS.
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
    /// Last accounting packet, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub last_update_at: Timestamp,
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
}

impl From<&LiveSession> for SessionView {
    fn from(s: &LiveSession) -> SessionView {
        SessionView {
            id: s.id,
            nas_id: s.nas_id,
            acct_session_id: s.acct_session_id.clone(),
            username: s.username.clone(),
            subscriber_id: s.subscriber_id,
            started_at: Timestamp::from(s.started_at),
            last_update_at: Timestamp::from(s.updated_at),
            framed_ip: s.framed_ip,
            calling_station_id: s.calling_station_id.clone(),
            nas_port_id: s.nas_port_id.clone(),
            download_octets: s.download_octets,
            upload_octets: s.upload_octets,
            session_time_secs: s.session_time_secs,
        }
    }
}

/// `GET /sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Open sessions by id.
    pub items: Vec<SessionView>,
    /// `after_id` of the next page; null on the last page.
    pub next_after_id: Option<i64>,
}

/// Who is online.
#[utoipa::path(
    operation_id = "listSessions",
    tag = "sessions",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of open sessions", body = SessionList),
        (status = 404, description = "No such subscriber", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/sessions")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<ListQuery>,
) -> Result<web::Json<SessionList>, ApiError> {
    session.require(Permission::Read)?;
    let limit = limit(q.limit)?;
    let db = state.reads.store().await.pool();
    let username = match (q.subscriber_id, &q.username) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "subscriber_id",
                "give subscriber_id or username, not both",
            ));
        }
        (Some(id), None) => Some(sessions::subscriber_username(db, id).await?.ok_or(
            ApiError::NotFound {
                entity: "subscriber",
            },
        )?),
        (None, name) => name.clone(),
    };
    let items = sessions::live_sessions(
        db,
        &LiveFilter {
            nas_id: q.nas_id,
            username,
            after_id: q.after_id,
            limit,
        },
    )
    .await?;
    let next_after_id = (items.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| items.last().map(|s| s.id))
        .flatten();
    Ok(web::Json(SessionList {
        items: items.iter().map(SessionView::from).collect(),
        next_after_id,
    }))
}

/// An RFC 5176 Error-Cause.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorCauseView {
    /// The value (e.g. 503).
    pub code: u32,
    /// Its dictionary name (e.g. `Session-Context-Not-Found`); null for a value RFC 5176
    /// does not list.
    pub name: Option<String>,
}

/// How the NAS answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DynAuthResult {
    /// `ack` (the NAS acted), `nak` (it refused: see `error_cause`), `timeout` (no valid
    /// answer after every try), `deferred` (the NAS is marked unreachable: the request
    /// waits and goes out when it shows life), `superseded` (a newer change for the
    /// session took its place), `dropped` (the NAS rebooted first), `error` (the request
    /// could not be sent).
    pub result: &'static str,
    /// The NAK's Error-Cause, when it carried one.
    pub error_cause: Option<ErrorCauseView>,
    /// The outcome in words (`NAK: Session-Context-Not-Found (503)`).
    pub message: String,
}

impl From<&Outcome> for DynAuthResult {
    fn from(o: &Outcome) -> DynAuthResult {
        let (result, error_cause) = match o {
            Outcome::Ack => ("ack", None),
            Outcome::Nak { error_cause } => (
                "nak",
                error_cause.map(|c| ErrorCauseView {
                    code: c.0,
                    name: c.name().map(str::to_owned),
                }),
            ),
            Outcome::Timeout { .. } => ("timeout", None),
            Outcome::Deferred => ("deferred", None),
            Outcome::Superseded => ("superseded", None),
            Outcome::Dropped => ("dropped", None),
            _ => ("error", None),
        };
        DynAuthResult {
            result,
            error_cause,
            message: o.to_string(),
        }
    }
}

/// `POST /sessions/{id}/kick`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KickResult {
    /// The session.
    pub session_id: i64,
    /// Its User-Name.
    pub username: String,
    /// Its Acct-Session-Id.
    pub acct_session_id: String,
    /// Its NAS.
    pub nas_id: i64,
    /// Where the Disconnect-Request went (address:port).
    #[schema(value_type = String)]
    pub sent_to: SocketAddr,
    /// The NAS's answer.
    #[serde(flatten)]
    pub outcome: DynAuthResult,
}

/// Disconnect a session: an RFC 5176 Disconnect-Request to its NAS, identified by
/// User-Name, Acct-Session-Id and Framed-IP-Address. Answers 200 with the NAS's answer —
/// `ack`, `nak` with its Error-Cause, or `timeout` after three tries of one second — and
/// records it in the audit log. The session leaves the online list when the NAS's
/// Accounting-Stop arrives.
#[utoipa::path(
    operation_id = "kickSession",
    tag = "sessions",
    params(("id" = i64, Path, description = "Session id")),
    responses(
        (status = 200, description = "The NAS's answer", body = KickResult),
        (status = 404, description = "No such open session", body = ErrorBody),
        (status = 409, description = "The NAS has no single address", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/sessions/{id}/kick")]
pub(crate) async fn kick(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<KickResult>, ApiError> {
    session.require(Permission::SessionKick)?;
    let live = sessions::live_session(&state.db, *id)
        .await?
        .ok_or(ApiError::NotFound { entity: "session" })?;
    Ok(web::Json(
        disconnect(&state, &session.actor(), live, "admin").await?,
    ))
}

/// Sends a Disconnect-Request for `live` through its NAS's lane, waits for the answer and
/// records it in the audit log on behalf of `actor`: what kick does, and billing's
/// suspend command for each of the subscriber's sessions.
/// Sends `live`'s Disconnect-Request (why: `reason`, its coa.result's) and records it.
pub(crate) async fn disconnect(
    state: &AppState,
    actor: &Actor,
    live: LiveSession,
    reason: &str,
) -> Result<KickResult, ApiError> {
    let nas = crate::routes::nas::load(state, live.nas_id).await?;
    let target = coa_target(&nas)?;
    let request = identify(
        Request::disconnect(live.username.as_str(), live.acct_session_id.as_str()),
        live.framed_ip,
    );
    let key = proisp_coa::session_key(nas.id, &live.acct_session_id);
    let outcome = state
        .lanes
        .send(&lane_target(&nas, target), Some(key.as_str()), request)
        .await;
    tracing::info!(
        user = live.username,
        session = live.acct_session_id,
        nas = nas.name,
        admin = actor.username,
        %outcome,
        "kick"
    );
    let sent = dynauth::Sent {
        username: &live.username,
        acct_session_id: &live.acct_session_id,
        nas: &nas.name,
        request: "disconnect",
        reason,
    };
    dynauth::record(&state.store, sent, &outcome).await;
    let result = KickResult {
        session_id: live.id,
        username: live.username,
        acct_session_id: live.acct_session_id,
        nas_id: live.nas_id,
        sent_to: target,
        outcome: DynAuthResult::from(&outcome),
    };
    audit::record_event(
        &state.db,
        actor,
        Entry::new("session.kick", "session", result.session_id).after(&result),
    )
    .await;
    Ok(result)
}
