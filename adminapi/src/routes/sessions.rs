//! Sessions: who is online, history and usage per subscriber, kick (RFC 5176 Disconnect)
//! and live plan changes (RFC 5176 CoA), in four files by concern: [`live`] (the online
//! list and kick), [`lookup`] (sessions by address at a time), [`past`] (closed sessions
//! and usage per period) and [`apply`] (a plan's rate to its online subscribers).
//!
//! ```text
//! GET  /sessions                            open sessions (nas_id, username, subscriber_id)
//! GET  /sessions/history                    by IP, MAC or user name at a time, open and
//!                                           closed (audited)
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
pub mod lookup;
pub mod past;
pub mod query;

use crate::error::ApiError;

pub(crate) use apply::apply_plan;
pub(crate) use live::{kick, list};
pub(crate) use lookup::find;
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
