//! The NAS table: which source addresses are RADIUS clients, and with which secret.
//!
//! An immutable snapshot, swapped whole on reload (SIGHUP or an invalidation message), so
//! the request path reads it without a lock and a reload never drops a packet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use proisp_model::Nas;

/// A snapshot of every NAS.
#[derive(Debug, Default)]
pub(crate) struct NasTable {
    /// NASes with a single address, by that address.
    exact: HashMap<IpAddr, Arc<Nas>>,
    /// NASes configured as a range, longest prefix first.
    ranges: Vec<Arc<Nas>>,
    /// Every NAS by database id (where CoA requests go).
    by_id: HashMap<i64, Arc<Nas>>,
}

/// IPv4-mapped IPv6 sources (from a dual-stack socket) are looked up as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

impl NasTable {
    /// Builds a snapshot.
    pub(crate) fn new(all: Vec<Nas>) -> NasTable {
        let mut table = NasTable::default();
        for nas in all {
            let full = match nas.network {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            };
            let key = canonical(nas.network);
            let entry = Arc::new(nas);
            table.by_id.insert(entry.id, entry.clone());
            if entry.prefix_len >= full {
                table.exact.insert(key, entry);
            } else {
                table.ranges.push(entry);
            }
        }
        table
            .ranges
            .sort_by_key(|e| std::cmp::Reverse(e.prefix_len));
        table
    }

    /// The NAS with database id `id`.
    pub(crate) fn get(&self, id: i64) -> Option<&Arc<Nas>> {
        self.by_id.get(&id)
    }

    /// The NAS a packet from `addr` belongs to.
    pub(crate) fn find(&self, addr: IpAddr) -> Option<&Arc<Nas>> {
        let addr = canonical(addr);
        self.exact
            .get(&addr)
            .or_else(|| self.ranges.iter().find(|e| e.contains(addr)))
    }

    /// NASes in the table.
    pub(crate) fn len(&self) -> usize {
        self.exact.len() + self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use proisp_model::NasVendor;
    use proisp_radius::secret::Secret;

    use super::*;

    fn nas(id: i64, network: &str, prefix_len: u8) -> Nas {
        Nas {
            id,
            name: format!("nas-{id}"),
            network: network.parse().unwrap(),
            prefix_len,
            secret: Secret::new(b"s"),
            vendor: NasVendor::Mikrotik,
            coa_port: 3799,
            require_message_authenticator: true,
            tls: proisp_model::NasTls::default(),
            version: 1,
        }
    }

    #[test]
    fn exact_addresses_win_over_ranges_and_longer_ranges_over_shorter() {
        let table = NasTable::new(vec![
            nas(1, "10.0.0.0", 8),
            nas(2, "10.1.0.0", 16),
            nas(3, "10.1.2.3", 32),
            nas(4, "2001:db8::1", 128),
        ]);
        let id = |a: &str| table.find(a.parse().unwrap()).map(|e| e.id);
        assert_eq!(id("10.1.2.3"), Some(3));
        assert_eq!(id("::ffff:10.1.2.3"), Some(3));
        assert_eq!(id("10.1.9.9"), Some(2));
        assert_eq!(id("10.200.0.1"), Some(1));
        assert_eq!(id("2001:db8::1"), Some(4));
        assert_eq!(id("192.0.2.1"), None);
        assert_eq!(table.len(), 4);
    }
}
