//! Duplicate detection (RFC 5080 §2.2.2).
//!
//! A NAS that hears nothing retransmits the same packet: same source, Identifier and
//! Request Authenticator. A retransmission of a request still being worked on is dropped
//! (the first answer will come); one of an answered request gets the same reply again,
//! octet for octet, without a second evaluation — a second evaluation could answer
//! differently, and would double the cost of a slow backend just when it hurts. For an
//! Accounting-Request it would record the event twice, the second time with a later
//! arrival: a Start evaluated again after seconds looks like a new session.
//!
//! The kernel hashes a source address and port to one SO_REUSEPORT socket, so each
//! socket's task owns its own cache: no lock, no sharing.
//!
//! The cache is a fixed table of buckets of [`WAYS`] entries, each entry a 128-bit
//! fingerprint of the request (two hashes seeded at random per process, so nobody
//! outside can make two requests collide), a time and its reply. A lookup touches one
//! bucket. An answered entry expires by age, `window` after its reply, read on lookup; a
//! new request takes an empty or expired entry of its bucket, or else its oldest answered
//! one. So the cost per request is constant and the memory fixed: a growing and shrinking
//! hash map had to rehash itself every few seconds under steady load, holding the socket
//! for milliseconds. Past `capacity / window` requests per second per socket the oldest
//! answered entries go before the window is over: retransmissions of those are evaluated
//! again, as after the window.
//!
//! An entry in flight (its request waits for PostgreSQL, Redis or a reject delay) neither
//! expires nor is given up for a newcomer, however long the backend takes (DESIGN.md:
//! "the copy joins the original, however long the backend takes"): its retransmissions
//! are dropped until it is answered. It is held by a [`Claim`], which releases it on
//! every way its task can end — a reply, none, a panic, the task dropped at shutdown — so
//! entries in flight are bounded by the requests actually waiting, and those by the
//! backends' deadlines. A request whose whole bucket is in flight is dropped (counted;
//! the NAS retries) rather than evaluated without an entry, where its own retransmissions
//! would be evaluated again.
//!
//! Replies are copied into an arena of the cache's own, a ring of octets written in
//! order: an entry holds where its reply starts, and evicting it frees nothing. (A
//! reference-counted reply per entry made every eviction a locked decrement in memory
//! last touched seconds before: the largest single stall left on the path.) A reply the
//! ring has since written over is gone; its retransmission is evaluated again.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proisp_radius::header::MAX_PACKET_LEN;
use tokio::sync::mpsc;

/// An encoded reply built by a request's own task (one that waited for a backend): one
/// allocation of the exact size. The cache keeps its own copy in the arena, so nothing
/// shares it.
pub(crate) type Reply = Box<[u8]>;

/// Entries per bucket.
pub(crate) const WAYS: usize = 4;

/// What identifies a request (RFC 5080 §2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Key {
    /// The key as one run of octets, hashed in one call: the source address (IPv4 as
    /// IPv4-mapped IPv6) and port, code, Identifier, Request Authenticator, and an IPv6
    /// scope.
    fn octets(&self) -> [u8; 40] {
        let (ip, scope) = match self.src {
            SocketAddr::V4(a) => (a.ip().to_ipv6_mapped(), 0),
            SocketAddr::V6(a) => (*a.ip(), a.scope_id()),
        };
        let mut out = [0u8; 40];
        out[..16].copy_from_slice(&ip.octets());
        out[16..18].copy_from_slice(&self.src.port().to_be_bytes());
        out[18] = self.code;
        out[19] = self.id;
        out[20..36].copy_from_slice(&self.authenticator);
        out[36..].copy_from_slice(&scope.to_be_bytes());
        out
    }
}

/// Where a new request's entry is, to record its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    index: usize,
    fingerprint: u128,
}

/// What to do with an arriving request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check<'a> {
    /// First sight: evaluate it (now marked in progress).
    New(Ticket),
    /// Being evaluated: drop this copy.
    InProgress,
    /// Answered: send this reply again (the cache's own copy).
    Replay(&'a [u8]),
    /// First sight, but every entry of its bucket is a request in flight: drop it (the
    /// NAS retries).
    Full,
}

/// Where a request's task reports its reply, before sending it, or that it has none.
///
/// Unbounded, and bounded all the same: only a [`Claim`] reports, once, for an entry in
/// flight, which stays in flight (never expires, never given up) until its report is taken
/// in; and a request finding its bucket all in flight gets no entry ([`Check::Full`]). So
/// reports queued never outnumber the cache's entries.
pub(crate) type Done = mpsc::UnboundedSender<(Ticket, Option<Reply>)>;

/// A request's hold on its entry while a task of its own answers it. Dropping it
/// unfinished — the task panicked, or was dropped at shutdown — reports "no reply", so an
/// entry in flight never outlives its request.
#[derive(Debug)]
pub(crate) struct Claim {
    ticket: Ticket,
    done: Option<Done>,
}

impl Claim {
    pub(crate) fn new(ticket: Ticket, done: Done) -> Claim {
        Claim {
            ticket,
            done: Some(done),
        }
    }

    /// Reports the reply about to be sent, or `None` when there is none.
    pub(crate) fn finish(mut self, reply: Option<Reply>) {
        self.report(reply);
    }

    fn report(&mut self, reply: Option<Reply>) {
        if let Some(done) = self.done.take() {
            // The socket task may be gone at shutdown; nothing is left to release then.
            let _ = done.send((self.ticket, reply));
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.report(None);
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    fingerprint: u128,
    /// Nanoseconds since the cache was made: the arrival while in flight, the reply once
    /// answered (the window counts from it); 0 for an empty entry.
    at: u64,
    /// Where the reply starts in the arena's octet stream (see [`Dedup::written`]).
    reply_at: u64,
    /// The reply's length; 0 while in progress (no reply is empty).
    reply_len: u16,
}

/// One socket's duplicate cache.
#[derive(Debug)]
pub(crate) struct Dedup {
    entries: Box<[Entry]>,
    /// Buckets − 1 (a power of two − 1).
    mask: usize,
    hashers: [foldhash::quality::RandomState; 2],
    /// Start of the cache's clock.
    epoch: Instant,
    window: u64,
    /// The replies' ring; its length is a power of two.
    arena: Box<[u8]>,
    /// Octets written to the ring since the cache was made (the next write's position,
    /// modulo its length).
    written: u64,
}

impl Dedup {
    /// A cache that remembers requests for `window`, about `capacity` of them at most,
    /// and their replies in `arena` octets (rounded up to a power of two, at least one
    /// largest packet); its clock starts at `now`.
    pub(crate) fn new(window: Duration, capacity: usize, arena: usize, now: Instant) -> Dedup {
        let buckets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        let arena = arena.max(MAX_PACKET_LEN).next_power_of_two();
        Dedup {
            entries: vec![Entry::default(); buckets * WAYS].into_boxed_slice(),
            mask: buckets - 1,
            hashers: Default::default(),
            epoch: now,
            window: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            arena: vec![0; arena].into_boxed_slice(),
            written: 0,
        }
    }

    /// Where in the arena the reply an entry points at is, unless the ring has written
    /// over it since.
    fn stored(&self, e: &Entry) -> Option<std::ops::Range<usize>> {
        let size = self.arena.len() as u64;
        if self.written > e.reply_at + size {
            return None;
        }
        let start = (e.reply_at % size) as usize;
        let end = start + usize::from(e.reply_len);
        (end <= self.arena.len()).then_some(start..end)
    }

    /// Copies a reply into the ring; returns where it starts. A reply never wraps: one
    /// that does not fit before the ring's end starts at its beginning.
    fn store(&mut self, reply: &[u8]) -> u64 {
        let size = self.arena.len() as u64;
        let len = reply.len() as u64;
        if self.written % size + len > size {
            self.written += size - self.written % size;
        }
        let at = self.written;
        let start = (at % size) as usize;
        self.arena[start..start + reply.len()].copy_from_slice(reply);
        self.written += len;
        at
    }

    /// Nanoseconds since the epoch, never 0 (which marks an empty entry).
    fn clock(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Looks a request up, marking a new one in progress.
    pub(crate) fn check(&mut self, key: Key, now: Instant) -> Check<'_> {
        let octets = key.octets();
        let [high, low] = self.hashers.each_ref().map(|h| {
            let mut h = h.build_hasher();
            h.write(&octets);
            h.finish()
        });
        let fingerprint = (u128::from(high) << 64) | u128::from(low);
        let first = (high as usize & self.mask) * WAYS;
        let now = self.clock(now);
        let window = self.window;
        // In flight (no reply yet), or answered within the window.
        let live = |e: &Entry| e.at != 0 && (e.reply_len == 0 || now.saturating_sub(e.at) < window);
        let bucket = &self.entries[first..first + WAYS];
        let seen = bucket
            .iter()
            .position(|e| e.fingerprint == fingerprint && live(e));
        if let Some(way) = seen {
            let e = bucket[way];
            if e.reply_len == 0 {
                return Check::InProgress;
            }
            if let Some(range) = self.stored(&e) {
                return Check::Replay(&self.arena[range]);
            }
        }
        let bucket = &mut self.entries[first..first + WAYS];
        // Its own entry when its reply was written over, else an empty or expired one,
        // else the oldest answered one; never one in flight.
        let way = seen
            .or_else(|| bucket.iter().position(|e| !live(e)))
            .or_else(|| {
                (0..WAYS)
                    .filter(|&w| bucket[w].reply_len != 0)
                    .min_by_key(|&w| bucket[w].at)
            });
        let Some(way) = way else {
            return Check::Full;
        };
        bucket[way] = Entry {
            fingerprint,
            at: now,
            ..Entry::default()
        };
        Check::New(Ticket {
            index: first + way,
            fingerprint,
        })
    }

    /// Records the reply to a new request at `now`, or forgets the request when it has
    /// none (a dropped request is evaluated again when retransmitted: the backend may be
    /// back). Nothing happens when its entry was taken by another request
    /// meanwhile.
    pub(crate) fn complete(&mut self, ticket: Ticket, reply: Option<&[u8]>, now: Instant) {
        match self.entries.get(ticket.index) {
            Some(e) if e.fingerprint == ticket.fingerprint => {}
            _ => return,
        }
        let stored = match reply {
            // Every reply is a RADIUS packet: 20 to 4,096 octets.
            Some(reply) if !reply.is_empty() && reply.len() <= MAX_PACKET_LEN => {
                Some((self.store(reply), reply.len() as u16))
            }
            _ => None,
        };
        let now = self.clock(now);
        let e = &mut self.entries[ticket.index];
        match stored {
            Some((at, len)) => {
                e.at = now;
                e.reply_at = at;
                e.reply_len = len;
            }
            None => *e = Entry::default(),
        }
    }

    /// Requests in flight, or answered and not expired at `now`.
    #[cfg(test)]
    fn len(&self, now: Instant) -> usize {
        let now = self.clock(now);
        self.entries
            .iter()
            .filter(|e| e.at != 0 && (e.reply_len == 0 || now.saturating_sub(e.at) < self.window))
            .count()
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

    fn new(d: &mut Dedup, k: Key, t: Instant) -> Ticket {
        match d.check(k, t) {
            Check::New(ticket) => ticket,
            other => panic!("expected a new request, got {other:?}"),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn retransmissions_are_dropped_then_replayed() {
        let t = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(5), 100, 1 << 16, t);
        let ticket = new(&mut d, key(1), t);
        assert_eq!(d.check(key(1), t), Check::InProgress);
        d.complete(ticket, Some(&b"reply"[..]), t);
        assert_eq!(d.check(key(1), t), Check::Replay(&b"reply"[..]));
        // Another identifier, or the same one with a new authenticator, is a new request.
        new(&mut d, key(2), t);
        let mut other = key(1);
        other.authenticator = [9; 16];
        new(&mut d, other, t);
        let mut elsewhere = key(1);
        elsewhere.src = "10.0.0.2:40000".parse().unwrap();
        new(&mut d, elsewhere, t);
        // So is one from another port, of another code, or from another IPv6 scope.
        let mut other_port = key(1);
        other_port.src = "10.0.0.1:40001".parse().unwrap();
        new(&mut d, other_port, t);
        let mut other_code = key(1);
        other_code.code = 12;
        new(&mut d, other_code, t);
        let link_local = |scope| {
            let mut k = key(1);
            k.src = std::net::SocketAddrV6::new("fe80::1".parse().unwrap(), 40000, 0, scope).into();
            k
        };
        new(&mut d, link_local(2), t);
        new(&mut d, link_local(3), t);
        assert_eq!(d.check(link_local(2), t), Check::InProgress);
    }

    #[test]
    fn a_reply_the_arena_has_written_over_is_evaluated_again() {
        // The smallest arena: one largest packet.
        let t = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(5), 100, 0, t);
        let first = new(&mut d, key(1), t);
        d.complete(first, Some(&[1; 3000][..]), t);
        assert_eq!(d.check(key(1), t), Check::Replay(&[1; 3000][..]));
        // The next reply does not fit behind it: it starts the ring again, over the first.
        let second = new(&mut d, key(2), t);
        d.complete(second, Some(&[2; 2000][..]), t);
        assert_eq!(d.check(key(2), t), Check::Replay(&[2; 2000][..]));
        let again = new(&mut d, key(1), t);
        assert_eq!(d.check(key(1), t), Check::InProgress);
        d.complete(again, Some(&[3; 100][..]), t);
        // Behind the second one, which is kept.
        assert_eq!(d.check(key(2), t), Check::Replay(&[2; 2000][..]));
        assert_eq!(d.check(key(1), t), Check::Replay(&[3; 100][..]));
        // Nothing that is not a packet is kept.
        let odd = new(&mut d, key(4), t);
        d.complete(odd, Some(&[][..]), t);
        new(&mut d, key(4), t);
    }

    #[test]
    fn dropped_requests_are_evaluated_again() {
        let t = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(5), 100, 1 << 16, t);
        let ticket = new(&mut d, key(1), t);
        d.complete(ticket, None, t);
        new(&mut d, key(1), t);
    }

    #[test]
    fn answered_entries_expire_a_window_after_their_reply() {
        let t = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(5), 100, 1 << 16, t);
        let ticket = new(&mut d, key(1), t);
        d.complete(ticket, Some(b"r"), t);
        assert!(matches!(
            d.check(key(1), t + Duration::from_secs(4)),
            Check::Replay(_)
        ));
        new(&mut d, key(1), t + Duration::from_secs(6));
        assert_eq!(d.len(t + Duration::from_secs(6)), 1);
        // In flight for 10 s (a slow backend), then answered: its retransmissions get
        // the reply for a whole window after it.
        let slow = new(&mut d, key(2), t);
        d.complete(slow, Some(b"late"), t + Duration::from_secs(10));
        assert_eq!(
            d.check(key(2), t + Duration::from_secs(14)),
            Check::Replay(&b"late"[..])
        );
        new(&mut d, key(2), t + Duration::from_secs(16));
        assert_eq!(
            d.len(t + Duration::from_secs(30)),
            2,
            "both in flight again"
        );
    }

    #[test]
    fn a_request_in_flight_neither_expires_nor_is_given_up() {
        // One bucket.
        let t = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(5), WAYS, 1 << 16, t);
        let slow = new(&mut d, key(0), t);
        // A minute later its retransmissions are still dropped.
        assert_eq!(
            d.check(key(0), t + Duration::from_secs(60)),
            Check::InProgress
        );
        for id in 1..WAYS as u8 {
            let ticket = new(&mut d, key(id), t + ms(u64::from(id)));
            d.complete(ticket, Some(b"r"), t + ms(u64::from(id)));
        }
        // The bucket is full: a newcomer takes the oldest answered entry, not the older
        // one in flight.
        new(&mut d, key(10), t + ms(10));
        assert_eq!(d.check(key(0), t + ms(11)), Check::InProgress);
        assert_eq!(
            d.check(key(WAYS as u8 - 1), t + ms(11)),
            Check::Replay(&b"r"[..])
        );
        // Every entry in flight: the next request is turned away, and nothing is given up.
        for id in 11..WAYS as u8 + 9 {
            new(&mut d, key(id), t + ms(20));
        }
        assert_eq!(d.check(key(50), t + ms(30)), Check::Full);
        assert_eq!(d.len(t + Duration::from_secs(60)), WAYS);
        // Released without a reply: its entry is free again.
        d.complete(slow, None, t + ms(40));
        new(&mut d, key(50), t + ms(41));
        assert_eq!(d.check(key(50), t + ms(42)), Check::InProgress);
    }

    #[test]
    fn memory_stays_fixed() {
        let t = Instant::now();
        let mut big = Dedup::new(Duration::from_secs(5), 1000, 1 << 16, t);
        for i in 0..100_000u32 {
            let mut k = key(0);
            k.authenticator[..4].copy_from_slice(&i.to_be_bytes());
            if let Check::New(ticket) = big.check(k, t) {
                big.complete(ticket, Some(b"r"), t);
            }
        }
        assert_eq!(big.entries.len(), 1024);
        assert_eq!(big.len(t), 1024);
    }

    #[tokio::test]
    async fn a_claim_releases_its_entry_however_its_task_ends() {
        let t = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(5), 100, 1 << 16, t);
        let (done, mut completed) = mpsc::unbounded_channel();
        // Answered.
        let answered = new(&mut d, key(1), t);
        Claim::new(answered, done.clone()).finish(Some(Reply::from(&b"r"[..])));
        // The task panics while its request is in flight.
        let panicked = new(&mut d, key(2), t);
        let claim = Claim::new(panicked, done.clone());
        let task = tokio::spawn(async move {
            let _claim = claim;
            panic!("a bug while answering");
        });
        assert!(task.await.unwrap_err().is_panic());
        // The task is dropped (shutdown) before it finishes.
        let dropped = new(&mut d, key(3), t);
        let claim = Claim::new(dropped, done);
        let task = tokio::spawn(async move {
            let _claim = claim;
            std::future::pending::<()>().await;
        });
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        for _ in 0..3 {
            let (ticket, reply) = completed.recv().await.unwrap();
            d.complete(ticket, reply.as_deref(), t);
        }
        assert_eq!(d.check(key(1), t), Check::Replay(&b"r"[..]));
        new(&mut d, key(2), t);
        new(&mut d, key(3), t);
    }
}
