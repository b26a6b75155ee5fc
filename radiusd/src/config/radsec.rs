//! The `[radsec]` section: RADIUS over TLS (RFC 6614) and, for trusted networks only,
//! RADIUS over plain TCP (RFC 6613).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// RadSec listeners. Absent: radiusd listens on UDP only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RadsecConfig {
    /// Where RADIUS/TLS connections arrive (RFC 6614: 2083/tcp).
    pub(crate) listen: SocketAddr,
    /// The CA (PEM, one or more certificates) a NAS's client certificate must chain to.
    pub(crate) ca: PathBuf,
    /// This server's certificate chain (PEM), leaf first.
    pub(crate) certificate: PathBuf,
    /// This server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: PathBuf,
    /// How long a connection may take to complete its TLS handshake (and its PROXY
    /// header) before it is cut: a slow or silent peer holds nothing longer.
    #[serde(default = "default_handshake_timeout", with = "humantime_serde")]
    pub(crate) handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed (RFC 6614 §2.5: a NAS keeps
    /// a connection alive with Status-Server, RFC 3539's watchdog).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub(crate) idle_timeout: Duration,
    /// How long a reply may wait for the peer to read it: a peer that never reads is cut
    /// after this, rather than holding the connection's requests.
    #[serde(default = "default_write_timeout", with = "humantime_serde")]
    pub(crate) write_timeout: Duration,
    /// Connections open at once, over every listener; a connection past it is closed at
    /// once (counted).
    #[serde(default = "default_max_connections")]
    pub(crate) max_connections: usize,
    /// Connections open at once from one NAS; one past it is closed after the handshake
    /// that identified the NAS (counted).
    #[serde(default = "default_max_connections_per_nas")]
    pub(crate) max_connections_per_nas: usize,
    /// Addresses (HAProxy's) whose connections start with a PROXY protocol v2 header
    /// naming the real client; connections from anywhere else must not send one. Empty:
    /// none.
    #[serde(default)]
    pub(crate) proxy_from: Vec<IpNet>,
    /// RADIUS over plain TCP (RFC 6613), for trusted networks only: off unless set.
    #[serde(default)]
    pub(crate) tcp: Option<TcpConfig>,
}

/// RADIUS over TCP without TLS (RFC 6613): the NAS is identified by its address and
/// signs with its own shared secret, as over UDP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpConfig {
    /// Where RADIUS/TCP connections arrive.
    pub(crate) listen: SocketAddr,
    /// The networks allowed to connect (required: nothing is allowed by default); a
    /// connection from elsewhere is closed at once.
    pub(crate) allow: Vec<IpNet>,
}

fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_write_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_max_connections() -> usize {
    16_384
}

fn default_max_connections_per_nas() -> usize {
    64
}

impl RadsecConfig {
    /// Checks across keys: the key to change, and why.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        if self.handshake_timeout.is_zero() || self.idle_timeout.is_zero() {
            return Err((
                "radsec.handshake_timeout",
                "radsec.handshake_timeout and radsec.idle_timeout must be more than 0".to_owned(),
            ));
        }
        if self.write_timeout.is_zero() {
            return Err((
                "radsec.write_timeout",
                "radsec.write_timeout must be more than 0".to_owned(),
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_nas == 0 {
            return Err((
                "radsec.max_connections",
                "radsec.max_connections and radsec.max_connections_per_nas must be more than 0"
                    .to_owned(),
            ));
        }
        if let Some(tcp) = &self.tcp
            && tcp.allow.is_empty()
        {
            return Err((
                "radsec.tcp.allow",
                "RADIUS over plain TCP needs the trusted networks it is allowed from".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether connections from `addr` start with a PROXY header.
    pub(crate) fn proxied(&self, addr: IpAddr) -> bool {
        contains(&self.proxy_from, addr)
    }
}

/// Whether one of `nets` holds `addr` (IPv4-mapped IPv6 as IPv4).
pub(crate) fn contains(nets: &[IpNet], addr: IpAddr) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|n| n.contains(&addr))
}
