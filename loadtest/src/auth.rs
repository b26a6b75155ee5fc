//! Access-Requests as a MikroTik PPPoE server sends them, with PAP, CHAP or MS-CHAPv2.
//!
//! Every request gets a fresh Request Authenticator from the thread-local CSPRNG
//! (`authenticator::random`), and the password is hidden or hashed again under it: RFC 2865
//! §3 requires the authenticator to be unpredictable, and reusing a template with a fixed
//! one would test a server against traffic no NAS sends (and let a replay cache answer).
//! That costs about 50 ns for the random octets and one MD5 block for PAP; the packet is
//! then built with the codec's `Encoder`, whose Message-Authenticator is the bulk of the
//! per-request work.

use std::net::Ipv4Addr;

use anyhow::Context;
use bytes::BytesMut;
use proisp_radius::dictionary::attr::{
    CALLED_STATION_ID, CALLING_STATION_ID, CHAP_CHALLENGE, CHAP_PASSWORD, FRAMED_PROTOCOL,
    NAS_IDENTIFIER, NAS_IP_ADDRESS, NAS_PORT, NAS_PORT_ID, NAS_PORT_TYPE, SERVICE_TYPE, USER_NAME,
    USER_PASSWORD,
};
use proisp_radius::dictionary::values::{framed_protocol, nas_port_type, service_type};
use proisp_radius::dictionary::{ms, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::secret::{Secret, SharedSecret};
use proisp_radius::{authenticator, chap, mschap, password};

use crate::stats::{Answer, BadReply, Expect};
use crate::subscribers::{NAME_BUF, Subscribers};
use crate::workload::{self, Verified, Workload};

/// The password sent when a request is chosen to carry a wrong one.
const WRONG_PASSWORD: &[u8] = b"not-the-password";

/// NAS-Identifier of every request: the router's identity, as RouterOS sends it.
const NAS_IDENTIFIER_VALUE: &[u8] = b"proisp-loadtest";

/// Called-Station-Id: RouterOS puts the PPPoE service name here.
const SERVICE_NAME: &[u8] = b"pppoe-bench";

/// NAS-Port-Id: RouterOS puts the interface the PPPoE session arrived on here.
const INTERFACE: &[u8] = b"ether2-vlan100";

/// How the password travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Method {
    /// User-Password hidden with the secret (RFC 2865 §5.2).
    Pap,
    /// CHAP-Password over the Request Authenticator as challenge (RFC 2865 §2.2).
    Chap,
    /// MS-CHAP-Challenge and MS-CHAP2-Response (RFC 2548, RFC 2759).
    Mschapv2,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Pap => "PAP",
            Method::Chap => "CHAP",
            Method::Mschapv2 => "MS-CHAPv2",
        }
    }
}

/// Settings of an authentication run.
#[derive(Debug)]
pub(crate) struct AuthWorkload {
    /// The shared secret, keyed once for HMAC-MD5.
    pub(crate) secret: Secret,
    /// How passwords travel.
    pub(crate) method: Method,
    /// Whether requests carry a Message-Authenticator (first, as BlastRADIUS advice has it).
    pub(crate) message_authenticator: bool,
    /// Whether replies without one are refused.
    pub(crate) require_reply_message_authenticator: bool,
    /// Who logs in.
    pub(crate) subscribers: Subscribers,
    /// Share of requests, in percent, that carry a wrong password.
    pub(crate) wrong_password_percent: u8,
    /// Every request must be rejected (the subscribers are suspended, say).
    pub(crate) expect_reject: bool,
    /// NAS-IP-Address.
    pub(crate) nas_ip: Ipv4Addr,
}

/// What is kept of an Access-Request until its reply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    authenticator: [u8; 16],
    expect: Expect,
    /// Which subscriber, to recompute the MS-CHAP2-Success check.
    user: u64,
    mschap: Option<MschapPending>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            authenticator: [0; 16],
            expect: Expect::Accept,
            user: 0,
            mschap: None,
        }
    }
}

/// The MS-CHAPv2 values an Access-Accept's MS-CHAP2-Success must be computed from.
#[derive(Debug, Clone, Copy)]
struct MschapPending {
    authenticator_challenge: [u8; 16],
    peer_challenge: [u8; 16],
    nt_response: [u8; 24],
}

/// `02:00:` followed by the subscriber number: a locally administered MAC per subscriber,
/// in the upper-case, colon-separated form RouterOS sends.
pub(crate) fn mac(user: u64, out: &mut [u8; 17]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let n = (user as u32).to_be_bytes();
    let octets = [0x02, 0x00, n[0], n[1], n[2], n[3]];
    for (i, o) in octets.iter().enumerate() {
        out[i * 3] = HEX[usize::from(o >> 4)];
        out[i * 3 + 1] = HEX[usize::from(o & 0x0f)];
        if i < 5 {
            out[i * 3 + 2] = b':';
        }
    }
}

impl AuthWorkload {
    fn credentials<'a>(
        &'a self,
        seq: u64,
        name: &'a mut [u8; NAME_BUF],
        pw: &'a mut [u8; NAME_BUF],
    ) -> (u64, &'a [u8], &'a [u8], Expect) {
        let user = seq % self.subscribers.len();
        let (name, pw) = self.subscribers.get(user, name, pw);
        if workload::is_wrong(seq, self.wrong_password_percent) {
            (user, name, WRONG_PASSWORD, Expect::Reject)
        } else if self.expect_reject {
            (user, name, pw, Expect::Reject)
        } else {
            (user, name, pw, Expect::Accept)
        }
    }
}

/// The header of a request: RADIUS/1.0's Identifier, or RADIUS/1.1's Token.
#[derive(Debug, Clone, Copy)]
enum Header {
    V10 { id: u8 },
    V11 { token: u32 },
}

impl AuthWorkload {
    /// Encodes request `seq` under `header`. RADIUS/1.1 (RFC 9765 §5) changes what the
    /// shared secret did: the User-Password goes in clear, CHAP gets a CHAP-Challenge of
    /// its own (the Authenticator field is no longer random), and there is no
    /// Message-Authenticator.
    fn build(&self, seq: u64, header: Header, buf: &mut BytesMut) -> anyhow::Result<Pending> {
        let (mut name_buf, mut pw_buf) = ([0; NAME_BUF], [0; NAME_BUF]);
        let (user, name, pw, expect) = self.credentials(seq, &mut name_buf, &mut pw_buf);
        let (id, request_authenticator, v11) = match header {
            Header::V10 { id } => (id, authenticator::random(), false),
            Header::V11 { token } => (0, workload::v11_authenticator(token), true),
        };
        // The NAS's own identifier for the CHAP and MS-CHAPv2 exchanges.
        let ident = match header {
            Header::V10 { id } => id,
            Header::V11 { token } => token as u8,
        };
        let mut pending = Pending {
            authenticator: request_authenticator,
            expect,
            user,
            mschap: None,
        };
        // Computed before the encoder borrows `buf`; all of it lives on the stack.
        let hidden;
        let mut chap_password = [0u8; 17];
        let mut chap_challenge = [0u8; 16];
        let mut chap2_response = [0u8; mschap::RESPONSE_LEN];
        let mut authenticator_challenge = [0u8; 16];
        match self.method {
            Method::Pap if v11 => hidden = None,
            Method::Pap => {
                hidden = Some(
                    password::hide(pw, self.secret.as_bytes(), &request_authenticator)
                        .context("cannot hide the password")?,
                );
            }
            Method::Chap => {
                hidden = None;
                chap_challenge = if v11 {
                    rand::random()
                } else {
                    request_authenticator
                };
                // The CHAP Identifier is the NAS's choice; the RADIUS one will do.
                chap_password[0] = ident;
                chap_password[1..].copy_from_slice(&chap::response(ident, pw, &chap_challenge));
            }
            Method::Mschapv2 => {
                hidden = None;
                authenticator_challenge = rand::random();
                let peer_challenge: [u8; 16] = rand::random();
                let nt_hash =
                    mschap::nt_password_hash(pw).context("MS-CHAPv2 needs a UTF-8 password")?;
                let nt_response = mschap::generate_nt_response(
                    &authenticator_challenge,
                    &peer_challenge,
                    name,
                    &nt_hash,
                );
                // Ident, Flags, Peer-Challenge, 8 reserved zeros, NT-Response (RFC 2548 §2.3.2).
                chap2_response[0] = ident;
                chap2_response[2..18].copy_from_slice(&peer_challenge);
                chap2_response[26..].copy_from_slice(&nt_response);
                pending.mschap = Some(MschapPending {
                    authenticator_challenge,
                    peer_challenge,
                    nt_response,
                });
            }
        }
        let mut mac_buf = [0u8; 17];
        mac(user, &mut mac_buf);

        let mut enc = Encoder::new(buf, Code::AccessRequest, id, &request_authenticator);
        if self.message_authenticator && !v11 {
            enc.message_authenticator();
        }
        enc.attr(USER_NAME, name);
        match self.method {
            Method::Pap => match &hidden {
                Some(hidden) => enc.attr(USER_PASSWORD, hidden.as_bytes()),
                None => enc.attr(USER_PASSWORD, pw),
            },
            Method::Chap if v11 => enc
                .attr(CHAP_PASSWORD, &chap_password)
                .attr(CHAP_CHALLENGE, &chap_challenge),
            Method::Chap => enc.attr(CHAP_PASSWORD, &chap_password),
            Method::Mschapv2 => enc
                .vsa(
                    vendor::MICROSOFT,
                    ms::CHAP_CHALLENGE,
                    &authenticator_challenge,
                )
                .vsa(vendor::MICROSOFT, ms::CHAP2_RESPONSE, &chap2_response),
        };
        enc.u32(SERVICE_TYPE, service_type::FRAMED)
            .u32(FRAMED_PROTOCOL, framed_protocol::PPP)
            .u32(NAS_PORT, (user as u32).wrapping_add(1))
            .u32(NAS_PORT_TYPE, nas_port_type::ETHERNET)
            .attr(NAS_PORT_ID, INTERFACE)
            .attr(CALLING_STATION_ID, &mac_buf)
            .attr(CALLED_STATION_ID, SERVICE_NAME)
            .attr(NAS_IDENTIFIER, NAS_IDENTIFIER_VALUE)
            .ipv4(NAS_IP_ADDRESS, self.nas_ip);
        if v11 {
            enc.finish_unsigned()
                .context("cannot encode the Access-Request")?;
        } else {
            enc.finish(&self.secret)
                .context("cannot encode the Access-Request")?;
        }
        Ok(pending)
    }
}

impl Workload for AuthWorkload {
    type Pending = Pending;

    fn encode(&self, seq: u64, id: u8, buf: &mut BytesMut) -> anyhow::Result<Pending> {
        self.build(seq, Header::V10 { id }, buf)
    }

    fn encode_v11(&self, seq: u64, token: u32, buf: &mut BytesMut) -> anyhow::Result<Pending> {
        self.build(seq, Header::V11 { token }, buf)
    }

    fn check_v11(&self, reply: &Packet<'_>, pending: &Pending) -> Result<Verified, BadReply> {
        let answer = workload::verify_v11(reply, &pending.authenticator, Code::AccessRequest)?;
        if let (Answer::Accept, Some(m)) = (answer, &pending.mschap) {
            self.check_mschap2_success(reply, pending.user, m)?;
        }
        Ok(Verified {
            answer,
            expect: pending.expect,
            // RADIUS/1.1 has none to miss.
            message_authenticator: true,
        })
    }

    fn check(&self, reply: &Packet<'_>, pending: &Pending) -> Result<Verified, BadReply> {
        let (answer, message_authenticator) = workload::verify(
            reply,
            &pending.authenticator,
            &self.secret,
            Code::AccessRequest,
            self.require_reply_message_authenticator,
        )?;
        if let (Answer::Accept, Some(m)) = (answer, &pending.mschap) {
            self.check_mschap2_success(reply, pending.user, m)?;
        }
        Ok(Verified {
            answer,
            expect: pending.expect,
            message_authenticator,
        })
    }

    fn describe(&self) -> String {
        format!(
            "{}, Message-Authenticator {}, {} subscribers, {} % wrong passwords{}",
            self.method.name(),
            if self.message_authenticator {
                "on"
            } else {
                "off"
            },
            self.subscribers.len(),
            self.wrong_password_percent,
            if self.expect_reject {
                ", all to be rejected"
            } else {
                ""
            }
        )
    }
}

impl AuthWorkload {
    /// An MS-CHAPv2 Access-Accept must prove the server knows the password too: its
    /// MS-CHAP2-Success carries the authenticator response (RFC 2759 §8.7), which the
    /// peer checks before it trusts the link.
    fn check_mschap2_success(
        &self,
        reply: &Packet<'_>,
        user: u64,
        m: &MschapPending,
    ) -> Result<(), BadReply> {
        let success = reply
            .vendor_value(vendor::MICROSOFT, ms::CHAP2_SUCCESS)
            .ok_or(BadReply::MschapSuccess)?;
        let (mut name_buf, mut pw_buf) = ([0; NAME_BUF], [0; NAME_BUF]);
        let (name, pw) = self.subscribers.get(user, &mut name_buf, &mut pw_buf);
        let nt_hash = mschap::nt_password_hash(pw).map_err(|_| BadReply::MschapSuccess)?;
        let expected = mschap::authenticator_response(
            &nt_hash,
            &m.nt_response,
            &m.peer_challenge,
            &m.authenticator_challenge,
            name,
        );
        // Ident octet, then "S=" and 40 hex digits.
        match success.split_first() {
            Some((_, rest)) if authenticator::ct_eq(rest, &expected) => Ok(()),
            _ => Err(BadReply::MschapSuccess),
        }
    }
}

#[cfg(test)]
mod tests {
    use proisp_radius::authenticator::{MessageAuthenticatorCheck, check_message_authenticator};

    use super::*;

    fn workload(method: Method, wrong: u8) -> AuthWorkload {
        AuthWorkload {
            secret: Secret::new(b"testing123"),
            method,
            message_authenticator: true,
            require_reply_message_authenticator: false,
            subscribers: Subscribers::Pattern {
                first: 1,
                count: 10,
            },
            wrong_password_percent: wrong,
            expect_reject: false,
            nas_ip: Ipv4Addr::new(10, 0, 0, 1),
        }
    }

    /// What a server holding `pw000001`… would conclude from the request.
    fn server_accepts(w: &AuthWorkload, raw: &[u8]) -> bool {
        let p = Packet::decode(raw).unwrap();
        let name = p.value(USER_NAME).unwrap();
        let expected_pw = [b"pw", &name[4..]].concat();
        match w.method {
            Method::Pap => {
                let pw = password::unhide(
                    p.value(USER_PASSWORD).unwrap(),
                    b"testing123",
                    p.authenticator(),
                )
                .unwrap();
                pw.as_bytes() == expected_pw.as_slice()
            }
            Method::Chap => chap::verify(
                p.value(CHAP_PASSWORD).unwrap(),
                chap::challenge(&p).unwrap(),
                &expected_pw,
            )
            .unwrap(),
            Method::Mschapv2 => {
                let challenge = p
                    .vendor_value(vendor::MICROSOFT, ms::CHAP_CHALLENGE)
                    .unwrap();
                let response = mschap::Chap2Response::parse(
                    p.vendor_value(vendor::MICROSOFT, ms::CHAP2_RESPONSE)
                        .unwrap(),
                )
                .unwrap();
                mschap::verify_v2(
                    challenge.try_into().unwrap(),
                    response.peer_challenge,
                    name,
                    response.nt_response,
                    mschap::Credential::Password(&expected_pw),
                )
                .unwrap()
                .is_some()
            }
        }
    }

    #[test]
    fn requests_carry_what_a_mikrotik_sends_and_the_right_password() {
        for method in [Method::Pap, Method::Chap, Method::Mschapv2] {
            let w = workload(method, 50);
            let mut buf = BytesMut::new();
            for seq in 0..4 {
                buf.clear();
                let pending = w.encode(seq, seq as u8 + 7, &mut buf).unwrap();
                let p = Packet::decode(&buf).unwrap();
                assert_eq!(p.code(), Code::AccessRequest);
                assert_eq!(p.identifier(), seq as u8 + 7);
                assert_eq!(p.authenticator(), &pending.authenticator);
                assert_eq!(
                    p.attrs().next().unwrap().typ,
                    80,
                    "Message-Authenticator first"
                );
                assert_eq!(
                    check_message_authenticator(&p, b"testing123"),
                    MessageAuthenticatorCheck::Valid
                );
                let name = format!("user{:06}", seq + 1);
                assert_eq!(p.value(USER_NAME), Some(name.as_bytes()));
                assert_eq!(p.value(NAS_IP_ADDRESS), Some(&[10, 0, 0, 1][..]));
                assert_eq!(p.attr(SERVICE_TYPE).unwrap().as_u32(), Some(2));
                assert_eq!(p.attr(FRAMED_PROTOCOL).unwrap().as_u32(), Some(1));
                let mac = format!("02:00:00:00:00:{:02X}", seq);
                assert_eq!(p.value(CALLING_STATION_ID), Some(mac.as_bytes()));
                // Every other request (50 %) carries a wrong password.
                let wrong = seq % 2 == 1;
                assert_eq!(
                    pending.expect,
                    if wrong {
                        Expect::Reject
                    } else {
                        Expect::Accept
                    }
                );
                assert_eq!(server_accepts(&w, &buf), !wrong, "{method:?} seq {seq}");
            }
        }
    }

    #[test]
    fn with_expect_reject_the_right_password_must_be_rejected_too() {
        let mut w = workload(Method::Pap, 50);
        w.expect_reject = true;
        let mut buf = BytesMut::new();
        for seq in 0..4 {
            buf.clear();
            let pending = w.encode(seq, 1, &mut buf).unwrap();
            assert_eq!(pending.expect, Expect::Reject, "seq {seq}");
            // The password is still the right one every other request.
            assert_eq!(server_accepts(&w, &buf), seq % 2 == 0, "seq {seq}");
        }
        assert!(w.describe().contains("all to be rejected"));
    }

    #[test]
    fn authenticators_are_fresh_per_request() {
        let w = workload(Method::Pap, 0);
        let mut buf = BytesMut::new();
        let a = w.encode(0, 1, &mut buf).unwrap();
        let first = buf.to_vec();
        buf.clear();
        let b = w.encode(0, 1, &mut buf).unwrap();
        assert_ne!(a.authenticator, b.authenticator);
        assert_ne!(first, buf.to_vec(), "same login, different octets");
    }

    #[test]
    fn the_message_authenticator_can_be_left_out() {
        let mut w = workload(Method::Pap, 0);
        w.message_authenticator = false;
        let mut buf = BytesMut::new();
        w.encode(0, 1, &mut buf).unwrap();
        let p = Packet::decode(&buf).unwrap();
        assert!(p.attr(80).is_none());
    }

    fn accept_for(w: &AuthWorkload, request: &[u8], success: Option<&[u8]>) -> Vec<u8> {
        let req = Packet::decode(request).unwrap();
        let mut buf = BytesMut::new();
        let mut enc = Encoder::reply(&mut buf, &req, Code::AccessAccept);
        enc.message_authenticator();
        if let Some(s) = success {
            enc.vsa(vendor::MICROSOFT, ms::CHAP2_SUCCESS, s);
        }
        enc.finish(&w.secret).unwrap().to_vec()
    }

    #[test]
    fn mschapv2_accepts_must_prove_the_password() {
        let w = workload(Method::Mschapv2, 0);
        let mut req = BytesMut::new();
        let pending = w.encode(0, 3, &mut req).unwrap();
        let p = Packet::decode(&req).unwrap();
        let response = mschap::Chap2Response::parse(
            p.vendor_value(vendor::MICROSOFT, ms::CHAP2_RESPONSE)
                .unwrap(),
        )
        .unwrap();
        let nt_hash = mschap::nt_password_hash(b"pw000001").unwrap();
        let s = mschap::authenticator_response(
            &nt_hash,
            response.nt_response,
            response.peer_challenge,
            p.vendor_value(vendor::MICROSOFT, ms::CHAP_CHALLENGE)
                .unwrap()
                .try_into()
                .unwrap(),
            b"user000001",
        );
        let good = mschap::success_value(3, &s);
        let reply = accept_for(&w, &req, Some(&good));
        let verdict = w.check(&Packet::decode(&reply).unwrap(), &pending).unwrap();
        assert_eq!(verdict.answer, Answer::Accept);
        assert!(verdict.message_authenticator);

        let mut forged = good;
        forged[10] ^= 1;
        let reply = accept_for(&w, &req, Some(&forged));
        assert_eq!(
            w.check(&Packet::decode(&reply).unwrap(), &pending),
            Err(BadReply::MschapSuccess)
        );
        let reply = accept_for(&w, &req, None);
        assert_eq!(
            w.check(&Packet::decode(&reply).unwrap(), &pending),
            Err(BadReply::MschapSuccess)
        );
    }

    /// A RADIUS/1.1 reply: the request's Token, the rest of the Authenticator zero.
    fn v11_reply(code: Code, token: u32, success: Option<&[u8]>) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new(&mut buf, code, 0, &workload::v11_authenticator(token));
        if let Some(s) = success {
            enc.vsa(vendor::MICROSOFT, ms::CHAP2_SUCCESS, s);
        }
        let range = enc.finish_unsigned().unwrap();
        buf[range].to_vec()
    }

    #[test]
    fn radius_1_1_requests_carry_the_token_and_no_md5() {
        for method in [Method::Pap, Method::Chap, Method::Mschapv2] {
            let w = workload(method, 0);
            let mut buf = BytesMut::new();
            let token = 0x0102_0304;
            let pending = w.encode_v11(0, token, &mut buf).unwrap();
            let p = Packet::decode(&buf).unwrap();
            assert_eq!(p.identifier(), 0, "{method:?}: the Identifier is reserved");
            assert_eq!(&p.authenticator()[..4], &[1, 2, 3, 4]);
            assert_eq!(&p.authenticator()[4..], &[0; 12]);
            assert!(p.attr(80).is_none(), "no Message-Authenticator");
            match method {
                Method::Pap => assert_eq!(p.value(USER_PASSWORD), Some(&b"pw000001"[..])),
                Method::Chap => {
                    // The challenge travels in CHAP-Challenge, not the Authenticator field.
                    let challenge = chap::challenge(&p).unwrap();
                    assert_eq!(challenge.len(), 16);
                    assert_ne!(challenge, p.authenticator());
                    assert!(
                        chap::verify(p.value(CHAP_PASSWORD).unwrap(), challenge, b"pw000001")
                            .unwrap()
                    );
                }
                Method::Mschapv2 => {
                    assert!(
                        p.vendor_value(vendor::MICROSOFT, ms::CHAP2_RESPONSE)
                            .is_some()
                    );
                }
            }

            let accept = v11_reply(Code::AccessAccept, token, None);
            let verdict = w.check_v11(&Packet::decode(&accept).unwrap(), &pending);
            if method == Method::Mschapv2 {
                // Without MS-CHAP2-Success an accept proves nothing.
                assert_eq!(verdict, Err(BadReply::MschapSuccess));
            } else {
                assert_eq!(verdict.unwrap().answer, Answer::Accept);
            }
            let reject = v11_reply(Code::AccessReject, token, None);
            let verdict = w.check_v11(&Packet::decode(&reject).unwrap(), &pending);
            assert_eq!(verdict.unwrap().answer, Answer::Reject);
            let other = v11_reply(Code::AccessAccept, token ^ 0x100, None);
            assert_eq!(
                w.check_v11(&Packet::decode(&other).unwrap(), &pending),
                Err(BadReply::UnknownIdentifier),
                "another request's Token"
            );
        }
    }

    #[test]
    fn macs_are_per_subscriber() {
        let mut out = [0u8; 17];
        mac(0x0102_0A0B, &mut out);
        assert_eq!(&out, b"02:00:01:02:0A:0B");
    }
}
