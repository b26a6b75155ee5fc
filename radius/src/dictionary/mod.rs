//! The RADIUS dictionary: attribute numbers, names, value types and named values.
//!
//! Code refers to attributes through the constants in [`attr`], [`ms`] and [`mikrotik`] and
//! to enumerated values through [`values`]; logs name them through [`lookup`], [`name`] and
//! [`display_value`]. Nothing is loaded at run time: the tables are `static` and checked at
//! compile time (a duplicate standard code or an unsorted vendor table fails the build), so
//! a standard lookup is an array index and a vendor lookup a binary search over a few dozen
//! entries.
//!
//! Names and types follow FreeRADIUS's `share/dictionary.*` files, so a log line reads like
//! the one an operator already knows from `radiusd -X`. Departures from FreeRADIUS, each
//! documented at its entry:
//!
//! - MS-MPPE-Encryption-Types names the values the RFC 2548 §2.4.5 bit layout gives
//!   (2, 4, 6); FreeRADIUS names 1, 2 and 6, although its own rlm_mschap sends 4 and 6.
//! - Mikrotik 25 is spelt `Mikrotik-DHCP-Option-Param-STR2` and 27
//!   `Mikrotik-Wireless-VLANID-Type`; FreeRADIUS's spellings (`Mikortik-…`, `…VLANIDtype`)
//!   and its singular `MS-MPPE-Encryption-Type` are accepted by [`by_name`] as aliases.
//! - Only the Microsoft attributes of RFC 2548 are listed, not the later MS-RNAP ones (34+).
//!
//! Coverage: RFC 2865, 2866, 2867 (tunnel accounting), 2868 (tunnel attributes), 2869, 3162,
//! 4372 (Chargeable-User-Identity), 4818, 5176 (Error-Cause), 6911, RFC 2548 (Microsoft) and
//! MikroTik's vendor attributes 1–30.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

// Each attribute is written once, in `data.rs`: one line gives its code, constant, name,
// value type and named values, and the `dictionary!` macro (`macros.rs`) generates the
// constants, the `values` modules, the tables and the vendor dispatch from it.
mod data;
mod macros;
#[cfg(test)]
mod tests;

use data::{ALIASES, STANDARD};
pub use data::{attr, mikrotik, ms, values, vendor};

/// How an attribute's value is encoded, and so how it is decoded and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// A 32-bit unsigned integer, big-endian (RFC 2865 §5).
    Integer,
    /// An [`ValueType::Integer`] whose values have names ([`AttrDef::values`]).
    Enum,
    /// An IPv4 address, 4 octets (RFC 2865 §5).
    IpAddr,
    /// An IPv6 address, 16 octets (RFC 3162 §2.1; RFC 6911 §3.1 Framed-IPv6-Address etc.).
    Ipv6Addr,
    /// An IPv6 prefix (RFC 3162 §2.3): Reserved octet, Prefix-Length octet, then 0–16
    /// octets of prefix.
    Ipv6Prefix,
    /// Seconds since 1970-01-01 UTC, 32 bits (RFC 2865 §5).
    Date,
    /// Text, meant to be UTF-8 but not checked (RFC 2865 §5 "text" and "string").
    String,
    /// Opaque octets.
    Octets,
    /// An IPv6 interface identifier, 8 octets (RFC 3162 §2.2 Framed-Interface-Id).
    Ifid,
    /// A tag octet then a 24-bit integer (RFC 2868 §3.1, e.g. Tunnel-Type). Values may be
    /// named as for [`ValueType::Enum`].
    TaggedInteger,
    /// An optional tag octet (0x00–0x1F) then a string (RFC 2868 §3.3, e.g.
    /// Tunnel-Private-Group-Id).
    TaggedString,
    /// Attribute 26 itself: a 4-octet Vendor-Id then vendor data (RFC 2865 §5.26).
    Vsa,
}

impl ValueType {
    /// The type's name as FreeRADIUS dictionaries spell it, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::Integer | ValueType::Enum => "integer",
            ValueType::IpAddr => "ipaddr",
            ValueType::Ipv6Addr => "ipv6addr",
            ValueType::Ipv6Prefix => "ipv6prefix",
            ValueType::Date => "date",
            ValueType::String => "string",
            ValueType::Octets => "octets",
            ValueType::Ifid => "ifid",
            ValueType::TaggedInteger => "tagged integer",
            ValueType::TaggedString => "tagged string",
            ValueType::Vsa => "vsa",
        }
    }
}

/// How an attribute's value is hidden on the wire. Such values are never logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encryption {
    /// MD5 stream keyed with the secret and Request Authenticator (RFC 2865 §5.2).
    UserPassword,
    /// As User-Password with a 2-octet salt after the tag (RFC 2868 §3.5).
    TunnelPassword,
    /// As User-Password with a 2-octet salt (RFC 2548 §2.4.2, MS-MPPE-Send/Recv-Key).
    MsMppeKey,
    /// As User-Password, no salt (RFC 2548 §2.4.1, MS-CHAP-MPPE-Keys).
    MsChapMppeKeys,
}

/// One dictionary entry: what an attribute is called and how its value is encoded.
#[derive(Debug)]
pub struct AttrDef {
    /// FreeRADIUS name, e.g. `User-Name`, `MS-CHAP2-Response`, `Mikrotik-Rate-Limit`.
    pub name: &'static str,
    /// Vendor id for a vendor attribute, 0 for a standard one.
    pub vendor: u32,
    /// Attribute type: the Type octet, or the Vendor-Type inside attribute 26.
    pub code: u8,
    /// Value encoding.
    pub ty: ValueType,
    /// Named values of an enumerated attribute, empty otherwise.
    pub values: &'static [(u32, &'static str)],
    /// How the value is hidden on the wire, if it is.
    pub encrypted: Option<Encryption>,
    /// Whether the value must never reach a log: every encrypted attribute, and clear ones
    /// from which a password can be recovered offline (CHAP and MS-CHAP responses next to
    /// their challenge) or that are keys themselves (MikroTik wireless keys).
    pub sensitive: bool,
}

impl AttrDef {
    /// The name of value `v` of an enumerated attribute.
    pub fn value_name(&self, v: u32) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, name)| *name)
    }

    /// The number of a named value, case-insensitively (`Framed-User` → 2).
    pub fn value_by_name(&self, name: &str) -> Option<u32> {
        self.values
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(v, _)| *v)
    }

    /// An entry neither hidden nor sensitive; what `dictionary!` builds each line from.
    const fn declare(
        vendor: u32,
        code: u8,
        name: &'static str,
        ty: ValueType,
        values: &'static [(u32, &'static str)],
    ) -> AttrDef {
        AttrDef {
            name,
            vendor,
            code,
            ty,
            values,
            encrypted: None,
            sensitive: false,
        }
    }

    const fn hidden(mut self, how: Encryption) -> AttrDef {
        self.encrypted = Some(how);
        self.sensitive = true;
        self
    }

    const fn sensitive(mut self) -> AttrDef {
        self.sensitive = true;
        self
    }
}

/// The entry for standard attribute `code`, or for `code` of a known `vendor`.
pub fn lookup(vendor: u32, code: u8) -> Option<&'static AttrDef> {
    if vendor == 0 {
        return STANDARD_INDEX[usize::from(code)];
    }
    let table = data::table(vendor)?;
    let at = table.binary_search_by_key(&code, |d| d.code).ok()?;
    table.get(at)
}

/// The entry called `name`, compared case-insensitively. FreeRADIUS's alternative
/// spellings noted in the module docs are accepted too.
pub fn by_name(name: &str) -> Option<&'static AttrDef> {
    all()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .or_else(|| {
            let (_, vendor, code) = ALIASES
                .iter()
                .find(|(alias, _, _)| alias.eq_ignore_ascii_case(name))?;
            lookup(*vendor, *code)
        })
}

/// The name of standard attribute `code`, or of `code` of a known `vendor`.
pub fn name(vendor: u32, code: u8) -> Option<&'static str> {
    lookup(vendor, code).map(|d| d.name)
}

/// Every entry: standard attributes by code, then Microsoft's, then MikroTik's.
pub fn all() -> impl Iterator<Item = &'static AttrDef> {
    data::TABLES.iter().copied().flatten()
}

/// A log-friendly rendering of `value` as attribute `def` encodes it.
///
/// Integers print as decimal, with the name when the value has one (`Framed-User (2)`);
/// addresses as `192.0.2.1` and `2001:db8::1`; prefixes as `2001:db8::/32`; interface ids as
/// `0011:2233:4455:6677`; dates as seconds since the epoch; strings as UTF-8 (invalid
/// sequences become U+FFFD) with control, bidi-override and line-separator characters and
/// `\` escaped, so a value cannot forge a log line; octets (and unknown attributes) as
/// `0x…` hex; tagged values with `, tag N`. Sensitive attributes (passwords, CHAP and
/// MS-CHAP responses, keys) print as `<hidden>`.
/// A value the type cannot decode prints as hex followed by `(malformed <type>)`.
/// Never panics, whatever the bytes.
pub fn display_value<'a>(def: Option<&'static AttrDef>, value: &'a [u8]) -> impl fmt::Display + 'a {
    ValueDisplay { def, value }
}

/// What [`display_value`] returns.
#[derive(Debug, Clone, Copy)]
struct ValueDisplay<'a> {
    def: Option<&'static AttrDef>,
    value: &'a [u8],
}

impl fmt::Display for ValueDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.value;
        let Some(def) = self.def else {
            return write_hex(f, v);
        };
        // Not even as hex: the ciphertext next to a logged Request Authenticator is an
        // offline dictionary attack on the shared secret.
        if def.sensitive {
            return f.write_str("<hidden>");
        }
        let written = match def.ty {
            ValueType::Integer | ValueType::Date => be_u32(v).map(|n| write!(f, "{n}")),
            ValueType::Enum => be_u32(v).map(|n| write_enum(f, def, n)),
            ValueType::IpAddr => <[u8; 4]>::try_from(v)
                .ok()
                .map(|a| write!(f, "{}", Ipv4Addr::from(a))),
            ValueType::Ipv6Addr => <[u8; 16]>::try_from(v)
                .ok()
                .map(|a| write!(f, "{}", Ipv6Addr::from(a))),
            ValueType::Ipv6Prefix => ipv6_prefix(v).map(|(addr, len)| write!(f, "{addr}/{len}")),
            ValueType::Ifid => <[u8; 8]>::try_from(v).ok().map(|a| {
                write!(
                    f,
                    "{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}",
                    a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
                )
            }),
            ValueType::String => Some(write_text(f, v)),
            ValueType::Octets => Some(write_hex(f, v)),
            ValueType::TaggedInteger => match *v {
                [tag, a, b, c] => Some(
                    write_enum(f, def, u32::from_be_bytes([0, a, b, c]))
                        .and_then(|()| write_tag(f, tag)),
                ),
                _ => None,
            },
            ValueType::TaggedString => Some(match v.split_first() {
                // RFC 2868 §3.3: a first octet above 0x1F is data, not a tag.
                Some((&tag, rest)) if tag <= 0x1f => {
                    write_text(f, rest).and_then(|()| write_tag(f, tag))
                }
                _ => write_text(f, v),
            }),
            ValueType::Vsa => v
                .split_first_chunk::<4>()
                .map(|(id, data)| write_vsa(f, u32::from_be_bytes(*id), data)),
        };
        match written {
            Some(result) => result,
            None => {
                write_hex(f, v)?;
                write!(f, " (malformed {})", def.ty.name())
            }
        }
    }
}

fn be_u32(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}

/// Decodes the RFC 3162 §2.3 layout, which RFC 4818 §3 and RFC 6911 §3.3 reuse:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |    Length     |  Reserved     | Prefix-Length |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///                                 Prefix
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The prefix field holds at least the octets the length covers and at most 16. Bits past
/// the prefix length are kept as sent, so a log shows exactly what the peer put there.
fn ipv6_prefix(v: &[u8]) -> Option<(Ipv6Addr, u8)> {
    let [_reserved, len, prefix @ ..] = v else {
        return None;
    };
    if *len > 128 || prefix.len() > 16 || prefix.len() < usize::from(len.div_ceil(8)) {
        return None;
    }
    let mut octets = [0u8; 16];
    octets
        .iter_mut()
        .zip(prefix)
        .for_each(|(dst, src)| *dst = *src);
    Some((Ipv6Addr::from(octets), *len))
}

fn write_enum(f: &mut fmt::Formatter<'_>, def: &AttrDef, n: u32) -> fmt::Result {
    match def.value_name(n) {
        Some(name) => write!(f, "{name} ({n})"),
        None => write!(f, "{n}"),
    }
}

fn write_tag(f: &mut fmt::Formatter<'_>, tag: u8) -> fmt::Result {
    if tag == 0 {
        Ok(())
    } else {
        write!(f, ", tag {tag}")
    }
}

fn write_vsa(f: &mut fmt::Formatter<'_>, id: u32, data: &[u8]) -> fmt::Result {
    write!(f, "vendor {id}")?;
    if let Some(name) = vendor::name(id) {
        write!(f, " ({name})")?;
    }
    f.write_str(" ")?;
    write_hex(f, data)
}

fn write_hex(f: &mut fmt::Formatter<'_>, v: &[u8]) -> fmt::Result {
    f.write_str("0x")?;
    v.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

fn write_text(f: &mut fmt::Formatter<'_>, v: &[u8]) -> fmt::Result {
    for chunk in v.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                f.write_str("\\\\")?;
            } else if forges_log_lines(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        if !chunk.invalid().is_empty() {
            f.write_char(char::REPLACEMENT_CHARACTER)?;
        }
    }
    Ok(())
}

/// Characters that would let an attribute value start a new log line or make a terminal
/// show text in a different order than it is stored ("Trojan Source", CVE-2021-42574).
fn forges_log_lines(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Standard attributes by code. Built at compile time; a duplicate code or a vendor entry
/// in [`STANDARD`] fails the build.
static STANDARD_INDEX: [Option<&AttrDef>; 256] = index_standard(&STANDARD);

const fn index_standard(defs: &'static [AttrDef]) -> [Option<&'static AttrDef>; 256] {
    let mut index: [Option<&'static AttrDef>; 256] = [None; 256];
    let mut i = 0;
    while i < defs.len() {
        let def = &defs[i];
        assert!(def.vendor == 0, "vendor attribute in the standard table");
        let slot = def.code as usize;
        assert!(index[slot].is_none(), "duplicate standard attribute code");
        index[slot] = Some(def);
        i += 1;
    }
    index
}

/// Whether a table is strictly ascending by code (so binary search finds every entry and no
/// code appears twice) and all of one vendor. `dictionary!` asserts it of every table.
const fn is_vendor_table(defs: &[AttrDef], vendor: u32) -> bool {
    let mut i = 0;
    while i < defs.len() {
        if defs[i].vendor != vendor || (i > 0 && defs[i - 1].code >= defs[i].code) {
            return false;
        }
        i += 1;
    }
    true
}
