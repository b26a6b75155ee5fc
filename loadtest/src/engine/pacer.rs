//! The open loop: one pacer thread sends each request at its scheduled time, on the first
//! lanes with room.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Batch, Run};
use crate::gso;
use crate::schedule::{self, Schedule};
use crate::stats::{micros, new_histogram};
use crate::table::IDS;
use crate::workload::Workload;

/// In an open loop the pacer keeps a lane below this many requests in flight before it
/// moves on to the next one, so few lanes (threads) carry a fast server's traffic and
/// more are woken only when replies lag. Half the identifier space: a timed-out
/// identifier then rests for at least 128 requests before it is reused.
const LANE_SOFT_LIMIT: usize = IDS / 2;

/// The pacer spreads requests over at least this many lanes (source ports), so a server
/// with SO_REUSEPORT sockets sees more than one flow.
const MIN_SPREAD: usize = 4;

impl<W: Workload> Run<'_, W> {
    /// The open loop: sends request k at `start + k / rate`, on the first lanes with room,
    /// the requests due at one wakeup together.
    pub(super) fn pace(&self, schedule: &Schedule, grace: Duration) {
        let spin = if schedule::lower_timer_slack() {
            Duration::ZERO
        } else {
            schedule::SPIN_MARGIN
        };
        let mut tx = Batch::default();
        let mut lag = new_histogram();
        let total = schedule.total();
        let give_up = self.send_end + grace;
        let spread = self.lanes.len().min(MIN_SPREAD);
        let mut rr = 0usize;
        let mut k = 0u64;
        let mut last_flush = Instant::now();
        let mut last_wake = self.start;
        'run: while k < total && !self.failed() {
            let next = self.start + schedule.offset(k);
            schedule::wait_until(next.max(last_wake + schedule::QUANTUM), spin);
            last_wake = Instant::now();
            let due = schedule.due(Instant::now() - self.start);
            while k < due {
                let want = (due - k).min(gso::MAX_SEGMENTS as u64) as usize;
                let n = self.send_scheduled(schedule, k, want, &mut rr, spread, &mut tx);
                if n == 0 {
                    // Every identifier of every lane is taken: wait for replies or
                    // timeouts to free one. The wait is charged to these requests.
                    if Instant::now() >= give_up || self.failed() {
                        break 'run;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                let sent_at = Instant::now();
                for &scheduled in &tx.scheduled {
                    lag.saturating_record(micros(sent_at - scheduled));
                }
                k += n as u64;
            }
            if Instant::now() >= give_up {
                break;
            }
            // Hand the lag histogram to the progress line now and then, not per request.
            if last_flush.elapsed() >= Duration::from_millis(250) {
                let mut p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
                let _ = p.lag.add(&lag);
                lag.reset();
                last_flush = Instant::now();
            }
        }
        let mut p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = p.lag.add(&lag);
        p.not_sent = total - k;
        drop(p);
        self.sending_done.store(true, Ordering::Relaxed);
    }

    /// Sends up to `want` requests from `first` on one lane: the first (round-robin over
    /// the first `spread`, then in order) below the soft limit, or else any with a free
    /// identifier. Returns how many were used up (sent, or refused and counted).
    fn send_scheduled(
        &self,
        schedule: &Schedule,
        first: u64,
        want: usize,
        rr: &mut usize,
        spread: usize,
        tx: &mut Batch,
    ) -> usize {
        let n = self.lanes.len();
        let start = *rr;
        let order = (0..spread)
            .map(move |j| (start + j) % spread)
            .chain(spread..n)
            .map(|i| (i, LANE_SOFT_LIMIT))
            .chain((0..n).map(|i| (i, IDS)));
        *rr = (*rr + 1) % spread;
        for (i, limit) in order {
            let lane = &self.lanes[i];
            let mut state = lane.lock();
            let room = limit.saturating_sub(state.table.in_flight()).min(want);
            if room == 0 {
                continue;
            }
            tx.clear();
            let now = Instant::now();
            for j in 0..room as u64 {
                let scheduled = self.start + schedule.offset(first + j);
                if !self.prepare(&mut state, tx, first + j, scheduled, now) {
                    break;
                }
            }
            drop(state);
            if self.failed() {
                return 0;
            }
            self.transmit(lane, tx);
            if !tx.lens.is_empty() {
                return tx.lens.len();
            }
        }
        0
    }
}
