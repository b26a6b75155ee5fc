//! Sessions: who is online, history and usage per subscriber, kick (RFC 5176 Disconnect)
//! and live plan changes (RFC 5176 CoA), in three files by concern: [`live`] (the online
//! list and kick), [`past`] (closed sessions and usage per period) and [`apply`] (a
//! plan's rate to its online subscribers).
//!
//! ```text
//! GET  /sessions                            open sessions (nas_id, username, subscriber_id)
//! POST /sessions/{id}/kick                  Disconnect-Request to the session's NAS
//! GET  /subscribers/{id}/sessions/history   closed sessions, newest first
//! GET  /subscribers/{id}/usage              usage per billing period, newest first
//! POST /plans/{id}/apply                    CoA with the plan's rate to its online subscribers
//! ```
//!
//! Byte counts are named by the subscriber's direction, as in `sql/0002_accounting.sql`:
//! `download_octets` is what the subscriber received (Acct-Output-Octets), `upload_octets`
//! what they sent (Acct-Input-Octets).

pub mod apply;
pub mod live;
pub mod past;

use std::net::{IpAddr, SocketAddr};

use proisp_coa::Target;
use proisp_model::Nas;
use proisp_radius::dynauth::Request;

use crate::error::ApiError;

pub(crate) use apply::apply_plan;
pub(crate) use live::{kick, list};
pub(crate) use past::{history, usage};

/// Largest page of any list here.
const MAX_LIMIT: i64 = 500;
/// Default page size.
const DEFAULT_LIMIT: i64 = 50;

fn limit(v: Option<i64>) -> Result<i64, ApiError> {
    let l = v.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&l) {
        Ok(l)
    } else {
        Err(ApiError::invalid(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        ))
    }
}

/// The lane target of `nas`, whose CoA server is at `addr`.
fn lane_target(nas: &Nas, addr: SocketAddr) -> Target {
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

/// What a lane knows a change's session by: a newer change for the same key replaces a
/// queued older one.
fn session_key(nas_id: i64, acct_session_id: &str) -> String {
    format!("{nas_id}/{acct_session_id}")
}

/// Where a NAS's Dynamic Authorization server is, or 409 for a NAS configured as a range.
fn coa_target(nas: &Nas) -> Result<SocketAddr, ApiError> {
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
fn identify(request: Request, framed_ip: Option<IpAddr>) -> Request {
    match framed_ip {
        Some(IpAddr::V4(ip)) => request.with_framed_ip(ip),
        _ => request,
    }
}
