//! Accounting helpers (RFC 2866, RFC 2869 §5.1–5.2).
//!
//! Acct-Input-Octets and Acct-Output-Octets are 32-bit and wrap at 4 GiB; RFC 2869 adds
//! Acct-Input-Gigawords and Acct-Output-Gigawords, counting the wraps. A session's true
//! total is `gigawords · 2³² + octets`. "Input" and "Output" are from the NAS port's point
//! of view (RFC 2866 §5.3–5.4): input is what the subscriber sent (their upload), output
//! what they received (their download).
//!
//! Per vendor, as each documents it:
//!
//! | NAS | Acct-Input-Octets | Acct-Output-Octets |
//! | --- | --- | --- |
//! | MikroTik RouterOS (PPP, PPPoE, Hotspot) | "bytes received from the client": upload | "bytes sent to the client": download |
//! | Cisco IOS / IOS XE (PPP, ISG), Juniper MX, accel-ppp | RFC 2866: upload | RFC 2866: download |
//!
//! (MikroTik's wording is from its RouterOS manual, "Accounting-Request" under AAA; the
//! Gigawords carry "bits 32..63" of the same counters.) Everything downstream — the
//! database, usage and reports — speaks of upload and download, never input and output.

use crate::dictionary::attr::{
    ACCT_INPUT_GIGAWORDS, ACCT_INPUT_OCTETS, ACCT_OUTPUT_GIGAWORDS, ACCT_OUTPUT_OCTETS,
};
use crate::packet::Packet;

/// A 64-bit counter from its low 32 bits and the Gigawords (wrap count).
pub const fn octets64(octets: u32, gigawords: u32) -> u64 {
    ((gigawords as u64) << 32) | octets as u64
}

/// Splits a 64-bit counter into (octets, gigawords) for Acct-*-Octets and Acct-*-Gigawords.
pub const fn split_octets(total: u64) -> (u32, u32) {
    (total as u32, (total >> 32) as u32)
}

fn counter(packet: &Packet<'_>, octets: u8, gigawords: u8) -> Option<u64> {
    let low = packet.attr(octets)?.as_u32()?;
    let high = match packet.attr(gigawords) {
        Some(a) => a.as_u32()?,
        None => 0,
    };
    Some(octets64(low, high))
}

/// Octets the subscriber sent (Acct-Input-Octets + Gigawords), if the packet carries a
/// well-formed counter.
pub fn input_octets(packet: &Packet<'_>) -> Option<u64> {
    counter(packet, ACCT_INPUT_OCTETS, ACCT_INPUT_GIGAWORDS)
}

/// Octets the subscriber received (Acct-Output-Octets + Gigawords).
pub fn output_octets(packet: &Packet<'_>) -> Option<u64> {
    counter(packet, ACCT_OUTPUT_OCTETS, ACCT_OUTPUT_GIGAWORDS)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::encode::Encoder;
    use crate::header::Code;

    #[test]
    fn combines_and_splits_counters() {
        assert_eq!(octets64(5, 0), 5);
        assert_eq!(octets64(0, 1), 1 << 32);
        assert_eq!(octets64(u32::MAX, u32::MAX), u64::MAX);
        for total in [
            0,
            1,
            u32::MAX as u64,
            1 << 32,
            5 * (1 << 32) + 123,
            u64::MAX,
        ] {
            let (lo, hi) = split_octets(total);
            assert_eq!(octets64(lo, hi), total);
        }
    }

    #[test]
    fn reads_counters_from_a_packet() {
        let total_in = 6 * (1u64 << 32) + 1000;
        let (lo, hi) = split_octets(total_in);
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccountingRequest, 1, &[0; 16]);
        enc.u32(ACCT_INPUT_OCTETS, lo)
            .u32(ACCT_INPUT_GIGAWORDS, hi)
            .u32(ACCT_OUTPUT_OCTETS, 77);
        let p = Packet::decode(enc.finish(b"s").unwrap()).unwrap();
        assert_eq!(input_octets(&p), Some(total_in));
        assert_eq!(output_octets(&p), Some(77));

        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, Code::AccountingRequest, 1, &[0; 16]);
        enc.attr(ACCT_INPUT_OCTETS, &[1, 2]);
        let p = Packet::decode(enc.finish(b"s").unwrap()).unwrap();
        assert_eq!(input_octets(&p), None);
        assert_eq!(output_octets(&p), None);
    }
}
