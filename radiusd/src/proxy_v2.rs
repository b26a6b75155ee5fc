//! The PROXY protocol, version 2: the binary header HAProxy (`send-proxy-v2`) puts in front
//! of every RadSec connection it relays, so radiusd learns the NAS's own address instead of
//! HAProxy's (haproxy.org, doc/proxy-protocol.txt §2.2).
//!
//! ```text
//! offset  0                                              12      13      14      16
//!         +-----------------------------------------------+-------+-------+-------+
//!         | signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A |ver|cmd|fam|pro|  len  |
//!         +-----------------------------------------------+-------+-------+-------+
//!         | addresses (by family) | TLVs: type (1) | length (2) | value ...        |
//!         +-----------------------------------------------------------------------+
//! ```
//!
//! Sans-IO: [`parse`] reads a header from octets already received; [`read_header`] reads
//! exactly one header from a stream and nothing past it, so the TLS handshake that follows
//! is untouched. The deadline is the caller's: the specification asks a receiver to give up
//! on a connection whose header does not arrive within a few seconds.
//!
//! Choices where the specification leaves them to the receiver:
//!
//! - Version 1 (the text line `PROXY TCP4 …`) is refused with its own error
//!   ([`ProxyError::Version1`]), so a log line says HAProxy must use `send-proxy-v2`.
//! - LOCAL (HAProxy's own health checks) is accepted whatever its family and address
//!   block, which are skipped unread as §2.2 requires: the connection's endpoints are used.
//! - PROXY with a family or protocol other than TCP over IPv4/IPv6 (UNSPEC, UNIX, UDP) is
//!   parsed and skipped, but carries no address radiusd can use: [`Header::source`] gives
//!   `None` and the listener closes the connection, since a RadSec client known
//!   only as "HAProxy" must not be served as if it were HAProxy.
//! - After TCP, UDP or UNIX addresses, TLVs are checked to be well framed (each one ends
//!   inside the header) and skipped; none is interpreted, PP2_TYPE_CRC32C included
//!   (§2.2.3 asks only receivers that support the checksum to verify it). With an
//!   unspecified family or protocol the whole block is ignored, as §2.2 says.
//! - The whole header is capped at [`MAX_HEADER_LEN`] octets.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The 12-octet signature every version 2 header starts with (§2.2).
pub(crate) const SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// Octets before the address block: signature, version and command, family and
/// protocol, and the two-octet length of the rest.
pub(crate) const FIXED_LEN: usize = 16;

/// The longest header accepted, all of it.
///
/// The specification designs headers to fit in the smallest TCP segment any host must
/// accept (536 octets, §2) and says nothing of a maximum; its length field allows 64 KiB.
/// What HAProxy sends in front of a TLS connection it does not terminate — TCP over IPv6
/// (52 octets) with ALPN, authority (SNI, at most 255), unique id (at most 128), CRC32C,
/// NOOP and network-namespace TLVs — stays under 536, and twice that leaves room for a
/// UNIX-socket block (216 octets) and a long namespace name. Longer headers are refused
/// rather than buffered: no configuration of ours produces them, and a peer that sends one
/// is not the HAProxy we expect.
pub(crate) const MAX_HEADER_LEN: usize = 1024;

/// The text header of version 1 starts with these octets (§2.1).
const V1_PREFIX: &[u8; 5] = b"PROXY";

const VERSION: u8 = 2;
const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;

const AF_UNSPEC: u8 = 0x0;
const AF_INET: u8 = 0x1;
const AF_INET6: u8 = 0x2;
const AF_UNIX: u8 = 0x3;

const PROTO_UNSPEC: u8 = 0x0;
const PROTO_STREAM: u8 = 0x1;
const PROTO_DGRAM: u8 = 0x2;

/// Octets in the address block of each family: two addresses, then two ports for IP.
const INET_ADDR_LEN: usize = 2 * 4 + 2 * 2;
const INET6_ADDR_LEN: usize = 2 * 16 + 2 * 2;
const UNIX_ADDR_LEN: usize = 2 * 108;

/// Octets before a TLV's value: type and a two-octet length.
const TLV_HEADER_LEN: usize = 3;

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Octets the header took, from the first octet of the signature: the connection's
    /// own data (the TLS ClientHello) starts right after.
    pub(crate) len: usize,
    /// What the header says about the connection's endpoints.
    pub(crate) addresses: Addresses,
}

/// The endpoints a header reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addresses {
    /// LOCAL: a connection HAProxy opened on its own behalf (a health check); its
    /// endpoints are the connection's own.
    Local,
    /// PROXY for a TCP connection over IPv4 or IPv6: the client's and the address it
    /// connected to.
    Tcp {
        /// The client (the NAS).
        source: SocketAddr,
        /// The address the client connected to (HAProxy's frontend).
        destination: SocketAddr,
    },
    /// PROXY with a family or protocol this server does not relay (UNSPEC, UNIX, UDP):
    /// the header is valid, but names no TCP client.
    Unspecified,
}

impl Header {
    /// The client's address: `peer` (the connection's own remote address) for LOCAL, the
    /// relayed source for PROXY over TCP, `None` when the header names no TCP client and
    /// the connection should be closed.
    pub(crate) fn source(&self, peer: SocketAddr) -> Option<SocketAddr> {
        match self.addresses {
            Addresses::Local => Some(peer),
            Addresses::Tcp { source, .. } => Some(source),
            Addresses::Unspecified => None,
        }
    }
}

/// Why a connection's first octets are not an acceptable PROXY v2 header. Offsets count
/// from the first octet of the signature.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// More octets are needed: `need` is the length of the shortest input that can
    /// complete the header (16 until the length field has arrived, then the whole header).
    #[error("PROXY header incomplete: {need} octets needed")]
    Incomplete {
        /// Octets the input must hold, in total.
        need: usize,
    },
    /// The text header of version 1: HAProxy is configured with `send-proxy`, not
    /// `send-proxy-v2`.
    #[error("PROXY protocol version 1 header; configure HAProxy with send-proxy-v2")]
    Version1,
    /// The first octets are not the version 2 signature: no PROXY header at all (a client
    /// bypassing HAProxy, or HAProxy without `send-proxy-v2`).
    #[error("no PROXY protocol v2 signature")]
    Signature,
    /// The version nibble is not 2.
    #[error("PROXY protocol version {version}, expected 2")]
    Version {
        /// The high four bits of octet 12.
        version: u8,
    },
    /// A command other than LOCAL (0) or PROXY (1); §2.2 says to drop the connection.
    #[error("unknown PROXY command {command}")]
    Command {
        /// The low four bits of octet 12.
        command: u8,
    },
    /// An address family above 3 or a protocol above 2, which §2.2 says to reject.
    #[error("unknown PROXY address family and protocol {family_protocol:#04x}")]
    Family {
        /// Octet 13.
        family_protocol: u8,
    },
    /// The length field makes the header longer than [`MAX_HEADER_LEN`].
    #[error("PROXY header of {len} octets exceeds the {MAX_HEADER_LEN}-octet limit")]
    TooLong {
        /// 16 plus the length field.
        len: usize,
    },
    /// The length field leaves less room than the family's addresses take.
    #[error("PROXY address block of {len} octets is too short for family {family_protocol:#04x}")]
    AddressTooShort {
        /// Octet 13.
        family_protocol: u8,
        /// The length field.
        len: usize,
    },
    /// A TLV whose header or value runs past the end of the header.
    #[error("PROXY TLV at offset {offset} runs past the header")]
    BadTlv {
        /// Offset of the TLV's type octet.
        offset: usize,
    },
    /// Reading the header from the connection failed (an end of stream included).
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

impl ProxyError {
    /// A short, fixed label for metrics and logs.
    pub(crate) const fn reason(&self) -> &'static str {
        match self {
            ProxyError::Incomplete { .. } => "proxy_incomplete",
            ProxyError::Version1 => "proxy_v1",
            ProxyError::Signature => "proxy_missing",
            ProxyError::Version { .. }
            | ProxyError::Command { .. }
            | ProxyError::Family { .. }
            | ProxyError::TooLong { .. }
            | ProxyError::AddressTooShort { .. }
            | ProxyError::BadTlv { .. } => "proxy_malformed",
            ProxyError::Io(_) => "proxy_io",
        }
    }
}

/// Parses the header at the start of `buf`; octets past it are left alone (see
/// [`Header::len`]). Never panics.
///
/// Fails early: an input that cannot be the start of a valid header is refused as soon as
/// the octets that show it have arrived, and [`ProxyError::Incomplete`] is returned only
/// while the header may still turn out valid.
pub(crate) fn parse(buf: &[u8]) -> Result<Header, ProxyError> {
    let seen = buf.len().min(SIGNATURE.len());
    if buf[..seen] != SIGNATURE[..seen] {
        let seen = buf.len().min(V1_PREFIX.len());
        return if buf[..seen] != V1_PREFIX[..seen] {
            Err(ProxyError::Signature)
        } else if seen == V1_PREFIX.len() {
            Err(ProxyError::Version1)
        } else {
            Err(ProxyError::Incomplete { need: FIXED_LEN })
        };
    }
    let Some(fixed) = buf.first_chunk::<FIXED_LEN>() else {
        return Err(ProxyError::Incomplete { need: FIXED_LEN });
    };
    let (version, command) = (fixed[12] >> 4, fixed[12] & 0x0F);
    if version != VERSION {
        return Err(ProxyError::Version { version });
    }
    if command != CMD_LOCAL && command != CMD_PROXY {
        return Err(ProxyError::Command { command });
    }
    let body_len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let len = FIXED_LEN + body_len;
    if len > MAX_HEADER_LEN {
        return Err(ProxyError::TooLong { len });
    }
    let Some(body) = buf.get(FIXED_LEN..len) else {
        return Err(ProxyError::Incomplete { need: len });
    };
    if command == CMD_LOCAL {
        // §2.2: "discard the protocol block including the family which is ignored".
        return Ok(Header {
            len,
            addresses: Addresses::Local,
        });
    }
    let family_protocol = fixed[13];
    let (family, protocol) = (family_protocol >> 4, family_protocol & 0x0F);
    if family > AF_UNIX || protocol > PROTO_DGRAM {
        return Err(ProxyError::Family { family_protocol });
    }
    if family == AF_UNSPEC || protocol == PROTO_UNSPEC {
        // §2.2: "The receiver should ignore address information", whatever the block holds.
        return Ok(Header {
            len,
            addresses: Addresses::Unspecified,
        });
    }
    let needed = match family {
        AF_INET => INET_ADDR_LEN,
        AF_INET6 => INET6_ADDR_LEN,
        _ => UNIX_ADDR_LEN,
    };
    let Some((addrs, tlvs)) = body.split_at_checked(needed) else {
        return Err(ProxyError::AddressTooShort {
            family_protocol,
            len: body_len,
        });
    };
    check_tlvs(tlvs, FIXED_LEN + needed)?;
    let addresses = match (family, protocol) {
        (AF_INET, PROTO_STREAM) => tcp_v4(addrs),
        (AF_INET6, PROTO_STREAM) => tcp_v6(addrs),
        _ => None,
    }
    .unwrap_or(Addresses::Unspecified);
    Ok(Header { len, addresses })
}

/// Source and destination from an AF_INET block: two addresses, then two ports.
fn tcp_v4(block: &[u8]) -> Option<Addresses> {
    let (src, rest) = block.split_first_chunk::<4>()?;
    let (dst, rest) = rest.split_first_chunk::<4>()?;
    let (sport, rest) = rest.split_first_chunk::<2>()?;
    let (dport, _) = rest.split_first_chunk::<2>()?;
    Some(Addresses::Tcp {
        source: SocketAddr::new(Ipv4Addr::from(*src).into(), u16::from_be_bytes(*sport)),
        destination: SocketAddr::new(Ipv4Addr::from(*dst).into(), u16::from_be_bytes(*dport)),
    })
}

/// Source and destination from an AF_INET6 block: two addresses, then two ports.
fn tcp_v6(block: &[u8]) -> Option<Addresses> {
    let (src, rest) = block.split_first_chunk::<16>()?;
    let (dst, rest) = rest.split_first_chunk::<16>()?;
    let (sport, rest) = rest.split_first_chunk::<2>()?;
    let (dport, _) = rest.split_first_chunk::<2>()?;
    Some(Addresses::Tcp {
        source: SocketAddr::new(Ipv6Addr::from(*src).into(), u16::from_be_bytes(*sport)),
        destination: SocketAddr::new(Ipv6Addr::from(*dst).into(), u16::from_be_bytes(*dport)),
    })
}

/// Checks that the TLVs after the addresses tile the rest of the header exactly; `at` is
/// the offset of the first one, for the error.
fn check_tlvs(mut tlvs: &[u8], mut at: usize) -> Result<(), ProxyError> {
    while !tlvs.is_empty() {
        let Some(head) = tlvs.first_chunk::<TLV_HEADER_LEN>() else {
            return Err(ProxyError::BadTlv { offset: at });
        };
        let total = TLV_HEADER_LEN + usize::from(u16::from_be_bytes([head[1], head[2]]));
        let Some(rest) = tlvs.get(total..) else {
            return Err(ProxyError::BadTlv { offset: at });
        };
        tlvs = rest;
        at += total;
    }
    Ok(())
}

/// Reads exactly one PROXY v2 header from `r` — the 16 fixed octets, then as many as their
/// length field says — and not one octet more, so the stream is left at the connection's
/// own first octet. Bound it with a deadline (`tokio::time::timeout`): a peer that stops
/// sending mid-header keeps this waiting.
pub(crate) async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<Header, ProxyError> {
    let mut buf = [0u8; MAX_HEADER_LEN];
    r.read_exact(&mut buf[..FIXED_LEN]).await?;
    match parse(&buf[..FIXED_LEN]) {
        Err(ProxyError::Incomplete { need }) => {
            // `parse` refuses lengths past MAX_HEADER_LEN before asking for more.
            let Some(rest) = buf.get_mut(FIXED_LEN..need) else {
                return Err(ProxyError::TooLong { len: need });
            };
            r.read_exact(rest).await?;
            parse(&buf[..need])
        }
        done => done,
    }
}

#[cfg(test)]
mod tests;
