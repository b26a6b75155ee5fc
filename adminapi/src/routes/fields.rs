//! Typed fields in their text form: addresses, networks, MACs and timestamps (`crate::time::Timestamp`) are
//! strings on the wire and typed in the bodies. A value that does not parse is refused by
//! serde, so [`crate::body::parse`] answers 422 naming the field, with what was expected.
//!
//! Optional fields ([`opt`]) keep the API's leniency: surrounding spaces are ignored and
//! an empty string is the same as leaving the field out.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv6Net;
use proisp_model::MacAddr;
use serde::Deserializer;
use serde::de::{self, Visitor};

use crate::error::ApiError;

/// A type with a text form: [`fmt::Display`] out, [`Text::parse_text`] in.
pub trait Text: Sized + fmt::Display {
    /// `s` (surrounding spaces ignored), or what was expected instead.
    fn parse_text(s: &str) -> Result<Self, String>;
}

impl Text for MacAddr {
    fn parse_text(s: &str) -> Result<MacAddr, String> {
        s.trim().parse::<MacAddr>().map_err(|e| e.to_string())
    }
}

impl Text for Ipv4Addr {
    fn parse_text(s: &str) -> Result<Ipv4Addr, String> {
        s.trim()
            .parse()
            .map_err(|_| "expected an IPv4 address".to_owned())
    }
}

impl Text for IpAddr {
    fn parse_text(s: &str) -> Result<IpAddr, String> {
        s.trim()
            .parse()
            .map_err(|_| "expected an IPv4 or IPv6 address".to_owned())
    }
}

impl Text for Ipv6Net {
    fn parse_text(s: &str) -> Result<Ipv6Net, String> {
        s.trim()
            .parse()
            .map_err(|_| "expected an IPv6 prefix such as 2001:db8:1::/64".to_owned())
    }
}

/// `s` as a `T`, or 422 naming `field` (for values that arrive outside a JSON body: CSV
/// cells, path segments).
pub fn parse<T: Text>(field: &str, s: &str) -> Result<T, ApiError> {
    T::parse_text(s).map_err(|why| ApiError::invalid(field, why))
}

/// `s` as an optional `T`: blank is `None`.
pub fn parse_opt<T: Text>(field: &str, s: Option<&str>) -> Result<Option<T>, ApiError> {
    s.filter(|s| !s.trim().is_empty())
        .map(|s| parse(field, s))
        .transpose()
}

struct TextVisitor<T>(PhantomData<T>);

impl<T: Text> Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse_text(v).map_err(E::custom)
    }
}

/// Deserialises a `T` from its text form (`#[serde(deserialize_with)]`, or a `Deserialize`
/// impl).
pub fn from_text<'de, D: Deserializer<'de>, T: Text>(d: D) -> Result<T, D::Error> {
    d.deserialize_str(TextVisitor(PhantomData))
}

/// `#[serde(with = "text")]`: a required field in its text form.
pub mod text {
    use serde::{Deserializer, Serializer};

    use super::Text;

    /// As its text.
    pub fn serialize<S: Serializer, T: Text>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// From its text.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Text>(d: D) -> Result<T, D::Error> {
        super::from_text(d)
    }
}

/// `#[serde(default, with = "opt")]`: an optional field in its text form; `null`, an
/// empty or blank string are `None`.
pub mod opt {
    use serde::de::Error as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    use super::Text;

    /// As its text, or `null`.
    pub fn serialize<S: Serializer, T: Text>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// From its text; blank is `None`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Text>(d: D) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(d)?
            .filter(|s| !s.trim().is_empty())
            .map(|s| T::parse_text(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// `#[serde(with = "list")]`: a list of values in their text form.
pub mod list {
    use serde::de::Error as _;
    use serde::ser::SerializeSeq as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    use super::Text;

    /// As texts.
    pub fn serialize<S: Serializer, T: Text>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for item in v {
            seq.serialize_element(&item.to_string())?;
        }
        seq.end()
    }

    /// From texts.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Text>(d: D) -> Result<Vec<T>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| T::parse_text(s).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::time::Timestamp;
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Body {
        #[serde(default, with = "opt")]
        mac: Option<MacAddr>,
        #[serde(with = "text")]
        at: Timestamp,
    }

    fn field(v: serde_json::Value) -> (String, String) {
        match crate::body::parse::<Body>(v).unwrap_err() {
            ApiError::Invalid { field, message } => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trip_and_leniency() {
        let b: Body =
            serde_json::from_value(json!({"mac": " 4c5e.0c12.3456 ", "at": "1970-01-02"})).unwrap();
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            json!({"mac": "4C:5E:0C:12:34:56", "at": "1970-01-02T00:00:00Z"})
        );
        let b: Body = serde_json::from_value(json!({"mac": " ", "at": "1970-01-02"})).unwrap();
        assert_eq!(b.mac, None);
        assert_eq!(serde_json::to_value(&b).unwrap()["mac"], json!(null));
    }

    #[test]
    fn bad_values_name_the_field() {
        let (f, m) = field(json!({"mac": "zz", "at": "1970-01-02"}));
        assert_eq!(f, "mac");
        assert!(m.starts_with("not a MAC address"), "{m}");
        let (f, m) = field(json!({"at": "soon"}));
        assert_eq!(f, "at");
        assert!(m.starts_with("expected an RFC 3339 time"), "{m}");
        assert_eq!(field(json!({"at": 5})).0, "at");
    }

    #[test]
    fn outside_a_body() {
        assert_eq!(
            parse::<Ipv4Addr>("ipv4", " 10.0.0.1").unwrap(),
            Ipv4Addr::new(10, 0, 0, 1)
        );
        assert!(matches!(
            parse::<Ipv4Addr>("ipv4", "10.0.0.256"),
            Err(ApiError::Invalid { field, .. }) if field == "ipv4"
        ));
        assert_eq!(parse_opt::<MacAddr>("mac", Some("")).unwrap(), None);
    }
}
