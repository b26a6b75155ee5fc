//! `GET /dashboard`: the figures a manager opens first, from aggregates only, cached 30 s.
//!
//! Definitions (also in the OpenAPI schema):
//! - subscribers by status: exact; soft-deleted subscribers are not counted. Read from
//!   `subscriber_counts`, which triggers keep in step with `subscribers`
//!   (sql/0004_subscriber_counts.sql);
//! - online: rows of `sessions` (open sessions, bounded by who is online);
//! - auth: Access-Accepts and Access-Rejects of the last minute, summed over every
//!   radiusd that published its counts to Redis in the last 30 s (each does every 10 s;
//!   there is no authentication log in PostgreSQL). Without Redis `available` is false;
//!   each radiusd's `/metrics` has the full counters (`radius_auth_requests_total`);
//! - top users: the largest `usage` rows of the current calendar month (UTC), which holds
//!   the subscribers on monthly-period plans (the default), via `usage_period_total_idx`.
//!
//! Cache: one per process and database, shared by the workers; while it is being
//! refreshed, other requests wait for the result instead of querying too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::data::sessions::{self, DashboardCounts};
use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// How long a computed dashboard is served.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Top users listed.
const TOP_USERS: i64 = 10;

/// Live subscribers by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusCounts {
    /// Status `active` (expired ones included: expiry is a date, not a status).
    pub active: i64,
    /// Status `suspended`.
    pub suspended: i64,
    /// Status `disabled`.
    pub disabled: i64,
    /// All live (not deleted) subscribers.
    pub total: i64,
}

/// Who is online.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Online {
    /// Open sessions now.
    pub sessions: i64,
    /// Sessions that started in the last hour and are still open: accepted logins that
    /// reached accounting. Not an auth accept rate (radiusd's
    /// `radius_auth_requests_total{result}` is), and rejects are not counted anywhere in
    /// the database.
    pub open_sessions_started_last_hour: i64,
}

/// One of the heaviest users.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopUserView {
    /// Subscriber id.
    pub subscriber_id: i64,
    /// User name.
    pub username: String,
    /// Octets the subscriber received this month.
    pub download_octets: i64,
    /// Octets the subscriber sent this month.
    pub upload_octets: i64,
    /// Both.
    pub total_octets: i64,
}

/// The heaviest users of the current month.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopUsers {
    /// Start of the calendar month (UTC) the figures are of.
    #[schema(value_type = String, format = DateTime)]
    pub period_start: Timestamp,
    /// The ten largest by download + upload, largest first.
    pub items: Vec<TopUserView>,
}

/// `GET /dashboard`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dashboard {
    /// When the figures were computed, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub computed_at: Timestamp,
    /// Seconds since then (at most 30).
    pub age_secs: u64,
    /// Subscribers by status (exact).
    pub subscribers: StatusCounts,
    /// Sessions.
    pub online: Online,
    /// Top users by usage this month.
    pub top_users: TopUsers,
    /// Access-Request outcomes of the last minute, over every radiusd.
    pub auth: AuthRates,
}

/// Access-Request outcomes of the last minute, from the counts each radiusd publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuthRates {
    /// Whether the counts could be read (Redis configured and answering).
    pub available: bool,
    /// Access-Accepts in the last minute.
    pub accepts_per_minute: u64,
    /// Access-Rejects in the last minute.
    pub rejects_per_minute: u64,
    /// radiusd instances that reported.
    pub radiusd_instances: usize,
}

impl AuthRates {
    pub(crate) async fn read(state: &AppState) -> AuthRates {
        let stats = match state.store.cache() {
            Some(cache) => cache.auth_stats().await.ok(),
            None => None,
        };
        AuthRates {
            available: stats.is_some(),
            accepts_per_minute: stats.iter().flatten().map(|s| s.accepts).sum(),
            rejects_per_minute: stats.iter().flatten().map(|s| s.rejects).sum(),
            radiusd_instances: stats.map_or(0, |s| s.len()),
        }
    }
}

/// `?refresh=true` computes afresh (and refreshes the cache).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// Ignore the cache.
    #[serde(default)]
    pub refresh: bool,
}

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Dashboard)>>>;

/// One cache per database URL: the workers of a server share it, and tests running
/// several servers in one process do not see each other's figures.
fn slot(database_url: &str) -> Slot {
    static SLOTS: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    let slots = SLOTS.get_or_init(Mutex::default);
    let mut slots = slots
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slots.entry(database_url.to_owned()).or_default().clone()
}

impl StatusCounts {
    /// From `(status, count)` rows of `subscriber_counts`.
    pub(crate) fn from_rows(rows: &[(String, i64)]) -> StatusCounts {
        let count = |s: &str| {
            rows.iter()
                .filter(|(k, _)| k == s)
                .map(|(_, n)| *n)
                .sum::<i64>()
        };
        StatusCounts {
            active: count("active"),
            suspended: count("suspended"),
            disabled: count("disabled"),
            total: rows.iter().map(|(_, n)| *n).sum(),
        }
    }
}

fn build(c: DashboardCounts, auth: AuthRates) -> Dashboard {
    Dashboard {
        computed_at: Timestamp::now(),
        age_secs: 0,
        subscribers: StatusCounts::from_rows(&c.by_status),
        online: Online {
            sessions: c.online_sessions,
            open_sessions_started_last_hour: c.sessions_started_last_hour,
        },
        top_users: TopUsers {
            period_start: Timestamp::from(c.month_start),
            items: c
                .top_users
                .into_iter()
                .map(|u| TopUserView {
                    subscriber_id: u.subscriber_id,
                    username: u.username,
                    download_octets: u.download_octets,
                    upload_octets: u.upload_octets,
                    total_octets: u.download_octets.saturating_add(u.upload_octets),
                })
                .collect(),
        },
        auth,
    }
}

/// Counts for the dashboard, at most 30 s old.
#[utoipa::path(
    operation_id = "getDashboard",
    tag = "dashboard",
    responses(
        (status = 200, description = "The figures", body = Dashboard),
    ),
    security(("bearer" = []))
)]
#[get("/dashboard")]
pub(crate) async fn show(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<DashboardQuery>,
) -> Result<web::Json<Dashboard>, ApiError> {
    session.require(Permission::Read)?;
    let slot = slot(&state.config.database.database_url);
    let mut cached = slot.lock().await;
    if !q.refresh
        && let Some((at, d)) = cached.as_ref()
        && at.elapsed() < MAX_AGE
    {
        let mut d = d.clone();
        d.age_secs = at.elapsed().as_secs();
        return Ok(web::Json(d));
    }
    let counts = sessions::dashboard_counts(state.reads.store().await.pool(), TOP_USERS).await?;
    let d = build(counts, AuthRates::read(&state).await);
    *cached = Some((Instant::now(), d.clone()));
    Ok(web::Json(d))
}
