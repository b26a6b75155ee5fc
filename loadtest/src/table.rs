//! The requests in flight on one socket, by Identifier.
//!
//! RADIUS matches a reply to its request by the 8-bit Identifier, which is unique per
//! source address and port (RFC 2865 §3, RFC 5080 §2.2.2), so a socket has at most 256
//! requests in flight; the generator opens more sockets to have more.
//!
//! Identifiers are handed out oldest-freed first, so an identifier whose request timed out
//! is reused as late as possible, and the timed-out request is kept as a *ghost* until the
//! identifier is reused: its late reply then verifies against the ghost and counts as
//! late, not as a forged or broken reply.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Identifiers per socket.
pub(crate) const IDS: usize = 256;

#[derive(Debug, Clone)]
struct Slot<P> {
    /// Bumped whenever the slot is freed, so stale entries of `order` are recognised.
    generation: u32,
    waiting: bool,
    pending: P,
    scheduled: Instant,
    deadline: Instant,
    tries: u32,
    /// The request's octets, kept only when retransmission is on.
    packet: Vec<u8>,
    ghost: Option<P>,
}

/// One socket's requests in flight.
#[derive(Debug)]
pub(crate) struct Table<P> {
    slots: Vec<Slot<P>>,
    free: VecDeque<u8>,
    /// (identifier, generation) in deadline order; entries of answered requests are
    /// skipped when they reach the front.
    order: VecDeque<(u8, u32)>,
    in_flight: usize,
    timeout: Duration,
    retries: u32,
}

/// What the table knows about an identifier a reply carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lookup<P> {
    /// The request waiting on it.
    pub(crate) waiting: Option<P>,
    /// The request that last timed out on it.
    pub(crate) ghost: Option<P>,
}

/// What [`Table::expire`] decided about one overdue request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expired<'a, P> {
    /// Send these octets again (a retry).
    Retransmit(&'a [u8]),
    /// Out of tries: the request timed out.
    TimedOut(P),
}

impl<P: Copy + Default> Table<P> {
    /// An empty table whose requests time out after `timeout` and are sent at most
    /// `1 + retries` times.
    pub(crate) fn new(timeout: Duration, retries: u32, now: Instant) -> Table<P> {
        let slot = Slot {
            generation: 0,
            waiting: false,
            pending: P::default(),
            scheduled: now,
            deadline: now,
            tries: 0,
            packet: Vec::new(),
            ghost: None,
        };
        Table {
            slots: vec![slot; IDS],
            free: (0..=u8::MAX).collect(),
            order: VecDeque::new(),
            in_flight: 0,
            timeout,
            retries,
        }
    }

    /// Requests waiting for a reply.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Takes the identifier freed longest ago, if any is free. The caller must
    /// [`Table::insert`] a request under it.
    pub(crate) fn reserve(&mut self) -> Option<u8> {
        self.free.pop_front()
    }

    /// Records a request sent (or about to be) under a [`Table::reserve`]d identifier.
    /// `packet` is kept for retransmission when retries are on.
    pub(crate) fn insert(
        &mut self,
        id: u8,
        pending: P,
        scheduled: Instant,
        now: Instant,
        packet: &[u8],
    ) {
        let retries = self.retries;
        let slot = &mut self.slots[usize::from(id)];
        debug_assert!(!slot.waiting, "identifier {id} reserved twice");
        slot.waiting = true;
        slot.pending = pending;
        slot.scheduled = scheduled;
        slot.deadline = now + self.timeout;
        slot.tries = 1;
        slot.packet.clear();
        if retries > 0 {
            slot.packet.extend_from_slice(packet);
        }
        self.order.push_back((id, slot.generation));
        self.in_flight += 1;
    }

    /// The requests a reply with identifier `id` may answer.
    pub(crate) fn lookup(&self, id: u8) -> Lookup<P> {
        let slot = &self.slots[usize::from(id)];
        Lookup {
            waiting: slot.waiting.then_some(slot.pending),
            ghost: slot.ghost,
        }
    }

    /// Marks the request waiting on `id` answered and frees the identifier; returns its
    /// scheduled send time.
    pub(crate) fn complete(&mut self, id: u8) -> Option<Instant> {
        let slot = &mut self.slots[usize::from(id)];
        if !slot.waiting {
            return None;
        }
        slot.waiting = false;
        slot.generation = slot.generation.wrapping_add(1);
        // A retransmitted request may be answered twice (the server answers the copy from
        // its duplicate cache); its ghost lets the second answer count as late, not bad.
        slot.ghost = (slot.tries > 1).then_some(slot.pending);
        self.in_flight -= 1;
        self.free.push_back(id);
        Some(slot.scheduled)
    }

    /// Forgets the ghost of `id` once its late reply has been counted, so a duplicate of
    /// that reply is not counted twice.
    pub(crate) fn bury(&mut self, id: u8) {
        self.slots[usize::from(id)].ghost = None;
    }

    /// The earliest deadline of a request in flight, if any (possibly of one answered
    /// since: callers only use it to decide when to call [`Table::expire`]).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let &(id, _) = self.order.front()?;
        Some(self.slots[usize::from(id)].deadline)
    }

    /// Handles the first request whose deadline is at or before `now`, if any: it is
    /// either to be retransmitted (deadline moved on) or has timed out (identifier
    /// freed, request kept as the identifier's ghost).
    pub(crate) fn expire(&mut self, now: Instant) -> Option<Expired<'_, P>> {
        loop {
            let &(id, generation) = self.order.front()?;
            let slot = &self.slots[usize::from(id)];
            if slot.generation != generation || !slot.waiting {
                self.order.pop_front();
                continue;
            }
            if slot.deadline > now {
                return None;
            }
            self.order.pop_front();
            let retries = self.retries;
            let timeout = self.timeout;
            let slot = &mut self.slots[usize::from(id)];
            if slot.tries <= retries {
                slot.tries += 1;
                slot.deadline = now + timeout;
                self.order.push_back((id, generation));
                return Some(Expired::Retransmit(&self.slots[usize::from(id)].packet));
            }
            slot.waiting = false;
            slot.generation = slot.generation.wrapping_add(1);
            slot.ghost = Some(slot.pending);
            self.in_flight -= 1;
            self.free.push_back(id);
            return Some(Expired::TimedOut(slot.pending));
        }
    }

    /// Gives up on every request still in flight (the run's hard stop); returns them.
    pub(crate) fn abandon(&mut self) -> Vec<P> {
        let mut gone = Vec::new();
        for (id, slot) in self.slots.iter_mut().enumerate() {
            if slot.waiting {
                slot.waiting = false;
                slot.generation = slot.generation.wrapping_add(1);
                gone.push(slot.pending);
                self.free.push_back(id as u8);
            }
        }
        self.in_flight = 0;
        self.order.clear();
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(1);

    #[test]
    fn identifiers_are_unique_until_freed_and_reused_oldest_first() {
        let now = Instant::now();
        let mut t: Table<u32> = Table::new(T, 0, now);
        let ids: Vec<u8> = (0..IDS).map(|_| t.reserve().unwrap()).collect();
        assert_eq!(ids, (0..=255).collect::<Vec<u8>>());
        assert_eq!(t.reserve(), None, "257th request on one socket");
        for &id in &ids {
            t.insert(id, u32::from(id), now, now, b"");
        }
        assert_eq!(t.in_flight(), 256);
        assert_eq!(t.complete(9), Some(now));
        assert_eq!(t.complete(3), Some(now));
        assert_eq!(t.complete(3), None, "answered twice");
        assert_eq!(t.in_flight(), 254);
        assert_eq!(t.reserve(), Some(9));
        assert_eq!(t.reserve(), Some(3));
    }

    #[test]
    fn replies_find_their_request_and_late_ones_their_ghost() {
        let now = Instant::now();
        let mut t: Table<u32> = Table::new(T, 0, now);
        let id = t.reserve().unwrap();
        t.insert(id, 77, now, now, b"");
        assert_eq!(
            t.lookup(id),
            Lookup {
                waiting: Some(77),
                ghost: None
            }
        );
        assert_eq!(
            t.lookup(id.wrapping_add(1)),
            Lookup {
                waiting: None,
                ghost: None
            }
        );
        // Not yet due.
        assert_eq!(t.expire(now + T / 2), None);
        assert_eq!(t.expire(now + T), Some(Expired::TimedOut(77)));
        assert_eq!(t.in_flight(), 0);
        assert_eq!(
            t.lookup(id),
            Lookup {
                waiting: None,
                ghost: Some(77)
            }
        );
        t.bury(id);
        assert_eq!(t.lookup(id).ghost, None);
    }

    #[test]
    fn a_ghost_survives_until_its_identifier_is_reused() {
        let now = Instant::now();
        let mut t: Table<u32> = Table::new(T, 0, now);
        for n in 0..256 {
            let id = t.reserve().unwrap();
            t.insert(id, n, now, now, b"");
        }
        // The others are answered, then request 0 times out.
        for id in 1..=255 {
            t.complete(id);
        }
        assert_eq!(t.expire(now + T), Some(Expired::TimedOut(0)));
        // 255 identifiers are reused before 0 is.
        for n in 0..255 {
            let id = t.reserve().unwrap();
            assert_ne!(id, 0);
            t.insert(id, 1000 + n, now, now, b"");
        }
        assert_eq!(t.lookup(0).ghost, Some(0));
        assert_eq!(t.reserve(), Some(0));
        t.insert(0, 5000, now, now, b"");
        assert_eq!(
            t.lookup(0),
            Lookup {
                waiting: Some(5000),
                ghost: Some(0)
            }
        );
        t.complete(0);
        assert_eq!(t.lookup(0).ghost, None, "answering clears the ghost");
    }

    #[test]
    fn expiry_follows_deadline_order_and_skips_answered_requests() {
        let now = Instant::now();
        let mut t: Table<u32> = Table::new(T, 0, now);
        for n in 0..4 {
            let id = t.reserve().unwrap();
            let at = now + Duration::from_millis(n * 10);
            t.insert(id, n as u32, at, at, b"");
        }
        t.complete(0);
        t.complete(2);
        assert_eq!(t.next_deadline(), Some(now + T));
        let late = now + T + Duration::from_millis(15);
        assert_eq!(t.expire(late), Some(Expired::TimedOut(1)));
        assert_eq!(t.expire(late), None, "request 3 is due at 1.03 s");
        assert_eq!(t.expire(late + T), Some(Expired::TimedOut(3)));
        assert_eq!(t.expire(late + T), None);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn retries_resend_the_same_octets_then_time_out() {
        let now = Instant::now();
        let mut t: Table<u32> = Table::new(T, 2, now);
        let id = t.reserve().unwrap();
        t.insert(id, 5, now, now, b"packet");
        assert_eq!(t.expire(now + T), Some(Expired::Retransmit(&b"packet"[..])));
        assert_eq!(t.expire(now + T), None, "the retry has a new deadline");
        assert_eq!(
            t.expire(now + 2 * T),
            Some(Expired::Retransmit(&b"packet"[..]))
        );
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.expire(now + 3 * T), Some(Expired::TimedOut(5)));
        assert_eq!(t.in_flight(), 0);
        // The scheduled time survives retries: latency counts from the first send.
        let id = t.reserve().unwrap();
        t.insert(id, 6, now, now, b"p");
        t.expire(now + T);
        assert_eq!(t.complete(id), Some(now));
        // The answer to the other copy is recognised.
        assert_eq!(t.lookup(id).ghost, Some(6));
    }

    #[test]
    fn abandoning_frees_everything() {
        let now = Instant::now();
        let mut t: Table<u32> = Table::new(T, 0, now);
        for n in 0..10 {
            let id = t.reserve().unwrap();
            t.insert(id, n, now, now, b"");
        }
        t.complete(4);
        let mut gone = t.abandon();
        gone.sort();
        assert_eq!(gone, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.expire(now + 10 * T), None);
        assert_eq!((0..256).filter_map(|_| t.reserve()).count(), 256);
    }
}
