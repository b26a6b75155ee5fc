//! The open-loop schedule: request `k` is due at `start + k / rate`, whatever the server
//! does.
//!
//! This is what keeps the tool free of coordinated omission. A closed-loop tester waits for
//! replies before sending more, so a server that stalls for a second simply receives fewer
//! requests during that second and the stall hides in a handful of slow samples. Here the
//! send times are fixed in advance, latency is measured from the *scheduled* time, and a
//! request the generator sent late is charged its lateness: if the server stalls, every
//! request due during the stall shows it.
//!
//! Lateness of the generator itself (send lag) is reported separately, so a starved
//! generator is not mistaken for a slow server.

use std::time::{Duration, Instant};

/// How close to a deadline the pacer stops sleeping and starts spinning when the timer
/// slack could not be lowered: Linux then wakes a sleeping thread up to 50 µs late.
pub(crate) const SPIN_MARGIN: Duration = Duration::from_micros(60);

/// The shortest time the pacer sleeps between two sends. At high rates requests are due
/// every few microseconds; waking for each would spend the generator's core on context
/// switches that the threads reading replies need, so the pacer wakes at most this often
/// and sends everything due at once. The cost is at most this much send lag per request,
/// which is measured and reported like any other.
pub(crate) const QUANTUM: Duration = Duration::from_micros(25);

/// A constant-rate schedule over a time window, optionally cut at a request count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    rate: f64,
    total: u64,
}

impl Schedule {
    /// `rate` requests per second (finite, > 0) for `window`, at most `limit` requests.
    ///
    /// The window is half-open: a request due exactly at its end is not sent, so 10 s at
    /// 100/s is 1000 requests, not 1001.
    pub(crate) fn new(rate: f64, window: Duration, limit: Option<u64>) -> Schedule {
        debug_assert!(rate.is_finite() && rate > 0.0);
        let in_window = (window.as_secs_f64() * rate).ceil();
        // f64 → u64 saturates, so an absurd window cannot wrap.
        let in_window = in_window as u64;
        let total = limit.map_or(in_window, |l| l.min(in_window));
        Schedule { rate, total }
    }

    /// Requests in the schedule.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// When request `k` is due, from the start of the run.
    ///
    /// Computed from `k` each time rather than by adding intervals, so rounding never
    /// accumulates into drift over a long run.
    pub(crate) fn offset(&self, k: u64) -> Duration {
        Duration::from_secs_f64(k as f64 / self.rate)
    }

    /// How many requests are due `elapsed` after the start (request 0 is due at once),
    /// never more than [`Schedule::total`].
    pub(crate) fn due(&self, elapsed: Duration) -> u64 {
        let due = (elapsed.as_secs_f64() * self.rate).floor() as u64 + 1;
        // Float rounding may put the boundary request one off; the offsets decide.
        let due = if due > 0 && self.offset(due - 1) > elapsed {
            due - 1
        } else if self.offset(due) <= elapsed {
            due + 1
        } else {
            due
        };
        due.min(self.total)
    }
}

/// Sleeps until `deadline`: the OS sleep covers all but the last `spin` (see
/// [`SPIN_MARGIN`]), which is spent yielding so any other thread on this core can run.
/// Never returns before `deadline`.
pub(crate) fn wait_until(deadline: Instant, spin: Duration) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > spin {
            std::thread::sleep(left - spin);
        } else {
            std::thread::yield_now();
        }
    }
}

/// Lowers the calling thread's timer slack to 1 ns so sleeps end within microseconds of
/// their deadline instead of up to 50 µs late. Best effort: it needs a Linux `/proc`, and
/// the tool works (with more spinning) without it.
///
/// Done through `/proc/<tid>/timerslack_ns` because `prctl(PR_SET_TIMERSLACK)` would need
/// `unsafe` FFI, which this workspace forbids.
pub(crate) fn lower_timer_slack() -> bool {
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return false;
    };
    // The link reads `<pid>/task/<tid>`; the file lives at `/proc/<tid>/timerslack_ns`.
    let Some(tid) = link.file_name() else {
        return false;
    };
    let path = std::path::Path::new("/proc")
        .join(tid)
        .join("timerslack_ns");
    std::fs::write(path, "1").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_rate_without_drift() {
        let s = Schedule::new(1000.0, Duration::from_secs(3600), None);
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_millis(1));
        assert_eq!(s.offset(999), Duration::from_millis(999));
        // An hour in, still on the millisecond grid.
        assert_eq!(s.offset(3_600_000), Duration::from_secs(3600));
        let s = Schedule::new(150_000.0, Duration::from_secs(60), None);
        assert_eq!(s.offset(150_000 * 60), Duration::from_secs(60));
        // 1/3 s steps stay within a nanosecond of the exact value.
        let s = Schedule::new(3.0, Duration::from_secs(10), None);
        let exact = Duration::from_nanos(333_333_333);
        assert!(s.offset(1).abs_diff(exact) <= Duration::from_nanos(1));
        assert!(s.offset(30_000).abs_diff(Duration::from_secs(10_000)) <= Duration::from_nanos(1));
    }

    #[test]
    fn the_window_is_half_open_and_the_limit_cuts_it() {
        assert_eq!(
            Schedule::new(100.0, Duration::from_secs(10), None).total(),
            1000
        );
        assert_eq!(
            Schedule::new(100.0, Duration::from_secs(10), Some(10)).total(),
            10
        );
        assert_eq!(
            Schedule::new(100.0, Duration::from_secs(10), Some(5000)).total(),
            1000
        );
        // A window that ends between two requests includes the one before its end.
        assert_eq!(
            Schedule::new(100.0, Duration::from_millis(15), None).total(),
            2
        );
        assert_eq!(Schedule::new(0.5, Duration::from_secs(3), None).total(), 2);
        assert_eq!(Schedule::new(100.0, Duration::ZERO, None).total(), 0);
    }

    #[test]
    fn due_counts_requests_whose_time_has_come() {
        let s = Schedule::new(1000.0, Duration::from_secs(1), None);
        assert_eq!(s.due(Duration::ZERO), 1);
        assert_eq!(s.due(Duration::from_micros(999)), 1);
        assert_eq!(s.due(Duration::from_millis(1)), 2);
        assert_eq!(s.due(Duration::from_micros(1500)), 2);
        assert_eq!(s.due(Duration::from_millis(999)), 1000);
        // Never past the end of the schedule, however late the generator is.
        assert_eq!(s.due(Duration::from_secs(5)), 1000);
        // `due` and `offset` agree at every boundary: request k is due exactly at offset(k).
        let s = Schedule::new(7.0, Duration::from_secs(100), None);
        for k in 1..700 {
            let at = s.offset(k);
            assert_eq!(s.due(at), k + 1, "at offset({k})");
            assert_eq!(
                s.due(at - Duration::from_nanos(1)),
                k,
                "just before offset({k})"
            );
        }
    }

    #[test]
    fn waiting_never_returns_early() {
        lower_timer_slack();
        for spin in [Duration::ZERO, SPIN_MARGIN] {
            for micros in [0, 5, 40, 200, 1500] {
                let deadline = Instant::now() + Duration::from_micros(micros);
                wait_until(deadline, spin);
                assert!(Instant::now() >= deadline);
            }
        }
    }
}
