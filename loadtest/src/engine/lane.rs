//! A lane's thread: receives and verifies replies, expires timeouts and, in a closed
//! loop, sends the requests they release.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use proisp_radius::header::MAX_PACKET_LEN;

use super::{Batch, Lane, LaneState, Run};
use crate::gso;
use crate::table::Expired;
use crate::workload::{self, Framing, Workload};

/// Datagrams a lane reads before it handles them.
const RX_BATCH: usize = 32;

/// Room for one datagram: one octet more than the largest packet, so an oversized
/// datagram is noticed (truncated reads would otherwise pass as valid packets with
/// padding).
const RX_SLOT: usize = MAX_PACKET_LEN + 1;

/// Counts a lane out when its thread ends, however it ends (a panic included), and wakes
/// [`Run::watch`].
struct Finished<'a> {
    running: &'a Mutex<usize>,
    finished: &'a Condvar,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        *running = running.saturating_sub(1);
        self.finished.notify_all();
    }
}

impl<W: Workload> Run<'_, W> {
    /// A lane's thread: receive, verify, expire, and in a closed loop keep `share`
    /// requests in flight.
    ///
    /// The socket is non-blocking: the lane drains up to [`RX_BATCH`] replies, handles
    /// them under one lock, answers them with one batch of new requests (one GSO send),
    /// and blocks in `recv` only after finding the socket empty twice in a row (with a
    /// yield between, so the other lanes on this core run first). Under load it rarely
    /// sleeps, which saves the wakeup both sides would otherwise pay per packet.
    pub(super) fn lane(&self, i: usize, share: usize) {
        let _finished = Finished {
            running: &self.running,
            finished: &self.finished,
        };
        let lane = &self.lanes[i];
        let mut rx = vec![0u8; RX_BATCH * RX_SLOT];
        let mut arrivals: Vec<(usize, Instant)> = Vec::with_capacity(RX_BATCH);
        let mut tx = Batch::default();
        let closed = share > 0;
        let mut empty_rounds = 0u32;
        loop {
            arrivals.clear();
            let (mut refused, mut error) =
                self.drain(&lane.socket, &mut rx, &mut arrivals, empty_rounds >= 2);
            if let Some(fallback) = &lane.fallback
                && error.is_none()
            {
                // Never blocking here: a reply from the fallback waits at most one
                // RECV_TICK of a blocking read on the primary.
                let (r, e) = self.drain(fallback, &mut rx, &mut arrivals, false);
                refused += r;
                error = e;
            }
            let now = Instant::now();
            let mut state = lane.lock();
            state.stats.port_unreachable += refused;
            for (k, &(len, at)) in arrivals.iter().enumerate() {
                let start = k * RX_SLOT;
                let LaneState { table, stats, .. } = &mut *state;
                if workload::on_reply(
                    self.workload,
                    Framing::Radius10,
                    table,
                    stats,
                    &rx[start..start + len],
                    at,
                ) {
                    state.last_reply = Some(at);
                }
            }
            self.expire(lane, &mut state, now);
            tx.clear();
            if closed {
                while state.table.in_flight() < share
                    && tx.len() < 2 * gso::MAX_SEGMENTS
                    && self.prepare_next(&mut state, &mut tx)
                {}
            }
            let finished =
                state.table.in_flight() == 0 && self.sending_done.load(Ordering::Relaxed);
            let stop = now >= self.hard_stop || self.failed() || error.is_some();
            if stop {
                let gone = state.table.abandon().len() as u64;
                state.stats.timeouts += gone;
            }
            drop(state);
            if !stop {
                self.transmit(lane, &tx);
            }
            if let Some(e) = error {
                self.fail(anyhow::Error::new(e).context("cannot receive"));
            }
            if finished || stop {
                break;
            }
            if arrivals.is_empty() && refused == 0 {
                empty_rounds += 1;
                if empty_rounds == 1 {
                    std::thread::yield_now();
                }
            } else {
                empty_rounds = 0;
            }
        }
    }

    /// Adds to `arrivals` (and `rx`, in the slots after those already taken) up to
    /// [`RX_BATCH`] datagrams in all, read from `socket` without blocking, or blocking (up
    /// to [`RECV_TICK`]) for the first one when `block`. Returns the ICMP port-unreachable
    /// reports seen and a receive error that should stop the run.
    fn drain(
        &self,
        socket: &UdpSocket,
        rx: &mut [u8],
        arrivals: &mut Vec<(usize, Instant)>,
        block: bool,
    ) -> (u64, Option<std::io::Error>) {
        let mut refused = 0;
        let mut blocking = block && socket.set_nonblocking(false).is_ok();
        while arrivals.len() < RX_BATCH {
            let start = arrivals.len() * RX_SLOT;
            let result = socket.recv(&mut rx[start..start + RX_SLOT]);
            if blocking {
                // One blocking read at most; a failure here leaves the socket blocking,
                // which only makes this lane slower, never wrong.
                let _ = socket.set_nonblocking(true);
                blocking = false;
            }
            match result {
                Ok(n) => arrivals.push((n, Instant::now())),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused += 1,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break;
                }
                Err(e) => return (refused, Some(e)),
            }
        }
        (refused, None)
    }

    fn expire(&self, lane: &Lane<W::Pending>, state: &mut LaneState<W::Pending>, now: Instant) {
        if state.table.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        loop {
            match state.table.expire(now) {
                Some(Expired::Retransmit(packet)) => {
                    // A failed retransmission is just one try fewer; the request still
                    // times out in the end if nothing comes back.
                    let _ = lane.fallback.as_ref().unwrap_or(&lane.socket).send(packet);
                    state.stats.retransmits += 1;
                }
                Some(Expired::TimedOut(_)) => state.stats.timeouts += 1,
                None => break,
            }
        }
    }

    /// Adds the next request of a closed loop to the lane's batch; false when there is
    /// none to send (the run is over) or it could not be built.
    fn prepare_next(&self, state: &mut LaneState<W::Pending>, tx: &mut Batch) -> bool {
        if self.sending_done.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= self.send_end {
            self.sending_done.store(true, Ordering::Relaxed);
            return false;
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if seq >= self.limit {
            self.sending_done.store(true, Ordering::Relaxed);
            return false;
        }
        self.prepare(state, tx, seq, now, now)
    }
}
