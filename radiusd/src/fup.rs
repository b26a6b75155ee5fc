//! Fair usage on the spot: CoA or Disconnect-Requests when a quota is spent, and the full
//! speed back when the billing period ends (DESIGN.md, accounting path).
//!
//! A crossing is detected inside the accounting transaction that pushed usage past the
//! quota (`proisp_add_usage` sets `subscribers.fup_until`), and only the writer that
//! committed it is told, so one radiusd acts on it even when a pair shares the database.
//! Acting means, in order: the subscriber's cache entry is refreshed and invalidated, so
//! new logins get the fair-usage speed; then every open session of the subscriber gets a
//! CoA-Request with the plan's fair-usage Mikrotik-Rate-Limit, or a Disconnect-Request
//! when the plan disconnects. The period end is claimed the same way, in one UPDATE.
//!
//! Every request goes through the NAS's lane (`proisp_coa::Dispatcher`): its window bounds
//! what is in flight to it, and a NAS that stops answering holds only its own changes. A
//! request goes over the NAS's RadSec connection when the NAS takes them there
//! (`tls_coa`) and has one open ([`crate::links::Carrier`]), by UDP to its CoA port
//! otherwise.
//!
//! Rate changes are MikroTik attributes: sessions on NASes of other makes are left at
//! their speed until they log in again (and get the new one), except under plans that
//! disconnect, which works on any NAS.

use std::net::IpAddr;
use std::sync::Arc;

use proisp_coa::session_key;
use proisp_model::{FupAction, NasVendor, OpenSession};
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::Request;
use proisp_store::outbox::{CoaResult, RADIUSD};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::db;
use crate::links::coa_target;
use crate::state::Shared;

/// Why a subscriber's sessions change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Usage crossed the quota: slow down or disconnect.
    QuotaSpent,
    /// The billing period ended: full speed again.
    PeriodOver,
}

impl Change {
    /// The `reason` of its coa.result events.
    fn reason(self) -> &'static str {
        match self {
            Change::QuotaSpent => "fup",
            Change::PeriodOver => "period_over",
        }
    }
}

/// Quota crossings waiting for the fair-usage task. A full queue (a storm of crossings
/// while NASes answer CoA slowly) drops the crossing, counted
/// (`radius_fup_crossings_dropped_total`): its subscriber keeps the full speed until the
/// next login, which gets the fair-usage speed.
pub(crate) const CROSSINGS: usize = 4096;

/// Crossings acted on at once; the rest wait in the queue.
const ENFORCING: usize = 64;

/// Acts on every crossing the writers report, each in its own task, at most
/// [`ENFORCING`] at once (each NAS's lane bounds what is in flight to it).
pub(crate) async fn follow_crossings(shared: Arc<Shared>, mut crossings: mpsc::Receiver<String>) {
    let running = Arc::new(Semaphore::new(ENFORCING));
    while let Some(user) = crossings.recv().await {
        let Ok(permit) = running.clone().acquire_owned().await else {
            return;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            enforce(&shared, &user, Change::QuotaSpent).await;
            drop(permit);
        });
    }
}

/// [`enforce`] for every one of `users`, at most [`ENFORCING`] at once (the billing
/// period's end for thousands of subscribers); returns when all are done.
pub(crate) async fn enforce_all(shared: &Arc<Shared>, users: Vec<String>, change: Change) {
    let mut running = JoinSet::new();
    for user in users {
        if running.len() >= ENFORCING {
            running.join_next().await;
        }
        let shared = shared.clone();
        running.spawn(async move { enforce(&shared, &user, change).await });
    }
    while running.join_next().await.is_some() {}
}

/// Refreshes `user`'s cached entry and changes their open sessions.
pub(crate) async fn enforce(shared: &Shared, user: &str, change: Change) {
    tracing::info!(user, ?change, "fair usage changes");
    if let Err(e) = shared.store.refresh_subscriber(user).await {
        tracing::warn!(error = %e, user, "cannot refresh the cached subscriber");
    }
    shared.lookup.forget(user);
    let plan = match shared.store.subscriber(user).await {
        Ok(Some(sub)) => shared.plans.load().get(&sub.plan_id).cloned(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, user, "cannot read the subscriber; sessions left as they are");
            return;
        }
    };
    let Some(plan) = plan else { return };
    let sessions = match db::open_sessions(&shared.store, user).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, user, "cannot list open sessions; they keep their speed until the next login");
            return;
        }
    };
    for session in sessions {
        let Some(nas) = shared.nas.load().get(session.nas_id).cloned() else {
            continue;
        };
        let rate = match change {
            Change::QuotaSpent => plan.fup_rate_limit.as_deref(),
            Change::PeriodOver => Some(plan.rate_limit.as_str()),
        };
        let disconnect =
            change == Change::QuotaSpent && plan.plan.fup_action == FupAction::Disconnect;
        let request = if disconnect {
            Request::disconnect(user, session.acct_session_id.as_str())
        } else {
            match (rate, nas.vendor) {
                (Some(rate), NasVendor::Mikrotik) => Request::coa(
                    user,
                    session.acct_session_id.as_str(),
                )
                .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, rate),
                _ => continue,
            }
        };
        let request = identify(request, &session);
        let kind = if disconnect { "disconnect" } else { "coa" };
        let Some(target) = coa_target(&nas) else {
            tracing::warn!(nas = %nas.name, user, kind, "NAS is a range without RadSec CoA: no address for a CoA");
            continue;
        };
        let key = session_key(nas.id, &session.acct_session_id);
        let outcome = shared
            .lanes
            .send(&target, Some(key.as_str()), request)
            .await;
        shared.metrics.coa(disconnect, &outcome);
        tracing::info!(user, session = session.acct_session_id, nas = %nas.name, kind, %outcome, "dynamic authorization");
        let result = CoaResult {
            username: user,
            acct_session_id: &session.acct_session_id,
            nas: &nas.name,
            request: kind,
            reason: change.reason(),
            result: outcome.code(),
            detail: outcome.to_string(),
            error_cause: outcome.error_cause(),
        };
        if let Err(e) = shared.store.append_events(&[result.event(RADIUSD)]).await {
            tracing::warn!(error = %e, user, "cannot write the coa.result event");
        }
    }
}

fn identify(request: Request, session: &OpenSession) -> Request {
    match session.framed_ip {
        Some(IpAddr::V4(ip)) => request.with_framed_ip(ip),
        _ => request,
    }
}
