//! NAS devices: the RADIUS clients this server answers.

use std::net::IpAddr;

use proisp_radius::secret::Secret;

/// The NAS's make, which decides vendor attributes in replies and accounting conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NasVendor {
    /// MikroTik RouterOS (PPPoE, Hotspot): Mikrotik-Rate-Limit and friends.
    Mikrotik,
    /// Cisco IOS / IOS XE.
    Cisco,
    /// Juniper MX (BNG).
    Juniper,
    /// accel-ppp (Linux BRAS).
    AccelPpp,
    /// Anything else: standard attributes only.
    Other,
}

impl NasVendor {
    /// The name stored in PostgreSQL and shown by the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            NasVendor::Mikrotik => "mikrotik",
            NasVendor::Cisco => "cisco",
            NasVendor::Juniper => "juniper",
            NasVendor::AccelPpp => "accel-ppp",
            NasVendor::Other => "other",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<NasVendor> {
        match s {
            "mikrotik" => Some(NasVendor::Mikrotik),
            "cisco" => Some(NasVendor::Cisco),
            "juniper" => Some(NasVendor::Juniper),
            "accel-ppp" => Some(NasVendor::AccelPpp),
            "other" => Some(NasVendor::Other),
            _ => None,
        }
    }
}

/// A NAS (RADIUS client) as the request path needs it.
#[derive(Debug, Clone)]
pub struct Nas {
    /// Database id.
    pub id: i64,
    /// A name for logs and the API.
    pub name: String,
    /// The network the NAS's packets come from: one address (`/32`, `/128`) or a CIDR range
    /// for a pool of NASes sharing a secret.
    pub network: IpAddr,
    /// Prefix length of `network`.
    pub prefix_len: u8,
    /// The shared secret, keyed for HMAC-MD5 (encrypted at rest).
    pub secret: Secret,
    /// The make.
    pub vendor: NasVendor,
    /// Where CoA and Disconnect requests go (RFC 5176 §3: 3799 by default).
    pub coa_port: u16,
    /// Refuse Access-Requests without a valid Message-Authenticator (BlastRADIUS,
    /// CVE-2024-3596). On by default; off only for old gear that cannot send one.
    pub require_message_authenticator: bool,
    /// How the NAS is known over RadSec (RADIUS/TLS).
    pub tls: NasTls,
    /// Its CoA lane's limits.
    pub coa_lane: CoaLane,
    /// Incremented on every change.
    pub version: i64,
}

/// The limits of a NAS's CoA lane: what its Dynamic Authorization server takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoaLane {
    /// Requests in flight to it at once (`None`: the `[coa]` section's window).
    pub window: Option<u32>,
    /// Requests started a second at most (`None`: no cap).
    pub rate: Option<u32>,
}

/// How a NAS is known over RadSec (RFC 6614): by the identity its client certificate
/// carries, and with which shared secret packets inside TLS are signed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NasTls {
    /// The identity its client certificate carries: a DNS name, URI or IP address
    /// subjectAltName, or the subject's common name. `None`: a RadSec connection is matched
    /// to this NAS by its source address only.
    pub identity: Option<String>,
    /// Sign packets inside TLS with the NAS's own shared secret rather than `radsec`, the
    /// secret RFC 6614 §2.3 makes customary there.
    pub own_secret: bool,
    /// Send CoA and Disconnect-Requests over its RadSec connection while it has one
    /// (the NAS accepts them there), by UDP to its CoA port otherwise.
    pub coa: bool,
}

impl Nas {
    /// Whether a packet from `addr` belongs to this NAS.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let len = u32::from(self.prefix_len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let len = u32::from(self.prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nas(network: &str, prefix_len: u8) -> Nas {
        Nas {
            id: 1,
            name: "bras-1".into(),
            network: network.parse().unwrap(),
            prefix_len,
            secret: Secret::new(b"testing123"),
            vendor: NasVendor::Mikrotik,
            coa_port: 3799,
            require_message_authenticator: true,
            tls: NasTls::default(),
            coa_lane: CoaLane::default(),
            version: 1,
        }
    }

    #[test]
    fn matches_addresses_and_ranges() {
        let one = nas("10.0.0.1", 32);
        assert!(one.contains("10.0.0.1".parse().unwrap()));
        assert!(one.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!one.contains("10.0.0.2".parse().unwrap()));
        let range = nas("10.1.0.0", 16);
        assert!(range.contains("10.1.200.3".parse().unwrap()));
        assert!(!range.contains("10.2.0.1".parse().unwrap()));
        let v6 = nas("2001:db8::", 32);
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        let any = nas("0.0.0.0", 0);
        assert!(any.contains("192.0.2.1".parse().unwrap()));
        for v in [
            NasVendor::Mikrotik,
            NasVendor::Cisco,
            NasVendor::Juniper,
            NasVendor::AccelPpp,
            NasVendor::Other,
        ] {
            assert_eq!(NasVendor::parse(v.as_str()), Some(v));
        }
        assert!(format!("{one:?}").contains("<redacted>"));
    }
}
