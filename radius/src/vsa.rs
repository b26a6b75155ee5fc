//! Vendor-Specific attributes (RFC 2865 §5.26).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |  Length       |            Vendor-Id
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!      Vendor-Id (cont)           | Vendor type   | Vendor length |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Attribute-Specific...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The RFC only recommends the (type, length, value) layout of the String; Microsoft
//! (RFC 2548) and MikroTik follow it, and one Vendor-Specific attribute may carry several
//! sub-attributes. A String in another layout is not an error of the packet, only of this
//! decoder, so callers skip it rather than drop the packet.

use crate::attr::{self, ATTR_HEADER_LEN, Attrs};

/// Octets of Vendor-Id before the first sub-attribute.
pub const VENDOR_ID_LEN: usize = 4;

/// The longest sub-attribute value: 255 − Type/Length − Vendor-Id − vendor Type/Length.
pub const MAX_VENDOR_VALUE_LEN: usize = 255 - ATTR_HEADER_LEN - VENDOR_ID_LEN - ATTR_HEADER_LEN;

/// Why a Vendor-Specific value is not in the recommended layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VsaError {
    /// Fewer than four octets of Vendor-Id.
    #[error("Vendor-Specific value of {len} octets has no room for a Vendor-Id")]
    NoVendorId {
        /// Octets in the value.
        len: usize,
    },
    /// A sub-attribute's length is below 2 or runs past the attribute.
    #[error("vendor sub-attribute at offset {offset} of the String has a bad length")]
    BadSubAttr {
        /// Offset into the String (after the Vendor-Id).
        offset: usize,
    },
}

/// One vendor sub-attribute, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAttr<'a> {
    /// The SMI Private Enterprise Code (see [`crate::dictionary::vendor`]).
    pub vendor: u32,
    /// The vendor's attribute type.
    pub typ: u8,
    /// The value, without the vendor Type and Length octets.
    pub value: &'a [u8],
}

/// The sub-attributes of one Vendor-Specific attribute, validated.
#[derive(Debug, Clone)]
pub struct VendorAttrs<'a> {
    vendor: u32,
    inner: Attrs<'a>,
}

impl<'a> VendorAttrs<'a> {
    /// The vendor of every sub-attribute here.
    pub fn vendor(&self) -> u32 {
        self.vendor
    }
}

impl<'a> Iterator for VendorAttrs<'a> {
    type Item = VendorAttr<'a>;

    fn next(&mut self) -> Option<VendorAttr<'a>> {
        let a = self.inner.next()?;
        Some(VendorAttr {
            vendor: self.vendor,
            typ: a.typ,
            value: a.value,
        })
    }
}

/// Decodes the value of a Vendor-Specific attribute (the octets after Type and Length).
pub fn decode(value: &[u8]) -> Result<VendorAttrs<'_>, VsaError> {
    let Some((id, rest)) = value.split_first_chunk::<VENDOR_ID_LEN>() else {
        return Err(VsaError::NoVendorId { len: value.len() });
    };
    attr::check_area(rest).map_err(|(offset, _)| VsaError::BadSubAttr { offset })?;
    Ok(VendorAttrs {
        vendor: u32::from_be_bytes(*id),
        inner: Attrs::new(rest, 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_several_sub_attributes() {
        let value = [0, 0, 1, 0x37, 16, 4, 0xAB, 0xCD, 17, 3, 0xEF];
        let subs: Vec<VendorAttr<'_>> = decode(&value).unwrap().collect();
        assert_eq!(
            subs,
            vec![
                VendorAttr {
                    vendor: 311,
                    typ: 16,
                    value: &[0xAB, 0xCD]
                },
                VendorAttr {
                    vendor: 311,
                    typ: 17,
                    value: &[0xEF]
                },
            ]
        );
    }

    #[test]
    fn refuses_foreign_layouts() {
        assert_eq!(
            decode(&[0, 0, 1]).unwrap_err(),
            VsaError::NoVendorId { len: 3 }
        );
        assert_eq!(
            decode(&[0, 0, 1, 0x37, 16, 9, 1]).unwrap_err(),
            VsaError::BadSubAttr { offset: 0 }
        );
        assert_eq!(
            decode(&[0, 0, 1, 0x37, 16, 2, 17]).unwrap_err(),
            VsaError::BadSubAttr { offset: 2 }
        );
        // A Vendor-Id alone is a valid, empty Vendor-Specific attribute.
        assert_eq!(decode(&[0, 0, 1, 0x37]).unwrap().count(), 0);
    }
}
