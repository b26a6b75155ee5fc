//! The NAS table: which source addresses are RADIUS clients, and with which secret.
//!
//! An immutable snapshot, swapped whole on reload (SIGHUP or an invalidation message), so
//! the request path reads it without a lock and a reload never drops a packet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use proisp_model::Nas;
use proisp_radius::secret::Secret;

use crate::metrics::{NasStats, PerNas};

/// The shared secret inside RadSec's TLS unless a NAS says otherwise (RFC 6614 §2.3).
const RADSEC_SECRET: &[u8] = b"radsec";

/// A snapshot of every NAS.
#[derive(Debug, Default)]
pub(crate) struct NasTable {
    /// NASes with a single address, by that address.
    exact: HashMap<IpAddr, Arc<Nas>>,
    /// NASes configured as a range, longest prefix first.
    ranges: Vec<Arc<Nas>>,
    /// Every NAS by database id (where CoA requests go).
    by_id: HashMap<i64, Arc<Nas>>,
    /// NASes known over RadSec by their certificate's identity.
    by_identity: HashMap<String, Arc<Nas>>,
    /// Each NAS's request metrics, by id.
    stats: HashMap<i64, Arc<NasStats>>,
}

/// How a connection proves which NAS it is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credentials<'a> {
    /// RadSec: the identities its verified client certificate carries, and its address.
    Certificate { names: &'a [String], addr: IpAddr },
    /// RADIUS/TCP on a trusted network: its address alone.
    Address(IpAddr),
}

/// Why a connection is no NAS of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Neither its certificate nor its address names a NAS.
    NoNas,
    /// Its address is a NAS's that names a certificate identity this one does not carry.
    WrongCertificate,
}

/// IPv4-mapped IPv6 sources (from a dual-stack socket) are looked up as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

impl NasTable {
    /// Builds a snapshot; `per_nas` keeps each NAS's request metrics across snapshots.
    pub(crate) fn new(all: Vec<Nas>, per_nas: &PerNas) -> NasTable {
        let mut table = NasTable {
            stats: per_nas.refresh(&all),
            ..NasTable::default()
        };
        for nas in all {
            let full = match nas.network {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            };
            let key = canonical(nas.network);
            let entry = Arc::new(nas);
            table.by_id.insert(entry.id, entry.clone());
            if let Some(identity) = &entry.tls.identity {
                table.by_identity.insert(identity.clone(), entry.clone());
            }
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

    /// NAS `id`'s request metrics.
    pub(crate) fn stats(&self, id: i64) -> Option<&Arc<NasStats>> {
        self.stats.get(&id)
    }

    /// The NAS a packet from `addr` belongs to.
    pub(crate) fn find(&self, addr: IpAddr) -> Option<&Arc<Nas>> {
        let addr = canonical(addr);
        self.exact
            .get(&addr)
            .or_else(|| self.ranges.iter().find(|e| e.contains(addr)))
    }

    /// The NAS a connection with `credentials` is, as its requests are checked: over
    /// RadSec, with the secret packets inside TLS are signed with (`radsec` unless the
    /// NAS says otherwise, RFC 6614 §2.3).
    ///
    /// A certificate naming a NAS's `tls_identity` is that NAS, from any address (behind
    /// NAT, through HAProxy). Otherwise the address decides, as over UDP, for a NAS that
    /// names no identity: one that does must present it.
    pub(crate) fn identify(&self, credentials: Credentials<'_>) -> Result<Arc<Nas>, Unknown> {
        match credentials {
            Credentials::Address(addr) => self.find(addr).cloned().ok_or(Unknown::NoNas),
            Credentials::Certificate { names, addr } => {
                let nas = match names.iter().find_map(|n| self.by_identity.get(n)) {
                    Some(nas) => nas,
                    None => match self.find(addr) {
                        Some(nas) if nas.tls.identity.is_none() => nas,
                        Some(_) => return Err(Unknown::WrongCertificate),
                        None => return Err(Unknown::NoNas),
                    },
                };
                if nas.tls.own_secret {
                    return Ok(nas.clone());
                }
                Ok(Arc::new(Nas {
                    secret: Secret::new(RADSEC_SECRET),
                    ..Nas::clone(nas)
                }))
            }
        }
    }

    /// NASes in the table.
    pub(crate) fn len(&self) -> usize {
        self.exact.len() + self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use proisp_model::{NasTls, NasVendor};
    use proisp_radius::secret::SharedSecret as _;

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
            tls: NasTls::default(),
            coa_lane: proisp_model::CoaLane::default(),
            version: 1,
        }
    }

    #[test]
    fn exact_addresses_win_over_ranges_and_longer_ranges_over_shorter() {
        let table = NasTable::new(
            vec![
                nas(1, "10.0.0.0", 8),
                nas(2, "10.1.0.0", 16),
                nas(3, "10.1.2.3", 32),
                nas(4, "2001:db8::1", 128),
            ],
            &PerNas::default(),
        );
        let id = |a: &str| table.find(a.parse().unwrap()).map(|e| e.id);
        assert_eq!(id("10.1.2.3"), Some(3));
        assert_eq!(id("::ffff:10.1.2.3"), Some(3));
        assert_eq!(id("10.1.9.9"), Some(2));
        assert_eq!(id("10.200.0.1"), Some(1));
        assert_eq!(id("2001:db8::1"), Some(4));
        assert_eq!(id("192.0.2.1"), None);
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn a_connection_is_its_certificate_s_nas_or_else_its_address_s() {
        let mut named = nas(1, "10.0.0.1", 32);
        named.tls.identity = Some("bras-1.example.net".into());
        let mut own = nas(2, "10.0.0.2", 32);
        own.tls = NasTls {
            identity: Some("bras-2.example.net".into()),
            own_secret: true,
            coa: false,
        };
        let by_address = nas(3, "10.0.0.0", 24);
        let table = NasTable::new(vec![named, own, by_address], &PerNas::default());
        let identify = |names: &[&str], addr: &str| {
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            table.identify(Credentials::Certificate {
                names: &names,
                addr: addr.parse().unwrap(),
            })
        };

        // By certificate, from anywhere, signing with "radsec" unless it says otherwise.
        let one = identify(&["other", "bras-1.example.net"], "192.0.2.9").unwrap();
        assert_eq!(one.id, 1);
        assert_eq!(one.secret.as_bytes(), b"radsec");
        let two = identify(&["bras-2.example.net"], "192.0.2.9").unwrap();
        assert_eq!((two.id, two.secret.as_bytes()), (2, &b"s"[..]));
        // By address, for a NAS that names no identity.
        let three = identify(&["nas.unlisted"], "10.0.0.77").unwrap();
        assert_eq!((three.id, three.secret.as_bytes()), (3, &b"radsec"[..]));
        // A NAS that names an identity must present it, even from its own address.
        assert_eq!(
            identify(&["nas.unlisted"], "10.0.0.1").unwrap_err(),
            Unknown::WrongCertificate
        );
        assert_eq!(identify(&["x"], "192.0.2.1").unwrap_err(), Unknown::NoNas);

        // RADIUS/TCP: the address and the NAS's own secret, as over UDP.
        let tcp = table
            .identify(Credentials::Address("10.0.0.2".parse().unwrap()))
            .unwrap();
        assert_eq!((tcp.id, tcp.secret.as_bytes()), (2, &b"s"[..]));
    }
}
