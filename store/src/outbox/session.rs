//! Session events stored as columns (sql/0022_compact_session_events.sql): the accounting
//! transaction writes the session's values, and the CloudEvent is built here when the row
//! is read — by proisp-events before it publishes, by tests that look into the outbox.
//!
//! ```no_run
//! # async fn f(client: &tokio_postgres::Client) -> Result<(), proisp_store::StoreError> {
//! use proisp_store::outbox::{EVENT_COLUMNS, cloud_event};
//! let sql = format!("SELECT {EVENT_COLUMNS} FROM event_outbox ORDER BY seq");
//! for row in client.query(&sql, &[]).await? {
//!     let json: String = cloud_event(&row, 0)?;
//! }
//! # Ok(()) }
//! ```

use std::time::SystemTime;

use serde::Serialize;

use super::{Envelope, RADIUSD, SUBJECT_PREFIX};
use crate::StoreError;

/// The select list [`cloud_event`] reads from `event_outbox`, in its order: the stored
/// CloudEvent of every other event, and a session event's columns. The SQL does what it
/// does best and cheapest on the read side: the NAS's and the framed address's text, and
/// `Acct-Unique-Session-Id` (the md5 of NAS, session id, user and start second, as
/// FreeRADIUS's `acct_unique` policy makes one).
pub const EVENT_COLUMNS: &str = "event::text, subject, username, created_at, id, \
     md5(nas_id || '/' || acct_session_id || '/' || username || '/' \
         || floor(extract(epoch FROM started_at))::bigint), \
     host(nas_address), nas_name, nas_port_id, host(framed_ip), calling_station_id, \
     acct_session_id, event_at, session_time_secs, upload_octets, download_octets, \
     terminate_cause, closed_by";

/// A session event's `data`, by FreeRADIUS's attribute names, borrowed from the row: a
/// value the NAS did not send is left out.
#[derive(Serialize)]
struct SessionData<'a> {
    #[serde(rename = "User-Name")]
    user_name: &'a str,
    #[serde(rename = "Acct-Session-Id")]
    acct_session_id: &'a str,
    #[serde(rename = "Acct-Unique-Session-Id")]
    unique_session_id: &'a str,
    #[serde(rename = "NAS-IP-Address", skip_serializing_if = "Option::is_none")]
    nas_ip_address: Option<&'a str>,
    #[serde(rename = "NAS-Identifier", skip_serializing_if = "Option::is_none")]
    nas_identifier: Option<&'a str>,
    #[serde(rename = "NAS-Port-Id", skip_serializing_if = "Option::is_none")]
    nas_port_id: Option<&'a str>,
    #[serde(rename = "Framed-IP-Address", skip_serializing_if = "Option::is_none")]
    framed_ip_address: Option<&'a str>,
    #[serde(rename = "Calling-Station-Id", skip_serializing_if = "Option::is_none")]
    calling_station_id: Option<&'a str>,
    #[serde(rename = "Event-Timestamp")]
    event_timestamp: String,
    #[serde(rename = "Acct-Session-Time", skip_serializing_if = "Option::is_none")]
    session_time: Option<i64>,
    #[serde(rename = "Acct-Input-Octets", skip_serializing_if = "Option::is_none")]
    input_octets: Option<i64>,
    #[serde(rename = "Acct-Output-Octets", skip_serializing_if = "Option::is_none")]
    output_octets: Option<i64>,
    /// In every stop: null when the NAS named no cause.
    #[serde(
        rename = "Acct-Terminate-Cause",
        skip_serializing_if = "Option::is_none"
    )]
    terminate_cause: Option<Option<&'a str>>,
    #[serde(rename = "ProISP-Closed-By", skip_serializing_if = "Option::is_none")]
    closed_by: Option<&'a str>,
}

/// The CloudEvent (structured JSON) of the outbox row `row`, whose [`EVENT_COLUMNS`]
/// start at column `at`: the stored one, or a session event's built from its columns.
/// The counters are in stops and interims, not in starts; a stop names its
/// `Acct-Terminate-Cause` (null when the NAS gave none) and how it was closed.
pub fn cloud_event(row: &tokio_postgres::Row, at: usize) -> Result<String, StoreError> {
    if let Some(stored) = row.try_get::<_, Option<String>>(at)? {
        return Ok(stored);
    }
    let subject: &str = row.try_get(at + 1)?;
    let kind = subject.strip_prefix(SUBJECT_PREFIX).unwrap_or(subject);
    let username: &str = row.try_get(at + 2)?;
    let created: SystemTime = row.try_get(at + 3)?;
    let event_at: SystemTime = row.try_get(at + 12)?;
    let counter = |i: usize| {
        if kind == "session.start" {
            Ok(None)
        } else {
            row.try_get::<_, Option<i64>>(at + i)
        }
    };
    let closed_by: Option<&str> = row.try_get(at + 17)?;
    let data = SessionData {
        user_name: username,
        acct_session_id: row.try_get(at + 11)?,
        unique_session_id: row.try_get(at + 5)?,
        nas_ip_address: row.try_get(at + 6)?,
        nas_identifier: row.try_get(at + 7)?,
        nas_port_id: row.try_get(at + 8)?,
        framed_ip_address: row.try_get(at + 9)?,
        calling_station_id: row.try_get(at + 10)?,
        event_timestamp: humantime::format_rfc3339_seconds(event_at).to_string(),
        session_time: counter(13)?,
        input_octets: counter(14)?,
        output_octets: counter(15)?,
        terminate_cause: match closed_by {
            Some(_) => Some(row.try_get(at + 16)?),
            None => None,
        },
        closed_by,
    };
    let time = humantime::format_rfc3339_millis(created).to_string();
    Ok(Envelope::new(row.try_get(at + 4)?, RADIUSD, kind, &time, username, &data).json())
}
