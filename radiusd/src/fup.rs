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
//! A request goes over the NAS's RadSec connection when the NAS takes them there
//! (`tls_coa`) and has one open ([`crate::links`]), by UDP to its CoA port
//! otherwise.
//!
//! Rate changes are MikroTik attributes: sessions on NASes of other makes are left at
//! their speed until they log in again (and get the new one), except under plans that
//! disconnect, which works on any NAS.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use proisp_coa::{Client, Outcome};
use proisp_model::{FupAction, Nas, NasVendor, OpenSession};
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::Request;
use tokio::sync::{Semaphore, mpsc};

use crate::db;
use crate::state::Shared;

/// Why a subscriber's sessions change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Usage crossed the quota: slow down or disconnect.
    QuotaSpent,
    /// The billing period ended: full speed again.
    PeriodOver,
}

/// The CoA client built from the configuration.
pub(crate) fn client(shared: &Shared) -> Client {
    Client::new(shared.config.coa)
}

/// Quota crossings waiting for the fair-usage task. A full queue (a storm of crossings
/// while NASes answer CoA slowly) drops the crossing, counted
/// (`radius_fup_crossings_dropped_total`): its subscriber keeps the full speed until the
/// next login, which gets the fair-usage speed.
pub(crate) const CROSSINGS: usize = 4096;

/// Crossings acted on at once; the rest wait in the queue.
const ENFORCING: usize = 64;

/// Acts on every crossing the writers report, each in its own task, at most
/// [`ENFORCING`] at once.
pub(crate) async fn follow_crossings(shared: Arc<Shared>, mut crossings: mpsc::Receiver<String>) {
    let client = client(&shared);
    let running = Arc::new(Semaphore::new(ENFORCING));
    while let Some(user) = crossings.recv().await {
        let Ok(permit) = running.clone().acquire_owned().await else {
            return;
        };
        let shared = shared.clone();
        let client = client.clone();
        tokio::spawn(async move {
            enforce(&shared, &client, &user, Change::QuotaSpent).await;
            drop(permit);
        });
    }
}

/// Refreshes `user`'s cached entry and changes their open sessions.
pub(crate) async fn enforce(shared: &Shared, client: &Client, user: &str, change: Change) {
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
        let (transport, outcome) = match over_radsec(shared, client, &nas, &request).await {
            Some(outcome) => ("radsec", outcome),
            None => {
                // A NAS configured as a range has no single address to send to.
                let full = if nas.network.is_ipv4() { 32 } else { 128 };
                if nas.prefix_len < full {
                    tracing::warn!(nas = %nas.name, user, kind, "NAS is a range with no RadSec connection for it: no address for a CoA");
                    continue;
                }
                let target = SocketAddr::new(nas.network, nas.coa_port);
                ("udp", client.send(target, &nas.secret, &request).await)
            }
        };
        let index = match &outcome {
            Outcome::Ack => 0,
            Outcome::Nak { .. } => 1,
            Outcome::Timeout { .. } => 2,
            _ => 3,
        };
        shared.metrics.coa(disconnect, index);
        tracing::info!(user, session = session.acct_session_id, nas = %nas.name, kind, transport, %outcome, "dynamic authorization");
    }
}

/// Sends `request` over a RadSec connection of `nas` when the NAS takes CoA there
/// (`tls_coa`) and has one open; `None` when it was not sent so, for UDP to take over.
///
/// One copy, with as much patience as the UDP client has over all its tries: a request
/// is not retransmitted on a reliable connection (RFC 6613 §2.6.1).
async fn over_radsec(
    shared: &Shared,
    client: &Client,
    nas: &Nas,
    request: &Request,
) -> Option<Outcome> {
    if !nas.tls.coa {
        return None;
    }
    let config = client.config();
    let wait = config
        .timeout
        .saturating_mul(config.retries.saturating_add(1));
    shared.links.send(nas.id, request, wait).await
}

fn identify(request: Request, session: &OpenSession) -> Request {
    match session.framed_ip {
        Some(IpAddr::V4(ip)) => request.with_framed_ip(ip),
        _ => request,
    }
}
