//! Accounting-Requests (RFC 2866, RFC 2869): parse, make durable, then answer.
//!
//! The Accounting-Response goes out only once the writer reports the record committed or
//! spooled (DESIGN.md: "a reply is sent only once the record is durable"); a record that
//! could be made durable nowhere gets no answer, so the NAS retries.
//!
//! A record keeps two times: its arrival (the first copy's: the duplicate cache drops the
//! others while it waits), and the NAS's Event-Timestamp when the request carries one.
//! The session's start is taken from the latter, less Acct-Session-Time, or else from the
//! arrival less Acct-Delay-Time and Acct-Session-Time (`sql/0006_accounting_event_time.sql`),
//! so a Start that reaches PostgreSQL twice names one start time.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use proisp_model::{AcctRecord, AcctStatus, Nas};
use proisp_radius::acct::{input_octets, output_octets};
use proisp_radius::dictionary::{self, attr};
use proisp_radius::encode::{EncodeError, Encoder};
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::profile::Profile;
use serde::{Deserialize, Serialize};

/// Why a request cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// No (or a malformed) Acct-Status-Type.
    NoStatus,
    /// A session event without Acct-Session-Id or User-Name.
    NoSession,
}

/// An accounting record as radiusd keeps it until it is committed: what the store applies,
/// and the NAS's Event-Timestamp. The spool holds these as JSON lines, the record's own
/// members and `event_timestamp` when there is one, so lines spooled before it existed
/// read back as records without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(flatten)]
    pub(crate) record: AcctRecord,
    /// Event-Timestamp (RFC 2869 §5.3): when the event happened by the NAS's clock,
    /// seconds since the epoch; the same in every copy of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) event_timestamp: Option<u32>,
}

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Record it, then answer.
    Record(Record),
    /// A status this server does not record (Failed, tunnel events): answer only.
    Ignore(u32),
}

fn text(packet: &Packet<'_>, typ: u8) -> Option<String> {
    packet
        .value(typ)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Turns a verified Accounting-Request that arrived at `received` into a record.
pub(crate) fn parse(
    packet: &Packet<'_>,
    nas: &Nas,
    received: SystemTime,
) -> Result<Parsed, Invalid> {
    let value = packet
        .attr(attr::ACCT_STATUS_TYPE)
        .and_then(|a| a.as_u32())
        .ok_or(Invalid::NoStatus)?;
    let Some(status) = AcctStatus::from_value(value) else {
        return Ok(Parsed::Ignore(value));
    };
    let session = text(packet, attr::ACCT_SESSION_ID);
    let username = text(packet, attr::USER_NAME);
    let (acct_session_id, username) = if status.is_nas_wide() {
        (String::new(), String::new())
    } else {
        match (session, username) {
            (Some(s), Some(u)) if !s.is_empty() && !u.is_empty() => (s, u),
            _ => return Err(Invalid::NoSession),
        }
    };
    let u32_of = |typ| packet.attr(typ).and_then(|a| a.as_u32());
    let terminate_cause = u32_of(attr::ACCT_TERMINATE_CAUSE).map(|v| {
        dictionary::lookup(0, attr::ACCT_TERMINATE_CAUSE)
            .and_then(|d| d.value_name(v))
            .map_or_else(|| v.to_string(), str::to_owned)
    });
    let record = AcctRecord {
        status,
        nas_id: nas.id,
        acct_session_id,
        username,
        upload_octets: input_octets(packet).unwrap_or(0),
        download_octets: output_octets(packet).unwrap_or(0),
        session_time_secs: u32_of(attr::ACCT_SESSION_TIME).unwrap_or(0),
        received_at_ms: received
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        delay_secs: u32_of(attr::ACCT_DELAY_TIME).unwrap_or(0),
        framed_ip: packet
            .attr(attr::FRAMED_IP_ADDRESS)
            .and_then(|a| a.as_ipv4()),
        calling_station_id: text(packet, attr::CALLING_STATION_ID),
        nas_port_id: text(packet, attr::NAS_PORT_ID),
        terminate_cause,
    };
    Ok(Parsed::Record(Record {
        record,
        event_timestamp: u32_of(attr::EVENT_TIMESTAMP),
    }))
}

/// Encodes the Accounting-Response, unsigned (the caller signs it): Proxy-State copied
/// (RFC 2865 §5.33) and a Message-Authenticator when the request carried one (none under
/// RADIUS/1.1).
pub(crate) fn respond(
    request: &Packet<'_>,
    profile: Profile,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut enc = Encoder::reply_with(buf, request, Code::AccountingResponse, profile);
    if request.attr(attr::MESSAGE_AUTHENTICATOR).is_some() {
        enc.message_authenticator();
    }
    enc.copy_attrs(request, attr::PROXY_STATE);
    enc.finish_unsigned().map(|_| ())
}

#[cfg(test)]
mod tests {
    use proisp_model::{Nas, NasVendor};
    use proisp_radius::acct::split_octets;
    use proisp_radius::authenticator::{sign_replies, verify_response_authenticator};
    use proisp_radius::secret::Secret;

    use super::*;

    fn nas() -> Nas {
        Nas {
            id: 4,
            name: "nas".into(),
            network: "127.0.0.1".parse().unwrap(),
            prefix_len: 32,
            secret: Secret::new(b"testing123"),
            vendor: NasVendor::Mikrotik,
            coa_port: 3799,
            require_message_authenticator: true,
            tls: proisp_model::NasTls::default(),
            coa_lane: proisp_model::CoaLane::default(),
            version: 1,
        }
    }

    fn request(status: u32, with_session: bool) -> Vec<u8> {
        request_with(status, with_session, |_| {})
    }

    fn request_with(status: u32, with_session: bool, more: impl FnOnce(&mut Encoder)) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccountingRequest, 9, &[0; 16]);
        enc.u32(attr::ACCT_STATUS_TYPE, status);
        if with_session {
            enc.attr(attr::USER_NAME, b"user000001")
                .attr(attr::ACCT_SESSION_ID, b"81a00001");
        }
        more(&mut enc);
        let (lo, hi) = split_octets(5 << 32 | 7);
        enc.u32(attr::ACCT_INPUT_OCTETS, 11)
            .u32(attr::ACCT_OUTPUT_OCTETS, lo)
            .u32(attr::ACCT_OUTPUT_GIGAWORDS, hi)
            .u32(attr::ACCT_SESSION_TIME, 600)
            .u32(attr::ACCT_TERMINATE_CAUSE, 1)
            .attr(attr::PROXY_STATE, b"ps");
        enc.finish(&Secret::new(b"testing123")).unwrap().to_vec()
    }

    #[test]
    fn a_stop_becomes_a_record_with_64_bit_counters_and_named_cause() {
        let raw = request(2, true);
        let packet = Packet::decode(&raw).unwrap();
        let Parsed::Record(Record {
            record: r,
            event_timestamp,
        }) = parse(&packet, &nas(), UNIX_EPOCH).unwrap()
        else {
            panic!("not recorded");
        };
        assert_eq!(event_timestamp, None);
        assert_eq!(r.status, AcctStatus::Stop);
        assert_eq!(r.nas_id, 4);
        assert_eq!(r.username, "user000001");
        assert_eq!(r.upload_octets, 11);
        assert_eq!(r.download_octets, 5 << 32 | 7);
        assert_eq!(r.session_time_secs, 600);
        assert_eq!(r.terminate_cause.as_deref(), Some("User-Request"));
    }

    #[test]
    fn a_record_keeps_its_arrival_and_the_nas_event_time() {
        let raw = request_with(1, true, |enc| {
            enc.u32(attr::EVENT_TIMESTAMP, 1_800_000_000)
                .u32(attr::ACCT_DELAY_TIME, 4);
        });
        let arrived = UNIX_EPOCH + std::time::Duration::from_millis(1_800_000_006_250);
        let Parsed::Record(r) = parse(&Packet::decode(&raw).unwrap(), &nas(), arrived).unwrap()
        else {
            panic!("not recorded");
        };
        assert_eq!(r.event_timestamp, Some(1_800_000_000));
        assert_eq!(r.record.received_at_ms, 1_800_000_006_250);
        assert_eq!(r.record.delay_secs, 4);
    }

    #[test]
    fn session_events_need_a_session_and_nas_events_do_not() {
        let raw = request(3, false);
        assert_eq!(
            parse(&Packet::decode(&raw).unwrap(), &nas(), UNIX_EPOCH).unwrap_err(),
            Invalid::NoSession
        );
        let raw = request(7, false);
        assert!(matches!(
            parse(&Packet::decode(&raw).unwrap(), &nas(), UNIX_EPOCH),
            Ok(Parsed::Record(Record {
                record: AcctRecord {
                    status: AcctStatus::AccountingOn,
                    ..
                },
                event_timestamp: None,
            }))
        ));
        let raw = request(15, true);
        assert!(matches!(
            parse(&Packet::decode(&raw).unwrap(), &nas(), UNIX_EPOCH),
            Ok(Parsed::Ignore(15))
        ));
    }

    #[test]
    fn the_response_once_signed_verifies_and_carries_proxy_state() {
        let raw = request(1, true);
        let req = Packet::decode(&raw).unwrap();
        let mut buf = BytesMut::new();
        respond(&req, Profile::Classic, &mut buf).unwrap();
        let len = buf.len();
        sign_replies(&mut buf, &[(0..len, &nas().secret)]);
        let reply = Packet::decode(&buf).unwrap();
        assert_eq!(reply.code(), Code::AccountingResponse);
        assert_eq!(reply.value(attr::PROXY_STATE), Some(&b"ps"[..]));
        assert!(verify_response_authenticator(
            &reply,
            req.authenticator(),
            &Secret::new(b"testing123")
        ));
    }
}
