//! Waiting for a condition that nothing announces: a server process coming up, a row a
//! background task writes, a value another process publishes.
//!
//! A fixed sleep guesses how long something takes and is either too short (a flaky test)
//! or too long (a slow one); a probe observes that it happened. Where the code under test
//! offers a signal — a channel, an event, a reply — a test waits on that instead; these
//! helpers are for the rest. Between probes the waiter pauses, briefly at first and never
//! longer than [`MAX_PAUSE`], so a probe that fails at once (a connection refused) does not
//! spin a core that the server being waited for needs.

use std::time::Duration;

/// The pause after the first failed probe; it doubles after each one up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);

/// The longest pause between probes: how much later than the probe could have, at most,
/// a condition that has come true is noticed.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// The pauses between probes: 1, 2, 4 … ms, then [`MAX_PAUSE`] each.
fn pauses() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(FIRST_PAUSE), |p| Some((*p * 2).min(MAX_PAUSE)))
}

/// Probes `condition` until it holds or `within` has passed, and says whether it held.
/// It is probed at least once, and once more at the deadline.
///
/// The clock is tokio's, so under a paused clock the pauses advance it instead of taking
/// time.
///
/// ```no_run
/// # async fn f() {
/// use std::time::Duration;
/// let up = proisp_testing::wait_until(Duration::from_secs(10), async || {
///     tokio::net::TcpStream::connect("127.0.0.1:6379").await.is_ok()
/// })
/// .await;
/// assert!(up, "Redis does not accept connections");
/// # }
/// ```
pub async fn wait_until(within: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut pauses = pauses();
    loop {
        if condition().await {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        let pause = pauses.next().unwrap_or(MAX_PAUSE);
        tokio::time::sleep(pause.min(deadline - now)).await;
    }
}

/// [`wait_until`] for code that cannot await: `Drop` implementations and threads without
/// a runtime. It blocks the calling thread.
pub fn wait_until_blocking(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    let mut pauses = pauses();
    loop {
        if condition() {
            return true;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return false;
        }
        let pause = pauses.next().unwrap_or(MAX_PAUSE);
        std::thread::sleep(pause.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap() {
        let first: Vec<u64> = pauses().take(8).map(|p| p.as_millis() as u64).collect();
        assert_eq!(first, [1, 2, 4, 8, 16, 32, 50, 50]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_condition_that_comes_true_ends_the_wait_when_probed() {
        let start = tokio::time::Instant::now();
        let probes = AtomicU32::new(0);
        let met = wait_until(Duration::from_secs(5), async || {
            probes.fetch_add(1, Ordering::Relaxed) == 3
        })
        .await;
        assert!(met);
        assert_eq!(probes.load(Ordering::Relaxed), 4);
        // Three pauses: 1 + 2 + 4 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_condition_never_met_ends_at_the_deadline_after_a_last_probe() {
        let start = tokio::time::Instant::now();
        let mut last_probe = start;
        let met = wait_until(Duration::from_millis(200), async || {
            last_probe = tokio::time::Instant::now();
            false
        })
        .await;
        assert!(!met);
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        assert_eq!(last_probe, start + Duration::from_millis(200));
    }

    #[test]
    fn the_blocking_wait_probes_until_the_condition_holds() {
        let mut probes = 0;
        assert!(wait_until_blocking(Duration::from_secs(5), || {
            probes += 1;
            probes == 3
        }));
        assert_eq!(probes, 3);
        assert!(!wait_until_blocking(Duration::from_millis(5), || false));
    }
}
