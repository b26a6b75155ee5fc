//! "Who had this address?": sessions by IP, MAC or user name at an instant or over a
//! period, from the open sessions and the history together (`sql/0013_session_lookup.sql`
//! has the indexes).
//!
//! One statement, prepared unnamed so it is planned with this call's values: each side of
//! the UNION ALL is ordered by the index its identifier leads (newest start first) and
//! limited to the page, and in history `stopped_at >= from` prunes the monthly partitions
//! before the period's first month — a lookup reads the sessions of one address around
//! the instant asked, not a year of them.

use std::net::IpAddr;
use std::time::SystemTime;

use deadpool_postgres::Pool;
use proisp_model::MacAddr;
use proisp_store::StoreError;
use tokio_postgres::types::ToSql;

/// What to look for; at least one of `ip`, `mac` and `username` is given.
#[derive(Debug, Clone, Default)]
pub struct LookupFilter {
    /// Framed-IP-Address.
    pub ip: Option<IpAddr>,
    /// Calling-Station-Id, as a MAC in whatever form the NAS wrote it.
    pub mac: Option<MacAddr>,
    /// User-Name.
    pub username: Option<String>,
    /// Only sessions on this NAS.
    pub nas_id: Option<i64>,
    /// Sessions that had not ended by then.
    pub from: Option<SystemTime>,
    /// Sessions that had started by then.
    pub to: Option<SystemTime>,
    /// Sessions that started before this one (newest first): the previous page's last.
    pub before: Option<LookupCursor>,
    /// Page size.
    pub limit: i64,
}

/// Where a page of a lookup starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupCursor {
    /// Its start.
    pub started_at: SystemTime,
    /// Its NAS.
    pub nas_id: i64,
    /// Its Acct-Session-Id.
    pub acct_session_id: String,
}

/// A session found, open or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSession {
    /// The open session's id (what kick takes); `None` once closed.
    pub live_id: Option<i64>,
    /// The NAS.
    pub nas_id: i64,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// The subscriber, when the name was known.
    pub subscriber_id: Option<i64>,
    /// Start.
    pub started_at: SystemTime,
    /// End; `None` while open.
    pub stopped_at: Option<SystemTime>,
    /// Framed-IP-Address.
    pub framed_ip: Option<IpAddr>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<String>,
    /// NAS-Port-Id.
    pub nas_port_id: Option<String>,
    /// Octets the subscriber sent.
    pub upload_octets: i64,
    /// Octets the subscriber received.
    pub download_octets: i64,
    /// Acct-Session-Time.
    pub session_time_secs: i64,
    /// `stop`, `stale`, `nas-reboot` or `replaced`; `None` while open.
    pub closed_by: Option<String>,
}

/// The MAC key `proisp_mac_key` makes of a Calling-Station-Id: 12 lower-case hex digits.
fn mac_key(mac: &MacAddr) -> String {
    mac.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// A page of the sessions matching `f`, newest start first.
pub async fn lookup_sessions(
    pool: &Pool,
    f: &LookupFilter,
) -> Result<Vec<FoundSession>, StoreError> {
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut param = |v: Box<dyn ToSql + Sync + Send>| {
        params.push(v);
        format!("${}", params.len())
    };
    let mut common = Vec::new();
    if let Some(ip) = f.ip {
        common.push(format!("framed_ip = {}", param(Box::new(ip))));
    }
    if let Some(mac) = &f.mac {
        common.push(format!(
            "calling_station_id IS NOT NULL AND proisp_mac_key(calling_station_id) = {}",
            param(Box::new(mac_key(mac)))
        ));
    }
    if let Some(name) = &f.username {
        common.push(format!("username = {}", param(Box::new(name.clone()))));
    }
    if let Some(nas) = f.nas_id {
        common.push(format!("nas_id = {}", param(Box::new(nas))));
    }
    if let Some(to) = f.to {
        common.push(format!("started_at <= {}", param(Box::new(to))));
    }
    if let Some(c) = &f.before {
        let at = param(Box::new(c.started_at));
        let nas = param(Box::new(c.nas_id));
        let sid = param(Box::new(c.acct_session_id.clone()));
        common.push(format!(
            "started_at <= {at} AND (started_at, nas_id, acct_session_id) < ({at}, {nas}, {sid})"
        ));
    }
    let mut closed = common.clone();
    if let Some(from) = f.from {
        closed.push(format!("stopped_at >= {}", param(Box::new(from))));
    }
    let and = |c: &[String]| {
        if c.is_empty() {
            "true".to_owned()
        } else {
            c.join(" AND ")
        }
    };
    let order = "ORDER BY started_at DESC, nas_id DESC, acct_session_id DESC";
    let limit = f.limit;
    let sql = format!(
        "SELECT * FROM ( \
           (SELECT id, nas_id, acct_session_id, username, subscriber_id, started_at, \
              NULL::timestamptz AS stopped_at, framed_ip, calling_station_id, nas_port_id, \
              upload_octets, download_octets, session_time_secs, NULL::text AS closed_by \
            FROM sessions WHERE {live} {order} LIMIT {limit}) \
           UNION ALL \
           (SELECT NULL::int8, nas_id, acct_session_id, username, subscriber_id, started_at, \
              stopped_at, framed_ip, calling_station_id, nas_port_id, upload_octets, \
              download_octets, session_time_secs, closed_by \
            FROM session_history WHERE {closed} {order} LIMIT {limit}) \
         ) found {order} LIMIT {limit}",
        live = and(&common),
        closed = and(&closed),
    );
    let client = pool.get().await?;
    let stmt = client.prepare(&sql).await?;
    let refs: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    Ok(client
        .query(&stmt, &refs)
        .await?
        .iter()
        .map(|r| FoundSession {
            live_id: r.get(0),
            nas_id: r.get(1),
            acct_session_id: r.get(2),
            username: r.get(3),
            subscriber_id: r.get(4),
            started_at: r.get(5),
            stopped_at: r.get(6),
            framed_ip: r.get(7),
            calling_station_id: r.get(8),
            nas_port_id: r.get(9),
            upload_octets: r.get(10),
            download_octets: r.get(11),
            session_time_secs: r.get(12),
            closed_by: r.get(13),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_key_is_what_proisp_mac_key_makes_of_any_form() {
        let mac: MacAddr = "4c5e.0c12.34AB".parse().unwrap();
        assert_eq!(mac_key(&mac), "4c5e0c1234ab");
    }
}
