//! Where adminapi's CoA and Disconnect-Requests go: a NAS's Dynamic Authorization server
//! as a lane target, and the RFC 5176 §3 identification of a session.

use std::net::{IpAddr, SocketAddr};

use proisp_coa::{Outcome, Target};
use proisp_model::Nas;
use proisp_radius::dynauth::Request;
use proisp_store::Store;
use proisp_store::outbox::{ADMINAPI, CoaResult};

use crate::error::ApiError;

/// One CoA- or Disconnect-Request's end, as a `coa.result` event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent<'a> {
    /// The subscriber.
    pub username: &'a str,
    /// The session's Acct-Session-Id.
    pub acct_session_id: &'a str,
    /// The NAS's name.
    pub nas: &'a str,
    /// `coa` or `disconnect`.
    pub request: &'a str,
    /// `admin` (a kick, a plan applied) or `command` (billing).
    pub reason: &'a str,
}

/// Writes the `coa.result` event of `sent` ending as `outcome`. Its own transaction (no
/// change goes with it); a failure is logged, not returned: the NAS acted either way.
pub(crate) async fn record(store: &Store, sent: Sent<'_>, outcome: &Outcome) {
    let result = CoaResult {
        username: sent.username,
        acct_session_id: sent.acct_session_id,
        nas: sent.nas,
        request: sent.request,
        reason: sent.reason,
        result: outcome.code(),
        detail: outcome.to_string(),
        error_cause: outcome.error_cause(),
    };
    if let Err(e) = store.append_events(&[result.event(ADMINAPI)]).await {
        tracing::warn!(error = %e, user = sent.username, "cannot write the coa.result event");
    }
}

/// The lane target of `nas`, whose CoA server is at `addr`.
pub(crate) fn lane_target(nas: &Nas, addr: SocketAddr) -> Target {
    Target {
        nas_id: nas.id,
        name: nas.name.clone(),
        addr: Some(addr),
        secret: nas.secret.clone(),
        window: nas.coa_lane.window,
        rate: nas.coa_lane.rate,
        stream: false,
    }
}

/// Where a NAS's Dynamic Authorization server is, or 409 for a NAS configured as a range.
pub(crate) fn coa_target(nas: &Nas) -> Result<SocketAddr, ApiError> {
    let full = if nas.network.is_ipv4() { 32 } else { 128 };
    if nas.prefix_len < full {
        return Err(ApiError::Conflict {
            message: format!(
                "NAS {} is configured as the range {}/{}: no single address to send to",
                nas.name, nas.network, nas.prefix_len
            ),
            field: None,
        });
    }
    Ok(SocketAddr::new(nas.network, nas.coa_port))
}

/// Identifies `s` the RFC 5176 §3 way: User-Name, Acct-Session-Id, Framed-IP-Address.
pub(crate) fn identify(request: Request, framed_ip: Option<IpAddr>) -> Request {
    match framed_ip {
        Some(IpAddr::V4(ip)) => request.with_framed_ip(ip),
        _ => request,
    }
}
