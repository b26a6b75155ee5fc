//! Accounting records and what they add up to: the record radiusd applies (and spools),
//! an open session, a billing period's usage.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// Acct-Status-Type values the accounting path applies (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcctStatus {
    /// 1: a session began.
    Start,
    /// 2: a session ended.
    Stop,
    /// 3: a session's running totals.
    InterimUpdate,
    /// 7: the NAS started; its earlier sessions are gone.
    AccountingOn,
    /// 8: the NAS is going down; its sessions end.
    AccountingOff,
}

impl AcctStatus {
    /// From the attribute's value; `None` for values the store does not apply (RFC 2866
    /// §5.1 also lists Failed, and tunnel types from RFC 2867).
    pub const fn from_value(value: u32) -> Option<AcctStatus> {
        match value {
            1 => Some(AcctStatus::Start),
            2 => Some(AcctStatus::Stop),
            3 => Some(AcctStatus::InterimUpdate),
            7 => Some(AcctStatus::AccountingOn),
            8 => Some(AcctStatus::AccountingOff),
            _ => None,
        }
    }

    /// The attribute's value.
    pub const fn value(self) -> u32 {
        match self {
            AcctStatus::Start => 1,
            AcctStatus::Stop => 2,
            AcctStatus::InterimUpdate => 3,
            AcctStatus::AccountingOn => 7,
            AcctStatus::AccountingOff => 8,
        }
    }

    /// Whether it concerns the whole NAS rather than one session.
    pub const fn is_nas_wide(self) -> bool {
        matches!(self, AcctStatus::AccountingOn | AcctStatus::AccountingOff)
    }
}

/// One Accounting-Request as radiusd applies it to PostgreSQL. Serialisable: radiusd's spool keeps
/// these while PostgreSQL is away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcctRecord {
    /// What happened.
    pub status: AcctStatus,
    /// The NAS (database id).
    pub nas_id: i64,
    /// Acct-Session-Id (empty for Accounting-On/Off).
    pub acct_session_id: String,
    /// User-Name (empty for Accounting-On/Off).
    pub username: String,
    /// Octets the subscriber sent: Acct-Input-Octets and -Gigawords (RFC 2866 §5.3).
    pub upload_octets: u64,
    /// Octets the subscriber received: Acct-Output-Octets and -Gigawords.
    pub download_octets: u64,
    /// Acct-Session-Time.
    pub session_time_secs: u32,
    /// When radiusd received the request, milliseconds since the epoch.
    pub received_at_ms: i64,
    /// Acct-Delay-Time: how long the NAS had been trying to send it.
    pub delay_secs: u32,
    /// Framed-IP-Address.
    pub framed_ip: Option<Ipv4Addr>,
    /// Calling-Station-Id (the subscriber's MAC, for PPPoE and Hotspot).
    pub calling_station_id: Option<String>,
    /// NAS-Port-Id (interface or VLAN).
    pub nas_port_id: Option<String>,
    /// Acct-Terminate-Cause, by its dictionary name (Stop only).
    pub terminate_cause: Option<String>,
}

/// An open session, as kick, FUP and "who is online" need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// The NAS (database id).
    pub nas_id: i64,
    /// Acct-Session-Id.
    pub acct_session_id: String,
    /// User-Name.
    pub username: String,
    /// Framed-IP-Address, when the NAS reported one.
    pub framed_ip: Option<IpAddr>,
    /// Start, seconds since the epoch.
    pub started_at: i64,
    /// Octets sent by the subscriber so far.
    pub upload_octets: u64,
    /// Octets received by the subscriber so far.
    pub download_octets: u64,
}

/// Usage of one billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Start of the period, seconds since the epoch.
    pub period_start: i64,
    /// Octets sent by the subscriber.
    pub upload_octets: u64,
    /// Octets received by the subscriber.
    pub download_octets: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values_round_trip() {
        for s in [
            AcctStatus::Start,
            AcctStatus::Stop,
            AcctStatus::InterimUpdate,
            AcctStatus::AccountingOn,
            AcctStatus::AccountingOff,
        ] {
            assert_eq!(AcctStatus::from_value(s.value()), Some(s));
        }
        assert_eq!(AcctStatus::from_value(15), None);
        assert!(AcctStatus::AccountingOn.is_nas_wide());
        assert!(!AcctStatus::Stop.is_nas_wide());
    }

    #[test]
    fn records_serialise_for_the_spool() {
        let r = AcctRecord {
            status: AcctStatus::InterimUpdate,
            nas_id: 3,
            acct_session_id: "81a0".into(),
            username: "user000001".into(),
            upload_octets: 5 << 32,
            download_octets: 7,
            session_time_secs: 600,
            received_at_ms: 1_800_000_000_000,
            delay_secs: 0,
            framed_ip: Some(Ipv4Addr::new(10, 0, 0, 9)),
            calling_station_id: None,
            nas_port_id: Some("<pppoe-user000001>".into()),
            terminate_cause: None,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"interim-update\""), "{line}");
        assert_eq!(serde_json::from_str::<AcctRecord>(&line).unwrap(), r);
    }
}
