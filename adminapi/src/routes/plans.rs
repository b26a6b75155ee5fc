//! `/plans`: the pattern every resource follows.
//!
//! - handlers take `Session` and call `require` first;
//! - bodies arrive as `Json<Value>` and go through [`body::parse`] (422 naming the field)
//!   into an input type with `deny_unknown_fields`, which validates and turns itself
//!   into the store's type;
//! - writes go through [`proisp_store::Store`]'s `*_journaled` methods, whose journal
//!   records the audit entry ([`audit::record_in`]) with the view before and after in the
//!   write's own transaction, and its event ([`crate::events`]); Redis and the invalidation radiusd listens to follow the
//!   commit;
//! - PATCH is an RFC 7396 merge patch over the current state in input form.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use proisp_model::{Burst, FupAction, Plan, QuotaPeriod, RateLimit};
use proisp_store::{NewPlan, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::body;
use crate::error::{ApiError, ErrorBody};
use crate::events;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

/// A download/upload pair, kbit/s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Speeds {
    /// Subscriber's download, kbit/s.
    #[schema(maximum = 2147483647)]
    pub download_kbps: u32,
    /// Subscriber's upload, kbit/s.
    #[schema(maximum = 2147483647)]
    pub upload_kbps: u32,
}

/// MikroTik burst.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    /// Download burst rate, kbit/s.
    #[schema(maximum = 2147483647)]
    pub download_kbps: u32,
    /// Upload burst rate, kbit/s.
    #[schema(maximum = 2147483647)]
    pub upload_kbps: u32,
    /// Download average below which burst is allowed, kbit/s.
    #[schema(maximum = 2147483647)]
    pub threshold_download_kbps: u32,
    /// Upload average below which burst is allowed, kbit/s.
    #[schema(maximum = 2147483647)]
    pub threshold_upload_kbps: u32,
    /// Averaging window, seconds.
    #[schema(maximum = 2147483647)]
    pub time_secs: u32,
}

/// A plan as created or replaced (PUT), and the shape PATCH merges into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// Unique name, 1 to 64 characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Download while within quota, kbit/s.
    #[schema(maximum = 2147483647)]
    pub download_kbps: u32,
    /// Upload while within quota, kbit/s.
    #[schema(maximum = 2147483647)]
    pub upload_kbps: u32,
    /// Burst.
    #[serde(default)]
    pub burst: Option<BurstSpec>,
    /// Queue priority 1 (highest) to 8.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 8)]
    pub priority: Option<u8>,
    /// Guaranteed (limit-at) speeds.
    #[serde(default)]
    pub min: Option<Speeds>,
    /// Octets per billing period before fair usage applies; absent: unlimited.
    #[serde(default)]
    #[schema(maximum = 9223372036854775807_u64)]
    pub quota_bytes: Option<u64>,
    /// The billing period the quota applies to: `day`, `week` or `month` (cut in UTC).
    #[serde(default = "default_quota_period")]
    #[schema(pattern = "^(day|week|month)$")]
    pub quota_period: String,
    /// Speeds once the quota is spent.
    #[serde(default)]
    pub fup: Option<Speeds>,
    /// `throttle` (to `fup`) or `disconnect`.
    #[serde(default = "default_fup_action")]
    #[schema(pattern = "^(throttle|disconnect)$")]
    pub fup_action: String,
    /// Session-Timeout, seconds.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2147483647)]
    pub session_timeout_secs: Option<u32>,
    /// Idle-Timeout, seconds.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2147483647)]
    pub idle_timeout_secs: Option<u32>,
    /// Acct-Interim-Interval, seconds.
    #[serde(default = "default_interim")]
    #[schema(minimum = 1, maximum = 2147483647)]
    pub interim_interval_secs: u32,
    /// Framed-Pool.
    #[serde(default)]
    #[schema(min_length = 1, pattern = r"\S")]
    pub pool: Option<String>,
    /// Days a renewal extends the expiry by.
    #[serde(default = "default_validity")]
    #[schema(maximum = 2147483647)]
    pub validity_days: u32,
    /// Price per period in the smallest currency unit.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub price_cents: i64,
}

fn default_fup_action() -> String {
    FupAction::Throttle.as_str().to_owned()
}

fn default_quota_period() -> String {
    QuotaPeriod::Month.as_str().to_owned()
}

fn default_interim() -> u32 {
    300
}

fn default_validity() -> u32 {
    30
}

/// A plan as the API shows it: the settings of [`PlanInput`] (as fields of its own, not
/// flattened: the input's schema refuses other fields, which a view has), its id, rate
/// and version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanView {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Download while within quota, kbit/s.
    pub download_kbps: u32,
    /// Upload while within quota, kbit/s.
    pub upload_kbps: u32,
    /// Burst.
    pub burst: Option<BurstSpec>,
    /// Queue priority 1 (highest) to 8.
    pub priority: Option<u8>,
    /// Guaranteed (limit-at) speeds.
    pub min: Option<Speeds>,
    /// Octets per billing period before fair usage applies; null: unlimited.
    pub quota_bytes: Option<u64>,
    /// The billing period the quota applies to: `day`, `week` or `month`.
    pub quota_period: String,
    /// Speeds once the quota is spent.
    pub fup: Option<Speeds>,
    /// `throttle` or `disconnect`.
    pub fup_action: String,
    /// Session-Timeout, seconds.
    pub session_timeout_secs: Option<u32>,
    /// Idle-Timeout, seconds.
    pub idle_timeout_secs: Option<u32>,
    /// Acct-Interim-Interval, seconds.
    pub interim_interval_secs: u32,
    /// Framed-Pool.
    pub pool: Option<String>,
    /// Days a renewal extends the expiry by.
    pub validity_days: u32,
    /// Price per period in the smallest currency unit.
    pub price_cents: i64,
    /// The Mikrotik-Rate-Limit radiusd sends.
    pub mikrotik_rate_limit: String,
    /// Changes with every write.
    pub version: i64,
}

impl events::Subject for PlanView {
    fn subject(&self) -> &str {
        &self.name
    }
}

/// `GET /plans`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    /// Every plan, by id.
    pub items: Vec<PlanView>,
}

impl From<&Plan> for PlanInput {
    fn from(p: &Plan) -> PlanInput {
        PlanInput {
            name: p.name.clone(),
            download_kbps: p.rate.download_kbps,
            upload_kbps: p.rate.upload_kbps,
            burst: p.rate.burst.as_ref().map(|b| BurstSpec {
                download_kbps: b.download_kbps,
                upload_kbps: b.upload_kbps,
                threshold_download_kbps: b.threshold_download_kbps,
                threshold_upload_kbps: b.threshold_upload_kbps,
                time_secs: b.time_secs,
            }),
            priority: p.rate.priority,
            min: p.rate.min.map(|(d, u)| Speeds {
                download_kbps: d,
                upload_kbps: u,
            }),
            quota_bytes: p.quota_bytes,
            quota_period: p.quota_period.as_str().to_owned(),
            fup: p.fup_rate.as_ref().map(|f| Speeds {
                download_kbps: f.download_kbps,
                upload_kbps: f.upload_kbps,
            }),
            fup_action: p.fup_action.as_str().to_owned(),
            session_timeout_secs: p.session_timeout_secs,
            idle_timeout_secs: p.idle_timeout_secs,
            interim_interval_secs: p.interim_interval_secs,
            pool: p.pool.clone(),
            validity_days: p.validity_days,
            price_cents: p.price_cents,
        }
    }
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> PlanView {
        let PlanInput {
            name,
            download_kbps,
            upload_kbps,
            burst,
            priority,
            min,
            quota_bytes,
            quota_period,
            fup,
            fup_action,
            session_timeout_secs,
            idle_timeout_secs,
            interim_interval_secs,
            pool,
            validity_days,
            price_cents,
        } = PlanInput::from(p);
        PlanView {
            id: p.id,
            name,
            download_kbps,
            upload_kbps,
            burst,
            priority,
            min,
            quota_bytes,
            quota_period,
            fup,
            fup_action,
            session_timeout_secs,
            idle_timeout_secs,
            interim_interval_secs,
            pool,
            validity_days,
            price_cents,
            mikrotik_rate_limit: p.rate.to_mikrotik(),
            version: p.version,
        }
    }
}

/// Largest value of an `integer` column.
const MAX_INT: u32 = i32::MAX as u32;

impl PlanInput {
    /// Validates and converts; errors name the field as the API spells it.
    pub fn to_new(&self) -> Result<NewPlan, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "name",
                "1 to 64 characters, no control characters",
            ));
        }
        let kbps = |field: &str, v: u32| {
            if v > MAX_INT {
                Err(ApiError::invalid(field, format!("at most {MAX_INT}")))
            } else {
                Ok(v)
            }
        };
        kbps("download_kbps", self.download_kbps)?;
        kbps("upload_kbps", self.upload_kbps)?;
        if let Some(p) = self.priority
            && !(1..=8).contains(&p)
        {
            return Err(ApiError::invalid("priority", "must be 1 to 8"));
        }
        let fup_action = FupAction::parse(&self.fup_action)
            .ok_or_else(|| ApiError::invalid("fup_action", "must be throttle or disconnect"))?;
        if fup_action == FupAction::Throttle && self.quota_bytes.is_some() && self.fup.is_none() {
            return Err(ApiError::invalid(
                "fup",
                "a plan with a quota that throttles needs the fair-usage speeds",
            ));
        }
        let quota_period = QuotaPeriod::parse(&self.quota_period)
            .ok_or_else(|| ApiError::invalid("quota_period", "must be day, week or month"))?;
        if self.quota_bytes.is_some_and(|q| i64::try_from(q).is_err()) {
            return Err(ApiError::invalid("quota_bytes", "too large"));
        }
        if self.pool.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(ApiError::invalid(
                "pool",
                "must not be empty (leave it out)",
            ));
        }
        Ok(NewPlan {
            name: name.to_owned(),
            rate: RateLimit {
                download_kbps: self.download_kbps,
                upload_kbps: self.upload_kbps,
                burst: self.burst.as_ref().map(|b| Burst {
                    download_kbps: b.download_kbps,
                    upload_kbps: b.upload_kbps,
                    threshold_download_kbps: b.threshold_download_kbps,
                    threshold_upload_kbps: b.threshold_upload_kbps,
                    time_secs: b.time_secs,
                }),
                priority: self.priority,
                min: self.min.as_ref().map(|m| (m.download_kbps, m.upload_kbps)),
            },
            quota_bytes: self.quota_bytes,
            quota_period,
            fup_rate: self.fup.as_ref().map(|f| RateLimit {
                download_kbps: f.download_kbps,
                upload_kbps: f.upload_kbps,
                ..RateLimit::default()
            }),
            fup_action,
            session_timeout_secs: self.session_timeout_secs,
            idle_timeout_secs: self.idle_timeout_secs,
            interim_interval_secs: self.interim_interval_secs,
            pool: self.pool.clone(),
            validity_days: self.validity_days,
            price_cents: self.price_cents,
        })
    }
}

/// The store's errors with its field names (`rate.burst.time_secs`, `fup_rate`) in the
/// API's spelling (`burst.time_secs`, `fup`).
fn plan_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid { field, reason } => {
            let field = field
                .strip_prefix("rate.")
                .map(str::to_owned)
                .or_else(|| {
                    field
                        .strip_prefix("fup_rate")
                        .map(|rest| format!("fup{rest}"))
                })
                .unwrap_or(field);
            ApiError::invalid(field, reason)
        }
        StoreError::Conflict { what } if what.contains("in use") => ApiError::Conflict {
            message: "the plan is in use by subscribers; move them to another plan first"
                .to_owned(),
            field: None,
        },
        other => other.into(),
    }
}

async fn load(state: &AppState, id: i64) -> Result<Plan, ApiError> {
    state
        .store
        .plan(id)
        .await
        .map_err(plan_error)?
        .ok_or(ApiError::NotFound { entity: "plan" })
}

/// Every plan.
#[utoipa::path(
    operation_id = "listPlans",
    tag = "plans",
    responses(
        (status = 200, description = "Plans by id", body = PlanList),
    ),
    security(("bearer" = []))
)]
#[get("/plans")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<PlanList>, ApiError> {
    session.require(Permission::Read)?;
    let plans = state
        .reads
        .store()
        .await
        .all_plans()
        .await
        .map_err(plan_error)?;
    Ok(web::Json(PlanList {
        items: plans.iter().map(PlanView::from).collect(),
    }))
}

/// One plan.
#[utoipa::path(
    operation_id = "getPlan",
    tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    responses(
        (status = 200, description = "The plan", body = PlanView),
    ),
    security(("bearer" = []))
)]
#[get("/plans/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<PlanView>, ApiError> {
    session.require(Permission::Read)?;
    Ok(web::Json(PlanView::from(&load(&state, *id).await?)))
}

/// Create a plan.
#[utoipa::path(
    operation_id = "createPlan",
    tag = "plans",
    request_body = PlanInput,
    responses(
        (status = 201, description = "Created", body = PlanView),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/plans")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    session: Session,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::PlanWrite)?;
    let input: PlanInput = body::parse(req.into_inner())?;
    let actor = session.actor();
    let plan = state
        .store
        .create_plan_journaled(&input.to_new()?, async |tx, plan| {
            let view = PlanView::from(plan);
            let entry = Entry::new("plan.create", "plan", plan.id).after(&view);
            audit::record_in(tx, &actor, entry).await?;
            events::plan(tx, "created", &view).await
        })
        .await
        .map_err(plan_error)?;
    let view = PlanView::from(&plan);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/plans/{}", plan.id)))
        .json(view))
}

async fn write(
    state: &AppState,
    session: &Session,
    id: i64,
    input: PlanInput,
    action: &'static str,
) -> Result<PlanView, ApiError> {
    let before = PlanView::from(&load(state, id).await?);
    let actor = session.actor();
    let plan = state
        .store
        .update_plan_journaled(id, &input.to_new()?, async |tx, plan| {
            let view = PlanView::from(plan);
            let entry = Entry::new(action, "plan", id).before(&before).after(&view);
            audit::record_in(tx, &actor, entry).await?;
            events::plan(tx, "updated", &view).await
        })
        .await
        .map_err(plan_error)?;
    Ok(PlanView::from(&plan))
}

/// Replace a plan's settings. Subscribers get them at their next login.
#[utoipa::path(
    operation_id = "replacePlan",
    tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    request_body = PlanInput,
    responses(
        (status = 200, description = "Updated", body = PlanView),
        (status = 409, description = "Conflict: a unique value is taken, or the change is refused in this state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[put("/plans/{id}")]
pub(crate) async fn replace(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<web::Json<PlanView>, ApiError> {
    session.require(Permission::PlanWrite)?;
    let input: PlanInput = body::parse(req.into_inner())?;
    Ok(web::Json(
        write(&state, &session, *id, input, "plan.update").await?,
    ))
}

/// Change some of a plan's settings (JSON merge patch, RFC 7396: `null` removes an
/// optional setting).
#[utoipa::path(
    operation_id = "updatePlan",
    tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = PlanView),
        (status = 409, description = "Conflict: a unique value is taken, or the change is refused in this state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/plans/{id}")]
pub(crate) async fn update(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<web::Json<PlanView>, ApiError> {
    session.require(Permission::PlanWrite)?;
    let current = load(&state, *id).await?;
    let mut merged = serde_json::to_value(PlanInput::from(&current)).map_err(ApiError::internal)?;
    let patch = req.into_inner();
    if !patch.is_object() {
        return Err(ApiError::invalid("body", "a merge patch is a JSON object"));
    }
    body::merge(&mut merged, patch);
    let input: PlanInput = body::parse(merged)?;
    Ok(web::Json(
        write(&state, &session, *id, input, "plan.update").await?,
    ))
}

/// Delete a plan nobody is on.
#[utoipa::path(
    operation_id = "deletePlan",
    tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Subscribers are on it", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/plans/{id}")]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::PlanWrite)?;
    let actor = session.actor();
    state
        .store
        .delete_plan_journaled(*id, async |tx, plan| {
            let view = PlanView::from(plan);
            let entry = Entry::new("plan.delete", "plan", plan.id).before(&view);
            audit::record_in(tx, &actor, entry).await?;
            events::plan(tx, "deleted", &view).await
        })
        .await
        .map_err(plan_error)?;
    Ok(HttpResponse::NoContent().finish())
}
