//! [`Timestamp`]: the API's one time type. On the wire it is an RFC 3339 UTC string to the
//! second (`2026-12-31T23:59:59Z`); inside, whole seconds since the Unix epoch.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::routes::fields::{self, Text};

/// A point in time, to the second, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a string is not a [`Timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected an RFC 3339 time (2026-12-31T23:59:59Z) or a date (2026-12-31)")]
pub struct BadTimestamp;

/// 9999-12-31T23:59:59Z: RFC 3339 has four-digit years.
const LAST: i64 = 253_402_300_799;

impl Timestamp {
    /// `secs` seconds after (before, when negative) the Unix epoch.
    pub const fn from_unix(secs: i64) -> Timestamp {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// Now, to the second.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// As a [`SystemTime`] (for SQL parameters).
    pub fn system_time(self) -> SystemTime {
        let d = Duration::from_secs(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + d
        } else {
            UNIX_EPOCH - d
        }
    }
}

impl From<SystemTime> for Timestamp {
    /// Truncates to the second.
    fn from(t: SystemTime) -> Timestamp {
        Timestamp(match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                let before = e.duration();
                let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                -whole - i64::from(before.subsec_nanos() > 0)
            }
        })
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 can only say years 0000 to 9999, and humantime only from 1970: a stored
    /// time outside that (only hand-written SQL makes one) shows as the nearest end.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clamped = Timestamp(self.0.clamp(0, LAST));
        write!(
            f,
            "{}",
            humantime::format_rfc3339_seconds(clamped.system_time())
        )
    }
}

impl FromStr for Timestamp {
    type Err = BadTimestamp;

    /// RFC 3339 (fractions dropped, `Z` or no zone: UTC), or a bare date: its midnight,
    /// UTC.
    fn from_str(s: &str) -> Result<Timestamp, BadTimestamp> {
        let s = s.trim();
        let full;
        let text = if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') {
            full = format!("{s}T00:00:00Z");
            full.as_str()
        } else {
            s
        };
        humantime::parse_rfc3339_weak(text)
            .map(Timestamp::from)
            .map_err(|_| BadTimestamp)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        fields::from_text(d)
    }
}

impl Text for Timestamp {
    fn parse_text(s: &str) -> Result<Timestamp, String> {
        s.parse::<Timestamp>().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        assert_eq!(
            Timestamp::from_unix(86_400).to_string(),
            "1970-01-02T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(1_798_761_599).to_string(),
            "2026-12-31T23:59:59Z"
        );
        assert_eq!(Timestamp::from_unix(-5).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_unix(i64::MAX).to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            serde_json::to_value(Timestamp::from_unix(60)).unwrap(),
            "1970-01-01T00:01:00Z"
        );
    }

    #[test]
    fn parsing() {
        assert_eq!("1970-01-02".parse(), Ok(Timestamp::from_unix(86_400)));
        assert_eq!(
            " 1970-01-01T00:01:00.9Z ".parse(),
            Ok(Timestamp::from_unix(60))
        );
        assert_eq!("tomorrow".parse::<Timestamp>(), Err(BadTimestamp));
        assert_eq!(
            serde_json::from_value::<Timestamp>(serde_json::json!("1970-01-01T00:01:00Z")).unwrap(),
            Timestamp::from_unix(60)
        );
        assert!(serde_json::from_value::<Timestamp>(serde_json::json!(60)).is_err());
    }

    #[test]
    fn system_times_truncate_to_the_second() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(Timestamp::from(t), Timestamp::from_unix(1));
        let t = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(Timestamp::from(t), Timestamp::from_unix(-2));
        assert_eq!(
            Timestamp::from_unix(-2).system_time(),
            UNIX_EPOCH - Duration::from_secs(2)
        );
    }
}
