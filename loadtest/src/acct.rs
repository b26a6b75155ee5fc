//! Accounting-Requests: subscribers' sessions from Start through Interim-Updates to Stop,
//! and the storm after a NAS reboot (Accounting-On, then every session's Start at once).
//!
//! Request `seq` maps to (cycle, phase, subscriber) with the subscriber varying fastest:
//! first every subscriber's Start, then everyone's first Interim-Update, and so on, so a
//! session's packets reach the server in order even with thousands in flight. Counters grow
//! by `octets_per_interim` per update; past 4 GiB they carry Acct-*-Gigawords
//! (RFC 2869 §5.1), the case a server that stores 32-bit counters gets wrong.

use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::BytesMut;
use proisp_radius::acct::split_octets;
use proisp_radius::dictionary::attr::{
    ACCT_AUTHENTIC, ACCT_DELAY_TIME, ACCT_INPUT_GIGAWORDS, ACCT_INPUT_OCTETS,
    ACCT_OUTPUT_GIGAWORDS, ACCT_OUTPUT_OCTETS, ACCT_SESSION_ID, ACCT_SESSION_TIME,
    ACCT_STATUS_TYPE, ACCT_TERMINATE_CAUSE, CALLED_STATION_ID, CALLING_STATION_ID, EVENT_TIMESTAMP,
    FRAMED_IP_ADDRESS, FRAMED_PROTOCOL, NAS_IDENTIFIER, NAS_IP_ADDRESS, NAS_PORT, NAS_PORT_ID,
    NAS_PORT_TYPE, SERVICE_TYPE, USER_NAME,
};
use proisp_radius::dictionary::values::{
    acct_authentic, acct_status_type, acct_terminate_cause, framed_protocol, nas_port_type,
    service_type,
};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;

use crate::acked::{Acked, AckedLog};
use crate::stats::{BadReply, Expect};
use crate::subscribers::{NAME_BUF, Subscribers};
use crate::workload::{self, Verified, Workload};

/// What the run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Sessions: Start, `interims` Interim-Updates, Stop, then the next session.
    Sessions,
    /// The storm: one Accounting-On for the NAS.
    AccountingOn,
    /// The storm: every subscriber's Start, once.
    StormStarts,
}

/// Settings of an accounting run.
#[derive(Debug)]
pub(crate) struct AcctWorkload {
    /// The shared secret.
    pub(crate) secret: Secret,
    /// Whose sessions.
    pub(crate) subscribers: Subscribers,
    /// Interim-Updates per session.
    pub(crate) interims: u64,
    /// Simulated seconds between updates (Acct-Session-Time grows by this).
    pub(crate) interim_interval: u32,
    /// Download octets added per update (upload grows by an eighth of it).
    pub(crate) octets_per_interim: u64,
    /// NAS-IP-Address.
    pub(crate) nas_ip: Ipv4Addr,
    /// Makes Acct-Session-Ids unique across runs against the same database.
    pub(crate) run_id: u32,
    /// Which part of the traffic.
    pub(crate) phase: Phase,
    /// Where acknowledged requests are written (`--acked-log`).
    pub(crate) acked: Option<AckedLog>,
}

/// What is kept of an Accounting-Request until its reply: its Request Authenticator, which
/// the Response Authenticator is computed over, and its number, which says what it
/// carried.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pending {
    authenticator: [u8; 16],
    seq: u64,
}

/// One packet of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Which session of this subscriber (0 for the first).
    pub(crate) cycle: u64,
    /// Which subscriber.
    pub(crate) user: u64,
    /// Acct-Status-Type.
    pub(crate) status: u32,
    /// Updates so far: 0 for Start, k for the k-th Interim-Update, interims + 1 for Stop.
    pub(crate) step: u64,
}

impl AcctWorkload {
    /// Where request `seq` falls in the sessions.
    pub(crate) fn step(&self, seq: u64) -> Step {
        let n = self.subscribers.len();
        match self.phase {
            Phase::AccountingOn => Step {
                cycle: 0,
                user: 0,
                status: acct_status_type::ACCOUNTING_ON,
                step: 0,
            },
            Phase::StormStarts => Step {
                cycle: 0,
                user: seq % n,
                status: acct_status_type::START,
                step: 0,
            },
            Phase::Sessions => {
                let per_cycle = n * (self.interims + 2);
                let rem = seq % per_cycle;
                let step = rem / n;
                let status = match step {
                    0 => acct_status_type::START,
                    s if s <= self.interims => acct_status_type::INTERIM_UPDATE,
                    _ => acct_status_type::STOP,
                };
                Step {
                    cycle: seq / per_cycle,
                    user: rem % n,
                    status,
                    step,
                }
            }
        }
    }

    /// Download and upload octets after `step` updates.
    pub(crate) fn octets(&self, step: u64) -> (u64, u64) {
        let down = self.octets_per_interim.saturating_mul(step);
        (down, down / 8)
    }
}

/// Writes the Acct-Session-Id: run, session number and subscriber in hex, 20 characters.
fn session_id(run: u32, cycle: u64, user: u64, out: &mut [u8; 20]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let value =
        (u128::from(run) << 48) | (u128::from(cycle as u16) << 32) | u128::from(user as u32);
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((value >> (4 * (19 - i))) & 0xf) as usize];
    }
}

impl AcctWorkload {
    /// Encodes request `seq` with Identifier `id` and the Request Authenticator of RFC
    /// 2866 §3, or (`token`) as RADIUS/1.1: Identifier zero, the Token in the
    /// Authenticator field and no MD5 (RFC 9765 §4).
    fn build(
        &self,
        seq: u64,
        id: u8,
        token: Option<u32>,
        buf: &mut BytesMut,
    ) -> anyhow::Result<Pending> {
        let s = self.step(seq);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        let (mut name_buf, mut pw_buf) = ([0; NAME_BUF], [0; NAME_BUF]);
        let (name, _) = self.subscribers.get(s.user, &mut name_buf, &mut pw_buf);
        let mut sid = [0u8; 20];
        session_id(self.run_id, s.cycle, s.user, &mut sid);

        // The Request Authenticator is computed at finish (RFC 2866 §3); zeros go in now.
        let authenticator = token.map_or([0; 16], workload::v11_authenticator);
        let mut enc = Encoder::new(buf, Code::AccountingRequest, id, &authenticator);
        enc.u32(ACCT_STATUS_TYPE, s.status);
        if s.status == acct_status_type::ACCOUNTING_ON {
            enc.attr(ACCT_SESSION_ID, b"00000000");
        } else {
            let mut mac = [0u8; 17];
            crate::auth::mac(s.user, &mut mac);
            enc.attr(USER_NAME, name)
                .attr(ACCT_SESSION_ID, &sid)
                .u32(ACCT_AUTHENTIC, acct_authentic::RADIUS)
                .u32(SERVICE_TYPE, service_type::FRAMED)
                .u32(FRAMED_PROTOCOL, framed_protocol::PPP)
                .ipv4(
                    FRAMED_IP_ADDRESS,
                    Ipv4Addr::from(0x6440_0000 | (s.user as u32 & 0x003f_ffff)),
                )
                .u32(NAS_PORT, (s.user as u32).wrapping_add(1))
                .u32(NAS_PORT_TYPE, nas_port_type::ETHERNET)
                .attr(NAS_PORT_ID, b"ether2-vlan100")
                .attr(CALLING_STATION_ID, &mac)
                .attr(CALLED_STATION_ID, b"pppoe-bench");
            if s.step > 0 {
                let (down, up) = self.octets(s.step);
                let (in_lo, in_hi) = split_octets(up);
                let (out_lo, out_hi) = split_octets(down);
                enc.u32(
                    ACCT_SESSION_TIME,
                    self.interim_interval.saturating_mul(s.step as u32),
                )
                .u32(ACCT_INPUT_OCTETS, in_lo)
                .u32(ACCT_INPUT_GIGAWORDS, in_hi)
                .u32(ACCT_OUTPUT_OCTETS, out_lo)
                .u32(ACCT_OUTPUT_GIGAWORDS, out_hi);
            }
            if s.status == acct_status_type::STOP {
                enc.u32(ACCT_TERMINATE_CAUSE, acct_terminate_cause::USER_REQUEST);
            }
        }
        enc.u32(ACCT_DELAY_TIME, 0)
            .u32(EVENT_TIMESTAMP, now)
            .attr(NAS_IDENTIFIER, b"proisp-loadtest")
            .ipv4(NAS_IP_ADDRESS, self.nas_ip);
        if token.is_some() {
            enc.finish_unsigned()
                .context("cannot encode the Accounting-Request")?;
            return Ok(Pending { authenticator, seq });
        }
        let wire = enc
            .finish(&self.secret)
            .context("cannot encode the Accounting-Request")?;
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&wire[4..20]);
        Ok(Pending { authenticator, seq })
    }
}

impl Workload for AcctWorkload {
    type Pending = Pending;

    fn encode(&self, seq: u64, id: u8, buf: &mut BytesMut) -> anyhow::Result<Pending> {
        self.build(seq, id, None, buf)
    }

    fn encode_v11(&self, seq: u64, token: u32, buf: &mut BytesMut) -> anyhow::Result<Pending> {
        self.build(seq, 0, Some(token), buf)
    }

    fn check_v11(&self, reply: &Packet<'_>, pending: &Pending) -> Result<Verified, BadReply> {
        let answer = workload::verify_v11(reply, &pending.authenticator, Code::AccountingRequest)?;
        Ok(Verified {
            answer,
            expect: Expect::Response,
            // RADIUS/1.1 has none to miss.
            message_authenticator: true,
        })
    }

    fn check(&self, reply: &Packet<'_>, pending: &Pending) -> Result<Verified, BadReply> {
        let (answer, message_authenticator) = workload::verify(
            reply,
            &pending.authenticator,
            &self.secret,
            Code::AccountingRequest,
            false,
        )?;
        Ok(Verified {
            answer,
            expect: Expect::Response,
            message_authenticator,
        })
    }

    fn acknowledged(&self, pending: &Pending) {
        let Some(log) = &self.acked else {
            return;
        };
        let s = self.step(pending.seq);
        let (mut name_buf, mut pw_buf) = ([0; NAME_BUF], [0; NAME_BUF]);
        let mut sid = [0u8; 20];
        let (user, session_id): (&[u8], &[u8]) = if s.status == acct_status_type::ACCOUNTING_ON {
            (b"", b"00000000")
        } else {
            session_id(self.run_id, s.cycle, s.user, &mut sid);
            (
                self.subscribers.get(s.user, &mut name_buf, &mut pw_buf).0,
                &sid,
            )
        };
        let (download, upload) = self.octets(s.step);
        log.record(&Acked {
            session_id,
            user,
            status: s.status,
            step: s.step,
            upload,
            download,
        });
    }

    fn describe(&self) -> String {
        match self.phase {
            Phase::Sessions => format!(
                "sessions of {} subscribers: Start, {} Interim-Update(s), Stop",
                self.subscribers.len(),
                self.interims
            ),
            Phase::AccountingOn => "storm: Accounting-On".to_owned(),
            Phase::StormStarts => {
                format!(
                    "storm: Start of {} sessions at once",
                    self.subscribers.len()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proisp_radius::acct::{input_octets, output_octets};
    use proisp_radius::authenticator::verify_request_digest;

    use super::*;

    fn workload(phase: Phase) -> AcctWorkload {
        AcctWorkload {
            secret: Secret::new(b"testing123"),
            subscribers: Subscribers::Pattern { first: 1, count: 3 },
            interims: 2,
            interim_interval: 300,
            octets_per_interim: 3 << 30,
            nas_ip: Ipv4Addr::new(10, 0, 0, 1),
            run_id: 0xABCD,
            phase,
            acked: None,
        }
    }

    #[test]
    fn sessions_run_start_interims_stop_in_order() {
        let w = workload(Phase::Sessions);
        let statuses: Vec<(u64, u64, u32)> = (0..13)
            .map(|seq| {
                let s = w.step(seq);
                (s.cycle, s.user, s.status)
            })
            .collect();
        use acct_status_type::{INTERIM_UPDATE as I, START as S, STOP as P};
        assert_eq!(
            statuses,
            vec![
                (0, 0, S),
                (0, 1, S),
                (0, 2, S),
                (0, 0, I),
                (0, 1, I),
                (0, 2, I),
                (0, 0, I),
                (0, 1, I),
                (0, 2, I),
                (0, 0, P),
                (0, 1, P),
                (0, 2, P),
                (1, 0, S),
            ]
        );
    }

    #[test]
    fn counters_grow_past_four_gigabytes_into_gigawords() {
        let w = workload(Phase::Sessions);
        let mut buf = BytesMut::new();
        let mut totals = Vec::new();
        for seq in [0, 3, 6, 9] {
            buf.clear();
            let pending = w.encode(seq, 1, &mut buf).unwrap();
            let p = Packet::decode(&buf).unwrap();
            assert!(verify_request_digest(&p, b"testing123"));
            assert_eq!(p.authenticator(), &pending.authenticator);
            assert_eq!(p.value(USER_NAME), Some(&b"user000001"[..]));
            assert_eq!(p.value(ACCT_SESSION_ID), Some(&b"0000ABCD000000000000"[..]));
            totals.push((output_octets(&p), input_octets(&p)));
        }
        let g = 1u64 << 30;
        assert_eq!(
            totals,
            vec![
                (None, None),
                (Some(3 * g), Some(3 * g / 8)),
                (Some(6 * g), Some(6 * g / 8)),
                (Some(9 * g), Some(9 * g / 8)),
            ]
        );
        // The Stop says why and how long.
        let p = Packet::decode(&buf).unwrap();
        assert_eq!(p.attr(ACCT_TERMINATE_CAUSE).unwrap().as_u32(), Some(1));
        assert_eq!(p.attr(ACCT_SESSION_TIME).unwrap().as_u32(), Some(900));
        assert_eq!(p.attr(ACCT_OUTPUT_GIGAWORDS).unwrap().as_u32(), Some(2));
    }

    #[test]
    fn the_storm_is_accounting_on_then_every_start() {
        let on = workload(Phase::AccountingOn);
        let mut buf = BytesMut::new();
        on.encode(0, 9, &mut buf).unwrap();
        let p = Packet::decode(&buf).unwrap();
        assert_eq!(
            p.attr(ACCT_STATUS_TYPE).unwrap().as_u32(),
            Some(acct_status_type::ACCOUNTING_ON)
        );
        assert!(p.value(USER_NAME).is_none());

        let starts = workload(Phase::StormStarts);
        let users: Vec<u64> = (0..3).map(|s| starts.step(s).user).collect();
        assert_eq!(users, vec![0, 1, 2]);
        assert!((0..3).all(|s| starts.step(s).status == acct_status_type::START));
    }

    #[test]
    fn acknowledged_requests_are_logged_with_what_they_carried() {
        let dir = std::env::temp_dir().join(format!("acct-acked-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acked.tsv");
        let mut w = workload(Phase::Sessions);
        w.acked = Some(AckedLog::create(&path).unwrap());
        let mut buf = BytesMut::new();
        // user000002's Start, first update and Stop; then the next session's Start.
        for seq in [1, 4, 10, 13] {
            buf.clear();
            let pending = w.encode(seq, 1, &mut buf).unwrap();
            w.acknowledged(&pending);
        }
        w.acked.as_ref().unwrap().finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let g = 3u64 << 30;
        assert_eq!(
            text,
            format!(
                "0000ABCD000000000001\tuser000002\tstart\t0\t0\t0\n\
                 0000ABCD000000000001\tuser000002\tinterim\t1\t{}\t{}\n\
                 0000ABCD000000000001\tuser000002\tstop\t3\t{}\t{}\n\
                 0000ABCD000100000001\tuser000002\tstart\t0\t0\t0\n",
                g / 8,
                g,
                3 * g / 8,
                3 * g
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn session_ids_are_unique_per_run_session_and_subscriber() {
        let mut a = [0u8; 20];
        session_id(1, 2, 3, &mut a);
        assert_eq!(&a, b"00000001000200000003");
        let mut b = [0u8; 20];
        session_id(1, 2, 4, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn radius_1_1_accounting_carries_the_token_instead_of_the_digest() {
        let w = workload(Phase::Sessions);
        let mut buf = BytesMut::new();
        let pending = w.encode_v11(0, 0xA0B0_C0D0, &mut buf).unwrap();
        let p = Packet::decode(&buf).unwrap();
        assert_eq!(p.identifier(), 0);
        assert_eq!(&p.authenticator()[..4], &[0xA0, 0xB0, 0xC0, 0xD0]);
        assert_eq!(&p.authenticator()[4..], &[0; 12]);
        assert_eq!(p.value(USER_NAME), Some(&b"user000001"[..]));

        let mut reply = BytesMut::new();
        let enc = Encoder::new(
            &mut reply,
            Code::AccountingResponse,
            0,
            &workload::v11_authenticator(0xA0B0_C0D0),
        );
        let range = enc.finish_unsigned().unwrap();
        let verdict = w
            .check_v11(&Packet::decode(&reply[range]).unwrap(), &pending)
            .unwrap();
        assert_eq!(verdict.answer, crate::stats::Answer::AccountingResponse);
    }
}
