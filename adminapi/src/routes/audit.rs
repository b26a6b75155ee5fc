//! `GET /audit`.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{self, Query, Record};
use crate::error::ApiError;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Entries, newest first.
    pub items: Vec<Record>,
    /// Pass as `before_id` for the next page; null on the last.
    pub next_before_id: Option<i64>,
}

/// The audit log, newest first, with filters.
#[utoipa::path(
    operation_id = "listAudit",
    tag = "audit",
    params(Query),
    responses(
        (status = 200, description = "A page", body = AuditPage),
    ),
    security(("bearer" = []))
)]
#[get("/audit")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<Query>,
) -> Result<web::Json<AuditPage>, ApiError> {
    session.require(Permission::AuditRead)?;
    let (items, next_before_id) = audit::list(state.reads.store().await.pool(), &q).await?;
    Ok(web::Json(AuditPage {
        items,
        next_before_id,
    }))
}
