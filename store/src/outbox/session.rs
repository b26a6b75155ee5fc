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

use serde_json::{Map, Value};

use super::{RADIUSD, SUBJECT_PREFIX, envelope};
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

/// The CloudEvent (structured JSON) of the outbox row `row`, whose [`EVENT_COLUMNS`]
/// start at column `at`: the stored one, or a session event's built from its columns.
/// The session event's `data` uses FreeRADIUS's attribute names; a value the NAS did not
/// send is left out; the counters are in stops and interims, not in starts; a stop names
/// its `Acct-Terminate-Cause` (null when the NAS gave none) and how it was closed.
pub fn cloud_event(row: &tokio_postgres::Row, at: usize) -> Result<String, StoreError> {
    if let Some(stored) = row.try_get::<_, Option<String>>(at)? {
        return Ok(stored);
    }
    let subject: &str = row.try_get(at + 1)?;
    let kind = subject.strip_prefix(SUBJECT_PREFIX).unwrap_or(subject);
    let username: &str = row.try_get(at + 2)?;
    let created: SystemTime = row.try_get(at + 3)?;
    let id: &str = row.try_get(at + 4)?;
    let event_at: SystemTime = row.try_get(at + 12)?;
    let closed_by: Option<&str> = row.try_get(at + 17)?;
    let text = |i: usize| row.try_get::<_, Option<&str>>(at + i);
    let mut data = Map::new();
    put(&mut data, "User-Name", Some(username));
    put(&mut data, "Acct-Session-Id", text(11)?);
    put(&mut data, "Acct-Unique-Session-Id", text(5)?);
    put(&mut data, "NAS-IP-Address", text(6)?);
    put(&mut data, "NAS-Identifier", text(7)?);
    put(&mut data, "NAS-Port-Id", text(8)?);
    put(&mut data, "Framed-IP-Address", text(9)?);
    put(&mut data, "Calling-Station-Id", text(10)?);
    put(
        &mut data,
        "Event-Timestamp",
        Some(humantime::format_rfc3339_seconds(event_at).to_string()),
    );
    if kind != "session.start" {
        for (name, i) in [
            ("Acct-Session-Time", 13),
            ("Acct-Input-Octets", 14),
            ("Acct-Output-Octets", 15),
        ] {
            put(&mut data, name, row.try_get::<_, Option<i64>>(at + i)?);
        }
    }
    if let Some(closed_by) = closed_by {
        data.insert(
            "Acct-Terminate-Cause".to_owned(),
            text(16)?.map_or(Value::Null, Value::from),
        );
        put(&mut data, "ProISP-Closed-By", Some(closed_by));
    }
    let time = humantime::format_rfc3339_millis(created).to_string();
    Ok(envelope(id, RADIUSD, kind, &time, username, &Value::Object(data)).to_string())
}

/// `value` under `name`, unless there is none.
fn put(data: &mut Map<String, Value>, name: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        data.insert(name.to_owned(), v.into());
    }
}
