//! `POST /plans/{id}/apply`: a plan's current rate to its online subscribers now (RFC 5176
//! CoA), as a job ([`crate::jobs`]).

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpResponse, post, web};
use proisp_coa::Target;
use proisp_model::NasVendor;
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::Request;
use proisp_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use super::{coa_target, identify, lane_target, session_key};
use crate::audit::{self, Entry};
use crate::data::sessions;
use crate::error::{ApiError, ErrorBody};
use crate::jobs;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

/// `POST /plans/{id}/apply`: the job that applies it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStarted {
    /// The job: `GET /api/v1/jobs/{job_id}` shows its progress.
    pub job_id: i64,
}

/// What applying a plan does for one open session.
#[derive(Debug)]
pub enum Change {
    /// Nothing: the NAS is unknown, not a MikroTik (the rate is a MikroTik attribute) or
    /// a range; the session gets the rate at its next login.
    Skip {
        /// The NAS, when known.
        nas_id: Option<i64>,
    },
    /// A CoA-Request through the NAS's lane.
    Send {
        /// The NAS (boxed: a [`Target`] is large beside a skip).
        target: Box<Target>,
        /// The session, for the lane's newest-change-wins rule.
        key: String,
        /// The request.
        request: Request,
    },
}

/// Apply a plan's current rate to its online subscribers now: a CoA-Request with the
/// plan's Mikrotik-Rate-Limit (the fair-usage rate for subscribers whose quota is spent)
/// to every open session on a MikroTik NAS, through each NAS's lane (its own window, 32 by
/// default; a NAS that stops answering defers its own changes and holds up no other's).
/// Without this, a plan change reaches each subscriber at the next login. Answers 202 at
/// once with the job that does it (`Location: /api/v1/jobs/{id}`); the job survives a
/// restart of the adminapi running it.
#[utoipa::path(
    operation_id = "applyPlan",
    tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    responses(
        (status = 202, description = "The job that applies it", body = JobStarted,
         headers(("Location" = String, description = "/api/v1/jobs/{job_id}"))),
        (status = 404, description = "No such plan", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/plans/{id}/apply")]
pub(crate) async fn apply_plan(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::PlanWrite)?;
    let plan = state
        .store
        .plan(*id)
        .await?
        .ok_or(ApiError::NotFound { entity: "plan" })?;
    let job_id = jobs::start_apply(&state, &session.admin.username, plan.id).await?;
    let started = JobStarted { job_id };
    audit::record_event(
        &state.db,
        &session.actor(),
        Entry::new("plan.apply", "plan", plan.id).after(&started),
    )
    .await;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/jobs/{job_id}")))
        .json(started))
}

/// What applying plan `plan_id` does for each of its subscribers' open sessions: the rate
/// read now, so a job run again after a restart applies the plan as it is then.
pub async fn changes(state: &AppState, plan_id: i64) -> Result<Vec<Change>, StoreError> {
    let Some(plan) = state.store.plan(plan_id).await? else {
        return Ok(Vec::new());
    };
    let full = plan.rate.to_mikrotik();
    let fup = plan.fup_rate.as_ref().map(|r| r.to_mikrotik());
    let nases: HashMap<i64, _> = state
        .store
        .all_nas()
        .await?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    let sessions = sessions::plan_live_sessions(&state.db, plan.id).await?;
    Ok(sessions
        .iter()
        .map(|s| {
            let Some(nas) = nases.get(&s.session.nas_id) else {
                return Change::Skip { nas_id: None };
            };
            let addr = match coa_target(nas) {
                Ok(addr) if nas.vendor == NasVendor::Mikrotik => addr,
                _ => {
                    return Change::Skip {
                        nas_id: Some(nas.id),
                    };
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
            Change::Send {
                target: Box::new(lane_target(nas, addr)),
                key: session_key(nas.id, &s.session.acct_session_id),
                request,
            }
        })
        .collect())
}
