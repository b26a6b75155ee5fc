//! Duplicate detection (RFC 5080 §2.2.2).
//!
//! A NAS that hears nothing retransmits the same packet: same source, Identifier and
//! Request Authenticator. A retransmission of a request still being worked on is dropped
//! (the first answer will come); one of an answered request gets the same reply again,
//! octet for octet, without a second evaluation — a second evaluation could answer
//! differently, and would double the cost of a slow backend just when it hurts.
//!
//! The kernel hashes a source address and port to one SO_REUSEPORT socket, so each
//! socket's task owns its own cache: no lock, no sharing.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Expired entries removed per arriving request, at most.
const EXPIRE_BATCH: usize = 16;

/// What identifies a request (RFC 5080 §2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// Source address and port.
    pub(crate) src: SocketAddr,
    /// Packet code.
    pub(crate) code: u8,
    /// Identifier.
    pub(crate) id: u8,
    /// Request Authenticator.
    pub(crate) authenticator: [u8; 16],
}

#[derive(Debug)]
enum State {
    InProgress,
    Done(Bytes),
}

/// What to do with an arriving request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// First sight: evaluate it (now marked in progress).
    New,
    /// Being evaluated: drop this copy.
    InProgress,
    /// Answered: send this reply again.
    Replay(Bytes),
}

/// One socket's duplicate cache.
#[derive(Debug)]
pub(crate) struct Dedup {
    /// foldhash, seeded at random per process: SipHash was a tenth of a request's CPU
    /// time at 120,000 requests/s, and the keys come from the network, so not unseeded.
    entries: HashMap<Key, (Instant, State), foldhash::quality::RandomState>,
    /// Keys in insertion order, to expire the oldest first.
    order: VecDeque<(Instant, Key)>,
    window: Duration,
    capacity: usize,
}

impl Dedup {
    /// A cache that remembers requests for `window` and at most `capacity` of them.
    pub(crate) fn new(window: Duration, capacity: usize) -> Dedup {
        Dedup {
            entries: HashMap::default(),
            order: VecDeque::new(),
            window,
            capacity,
        }
    }

    /// Forgets expired requests, at most [`EXPIRE_BATCH`] per call: after an idle spell
    /// a whole window's worth (hundreds of thousands) expires at once, and removing them
    /// in one go would stall the socket for tens of milliseconds. A few per arriving
    /// request still outpace the one each request adds.
    fn expire(&mut self, now: Instant) {
        for _ in 0..EXPIRE_BATCH {
            let Some(&(at, key)) = self.order.front() else {
                break;
            };
            let full = self.entries.len() > self.capacity;
            if !full && now.duration_since(at) < self.window {
                break;
            }
            self.order.pop_front();
            // The key may have been removed and inserted again since; only the entry
            // made at this time expires.
            if self.entries.get(&key).is_some_and(|(t, _)| *t == at) {
                self.entries.remove(&key);
            }
        }
    }

    /// Looks a request up, marking a new one in progress.
    pub(crate) fn check(&mut self, key: Key, now: Instant) -> Check {
        self.expire(now);
        match self.entries.get(&key) {
            Some((_, State::InProgress)) => Check::InProgress,
            Some((_, State::Done(reply))) => Check::Replay(reply.clone()),
            None => {
                self.entries.insert(key, (now, State::InProgress));
                self.order.push_back((now, key));
                Check::New
            }
        }
    }

    /// Records the reply sent for `key`, or forgets the request when none was sent (a
    /// dropped request is evaluated again when retransmitted: the backend may be back).
    pub(crate) fn complete(&mut self, key: Key, reply: Option<Bytes>) {
        match reply {
            Some(reply) => {
                if let Some((_, state)) = self.entries.get_mut(&key) {
                    *state = State::Done(reply);
                }
            }
            None => {
                self.entries.remove(&key);
            }
        }
    }

    /// Requests remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u8) -> Key {
        Key {
            src: "10.0.0.1:40000".parse().unwrap(),
            code: 1,
            id,
            authenticator: [id; 16],
        }
    }

    #[test]
    fn retransmissions_are_dropped_then_replayed() {
        let mut d = Dedup::new(Duration::from_secs(5), 100);
        let t = Instant::now();
        assert_eq!(d.check(key(1), t), Check::New);
        assert_eq!(d.check(key(1), t), Check::InProgress);
        d.complete(key(1), Some(Bytes::from_static(b"reply")));
        assert_eq!(
            d.check(key(1), t),
            Check::Replay(Bytes::from_static(b"reply"))
        );
        // Another identifier, or the same one with a new authenticator, is a new request.
        assert_eq!(d.check(key(2), t), Check::New);
        let mut other = key(1);
        other.authenticator = [9; 16];
        assert_eq!(d.check(other, t), Check::New);
    }

    #[test]
    fn dropped_requests_are_evaluated_again() {
        let mut d = Dedup::new(Duration::from_secs(5), 100);
        let t = Instant::now();
        assert_eq!(d.check(key(1), t), Check::New);
        d.complete(key(1), None);
        assert_eq!(d.check(key(1), t), Check::New);
    }

    #[test]
    fn entries_expire_after_the_window_and_past_capacity() {
        let mut d = Dedup::new(Duration::from_secs(5), 3);
        let t = Instant::now();
        d.check(key(1), t);
        d.complete(key(1), Some(Bytes::from_static(b"r")));
        assert_eq!(d.check(key(1), t + Duration::from_secs(6)), Check::New);
        for id in 10..20 {
            d.check(key(id), t + Duration::from_secs(6));
        }
        assert!(d.len() <= 4, "{}", d.len());
    }
}
