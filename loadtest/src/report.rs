//! The result of a run: a table for people, JSON for scripts (bench/compare.sh reads it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::engine::{Load, Outcome, RunConfig};
use crate::radsec::RadsecOutcome;
use crate::stats::{BadReply, Percentiles};

/// Everything a run reports.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// `auth` or `acct`.
    pub(crate) command: &'static str,
    /// What was sent, in words.
    pub(crate) workload: String,
    /// Where it was sent.
    pub(crate) server: SocketAddr,
    /// `udp` or `radsec`.
    pub(crate) transport: &'static str,
    /// The RadSec connections (RadSec runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) radsec: Option<RadsecOutcome>,
    /// How it was sent.
    pub(crate) load: LoadReport,
    /// Requests sent (first transmissions).
    pub(crate) sent: u64,
    /// Scheduled requests the generator never got to send.
    pub(crate) not_sent: u64,
    /// Retransmissions.
    pub(crate) retransmits: u64,
    /// Sends the kernel refused.
    pub(crate) send_errors: u64,
    /// Requests answered with a verified reply.
    pub(crate) answered: u64,
    /// Access-Accepts.
    pub(crate) accepts: u64,
    /// Access-Rejects.
    pub(crate) rejects: u64,
    /// Access-Challenges.
    pub(crate) challenges: u64,
    /// Accounting-Responses.
    pub(crate) responses: u64,
    /// Verified answers that contradict the expectation.
    pub(crate) unexpected: u64,
    /// Of those, Access-Accepts where a reject was expected: the answers that let someone
    /// in who must not be (the fault suite's "wrong answers").
    pub(crate) wrong_accepts: u64,
    /// Requests without a reply in time.
    pub(crate) timeouts: u64,
    /// Verified replies that came after their request had timed out.
    pub(crate) late: u64,
    /// Replies that failed verification.
    pub(crate) bad_replies: u64,
    /// Bad replies by reason.
    pub(crate) bad: BTreeMap<&'static str, u64>,
    /// Verified replies without a Message-Authenticator.
    pub(crate) without_message_authenticator: u64,
    /// ICMP port-unreachable reports.
    pub(crate) port_unreachable: u64,
    /// Seconds from the start until the run had finished.
    pub(crate) elapsed_s: f64,
    /// Requests sent per second over the sending window.
    pub(crate) send_rate: f64,
    /// Verified replies per second, start to last reply.
    pub(crate) answer_rate: f64,
    /// Latency of answered requests, µs.
    pub(crate) latency_us: Percentiles,
    /// How late the generator sent against the schedule, µs (open loop).
    pub(crate) send_lag_us: Option<Percentiles>,
    /// The storm's Accounting-On, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) accounting_on: Option<Box<Report>>,
    /// No bad replies, no unexpected answers, no failed or lost RadSec connections.
    pub(crate) ok: bool,
}

/// The load model, as run.
#[derive(Debug, Serialize)]
pub(crate) struct LoadReport {
    /// `open` or `closed`.
    pub(crate) model: &'static str,
    /// Offered requests per second (open loop).
    pub(crate) rate: Option<f64>,
    /// Requests in flight (closed loop).
    pub(crate) concurrency: Option<usize>,
    /// Sending window, seconds.
    pub(crate) duration_s: f64,
    /// Request limit.
    pub(crate) requests: Option<u64>,
    /// Per-try timeout, ms.
    pub(crate) timeout_ms: u64,
    /// Retransmissions per request.
    pub(crate) retries: u32,
    /// Source sockets.
    pub(crate) sockets: usize,
}

fn per_second(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        0.0
    } else {
        count as f64 / window.as_secs_f64()
    }
}

impl Report {
    /// Assembles the report of one run.
    pub(crate) fn new(
        command: &'static str,
        workload: String,
        cfg: &RunConfig,
        outcome: &Outcome,
    ) -> Report {
        let s = &outcome.stats;
        let (model, rate, concurrency) = match cfg.load {
            Load::Open { rate } => ("open", Some(rate), None),
            Load::Closed { concurrency } => ("closed", None, Some(concurrency)),
        };
        let send_window = match cfg.load {
            // The last request owns a whole slot of the schedule, so a generator on time
            // reports exactly the offered rate.
            Load::Open { rate } => outcome.send_window + Duration::from_secs_f64(1.0 / rate),
            Load::Closed { .. } => outcome.send_window,
        };
        Report {
            command,
            workload,
            server: cfg.server,
            transport: "udp",
            radsec: None,
            load: LoadReport {
                model,
                rate,
                concurrency,
                duration_s: cfg.duration.as_secs_f64(),
                requests: cfg.requests,
                timeout_ms: cfg.timeout.as_millis() as u64,
                retries: cfg.retries,
                sockets: cfg.sockets,
            },
            sent: s.sent,
            not_sent: outcome.not_sent,
            retransmits: s.retransmits,
            send_errors: s.send_errors,
            answered: s.answered_total(),
            accepts: s.accepts,
            rejects: s.rejects,
            challenges: s.challenges,
            responses: s.responses,
            unexpected: s.unexpected,
            wrong_accepts: s.wrong_accepts,
            timeouts: s.timeouts,
            late: s.late,
            bad_replies: s.bad_total(),
            bad: BadReply::ALL
                .iter()
                .map(|&r| (r.label(), s.bad_of(r)))
                .collect(),
            without_message_authenticator: s.without_message_authenticator,
            port_unreachable: s.port_unreachable,
            elapsed_s: outcome.elapsed.as_secs_f64(),
            send_rate: per_second(s.sent, send_window),
            answer_rate: per_second(s.answered_total(), outcome.reply_window),
            latency_us: Percentiles::of(&s.latency),
            send_lag_us: outcome.lag.as_ref().map(Percentiles::of),
            accounting_on: None,
            ok: s.bad_total() == 0 && s.unexpected == 0,
        }
    }

    /// The report of a run over RadSec connections (`radsec`), or over UDP (`None`).
    pub(crate) fn over(mut self, radsec: Option<RadsecOutcome>) -> Report {
        if let Some(r) = radsec {
            self.transport = "radsec";
            self.ok &= r.errors.total() == 0;
            self.radsec = Some(r);
        }
        self
    }

    /// Whether this run and its Accounting-On (if any) saw nothing wrong.
    pub(crate) fn all_ok(&self) -> bool {
        self.ok && self.accounting_on.as_ref().is_none_or(|r| r.all_ok())
    }

    /// The human-readable table.
    pub(crate) fn table(&self) -> String {
        let mut t = String::new();
        if let Some(on) = &self.accounting_on {
            let _ = writeln!(
                t,
                "Accounting-On    answered {}  timeouts {}  bad {}  latency {} µs\n",
                on.answered, on.timeouts, on.bad_replies, on.latency_us.max
            );
        }
        let l = &self.load;
        let load = match (l.rate, l.concurrency) {
            (Some(rate), _) => format!("open loop, {rate} requests/s"),
            (_, Some(c)) => format!("closed loop, {c} in flight"),
            _ => String::new(),
        };
        let _ = writeln!(t, "target           {}  ({})", self.server, self.workload);
        let through = match &self.radsec {
            Some(r) => format!(
                "RadSec, {} connections × {} in flight, {} threads",
                r.connections, r.pipeline, r.threads
            ),
            None => format!("{} retries, {} sockets", l.retries, l.sockets),
        };
        let _ = writeln!(
            t,
            "load             {load} for {:.1} s{}, timeout {} ms, {through}",
            l.duration_s,
            l.requests
                .map_or(String::new(), |n| format!(" or {n} requests")),
            l.timeout_ms,
        );
        if let Some(r) = &self.radsec {
            let tls = r.tls.as_ref().map_or(String::new(), |n| {
                format!(
                    ", {} {}{}",
                    n.version,
                    n.cipher,
                    n.alpn
                        .as_ref()
                        .map_or(String::new(), |a| format!(", ALPN {a}"))
                )
            });
            let _ = writeln!(
                t,
                "connections      {} opened in {:.2} s{tls}",
                r.opened, r.connect_s
            );
            let e = &r.errors;
            if e.total() > 0 || e.first.is_some() {
                let _ = writeln!(
                    t,
                    "connection errs  tcp {}  tls {}  timeout {}  lost {}  first: {}",
                    e.tcp,
                    e.tls,
                    e.timeout,
                    e.lost,
                    e.first.as_deref().unwrap_or("-")
                );
            }
        }
        let _ = writeln!(
            t,
            "sent             {:<10} {:>10.1}/s   not sent {}  retransmits {}  send errors {}",
            self.sent, self.send_rate, self.not_sent, self.retransmits, self.send_errors
        );
        let answers = if self.command == "acct" {
            format!("responses {}", self.responses)
        } else {
            format!(
                "accept {}  reject {}  challenge {}",
                self.accepts, self.rejects, self.challenges
            )
        };
        let _ = writeln!(
            t,
            "answered         {:<10} {:>10.1}/s   {answers}",
            self.answered, self.answer_rate
        );
        let _ = writeln!(
            t,
            "failed           timeouts {}  late {}  bad replies {}  unexpected answers {} \
             (wrong accepts {})",
            self.timeouts, self.late, self.bad_replies, self.unexpected, self.wrong_accepts
        );
        if self.bad_replies > 0 {
            let reasons: Vec<String> = self
                .bad
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(t, "bad replies      {}", reasons.join("  "));
        }
        if self.without_message_authenticator > 0 || self.port_unreachable > 0 {
            let _ = writeln!(
                t,
                "notes            {} replies without Message-Authenticator, {} ICMP port unreachable",
                self.without_message_authenticator, self.port_unreachable
            );
        }
        let p = &self.latency_us;
        let from = if self.load.model == "open" {
            "from scheduled send time"
        } else {
            "from send"
        };
        let _ = writeln!(
            t,
            "latency µs       p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {:.0}, {from})",
            p.p50, p.p90, p.p99, p.p999, p.max, p.mean
        );
        if let Some(lag) = &self.send_lag_us {
            let _ = writeln!(
                t,
                "send lag µs      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                lag.p50, lag.p90, lag.p99, lag.p999, lag.max
            );
        }
        let _ = write!(
            t,
            "result           {}",
            if self.all_ok() {
                "OK".to_owned()
            } else {
                format!(
                    "FAILED: {} bad replies, {} unexpected answers{}",
                    self.bad_replies + self.accounting_on.as_ref().map_or(0, |r| r.bad_replies),
                    self.unexpected + self.accounting_on.as_ref().map_or(0, |r| r.unexpected),
                    self.radsec.as_ref().map_or(String::new(), |r| format!(
                        ", {} connection errors",
                        r.errors.total()
                    ))
                )
            }
        );
        t
    }
}
