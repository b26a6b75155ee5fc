//! `POST /plans/{id}/apply`: a plan's current rate to its online subscribers now (RFC 5176
//! CoA).

use actix_web::{post, web};
use proisp_coa::Outcome;
use proisp_model::NasVendor;
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::Request;
use serde::Serialize;
use utoipa::ToSchema;

use super::{client, coa_target, identify};
use crate::audit::{self, Entry};
use crate::data::sessions;
use crate::error::ApiError;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

/// Live plan changes in flight at once.
const APPLY_CONCURRENCY: usize = 64;

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
    audit::record_event(
        &state.db,
        &session.actor(),
        Entry::new("plan.apply", "plan", plan.id).after(&report),
    )
    .await;
    Ok(web::Json(report))
}
