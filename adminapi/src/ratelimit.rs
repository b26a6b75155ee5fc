//! Requests per client address: GCRA (the generic cell rate algorithm of ITU-T I.371,
//! the token bucket without a timer), in process memory.
//!
//! Each address has a theoretical arrival time (TAT); a request is allowed while the TAT
//! is no more than the burst tolerance ahead of now, and moves it one emission interval
//! (a minute / the per-minute limit) forward. So a client gets a burst of `per_minute`
//! requests, then one every emission interval — 300/min is one each 200 ms.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses held before idle ones are dropped.
const PRUNE_AT: usize = 100_000;

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    tats: Mutex<HashMap<IpAddr, Instant>>,
}

impl RateLimiter {
    /// `per_minute` requests per minute per address (0: no limit).
    pub fn new(per_minute: u32) -> RateLimiter {
        let interval = if per_minute == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(60) / per_minute
        };
        RateLimiter {
            interval,
            tolerance: interval * per_minute.saturating_sub(1),
            tats: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when `ip` may go on, else the wait until it may.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.interval.is_zero() {
            return Ok(());
        }
        let mut tats = self.tats.lock().unwrap_or_else(|p| p.into_inner());
        if tats.len() >= PRUNE_AT {
            tats.retain(|_, tat| *tat > now);
        }
        let tat = tats.get(&ip).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        tats.insert(ip, tat + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let rl = RateLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check_at(ip, t0).is_ok());
        }
        let wait = rl.check_at(ip, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20));
        assert!(rl.check_at(other, t0).is_ok(), "per address");
        assert!(rl.check_at(ip, t0 + Duration::from_secs(20)).is_ok());
        assert!(rl.check_at(ip, t0 + Duration::from_secs(20)).is_err());
        assert!(RateLimiter::new(0).check_at(ip, t0).is_ok());
    }
}
