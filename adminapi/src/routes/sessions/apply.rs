//! `POST /plans/{id}/apply`: a plan's current rate to its online subscribers now (RFC 5176
//! CoA).

use actix_web::{post, web};
use futures_util::future::join_all;
use proisp_coa::Outcome;
use proisp_model::NasVendor;
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::Request;
use serde::Serialize;
use utoipa::ToSchema;

use super::{coa_target, identify, lane_target};
use crate::audit::{self, Entry};
use crate::data::sessions;
use crate::error::ApiError;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

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
    /// Not sent yet: the NAS is marked unreachable. The change waits in its lane and goes
    /// out when the NAS shows life (a newer change for the session replaces it).
    pub deferred: u32,
    /// Not sent: the NAS is not a MikroTik (the rate is a MikroTik attribute), or it is
    /// configured as a range (these sessions get the new rate at their next login); or a
    /// newer change for the session took its place, or the NAS rebooted meanwhile.
    pub skipped: u32,
    /// Socket or encoding errors.
    pub error: u32,
}

/// Apply a plan's current rate to its online subscribers now: a CoA-Request with the
/// plan's Mikrotik-Rate-Limit (the fair-usage rate for subscribers whose quota is spent)
/// to every open session on a MikroTik NAS, through each NAS's lane (its own window, 32 by
/// default). Without this, a plan change reaches each subscriber at the next login.
/// Answers once every NAS has answered, timed out, or been found unreachable (its changes
/// then wait for it and count as `deferred`).
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
        let key = super::session_key(nas.id, &s.session.acct_session_id);
        jobs.push((lane_target(nas, target), key, request));
    }
    // Each change goes through its NAS's lane: a NAS's window bounds what is in flight to
    // it, and a silent NAS defers its own changes without holding anyone else's.
    let outcomes = join_all(jobs.iter().map(|(target, key, request)| {
        state
            .lanes
            .send(target, Some(key.as_str()), request.clone())
    }))
    .await;
    for outcome in outcomes {
        match outcome {
            Outcome::Ack => report.ack += 1,
            Outcome::Nak { .. } => report.nak += 1,
            Outcome::Timeout { .. } => report.timeout += 1,
            Outcome::Deferred => report.deferred += 1,
            Outcome::Superseded | Outcome::Dropped => report.skipped += 1,
            _ => report.error += 1,
        }
    }
    audit::record_event(
        &state.db,
        &session.actor(),
        Entry::new("plan.apply", "plan", plan.id).after(&report),
    )
    .await;
    Ok(web::Json(report))
}
