//! Requests answered and their latency per NAS and result (`radius_nas_request_duration_seconds{nas,result}`):
//! which NAS is slow or rejected, and Accept, Reject and accounting latency kept apart.
//! A histogram's `_count` is the number of requests, so no counter is kept beside it.
//!
//! A NAS's series live as long as the NAS: kept across table reloads (a counter never
//! goes back), dropped when the NAS leaves the table.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use proisp_model::Nas;
use proisp_radius::header::Code;

use super::Latency;

/// The per-NAS histogram.
pub(crate) const NAS_REQUEST_DURATION: &str = "radius_nas_request_duration_seconds";

/// What a request was answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answered {
    Accept,
    Reject,
    Accounting,
    /// A Status-Server.
    Status,
}

impl Answered {
    const ALL: [Answered; 4] = [
        Answered::Accept,
        Answered::Reject,
        Answered::Accounting,
        Answered::Status,
    ];

    const fn label(self) -> &'static str {
        match self {
            Answered::Accept => "accept",
            Answered::Reject => "reject",
            Answered::Accounting => "accounting",
            Answered::Status => "status",
        }
    }

    /// What the reply whose first octet is `reply` answered to a `request`; `None` for
    /// anything else (a RADIUS/1.1 Protocol-Error).
    pub(crate) fn of(request: Code, reply: &[u8]) -> Option<Answered> {
        let reply = Code::from_u8(*reply.first()?)?;
        match (request, reply) {
            (Code::StatusServer, _) => Some(Answered::Status),
            (_, Code::AccessAccept) => Some(Answered::Accept),
            (_, Code::AccessReject) => Some(Answered::Reject),
            (_, Code::AccountingResponse) => Some(Answered::Accounting),
            _ => None,
        }
    }
}

/// One NAS's histograms, by result.
#[derive(Debug)]
pub(crate) struct NasStats {
    /// The NAS's name, its label (escaped for the exposition format).
    label: String,
    latency: [Latency; Answered::ALL.len()],
}

impl NasStats {
    fn new(name: &str) -> NasStats {
        NasStats {
            label: escape(name),
            latency: Default::default(),
        }
    }

    /// Records a request answered `answered` after `elapsed`.
    pub(crate) fn record(&self, answered: Answered, elapsed: Duration) {
        self.record_many(answered, elapsed, 1);
    }

    /// Records `n` requests answered `answered` after `elapsed` (a batch's).
    pub(crate) fn record_many(&self, answered: Answered, elapsed: Duration, n: u64) {
        self.latency[answered as usize].record_many(elapsed, n);
    }
}

/// A label value in the Prometheus text format: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every NAS's stats, by NAS id.
#[derive(Debug, Default)]
pub(crate) struct PerNas {
    by_id: Mutex<HashMap<i64, Arc<NasStats>>>,
}

impl PerNas {
    /// The stats of every NAS of a new table: those of a NAS already known under the
    /// same name are kept; those of a NAS no longer there are forgotten.
    pub(crate) fn refresh(&self, all: &[Nas]) -> HashMap<i64, Arc<NasStats>> {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh: HashMap<i64, Arc<NasStats>> = all
            .iter()
            .map(|nas| {
                let stats = match by_id.get(&nas.id) {
                    Some(s) if s.label == escape(&nas.name) => s.clone(),
                    _ => Arc::new(NasStats::new(&nas.name)),
                };
                (nas.id, stats)
            })
            .collect();
        by_id.clone_from(&fresh);
        fresh
    }

    /// Appends every NAS's histograms in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<&Arc<NasStats>> = by_id.values().collect();
        all.sort_by(|a, b| a.label.cmp(&b.label));
        let name = NAS_REQUEST_DURATION;
        let _ = writeln!(
            out,
            "# HELP {name} Time from a request's arrival to its reply, by NAS and result \
             (the reject delay excluded)"
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for stats in all {
            for answered in Answered::ALL {
                let labels = format!("nas=\"{}\",result=\"{}\"", stats.label, answered.label());
                stats.latency[answered as usize].render_series(out, name, &labels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proisp_model::{NasTls, NasVendor};
    use proisp_radius::secret::Secret;

    use super::*;

    fn nas(id: i64, name: &str) -> Nas {
        Nas {
            id,
            name: name.into(),
            network: "192.0.2.1".parse().unwrap(),
            prefix_len: 32,
            secret: Secret::new(b"s"),
            vendor: NasVendor::Mikrotik,
            coa_port: 3799,
            require_message_authenticator: true,
            tls: NasTls::default(),
            coa_lane: proisp_model::CoaLane::default(),
            version: 1,
        }
    }

    #[test]
    fn series_per_nas_and_result_survive_reloads_and_go_with_their_nas() {
        let per_nas = PerNas::default();
        let stats = per_nas.refresh(&[nas(1, "bras-1"), nas(2, "bras \"2\"")]);
        stats[&1].record(Answered::Accept, Duration::from_micros(80));
        stats[&1].record(Answered::Reject, Duration::from_millis(3));
        stats[&1].record(Answered::Reject, Duration::from_millis(4));
        let again = per_nas.refresh(&[nas(1, "bras-1")]);
        assert!(Arc::ptr_eq(&stats[&1], &again[&1]), "kept across a reload");
        let mut out = String::new();
        per_nas.render(&mut out);
        for line in [
            "radius_nas_request_duration_seconds_bucket{nas=\"bras-1\",result=\"accept\",le=\"0.0001\"} 1",
            "radius_nas_request_duration_seconds_count{nas=\"bras-1\",result=\"accept\"} 1",
            "radius_nas_request_duration_seconds_count{nas=\"bras-1\",result=\"reject\"} 2",
            "radius_nas_request_duration_seconds_count{nas=\"bras-1\",result=\"accounting\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
        assert!(
            !out.contains("bras \\\"2\\\""),
            "a NAS gone takes its series along"
        );

        // Renamed: new series under the new name.
        let renamed = per_nas.refresh(&[nas(1, "bras-1b")]);
        assert!(!Arc::ptr_eq(&stats[&1], &renamed[&1]));
    }

    #[test]
    fn a_reply_says_what_it_answered() {
        let accept = [Code::AccessAccept.as_u8()];
        assert_eq!(
            Answered::of(Code::StatusServer, &accept),
            Some(Answered::Status)
        );
        assert_eq!(
            Answered::of(Code::AccessRequest, &accept),
            Some(Answered::Accept)
        );
        assert_eq!(
            Answered::of(Code::AccessRequest, &[Code::AccessReject.as_u8()]),
            Some(Answered::Reject)
        );
        assert_eq!(
            Answered::of(Code::AccountingRequest, &[Code::AccountingResponse.as_u8()]),
            Some(Answered::Accounting)
        );
        assert_eq!(
            Answered::of(Code::AccessRequest, &[Code::ProtocolError.as_u8()]),
            None
        );
        assert_eq!(Answered::of(Code::AccessRequest, &[]), None);
    }
}
