//! One log line a second for floods (unknown NAS, malformed packets, a full spool disk), so
//! a flood cannot fill the disk; the counters still count every event.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether a line may be logged now for the flood `last` stands for.
pub(crate) fn log_allowed(last: &AtomicI64) -> bool {
    log_allowed_at(last, unix_seconds(SystemTime::now()))
}

/// Seconds since the Unix epoch at `t` (0 before it): the clock the limiters (and expiry
/// checks) count in.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// [`log_allowed`] at `now`, seconds since the epoch.
pub(crate) fn log_allowed_at(last: &AtomicI64, now: i64) -> bool {
    last.swap(now, Ordering::Relaxed) != now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_logged_once_a_second() {
        let last = AtomicI64::new(0);
        let logged = (0..10_000)
            .filter(|_| log_allowed_at(&last, 1_800_000_000))
            .count();
        assert_eq!(logged, 1);
        assert!(log_allowed_at(&last, 1_800_000_001));
        assert!(!log_allowed_at(&last, 1_800_000_001));
        // Each limiter on its own.
        assert!(log_allowed_at(&AtomicI64::new(0), 1_800_000_001));
    }
}
