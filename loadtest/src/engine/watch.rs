//! The main thread's part of a run: waiting for the lanes, the progress line, and what
//! the run measured.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{Load, Outcome, Run};
use crate::stats::{Percentiles, Stats, new_histogram, since};
use crate::workload::Workload;

impl<W: Workload> Run<'_, W> {
    /// Waits for the lanes to finish (each one's end wakes it), printing a progress line
    /// every second if asked: the totals so far, and the last second's replies with their
    /// p99 and max (a stall shows in the second it happened, not diluted into the run).
    pub(super) fn watch(&self) {
        let mut next = self.start + Duration::from_secs(1);
        let mut last_sent = 0;
        let mut last_latency = new_histogram();
        loop {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if !self.cfg.progress {
                let _done = self
                    .finished
                    .wait_while(running, |n| *n > 0)
                    .unwrap_or_else(|e| e.into_inner());
                return;
            }
            let (running, _) = self
                .finished
                .wait_timeout_while(
                    running,
                    next.saturating_duration_since(Instant::now()),
                    |n| *n > 0,
                )
                .unwrap_or_else(|e| e.into_inner());
            if *running == 0 {
                return;
            }
            // The lanes need this lock to end: not held while the line is made.
            drop(running);
            let now = Instant::now();
            if now < next {
                continue;
            }
            let (stats, lag) = self.snapshot();
            let elapsed = now - self.start;
            let rate = (stats.sent - last_sent) as f64
                / (now - (next - Duration::from_secs(1))).as_secs_f64();
            last_sent = stats.sent;
            let p = Percentiles::of(&stats.latency);
            let second = Percentiles::of(&since(&stats.latency, &last_latency));
            last_latency = stats.latency.clone();
            let mut line = format!(
                "[{:>5.1}s] sent {} ({:.0}/s)  answered {}  timeouts {}  bad {}  p99 {} µs  \
                 | last 1 s: answered {} p99 {} µs max {} µs",
                elapsed.as_secs_f64(),
                stats.sent,
                rate,
                stats.answered_total(),
                stats.timeouts,
                stats.bad_total(),
                p.p99,
                second.count,
                second.p99,
                second.max
            );
            if let Some(lag) = lag {
                line.push_str(&format!("  send lag p99 {} µs", Percentiles::of(&lag).p99));
            }
            eprintln!("{line}");
            next += Duration::from_secs(1);
        }
    }

    fn snapshot(&self) -> (Stats, Option<Histogram<u64>>) {
        let mut stats = Stats::default();
        for lane in &self.lanes {
            stats.merge(&lane.lock().stats);
        }
        let lag = matches!(self.cfg.load, Load::Open { .. }).then(|| {
            self.pacer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .lag
                .clone()
        });
        (stats, lag)
    }

    pub(super) fn outcome(&self, open: bool) -> Outcome {
        let (stats, lag) = self.snapshot();
        let mut last_send = self.start;
        let mut last_reply = self.start;
        for lane in &self.lanes {
            let s = lane.lock();
            last_send = last_send.max(s.last_send.unwrap_or(self.start));
            last_reply = last_reply.max(s.last_reply.unwrap_or(self.start));
        }
        let not_sent = if open {
            self.pacer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .not_sent
        } else {
            0
        };
        Outcome {
            stats,
            lag,
            not_sent,
            send_window: last_send - self.start,
            reply_window: last_reply - self.start,
            elapsed: self.start.elapsed(),
        }
    }
}
