//! Attributes (RFC 2865 §5) and the value encodings of RFC 8044.
//!
//! ```text
//!  0                   1                   2
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
//! |     Type      |    Length     |  Value ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! Length counts the two header octets, so a value holds at most [`MAX_VALUE_LEN`] octets.
//! Iteration borrows from the datagram: no attribute is copied.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Octets of Type and Length before every value.
pub const ATTR_HEADER_LEN: usize = 2;

/// The longest value one attribute can carry (Length is one octet and counts the header).
pub const MAX_VALUE_LEN: usize = 253;

/// One attribute, borrowed from the datagram it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Offset of the attribute's Type octet from the start of the packet, for errors and
    /// for signing code that must find an attribute again in the raw bytes.
    pub offset: usize,
    /// The attribute type (see [`crate::dictionary::attr`]).
    pub typ: u8,
    /// The value, without the Type and Length octets.
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The value as a 32-bit integer (RFC 8044 §3.1), if it has exactly four octets.
    pub fn as_u32(&self) -> Option<u32> {
        value_u32(self.value)
    }

    /// The value as an IPv4 address (RFC 8044 §3.8), if it has exactly four octets.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        value_u32(self.value).map(Ipv4Addr::from)
    }

    /// The value as an IPv6 address (RFC 8044 §3.9), if it has exactly sixteen octets.
    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        <[u8; 16]>::try_from(self.value).ok().map(Ipv6Addr::from)
    }

    /// The value as an IPv6 prefix (RFC 3162 §2.3); see [`Ipv6Prefix::decode`].
    pub fn as_ipv6_prefix(&self) -> Option<Ipv6Prefix> {
        Ipv6Prefix::decode(self.value)
    }

    /// The value as UTF-8 text (RFC 8044 §3.5), if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }
}

/// Reads a four-octet big-endian integer value.
pub fn value_u32(value: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(value).ok().map(u32::from_be_bytes)
}

/// Iterator over the attributes of a packet whose attribute area has been validated.
///
/// Created by [`crate::packet::Packet::attrs`]; the decoder has already checked
/// that every Length is at least 2 and inside the packet, so iteration cannot fail. Should
/// it ever meet an inconsistent area (it cannot, by construction), it stops rather than
/// panics.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    area: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Attrs<'a> {
    /// Iterates `area`, which starts `base` octets into its packet.
    pub(crate) fn new(area: &'a [u8], base: usize) -> Attrs<'a> {
        Attrs { area, pos: 0, base }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    #[inline]
    fn next(&mut self) -> Option<Attr<'a>> {
        let rest = self.area.get(self.pos..)?;
        let (&typ, &len) = (rest.first()?, rest.get(1)?);
        let value = rest.get(ATTR_HEADER_LEN..usize::from(len))?;
        let attr = Attr {
            offset: self.base + self.pos,
            typ,
            value,
        };
        self.pos += usize::from(len);
        Some(attr)
    }
}

/// Walks an attribute area and reports the first structural fault, as an offset into the
/// area and the bad Length (`None` when the Length octet itself is missing).
///
/// Used by the packet decoder (attributes, RFC 2865 §5) and the VSA decoder (sub-attributes,
/// RFC 2865 §5.26) so both apply one rule: every Length ≥ 2 and inside the area.
pub(crate) fn check_area(area: &[u8]) -> Result<(), (usize, Option<u8>)> {
    let mut pos = 0;
    while pos < area.len() {
        let Some(&len) = area.get(pos + 1) else {
            return Err((pos, None));
        };
        let len_usize = usize::from(len);
        if len_usize < ATTR_HEADER_LEN || pos + len_usize > area.len() {
            return Err((pos, Some(len)));
        }
        pos += len_usize;
    }
    Ok(())
}

/// An IPv6 prefix as carried by Framed-IPv6-Prefix and Delegated-IPv6-Prefix.
///
/// RFC 3162 §2.3:
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |    Length     |  Reserved     | Prefix-Length |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///                                 Prefix
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

impl Ipv6Prefix {
    /// A prefix of `len` bits; bits past the length are cleared. `None` if `len > 128`.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Ipv6Prefix> {
        if len > 128 {
            return None;
        }
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        Some(Ipv6Prefix {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the zero-length prefix `::/0`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes an attribute value: Reserved, Prefix-Length ≤ 128, then at most 16 prefix
    /// octets. RFC 3162 sends all 16; RFC 8044 §3.10 allows only the octets the length
    /// needs, so both are accepted; trailing bits past the length are ignored.
    pub fn decode(value: &[u8]) -> Option<Ipv6Prefix> {
        let (&len, prefix) = value.get(1..)?.split_first()?;
        if len > 128 || prefix.len() > 16 || prefix.len() * 8 < usize::from(len) {
            return None;
        }
        let mut octets = [0u8; 16];
        octets[..prefix.len()].copy_from_slice(prefix);
        Ipv6Prefix::new(Ipv6Addr::from(octets), len)
    }

    /// The attribute value, in the short form of RFC 8044 §3.10 (only the octets the
    /// prefix length needs), which RouterOS and FreeRADIUS both read.
    pub fn encode(&self) -> ([u8; 18], usize) {
        let mut out = [0u8; 18];
        out[1] = self.len;
        let octets = usize::from(self.len).div_ceil(8);
        out[2..2 + octets].copy_from_slice(&self.addr.octets()[..octets]);
        (out, 2 + octets)
    }
}

impl std::fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_a_valid_area_with_offsets() {
        let area = [1, 6, b'b', b'o', b'b', b'!', 5, 6, 0, 0, 0, 7, 80, 2];
        let attrs: Vec<Attr<'_>> = Attrs::new(&area, 20).collect();
        assert_eq!(attrs.len(), 3);
        assert_eq!(attrs[0].as_str(), Some("bob!"));
        assert_eq!(attrs[0].offset, 20);
        assert_eq!(attrs[1].as_u32(), Some(7));
        assert_eq!(attrs[1].offset, 26);
        assert_eq!(attrs[2].typ, 80);
        assert!(attrs[2].value.is_empty());
        assert_eq!(check_area(&area), Ok(()));
    }

    #[test]
    fn finds_structural_faults() {
        assert_eq!(check_area(&[1]), Err((0, None)));
        assert_eq!(check_area(&[1, 1]), Err((0, Some(1))));
        assert_eq!(check_area(&[1, 0]), Err((0, Some(0))));
        assert_eq!(check_area(&[1, 2, 5, 7, 0, 0]), Err((2, Some(7))));
        assert_eq!(check_area(&[]), Ok(()));
    }

    #[test]
    fn typed_values_check_their_length() {
        let a = Attr {
            offset: 0,
            typ: 8,
            value: &[10, 0, 0, 1],
        };
        assert_eq!(a.as_ipv4(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(a.as_ipv6(), None);
        let short = Attr {
            offset: 0,
            typ: 8,
            value: &[10, 0, 0],
        };
        assert_eq!(short.as_ipv4(), None);
        assert_eq!(short.as_u32(), None);
    }

    #[test]
    fn ipv6_prefixes_decode_long_and_short_forms() {
        let p: Ipv6Prefix = Ipv6Prefix::new("2001:db8:1::".parse().unwrap(), 48).unwrap();
        let (buf, n) = p.encode();
        assert_eq!(&buf[..n], &[0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1]);
        assert_eq!(Ipv6Prefix::decode(&buf[..n]), Some(p));
        let mut long = vec![0, 48];
        long.extend_from_slice(&p.addr().octets());
        assert_eq!(Ipv6Prefix::decode(&long), Some(p));
        assert_eq!(p.to_string(), "2001:db8:1::/48");
        // Too long a prefix length, too few octets for the length, too many octets.
        assert_eq!(Ipv6Prefix::decode(&[0, 129]), None);
        assert_eq!(Ipv6Prefix::decode(&[0, 64, 0x20, 0x01]), None);
        assert_eq!(Ipv6Prefix::decode(&[0; 19]), None);
        assert_eq!(Ipv6Prefix::decode(&[0]), None);
        assert_eq!(Ipv6Prefix::decode(&[0, 0]).map(|p| p.len()), Some(0));
        // Host bits past the length are cleared.
        let host = Ipv6Prefix::new("2001:db8::1".parse().unwrap(), 64).unwrap();
        assert_eq!(host.addr(), "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert!(Ipv6Prefix::new(Ipv6Addr::UNSPECIFIED, 129).is_none());
    }
}
