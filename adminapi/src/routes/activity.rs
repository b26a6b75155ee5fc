//! What radiusd records in Redis about recent authentication (see
//! `proisp_store::activity`): a subscriber's last Access-Rejects, and the accepts and
//! rejects of each minute over every radiusd, for the dashboard's chart. Neither is in
//! PostgreSQL, so without Redis these answer 503 saying so.

use actix_web::{get, web};
use proisp_store::{Cache, RejectRecord, unix_minute};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

use crate::data::subscribers;
use crate::error::ApiError;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;
use params::AuthChartQuery;

/// Minutes the chart covers by default, and at most.
const DEFAULT_MINUTES: u32 = 60;
const MAX_MINUTES: u32 = 120;

/// Redis, or 503 naming what is missing.
fn cache<'a>(state: &'a AppState, what: &'static str) -> Result<&'a Arc<dyn Cache>, ApiError> {
    state.store.cache().ok_or(ApiError::BackendUnavailable {
        backend: "Redis",
        what,
    })
}

/// One Access-Reject.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectView {
    /// When, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The User-Name the NAS sent.
    pub username: String,
    /// The NAS's name.
    pub nas: String,
    /// The Calling-Station-Id (usually the subscriber's MAC), when the NAS sent one.
    pub calling_station_id: Option<String>,
    /// Why, as a label: `wrong_password`, `suspended`, `disabled`, `expired`,
    /// `mac_mismatch`, `simultaneous_use`, `unsupported_method`, `no_plan`,
    /// `quota_exhausted`.
    pub reason: String,
    /// The Reply-Message radiusd sent with it.
    pub reply_message: String,
}

impl From<RejectRecord> for RejectView {
    fn from(r: RejectRecord) -> RejectView {
        RejectView {
            at: Timestamp::from_unix(r.at),
            username: r.username,
            nas: r.nas,
            calling_station_id: r.calling_station_id,
            reason: r.reason,
            reply_message: r.reply_message,
        }
    }
}

/// A subscriber's recent Access-Rejects.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectList {
    /// Newest first: the last 20 of the last 7 days, over every radiusd.
    pub items: Vec<RejectView>,
}

/// A subscriber's last Access-Rejects, with their Reply-Message (kept by radiusd in
/// Redis: the last 20 of the last 7 days).
#[utoipa::path(
    operation_id = "getSubscriberRejects",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "The rejects, newest first", body = RejectList),
        (status = 503, description = "Redis is not configured or does not answer", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/{id}/rejects")]
pub(crate) async fn rejects(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<RejectList>, ApiError> {
    session.require(Permission::Read)?;
    let id = id.into_inner();
    if subscribers::subscriber_record(&state.store, id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound {
            entity: "subscriber",
        });
    }
    let what = "recent rejects";
    let records = cache(&state, what)?.rejects(id).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot read recent rejects");
        ApiError::BackendUnavailable {
            backend: "Redis",
            what,
        }
    })?;
    Ok(web::Json(RejectList {
        items: records.into_iter().map(RejectView::from).collect(),
    }))
}

/// Query parameters.
pub mod params {
    use serde::Deserialize;
    use utoipa::IntoParams;

    /// `?minutes=`: how far back the chart goes.
    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct AuthChartQuery {
        /// Minutes, 1 to 120 (default 60), the current one included.
        #[param(minimum = 1, maximum = 120)]
        pub minutes: Option<u32>,
    }
}

/// One minute's Access-Request outcomes over every radiusd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuthMinute {
    /// The minute's start, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// Access-Accepts sent.
    pub accepts: u64,
    /// Access-Rejects sent.
    pub rejects: u64,
}

/// Access-Request outcomes per minute.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthChart {
    /// Oldest first; the last is the current minute, still counting (radiusd adds its
    /// counts every second).
    pub minutes: Vec<AuthMinute>,
}

/// Access-Accepts and -Rejects per minute over the last hour (or `minutes`), summed over
/// every radiusd, for the dashboard's chart.
#[utoipa::path(
    operation_id = "getAuthChart",
    tag = "dashboard",
    params(AuthChartQuery),
    responses(
        (status = 200, description = "The counts per minute", body = AuthChart),
        (status = 503, description = "Redis is not configured or does not answer", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/dashboard/auth")]
pub(crate) async fn auth_chart(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<AuthChartQuery>,
) -> Result<web::Json<AuthChart>, ApiError> {
    session.require(Permission::Read)?;
    let n = q.minutes.unwrap_or(DEFAULT_MINUTES);
    if !(1..=MAX_MINUTES).contains(&n) {
        return Err(ApiError::Invalid {
            field: "minutes".to_owned(),
            message: format!("must be 1 to {MAX_MINUTES}"),
        });
    }
    let what = "the auth counts per minute";
    let last = unix_minute(Timestamp::now().unix());
    let minutes: Vec<i64> = (last - i64::from(n) + 1..=last).collect();
    let counts = cache(&state, what)?
        .auth_minutes(&minutes)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot read the auth counts per minute");
            ApiError::BackendUnavailable {
                backend: "Redis",
                what,
            }
        })?;
    Ok(web::Json(AuthChart {
        minutes: minutes
            .iter()
            .zip(counts)
            .map(|(m, c)| AuthMinute {
                start: Timestamp::from_unix(m * 60),
                accepts: c.accepts,
                rejects: c.rejects,
            })
            .collect(),
    }))
}
