//! What radiusd tells the admin console about recent authentication, through Redis:
//! each subscriber's last Access-Rejects and the Access-Accepts and -Rejects of every
//! minute. Neither is in PostgreSQL: a login must not cost a database write, and both
//! are bounded (a list per subscriber, a hash per minute, each with a TTL).
//!
//! | key | value | TTL | written by |
//! | --- | --- | --- | --- |
//! | `<prefix>rejects:<subscriber id>` | list of [`RejectRecord`] (JSON), newest first, at most `keep` | 7 days after the last reject | each radiusd, pipelined in batches |
//! | `<prefix>stats:minute:<unix minute>` | hash `accepts`, `rejects` (HINCRBY by every radiusd) | about 2 h | each radiusd every second |

use serde::{Deserialize, Serialize};

/// One Access-Reject of a known subscriber (unknown names are not recorded: a flood of
/// random names must not fill Redis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectRecord {
    /// The subscriber's id (the list's key: a rename keeps the history).
    pub subscriber_id: i64,
    /// When, seconds since the Unix epoch.
    pub at: i64,
    /// The User-Name the NAS sent.
    pub username: String,
    /// The NAS's name.
    pub nas: String,
    /// The Calling-Station-Id (the subscriber's MAC, usually), when the NAS sent one.
    pub calling_station_id: Option<String>,
    /// Why, as a short label (`wrong_password`, `suspended`…).
    pub reason: String,
    /// The Reply-Message sent to the NAS.
    pub reply_message: String,
}

impl RejectRecord {
    /// The stored form.
    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the stored form; `None` for anything else (a newer writer's format).
    pub(crate) fn decode(s: &str) -> Option<RejectRecord> {
        serde_json::from_str(s).ok()
    }
}

/// The minute (seconds since the epoch / 60) a Unix time falls in.
pub fn unix_minute(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reject_round_trips_and_garbage_is_none() {
        let r = RejectRecord {
            subscriber_id: 7,
            at: 1_800_000_000,
            username: "ana \"x\"".to_owned(),
            nas: "nas-1".to_owned(),
            calling_station_id: Some("AA-BB-CC-DD-EE-FF".to_owned()),
            reason: "wrong_password".to_owned(),
            reply_message: "Wrong password".to_owned(),
        };
        assert_eq!(RejectRecord::decode(&r.encode()), Some(r));
        assert_eq!(RejectRecord::decode("not json"), None);
        assert_eq!(RejectRecord::decode("{}"), None);
    }

    #[test]
    fn minutes_count_from_the_epoch() {
        assert_eq!(unix_minute(0), 0);
        assert_eq!(unix_minute(59), 0);
        assert_eq!(unix_minute(60), 1);
        assert_eq!(unix_minute(-1), -1);
    }
}
