//! Decoding a datagram into a validated, borrowed [`Packet`] (RFC 2865 §3).
//!
//! Every check the RFC asks of a receiver happens once, in [`Packet::decode`]: the datagram
//! holds at least the header; the Length field lies in 20..=4096 and inside the datagram
//! (octets past Length are padding and ignored, RFC 2865 §3); every attribute's Length is at
//! least 2 and ends inside the packet (RFC 2865 §5). A packet that decodes can afterwards be
//! walked without further checks and without copying.
//!
//! Cryptographic checks (authenticators, Message-Authenticator) need the shared secret and
//! live in [`crate::authenticator`].

use crate::attr::{self, Attr, Attrs};
use crate::dictionary::attr::VENDOR_SPECIFIC;
use crate::header::{AUTHENTICATOR_LEN, AUTHENTICATOR_OFFSET, Code, HEADER_LEN};
use crate::header::{MAX_PACKET_LEN, MIN_PACKET_LEN};
use crate::profile::{TOKEN_LEN, TOKEN_OFFSET};
use crate::vsa::{self, VendorAttr, VendorAttrs};

/// Why a datagram is not a RADIUS packet. Offsets count from the first octet of the
/// datagram, so a log line points at the faulty octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer octets than the 20-octet header.
    #[error("datagram of {len} octets is shorter than the 20-octet header")]
    TooShort {
        /// Octets received.
        len: usize,
    },
    /// The Length field is below 20 or above 4096 (RFC 2865 §3).
    #[error("Length field {length} is outside 20..=4096")]
    BadLength {
        /// The Length field.
        length: u16,
    },
    /// The Length field claims more octets than arrived: the datagram was truncated
    /// (RFC 2865 §3 says to discard it).
    #[error("Length field {length} exceeds the {len} octets received")]
    Truncated {
        /// The Length field.
        length: u16,
        /// Octets received.
        len: usize,
    },
    /// A packet code this codec does not speak.
    #[error("unknown packet code {code}")]
    UnknownCode {
        /// The Code octet.
        code: u8,
    },
    /// An attribute's Length is below 2 or runs past the end of the packet (RFC 2865 §5).
    #[error("attribute at offset {offset} has bad length {len}")]
    BadAttrLength {
        /// Offset of the attribute's Type octet.
        offset: usize,
        /// Its Length octet.
        len: u8,
    },
    /// The packet ends between an attribute's Type and Length octets.
    #[error("attribute at offset {offset} is cut off before its length octet")]
    TruncatedAttr {
        /// Offset of the attribute's Type octet.
        offset: usize,
    },
}

impl DecodeError {
    /// A short, fixed label for metrics (`radius_dropped_packets_total{reason}`), so the
    /// receive path never formats a string per packet.
    pub const fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooShort { .. } => "too_short",
            DecodeError::BadLength { .. } => "bad_length",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::UnknownCode { .. } => "unknown_code",
            DecodeError::BadAttrLength { .. } | DecodeError::TruncatedAttr { .. } => {
                "bad_attribute"
            }
        }
    }
}

/// A validated RADIUS packet borrowed from its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Exactly Length octets: padding past Length is cut off at decode.
    raw: &'a [u8],
    code: Code,
}

impl<'a> Packet<'a> {
    /// Validates a datagram; see the module documentation for the rules. Never panics.
    pub fn decode(datagram: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        let Some(header) = datagram.first_chunk::<HEADER_LEN>() else {
            return Err(DecodeError::TooShort {
                len: datagram.len(),
            });
        };
        let length = u16::from_be_bytes([header[2], header[3]]);
        let len = usize::from(length);
        if !(MIN_PACKET_LEN..=MAX_PACKET_LEN).contains(&len) {
            return Err(DecodeError::BadLength { length });
        }
        let Some(raw) = datagram.get(..len) else {
            return Err(DecodeError::Truncated {
                length,
                len: datagram.len(),
            });
        };
        let code = Code::from_u8(header[0]).ok_or(DecodeError::UnknownCode { code: header[0] })?;
        attr::check_area(&raw[HEADER_LEN..]).map_err(|(pos, len)| match len {
            Some(len) => DecodeError::BadAttrLength {
                offset: HEADER_LEN + pos,
                len,
            },
            None => DecodeError::TruncatedAttr {
                offset: HEADER_LEN + pos,
            },
        })?;
        Ok(Packet { raw, code })
    }

    /// The packet code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The Identifier, which matches a reply to its request.
    pub fn identifier(&self) -> u8 {
        self.raw[1]
    }

    /// The 16-octet Authenticator field.
    pub fn authenticator(&self) -> &'a [u8; AUTHENTICATOR_LEN] {
        let field = &self.raw[AUTHENTICATOR_OFFSET..HEADER_LEN];
        field
            .first_chunk::<AUTHENTICATOR_LEN>()
            .unwrap_or(&[0; AUTHENTICATOR_LEN])
    }

    /// The Token of a RADIUS/1.1 packet (RFC 9765 §4.1): the first four octets of what
    /// classic RADIUS calls the Authenticator. Opaque — compare it, never interpret it —
    /// and copied into the reply ([`Encoder::reply_with`]).
    ///
    /// [`Encoder::reply_with`]: crate::encode::Encoder::reply_with
    pub fn token(&self) -> [u8; TOKEN_LEN] {
        let field = &self.raw[TOKEN_OFFSET..TOKEN_OFFSET + TOKEN_LEN];
        field
            .first_chunk::<TOKEN_LEN>()
            .copied()
            .unwrap_or_default()
    }

    /// The packet's octets, exactly Length of them.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The packet length (the Length field).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// All attributes in wire order.
    pub fn attrs(&self) -> Attrs<'a> {
        Attrs::new(&self.raw[HEADER_LEN..], HEADER_LEN)
    }

    /// The first attribute of a type.
    pub fn attr(&self, typ: u8) -> Option<Attr<'a>> {
        self.attrs().find(|a| a.typ == typ)
    }

    /// The value of the first attribute of a type.
    pub fn value(&self, typ: u8) -> Option<&'a [u8]> {
        self.attr(typ).map(|a| a.value)
    }

    /// Every attribute of a type, in order (Proxy-State, Class, Reply-Message…).
    pub fn attrs_of(&self, typ: u8) -> impl Iterator<Item = Attr<'a>> + use<'a> {
        self.attrs().filter(move |a| a.typ == typ)
    }

    /// Every well-formed vendor sub-attribute, in order.
    ///
    /// Vendor-Specific attributes whose String is not in the RFC 2865 §5.26 recommended
    /// format (one-octet type and length) are skipped: a packet may legally carry them
    /// for vendors we do not know, so they are not a decode error.
    pub fn vendor_attrs(&self) -> impl Iterator<Item = VendorAttr<'a>> + use<'a> {
        self.attrs_of(VENDOR_SPECIFIC)
            .filter_map(|a| vsa::decode(a.value).ok())
            .flat_map(VendorAttrs::into_iter)
    }

    /// The value of the first sub-attribute `typ` of `vendor`.
    pub fn vendor_value(&self, vendor: u32, typ: u8) -> Option<&'a [u8]> {
        self.vendor_attrs()
            .find(|a| a.vendor == vendor && a.typ == typ)
            .map(|a| a.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u8, attrs: &[u8]) -> Vec<u8> {
        let len = (HEADER_LEN + attrs.len()) as u16;
        let mut p = vec![code, 7];
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[0xAA; 16]);
        p.extend_from_slice(attrs);
        p
    }

    #[test]
    fn decodes_header_and_attributes() {
        let raw = packet(
            1,
            &[
                1, 5, b'b', b'o', b'b', 80, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        );
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.identifier(), 7);
        assert_eq!(p.authenticator(), &[0xAA; 16]);
        assert_eq!(p.token(), [0xAA; 4]);
        assert_eq!(p.value(1), Some(&b"bob"[..]));
        assert_eq!(p.attr(80).map(|a| a.offset), Some(25));
        assert_eq!(p.attrs().count(), 2);
        assert_eq!(p.len(), raw.len());
    }

    #[test]
    fn ignores_octets_past_length() {
        let mut raw = packet(2, &[18, 4, b'o', b'k']);
        raw.extend_from_slice(&[0xFF, 0xFF, 0xFF]);
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.len(), 24);
        assert_eq!(p.attrs().count(), 1);
    }

    #[test]
    fn refuses_each_structural_fault_with_its_offset() {
        assert_eq!(
            Packet::decode(&[1; 19]),
            Err(DecodeError::TooShort { len: 19 })
        );
        let mut short_len = packet(1, &[]);
        short_len[3] = 19;
        assert_eq!(
            Packet::decode(&short_len),
            Err(DecodeError::BadLength { length: 19 })
        );
        let mut huge = packet(1, &[]);
        huge[2..4].copy_from_slice(&4097u16.to_be_bytes());
        assert_eq!(
            Packet::decode(&huge),
            Err(DecodeError::BadLength { length: 4097 })
        );
        let mut truncated = packet(1, &[1, 3, b'x']);
        truncated.pop();
        assert_eq!(
            Packet::decode(&truncated),
            Err(DecodeError::Truncated {
                length: 23,
                len: 22
            })
        );
        assert_eq!(
            Packet::decode(&packet(99, &[])),
            Err(DecodeError::UnknownCode { code: 99 })
        );
        assert_eq!(
            Packet::decode(&packet(1, &[1, 3, b'x', 4, 1])),
            Err(DecodeError::BadAttrLength { offset: 23, len: 1 })
        );
        assert_eq!(
            Packet::decode(&packet(1, &[1, 3, b'x', 4, 9, 0])),
            Err(DecodeError::BadAttrLength { offset: 23, len: 9 })
        );
        assert_eq!(
            Packet::decode(&packet(1, &[1, 3, b'x', 4])),
            Err(DecodeError::TruncatedAttr { offset: 23 })
        );
        assert_eq!(
            DecodeError::TruncatedAttr { offset: 0 }.reason(),
            "bad_attribute"
        );
    }

    #[test]
    fn accepts_the_largest_packet() {
        let mut attrs = Vec::new();
        while attrs.len() + 255 <= MAX_PACKET_LEN - HEADER_LEN {
            attrs.push(18);
            attrs.push(255);
            attrs.extend_from_slice(&[b'x'; 253]);
        }
        let rest = MAX_PACKET_LEN - HEADER_LEN - attrs.len();
        attrs.push(18);
        attrs.push(rest as u8);
        attrs.extend(std::iter::repeat_n(b'y', rest - 2));
        let raw = packet(2, &attrs);
        assert_eq!(raw.len(), MAX_PACKET_LEN);
        assert_eq!(Packet::decode(&raw).unwrap().len(), MAX_PACKET_LEN);
    }

    #[test]
    fn finds_vendor_attributes_and_skips_foreign_formats() {
        let attrs = [
            // Mikrotik-Rate-Limit = "1M/2M" (vendor 14988, type 8).
            26, 13, 0, 0, 0x3a, 0x8c, 8, 7, b'1', b'M', b'/', b'2', b'M',
            // A vendor with a non-standard String layout: ignored, not an error.
            26, 9, 0, 0, 0x01, 0x00, 0xff, 0xff, 0xff,
        ];
        let raw = packet(2, &attrs);
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.vendor_value(14988, 8), Some(&b"1M/2M"[..]));
        assert_eq!(p.vendor_attrs().count(), 1);
        assert_eq!(p.vendor_value(14988, 9), None);
    }
}
