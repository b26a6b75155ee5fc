//! Sessions: who is online, history and usage per subscriber, kick (RFC 5176 Disconnect)
//! and live plan changes (RFC 5176 CoA).
//!
//! ```text
//! GET  /sessions                            open sessions (nas_id, username, subscriber_id)
//! POST /sessions/{id}/kick                  Disconnect-Request to the session's NAS
//! GET  /subscribers/{id}/sessions/history   closed sessions, newest first
//! GET  /subscribers/{id}/usage              usage per billing period, newest first
//! POST /plans/{id}/apply                    CoA with the plan's rate to its online subscribers
//! ```
//!
//! Byte counts are named by the subscriber's direction, as in `sql/0002_accounting.sql`:
//! `download_octets` is what the subscriber received (Acct-Output-Octets), `upload_octets`
//! what they sent (Acct-Input-Octets).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{get, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proisp_coa::{Client, ClientConfig, Outcome};
use proisp_model::{Nas, NasVendor};
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::Request;

use crate::data::sessions::{self, HistoryCursor, LiveFilter, LiveSession, PastSession};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::error::{ApiError, ErrorBody};
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

/// Largest page of any list here.
const MAX_LIMIT: i64 = 500;
/// Default page size.
const DEFAULT_LIMIT: i64 = 50;
/// Live plan changes in flight at once.
const APPLY_CONCURRENCY: usize = 64;

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn limit(v: Option<i64>) -> Result<i64, ApiError> {
    let l = v.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&l) {
        Ok(l)
    } else {
        Err(ApiError::invalid(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        ))
    }
}

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
    pub started_at: String,
    /// Last accounting packet, RFC 3339 UTC.
    pub last_update_at: String,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
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
            started_at: rfc3339(s.started_at),
            last_update_at: rfc3339(s.updated_at),
            framed_ip: s.framed_ip.map(|ip| ip.to_string()),
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

/// Filters and paging of `GET /sessions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only sessions on this NAS.
    pub nas_id: Option<i64>,
    /// Only sessions of this User-Name.
    pub username: Option<String>,
    /// Only sessions of this subscriber (by id).
    pub subscriber_id: Option<i64>,
    /// Sessions with an id above this (the `next_after_id` of the previous page).
    pub after_id: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Who is online.
#[utoipa::path(
    operation_id = "listSessions",
    tag = "sessions",
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
    let username = match (q.subscriber_id, &q.username) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "subscriber_id",
                "give subscriber_id or username, not both",
            ));
        }
        (Some(id), None) => Some(sessions::subscriber_username(&state.db, id).await?.ok_or(
            ApiError::NotFound {
                entity: "subscriber",
            },
        )?),
        (None, name) => name.clone(),
    };
    let items = sessions::live_sessions(
        &state.db,
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
    /// answer after every try), `error` (the request could not be sent).
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
    pub sent_to: String,
    /// The NAS's answer.
    #[serde(flatten)]
    pub outcome: DynAuthResult,
}

/// The CoA client, timed by the `[coa]` section (1 s per try, three tries by default).
fn client(state: &AppState) -> Client {
    Client::new(ClientConfig {
        timeout: state.config.coa.timeout,
        retries: state.config.coa.retries,
    })
}

/// Where a NAS's Dynamic Authorization server is, or 409 for a NAS configured as a range.
fn coa_target(nas: &Nas) -> Result<SocketAddr, ApiError> {
    let full = if nas.network.is_ipv4() { 32 } else { 128 };
    if nas.prefix_len < full {
        return Err(ApiError::Conflict {
            message: format!(
                "NAS {} is configured as the range {}/{}: no single address to send to",
                nas.name, nas.network, nas.prefix_len
            ),
            field: None,
        });
    }
    Ok(SocketAddr::new(nas.network, nas.coa_port))
}

/// Identifies `s` the RFC 5176 §3 way: User-Name, Acct-Session-Id, Framed-IP-Address.
fn identify(request: Request, framed_ip: Option<IpAddr>) -> Request {
    match framed_ip {
        Some(IpAddr::V4(ip)) => request.with_framed_ip(ip),
        _ => request,
    }
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
    let nas = super::nas::load(&state, live.nas_id).await?;
    let target = coa_target(&nas)?;
    let request = identify(
        Request::disconnect(live.username.as_str(), live.acct_session_id.as_str()),
        live.framed_ip,
    );
    let outcome = client(&state).send(target, &nas.secret, &request).await;
    tracing::info!(
        user = live.username,
        session = live.acct_session_id,
        nas = nas.name,
        admin = session.admin.username,
        %outcome,
        "kick"
    );
    let result = KickResult {
        session_id: live.id,
        username: live.username,
        acct_session_id: live.acct_session_id,
        nas_id: live.nas_id,
        sent_to: target.to_string(),
        outcome: DynAuthResult::from(&outcome),
    };
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new("session.kick", "session", result.session_id).after(&result),
    )
    .await;
    Ok(web::Json(result))
}

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
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub stopped_at: String,
    /// Framed-IP-Address.
    pub framed_ip: Option<String>,
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
            started_at: rfc3339(s.started_at),
            stopped_at: rfc3339(s.stopped_at),
            framed_ip: s.framed_ip.map(|ip| ip.to_string()),
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

/// Paging of history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The `next_before` of the previous page.
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn encode_cursor(s: &PastSession) -> String {
    let micros = s
        .stopped_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    URL_SAFE_NO_PAD.encode(format!("{micros}:{}:{}", s.nas_id, s.acct_session_id))
}

fn decode_cursor(s: &str) -> Result<HistoryCursor, ApiError> {
    let bad = || ApiError::invalid("before", "not a cursor this API returned");
    let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(raw)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(bad)?;
    let mut parts = text.splitn(3, ':');
    let micros: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let nas_id: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let acct_session_id = parts.next().ok_or_else(bad)?.to_owned();
    Ok(HistoryCursor {
        stopped_at: UNIX_EPOCH + Duration::from_micros(micros),
        nas_id,
        acct_session_id,
    })
}

/// A subscriber's closed sessions, newest first (the retention period's worth: older
/// monthly partitions are dropped).
#[utoipa::path(
    operation_id = "getSessionHistory",
    tag = "sessions",
    params(("id" = i64, Path, description = "Subscriber id")),
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
    let cursor = q.before.as_deref().map(decode_cursor).transpose()?;
    sessions::subscriber_username(&state.db, *id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })?;
    let rows = sessions::session_history(&state.db, *id, cursor.as_ref(), limit).await?;
    let next_before = (rows.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| rows.last().map(encode_cursor))
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
    pub period_start: String,
    /// Octets the subscriber received in it.
    pub download_octets: i64,
    /// Octets the subscriber sent in it.
    pub upload_octets: i64,
    /// Both directions.
    pub total_octets: i64,
    /// Last growth, RFC 3339 UTC.
    pub updated_at: String,
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
    pub current_period_start: String,
    /// The plan's quota per period, octets; null: unlimited.
    pub quota_bytes: Option<i64>,
    /// Fair usage is in force until then (quota spent), RFC 3339 UTC; null: full speed.
    pub fair_usage_until: Option<String>,
    /// Periods with usage, newest first.
    pub items: Vec<PeriodView>,
    /// `before` of the next page; null on the last page.
    pub next_before: Option<String>,
}

/// Paging of usage.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Periods starting before this time (RFC 3339; the `next_before` of the previous page).
    pub before: Option<String>,
    /// Periods per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A subscriber's usage per billing period.
#[utoipa::path(
    operation_id = "getUsage",
    tag = "sessions",
    params(("id" = i64, Path, description = "Subscriber id")),
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
        .map(|s| {
            humantime::parse_rfc3339_weak(s).map_err(|_| {
                ApiError::invalid(
                    "before",
                    "expected an RFC 3339 time, e.g. 2026-11-01T00:00:00Z",
                )
            })
        })
        .transpose()?;
    let owner = sessions::usage_owner(&state.db, *id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })?;
    let rows = sessions::usage_periods(&state.db, *id, before, limit).await?;
    let next_before = (rows.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| rows.last().map(|p| rfc3339(p.period_start)))
        .flatten();
    Ok(web::Json(UsageReport {
        subscriber_id: *id,
        username: owner.username,
        period: owner.quota_period,
        current_period_start: rfc3339(owner.current_period_start),
        quota_bytes: owner.quota_bytes,
        fair_usage_until: owner
            .fup_until
            .filter(|t| *t > SystemTime::now())
            .map(rfc3339),
        items: rows
            .iter()
            .map(|p| PeriodView {
                period_start: rfc3339(p.period_start),
                download_octets: p.download_octets,
                upload_octets: p.upload_octets,
                total_octets: p.download_octets.saturating_add(p.upload_octets),
                updated_at: rfc3339(p.updated_at),
            })
            .collect(),
        next_before,
    }))
}

/// `POST /plans/{id}/apply`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ApplyReport {
    /// The plan.
    pub plan_id: i64,
    /// Open sessions of the plan's subscribers.
    pub sessions: u32,
    /// CoA-ACKs.
    pub ack: u32,
    /// CoA-NAKs.
    pub nak: u32,
    /// No valid answer.
    pub timeout: u32,
    /// Not sent: the NAS is not a MikroTik (the rate is a MikroTik attribute), or it is
    /// configured as a range. These sessions get the new rate at their next login.
    pub skipped: u32,
    /// Socket or encoding errors.
    pub error: u32,
}

/// Apply a plan's current rate to its online subscribers now: a CoA-Request with the
/// plan's Mikrotik-Rate-Limit (the fair-usage rate for subscribers whose quota is spent)
/// to every open session on a MikroTik NAS, 64 at a time. Without this, a plan change
/// reaches each subscriber at the next login. Answers once every NAS has answered or
/// timed out.
#[utoipa::path(
    operation_id = "applyPlan",
    tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    responses(
        (status = 200, description = "What the NASes answered", body = ApplyReport),
    ),
    security(("bearer" = []))
)]
#[post("/plans/{id}/apply")]
pub(crate) async fn apply_plan(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<ApplyReport>, ApiError> {
    session.require(Permission::PlanWrite)?;
    let plan = state
        .store
        .plan(*id)
        .await?
        .ok_or(ApiError::NotFound { entity: "plan" })?;
    let full = plan.rate.to_mikrotik();
    let fup = plan.fup_rate.as_ref().map(|r| r.to_mikrotik());
    let sessions = sessions::plan_live_sessions(&state.db, plan.id).await?;
    let nases = state.store.all_nas().await?;
    let mut report = ApplyReport {
        plan_id: plan.id,
        sessions: u32::try_from(sessions.len()).unwrap_or(u32::MAX),
        ..ApplyReport::default()
    };
    let client = client(&state);
    let mut jobs = Vec::new();
    for s in &sessions {
        let Some(nas) = nases.iter().find(|n| n.id == s.session.nas_id) else {
            report.skipped += 1;
            continue;
        };
        let target = match coa_target(nas) {
            Ok(t) if nas.vendor == NasVendor::Mikrotik => t,
            _ => {
                report.skipped += 1;
                continue;
            }
        };
        let rate = match (&fup, s.in_fair_usage) {
            (Some(f), true) => f.as_str(),
            _ => full.as_str(),
        };
        let request = identify(
            Request::coa(
                s.session.username.as_str(),
                s.session.acct_session_id.as_str(),
            )
            .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, rate),
            s.session.framed_ip,
        );
        jobs.push((target, nas.secret.clone(), request));
    }
    let mut jobs = jobs.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < APPLY_CONCURRENCY
            && let Some((target, secret, request)) = jobs.next()
        {
            let client = client.clone();
            running.spawn(async move { client.send(target, &secret, &request).await });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        match done {
            Ok(Outcome::Ack) => report.ack += 1,
            Ok(Outcome::Nak { .. }) => report.nak += 1,
            Ok(Outcome::Timeout { .. }) => report.timeout += 1,
            _ => report.error += 1,
        }
    }
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new("plan.apply", "plan", plan.id).after(&report),
    )
    .await;
    Ok(web::Json(report))
}
