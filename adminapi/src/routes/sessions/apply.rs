//! `POST /plans/{id}/apply`: a plan's current rate to its online subscribers now (RFC 5176
//! CoA), as a job ([`crate::jobs`]).

use actix_web::http::header;
use actix_web::{HttpResponse, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{self, Entry};
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
