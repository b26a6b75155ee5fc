//! What a run counts and measures, kept per receiving thread and merged for the report.
//!
//! Latency lives in an HDR histogram in microseconds with three significant digits, so
//! p99.9 of a million requests costs a few kilobytes and a merge is exact. Requests that
//! time out are counted, not recorded as latencies: a timeout has no latency, and
//! inventing one (the timeout value) would bend the percentiles towards the tester's own
//! setting rather than the server's behaviour.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The highest latency the histograms hold; longer ones saturate. Timeouts are capped far
/// below this, so only a stalled clock could reach it.
const MAX_MICROS: u64 = 3_600_000_000;

/// Why a reply was refused. Every reason is a server bug or an attack, never load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadReply {
    /// The datagram is not a RADIUS packet (RFC 2865 §3 structure).
    Malformed,
    /// No request with this Identifier (RADIUS/1.1: Token) is waiting on the socket or
    /// connection it arrived on, nor timed out recently enough for it to be a late reply.
    UnknownIdentifier,
    /// A code that does not answer the request (an Accounting-Response to an
    /// Access-Request, say).
    WrongCode,
    /// The Response Authenticator does not verify (RFC 2865 §3).
    ResponseAuthenticator,
    /// The Message-Authenticator does not verify, is malformed, or is missing while
    /// required (RFC 3579 §3.2).
    MessageAuthenticator,
    /// An MS-CHAPv2 Access-Accept whose MS-CHAP2-Success is missing or does not prove
    /// knowledge of the password (RFC 2759 §8.7).
    MschapSuccess,
}

impl BadReply {
    /// Every reason, in report order.
    pub(crate) const ALL: [BadReply; 6] = [
        BadReply::Malformed,
        BadReply::UnknownIdentifier,
        BadReply::WrongCode,
        BadReply::ResponseAuthenticator,
        BadReply::MessageAuthenticator,
        BadReply::MschapSuccess,
    ];

    /// A short label for the report and the JSON keys.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            BadReply::Malformed => "malformed",
            BadReply::UnknownIdentifier => "unknown_identifier",
            BadReply::WrongCode => "wrong_code",
            BadReply::ResponseAuthenticator => "response_authenticator",
            BadReply::MessageAuthenticator => "message_authenticator",
            BadReply::MschapSuccess => "mschap2_success",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The verdict on one verified reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Access-Accept.
    Accept,
    /// Access-Reject.
    Reject,
    /// Access-Challenge (counted; this tool never continues a challenge).
    Challenge,
    /// Accounting-Response.
    AccountingResponse,
}

/// What the workload expected the server to answer: a right password should be accepted,
/// a wrong one rejected. A server that answers otherwise is wrong, however fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Access-Accept.
    Accept,
    /// Access-Reject.
    Reject,
    /// Accounting-Response.
    Response,
}

impl Expect {
    /// Whether `answer` is what was expected.
    pub(crate) fn is_met_by(self, answer: Answer) -> bool {
        matches!(
            (self, answer),
            (Expect::Accept, Answer::Accept)
                | (Expect::Reject, Answer::Reject)
                | (Expect::Response, Answer::AccountingResponse)
        )
    }
}

/// A fresh latency histogram in microseconds.
pub(crate) fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low,
    // 3 significant digits), so this cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| unreachable!())
}

/// What `now` recorded since it was `before` (a copy taken earlier of the same growing
/// histogram): one second's latencies from the run's running totals. Empty if `before`
/// is not part of `now`.
pub(crate) fn since(now: &Histogram<u64>, before: &Histogram<u64>) -> Histogram<u64> {
    let mut interval = now.clone();
    if interval.subtract(before).is_err() {
        return new_histogram();
    }
    interval
}

/// Whole microseconds of a duration, for the histograms.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Counters and the latency histogram of one receiving thread, or of the whole run once
/// merged.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    /// Requests sent for the first time.
    pub(crate) sent: u64,
    /// Retransmissions (only with `--retries`).
    pub(crate) retransmits: u64,
    /// Access-Accepts.
    pub(crate) accepts: u64,
    /// Access-Rejects.
    pub(crate) rejects: u64,
    /// Access-Challenges.
    pub(crate) challenges: u64,
    /// Accounting-Responses.
    pub(crate) responses: u64,
    /// Requests that got no reply within the timeout (after all retries).
    pub(crate) timeouts: u64,
    /// Valid replies that arrived after their request had timed out.
    pub(crate) late: u64,
    /// Verified replies that contradict the expectation (accept for a wrong password…).
    pub(crate) unexpected: u64,
    /// The dangerous kind of unexpected answer: an Access-Accept where a reject was
    /// expected (a wrong password, a suspended subscriber).
    pub(crate) wrong_accepts: u64,
    /// Verified replies without a Message-Authenticator: legal (unless required), but
    /// worth knowing since BlastRADIUS (CVE-2024-3596).
    pub(crate) without_message_authenticator: u64,
    /// Failed sends (the kernel refused the datagram).
    pub(crate) send_errors: u64,
    /// ICMP port-unreachable reports: nothing listens on the server's port.
    pub(crate) port_unreachable: u64,
    bad: [u64; BadReply::ALL.len()],
    /// Latency of answered requests, µs from the scheduled send time (open loop) or the
    /// send time (closed loop).
    pub(crate) latency: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sent: 0,
            retransmits: 0,
            accepts: 0,
            rejects: 0,
            challenges: 0,
            responses: 0,
            timeouts: 0,
            late: 0,
            unexpected: 0,
            wrong_accepts: 0,
            without_message_authenticator: 0,
            send_errors: 0,
            port_unreachable: 0,
            bad: [0; BadReply::ALL.len()],
            latency: new_histogram(),
        }
    }
}

impl Stats {
    /// Records a verified reply and its latency.
    pub(crate) fn answered(&mut self, answer: Answer, expect: Expect, latency: Duration) {
        match answer {
            Answer::Accept => self.accepts += 1,
            Answer::Reject => self.rejects += 1,
            Answer::Challenge => self.challenges += 1,
            Answer::AccountingResponse => self.responses += 1,
        }
        if !expect.is_met_by(answer) {
            self.unexpected += 1;
            if answer == Answer::Accept {
                self.wrong_accepts += 1;
            }
        }
        self.latency.saturating_record(micros(latency).max(1));
    }

    /// Records a refused reply.
    pub(crate) fn bad(&mut self, reason: BadReply) {
        self.bad[reason.index()] += 1;
    }

    /// Refused replies of one reason.
    pub(crate) fn bad_of(&self, reason: BadReply) -> u64 {
        self.bad[reason.index()]
    }

    /// All refused replies.
    pub(crate) fn bad_total(&self) -> u64 {
        self.bad.iter().sum()
    }

    /// Requests that were answered with a verified reply.
    pub(crate) fn answered_total(&self) -> u64 {
        self.accepts + self.rejects + self.challenges + self.responses
    }

    /// Adds another thread's figures to these.
    pub(crate) fn merge(&mut self, other: &Stats) {
        self.sent += other.sent;
        self.retransmits += other.retransmits;
        self.accepts += other.accepts;
        self.rejects += other.rejects;
        self.challenges += other.challenges;
        self.responses += other.responses;
        self.timeouts += other.timeouts;
        self.late += other.late;
        self.unexpected += other.unexpected;
        self.wrong_accepts += other.wrong_accepts;
        self.without_message_authenticator += other.without_message_authenticator;
        self.send_errors += other.send_errors;
        self.port_unreachable += other.port_unreachable;
        for (a, b) in self.bad.iter_mut().zip(other.bad.iter()) {
            *a += b;
        }
        // Both histograms have the same bounds, so adding cannot fail; saturate anyway.
        if self.latency.add(&other.latency).is_err() {
            for v in other.latency.iter_recorded() {
                self.latency
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
}

/// Percentiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct Percentiles {
    /// Values recorded.
    pub(crate) count: u64,
    /// Smallest value.
    pub(crate) min: u64,
    /// Arithmetic mean.
    pub(crate) mean: f64,
    /// Median.
    pub(crate) p50: u64,
    /// 90th percentile.
    pub(crate) p90: u64,
    /// 99th percentile.
    pub(crate) p99: u64,
    /// 99.9th percentile.
    pub(crate) p999: u64,
    /// Largest value.
    pub(crate) max: u64,
}

impl Percentiles {
    /// Reads the percentiles of `h`; all zero when it is empty.
    pub(crate) fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_holds_only_what_came_after_its_start() {
        let mut total = new_histogram();
        for v in 1..=1_000 {
            total.saturating_record(v);
        }
        let before = total.clone();
        total.saturating_record(50_000);
        total.saturating_record(60_000);
        let interval = since(&total, &before);
        let p = Percentiles::of(&interval);
        assert_eq!(p.count, 2);
        assert!((49_950..=50_050).contains(&p.min), "{p:?}");
        assert!((59_950..=60_050).contains(&p.max), "{p:?}");
        assert!(Percentiles::of(&since(&before, &total)).count == 0);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn answers_are_counted_by_kind_and_checked_against_expectations() {
        let mut s = Stats::default();
        s.answered(Answer::Accept, Expect::Accept, ms(1));
        s.answered(Answer::Reject, Expect::Reject, ms(2));
        s.answered(Answer::Accept, Expect::Reject, ms(3));
        s.answered(Answer::AccountingResponse, Expect::Response, ms(4));
        s.answered(Answer::Challenge, Expect::Accept, ms(5));
        assert_eq!(
            (s.accepts, s.rejects, s.responses, s.challenges),
            (2, 1, 1, 1)
        );
        assert_eq!(s.unexpected, 2);
        // Only the Accept for a request that should have been rejected is a wrong Accept.
        assert_eq!(s.wrong_accepts, 1);
        assert_eq!(s.answered_total(), 5);
        assert_eq!(s.latency.len(), 5);
    }

    #[test]
    fn bad_replies_are_kept_by_reason() {
        let mut s = Stats::default();
        s.bad(BadReply::Malformed);
        s.bad(BadReply::MessageAuthenticator);
        s.bad(BadReply::MessageAuthenticator);
        assert_eq!(s.bad_of(BadReply::MessageAuthenticator), 2);
        assert_eq!(s.bad_of(BadReply::WrongCode), 0);
        assert_eq!(s.bad_total(), 3);
        // Bad replies are not answers and have no latency.
        assert_eq!(s.answered_total(), 0);
        assert!(s.latency.is_empty());
    }

    #[test]
    fn merging_adds_counters_and_histograms_exactly() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for i in 1..=900 {
            a.answered(Answer::Accept, Expect::Accept, Duration::from_micros(i));
        }
        for i in 901..=1000 {
            b.answered(Answer::Reject, Expect::Reject, Duration::from_micros(i));
        }
        b.timeouts = 7;
        b.sent = 1007;
        b.wrong_accepts = 2;
        b.bad(BadReply::UnknownIdentifier);
        a.merge(&b);
        assert_eq!(
            (a.accepts, a.rejects, a.timeouts, a.sent),
            (900, 100, 7, 1007)
        );
        assert_eq!(a.bad_of(BadReply::UnknownIdentifier), 1);
        assert_eq!(a.wrong_accepts, 2);
        let p = Percentiles::of(&a.latency);
        assert_eq!(p.count, 1000);
        assert_eq!((p.min, p.max), (1, 1000));
        // Three significant digits: values up to 1000 are exact, bar the last bucket.
        assert_eq!(p.p50, 500);
        assert_eq!(p.p90, 900);
        assert_eq!(p.p99, 990);
        assert_eq!(p.p999, 999);
        assert!((p.mean - 500.5).abs() < 0.5, "{}", p.mean);
    }

    #[test]
    fn latencies_are_whole_microseconds_and_never_zero() {
        let mut s = Stats::default();
        s.answered(Answer::Accept, Expect::Accept, Duration::from_nanos(300));
        s.answered(Answer::Accept, Expect::Accept, Duration::from_nanos(2_999));
        let p = Percentiles::of(&s.latency);
        assert_eq!((p.min, p.max), (1, 2));
        // An hour-long stall saturates instead of failing.
        s.answered(Answer::Accept, Expect::Accept, Duration::from_secs(7200));
        assert!(Percentiles::of(&s.latency).max >= MAX_MICROS);
    }

    #[test]
    fn empty_histograms_report_zeros() {
        assert_eq!(Percentiles::of(&new_histogram()), Percentiles::default());
        assert_eq!(micros(Duration::from_micros(1234)), 1234);
    }
}
