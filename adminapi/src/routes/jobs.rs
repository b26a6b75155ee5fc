//! Jobs: changes that touch many sessions ([`crate::jobs`]), and CSV imports
//! (`/subscribers/imports`, where their progress is).
//!
//! ```text
//! GET    /jobs/{id}   its state and counts, in all and per NAS
//! DELETE /jobs/{id}   cancels it (no more changes are handed to the NAS lanes; an
//!                     import writes no part after)
//! ```

use std::time::SystemTime;

use actix_web::{HttpResponse, delete, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::error::{ApiError, ErrorBody};
use crate::jobs::{Counts, NasCounts};
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// A job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Id.
    pub id: i64,
    /// What it does: `plan.apply` or `subscriber.import`.
    pub kind: String,
    /// What it does it to: the plan's id; null for an import.
    pub subject_id: Option<i64>,
    /// `running`, `done` or `cancelled`.
    pub state: String,
    /// Its counts so far (a plan's apply; an import's are at
    /// `/subscribers/imports/{id}`).
    pub totals: Counts,
    /// Its counts per NAS.
    pub nas: Vec<NasCounts>,
    /// The admin who started it.
    pub created_by: String,
    /// When, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last progress, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// When it ended, RFC 3339 UTC; null while it runs.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

async fn load(state: &AppState, id: i64) -> Result<JobView, ApiError> {
    let client = state
        .db
        .get()
        .await
        .map_err(proisp_store::StoreError::from)?;
    let row = client
        .query_opt(
            "SELECT id, kind, subject_id, state, totals, nas, created_by, created_at, \
                 updated_at, finished_at FROM jobs WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(proisp_store::StoreError::from)?
        .ok_or(ApiError::NotFound { entity: "job" })?;
    let totals: serde_json::Value = row.get(4);
    let nas: serde_json::Value = row.get(5);
    Ok(JobView {
        id: row.get(0),
        kind: row.get(1),
        subject_id: row.get(2),
        state: row.get(3),
        // Written by this build's runner; a value it cannot read shows as zeros.
        totals: serde_json::from_value(totals).unwrap_or_default(),
        nas: serde_json::from_value(nas).unwrap_or_default(),
        created_by: row.get(6),
        created_at: row.get::<_, SystemTime>(7).into(),
        updated_at: row.get::<_, SystemTime>(8).into(),
        finished_at: row.get::<_, Option<SystemTime>>(9).map(Timestamp::from),
    })
}

/// A job's state and counts.
#[utoipa::path(
    operation_id = "getJob",
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/jobs/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<JobView>, ApiError> {
    session.require(Permission::Read)?;
    Ok(web::Json(load(&state, *id).await?))
}

/// Cancel a running job: a plan's apply hands no more changes to the NAS lanes (those
/// already handed over still go out); an import writes no part after the one it is
/// writing (the parts written stay). 409 when it has ended.
#[utoipa::path(
    operation_id = "cancelJob",
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "It has ended", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/jobs/{id}")]
pub(crate) async fn cancel(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let job = load(&state, *id).await?;
    session.require(if job.kind == "subscriber.import" {
        Permission::SubscriberWrite
    } else {
        Permission::PlanWrite
    })?;
    let client = state
        .db
        .get()
        .await
        .map_err(proisp_store::StoreError::from)?;
    // An import's file (it holds passwords) goes with it.
    let cancelled = client
        .execute(
            "WITH file AS (UPDATE import_jobs SET body = NULL WHERE job_id = $1 \
                 AND EXISTS (SELECT FROM jobs WHERE id = $1 AND state = 'running')) \
             UPDATE jobs SET state = 'cancelled', finished_at = now(), updated_at = now() \
             WHERE id = $1 AND state = 'running'",
            &[&*id],
        )
        .await
        .map_err(proisp_store::StoreError::from)?;
    let job = load(&state, *id).await?;
    if cancelled == 0 {
        return Err(ApiError::Conflict {
            message: format!("job {} has ended ({})", job.id, job.state),
            field: None,
        });
    }
    audit::record_event(
        &state.db,
        &session.actor(),
        Entry::new("job.cancel", "job", job.id),
    )
    .await;
    Ok(HttpResponse::Ok().json(job))
}
