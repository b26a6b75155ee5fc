//! Subscribers as the auth path sees them.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use zeroize::Zeroizing;

use proisp_radius::attr::Ipv6Prefix;

/// Whether a subscriber may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// May log in.
    Active,
    /// Temporarily barred (unpaid bill, abuse); resumes to active.
    Suspended,
    /// Closed by the ISP.
    Disabled,
}

impl Status {
    /// The name stored in PostgreSQL and shown by the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Disabled => "disabled",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "suspended" => Some(Status::Suspended),
            "disabled" => Some(Status::Disabled),
            _ => None,
        }
    }
}

/// A subscriber's clear-text password: CHAP and MS-CHAP need it, so it is stored
/// encrypted, not hashed. Wiped on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// Wraps the clear text.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Password {
        Password(Zeroizing::new(bytes.into()))
    }

    /// The clear text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A MAC address, as NASes send it in Calling-Station-Id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

/// Why a string is not a MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address (expected 12 hex digits, optionally separated by ':', '-' or '.')")]
pub struct BadMac;

impl FromStr for MacAddr {
    type Err = BadMac;

    /// Accepts the forms NASes use: `4C:5E:0C:12:34:56` (MikroTik), `4c-5e-0c-12-34-56`
    /// (RFC 3580 §3.21), `4c5e.0c12.3456` (Cisco) and bare `4C5E0C123456`.
    fn from_str(s: &str) -> Result<MacAddr, BadMac> {
        let mut out = [0u8; 6];
        let mut nibbles = 0usize;
        for c in s.chars() {
            if matches!(c, ':' | '-' | '.') {
                continue;
            }
            let v = c.to_digit(16).ok_or(BadMac)? as u8;
            let byte = out.get_mut(nibbles / 2).ok_or(BadMac)?;
            *byte = (*byte << 4) | v;
            nibbles += 1;
        }
        if nibbles != 12 {
            return Err(BadMac);
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

/// A subscriber as the auth path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// Database id.
    pub id: i64,
    /// Login name, unique.
    pub username: String,
    /// Clear-text password (encrypted at rest).
    pub password: Password,
    /// Whether the subscriber may log in.
    pub status: Status,
    /// The plan's database id.
    pub plan_id: i64,
    /// End of the paid period, seconds since the epoch; `None` never expires.
    pub expires_at: Option<i64>,
    /// The only Calling-Station-Id allowed to log in, when bound.
    pub mac: Option<MacAddr>,
    /// Static IPv4 address (Framed-IP-Address); otherwise the plan's pool.
    pub ipv4: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix (RFC 3162), the WAN prefix.
    pub ipv6_prefix: Option<Ipv6Prefix>,
    /// Delegated-IPv6-Prefix (RFC 4818), the prefix delegated to the subscriber's router.
    pub delegated_ipv6_prefix: Option<Ipv6Prefix>,
    /// Sessions allowed at once; 0 means no limit.
    pub simultaneous_use: u32,
    /// The plan's quota is spent until then (the end of the billing period), seconds since
    /// the epoch: logins get the plan's fair-usage speed meanwhile.
    pub fup_until: Option<i64>,
    /// Incremented on every change, for the cache's stale-write check.
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mac_form_nases_send() {
        let want = MacAddr([0x4C, 0x5E, 0x0C, 0x12, 0x34, 0x56]);
        for s in [
            "4C:5E:0C:12:34:56",
            "4c-5e-0c-12-34-56",
            "4c5e.0c12.3456",
            "4C5E0C123456",
        ] {
            assert_eq!(s.parse::<MacAddr>(), Ok(want), "{s}");
        }
        for bad in [
            "",
            "4C:5E:0C:12:34",
            "4C:5E:0C:12:34:56:78",
            "4C:5E:0C:12:34:5G",
            "ü",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(BadMac), "{bad}");
        }
        assert_eq!(want.to_string(), "4C:5E:0C:12:34:56");
    }

    #[test]
    fn statuses_round_trip_and_passwords_stay_hidden() {
        for s in [Status::Active, Status::Suspended, Status::Disabled] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("deleted"), None);
        assert_eq!(
            format!("{:?}", Password::new("hunter2")),
            "Password(<redacted>)"
        );
    }
}
