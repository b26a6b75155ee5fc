//! Accept and reject, for every method and every reject reason, through real clients.

use std::net::UdpSocket;
use std::time::Duration;

use bytes::BytesMut;
use proisp_model::{MacAddr, Status};
use proisp_radius::authenticator::{self, verify_reply};
use proisp_radius::dictionary::{attr, mikrotik, ms, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_radius::{mschap, password};
use proisp_store::NewSubscriber;
use proisp_testing::TestEnv;

use crate::harness::{Options, Radiusd, SECRET, exchange, pap, pap_packet, radclient, seed};

#[tokio::test(flavor = "multi_thread")]
async fn pap_chap_and_mschapv1_through_radclient() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 3).await;
    let radiusd = Radiusd::start(&env, Options::default());

    let ok = pap(radiusd.auth, "user000001", "pw000001");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
    assert!(ok.has("Mikrotik-Rate-Limit", "10M/20M"), "{}", ok.output);
    assert!(ok.has("Framed-Pool", "residential"), "{}", ok.output);
    assert!(ok.has("Session-Timeout", "86400"), "{}", ok.output);
    assert!(ok.has("Acct-Interim-Interval", "300"), "{}", ok.output);
    let bad = pap(radiusd.auth, "user000001", "pw000002");
    assert_eq!(bad.code, "Access-Reject", "{}", bad.output);
    assert!(bad.has("Reply-Message", "Wrong password"), "{}", bad.output);

    let chap = |pw: &str| {
        radclient(
            radiusd.auth,
            "auth",
            &format!(
                "User-Name = \"user000002\"\nCHAP-Password = \"{pw}\"\nMessage-Authenticator = 0x00\n"
            ),
        )
    };
    assert_eq!(chap("pw000002").code, "Access-Accept");
    assert_eq!(chap("pw000001").code, "Access-Reject");

    // radclient turns MS-CHAP-Password into MS-CHAP-Challenge + MS-CHAP-Response (v1).
    let mschap1 = |pw: &str| {
        radclient(
            radiusd.auth,
            "auth",
            &format!(
                "User-Name = \"user000003\"\nMS-CHAP-Password = \"{pw}\"\nMessage-Authenticator = 0x00\n"
            ),
        )
    };
    let ok = mschap1("pw000003");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
    assert!(ok.output.contains("MS-CHAP-MPPE-Keys"), "{}", ok.output);
    let bad = mschap1("nope");
    assert_eq!(bad.code, "Access-Reject", "{}", bad.output);
    assert!(bad.output.contains("MS-CHAP-Error"), "{}", bad.output);
}

/// An MS-CHAPv2 Access-Request as a PPP NAS sends it.
fn mschapv2_request(user: &str, pw: &str) -> (Vec<u8>, [u8; 16], [u8; 24]) {
    let auth_challenge: [u8; 16] = rand::random();
    let peer: [u8; 16] = rand::random();
    let hash = mschap::nt_password_hash(pw.as_bytes()).unwrap();
    let nt = mschap::generate_nt_response(&auth_challenge, &peer, user.as_bytes(), &hash);
    let mut response = vec![1, 0];
    response.extend_from_slice(&peer);
    response.extend_from_slice(&[0; 8]);
    response.extend_from_slice(&nt);
    let request_auth = authenticator::random();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccessRequest, 1, &request_auth);
    enc.message_authenticator()
        .attr(attr::USER_NAME, user.as_bytes())
        .vsa(vendor::MICROSOFT, ms::CHAP_CHALLENGE, &auth_challenge)
        .vsa(vendor::MICROSOFT, ms::CHAP2_RESPONSE, &response);
    let raw = enc.finish(SECRET.as_bytes()).unwrap().to_vec();
    (raw, request_auth, nt)
}

#[tokio::test(flavor = "multi_thread")]
async fn mschapv2_accept_with_success_and_keys_and_reject_with_error() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, 1).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();

    let (raw, request_auth, nt) = mschapv2_request("user000001", "pw000001");
    let reply = exchange(&socket, radiusd.auth, &raw, Duration::from_secs(3)).expect("a reply");
    let p = Packet::decode(&reply).unwrap();
    assert_eq!(p.code(), Code::AccessAccept);
    assert_eq!(
        verify_reply(&p, &request_auth, SECRET.as_bytes(), true),
        Ok(())
    );
    assert!(
        p.vendor_value(vendor::MICROSOFT, ms::CHAP2_SUCCESS)
            .is_some()
    );
    let hash = mschap::nt_password_hash(b"pw000001").unwrap();
    let keys = mschap::mppe_keys_v2(&hash, &nt);
    let recv = p
        .vendor_value(vendor::MICROSOFT, ms::MPPE_RECV_KEY)
        .unwrap();
    let recv = password::mppe_key_decrypt(recv, SECRET.as_bytes(), &request_auth).unwrap();
    assert_eq!(recv.as_bytes(), &keys.recv);
    assert_eq!(
        p.vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT),
        Some(&b"10M/20M"[..])
    );

    let (raw, _, _) = mschapv2_request("user000001", "pw999999");
    let reply = exchange(&socket, radiusd.auth, &raw, Duration::from_secs(3)).expect("a reply");
    let p = Packet::decode(&reply).unwrap();
    assert_eq!(p.code(), Code::AccessReject);
    assert!(p.vendor_value(vendor::MICROSOFT, ms::CHAP_ERROR).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_reject_reason_through_radclient() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let plan = seed(&store, 0).await;
    let add = |name: &str, f: &dyn Fn(&mut NewSubscriber)| {
        let mut s = NewSubscriber::new(name, "secret-pw", plan);
        f(&mut s);
        s
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for s in [
        add("suspended", &|s| s.status = Status::Suspended),
        add("disabled", &|s| s.status = Status::Disabled),
        add("expired", &|s| s.expires_at = Some(now - 60)),
        add("bound", &|s| {
            s.mac = Some(MacAddr([0x4C, 0x5E, 0x0C, 0x12, 0x34, 0x56]))
        }),
        add("expiring", &|s| s.expires_at = Some(now + 600)),
    ] {
        store.create_subscriber(&s).await.unwrap();
    }
    let radiusd = Radiusd::start(&env, Options::default());
    for (user, message) in [
        ("suspended", "Account suspended"),
        ("disabled", "Account disabled"),
        ("expired", "Account expired"),
        ("nobody", "Unknown user"),
        ("bound", "Login from a device not bound to this account"),
    ] {
        let r = pap(radiusd.auth, user, "secret-pw");
        assert_eq!(r.code, "Access-Reject", "{user}: {}", r.output);
        assert!(r.has("Reply-Message", message), "{user}: {}", r.output);
    }
    let from_device = |mac: &str| {
        radclient(
            radiusd.auth,
            "auth",
            &format!(
                "User-Name = \"bound\"\nUser-Password = \"secret-pw\"\nCalling-Station-Id = \"{mac}\"\nMessage-Authenticator = 0x00\n"
            ),
        )
    };
    assert_eq!(from_device("4C:5E:0C:12:34:56").code, "Access-Accept");
    assert_eq!(from_device("4C:5E:0C:12:34:57").code, "Access-Reject");
    // Session-Timeout is capped at the seconds left before expiry.
    let r = pap(radiusd.auth, "expiring", "secret-pw");
    assert_eq!(r.code, "Access-Accept", "{}", r.output);
    let timeout: u32 = r
        .output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Session-Timeout = "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Session-Timeout");
    assert!((590..=600).contains(&timeout), "{timeout}");
    for reason in [
        "suspended",
        "disabled",
        "expired",
        "unknown_user",
        "mac_mismatch",
    ] {
        let series = format!("radius_auth_rejects_total{{reason=\"{reason}\"}}");
        assert!(radiusd.metric(&series) >= 1.0, "{series}");
    }
}

/// A burst of logins with every cache cold (many batches of lookups at once): existing
/// subscribers with right and wrong passwords, repeated and unknown names, each answered
/// as if it had come alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_cold_logins_is_answered_right() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 50).await;
    let radiusd = Radiusd::start(&env, Options::default());
    // Per request: user name, password, whether an Accept is due.
    let request = |i: usize| match i % 4 {
        0 => (format!("nobody{:02}", i % 30), "pw".to_owned(), false),
        1 => (format!("user{:06}", i % 50 + 1), "wrong".to_owned(), false),
        _ => {
            let n = i % 50 + 1;
            (format!("user{n:06}"), format!("pw{n:06}"), true)
        }
    };
    let sockets: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let per_socket = 200;
    for (s, socket) in sockets.iter().enumerate() {
        for id in 0..per_socket {
            let (user, pw, _) = request(s * per_socket + id);
            let (packet, _) = pap_packet(id as u8, &user, &pw, true);
            socket.send_to(&packet, radiusd.auth).unwrap();
        }
    }
    for (s, socket) in sockets.iter().enumerate() {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut answered = vec![None; per_socket];
        let mut buf = [0u8; 4096];
        while answered.iter().any(Option::is_none) {
            let n = match socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => panic!("socket {s}: {e}; answered {answered:?}\n{}", radiusd.log()),
            };
            let reply = Packet::decode(&buf[..n]).unwrap();
            answered[usize::from(reply.identifier())] = Some(reply.code());
        }
        for (id, code) in answered.into_iter().enumerate() {
            let (user, pw, accept) = request(s * per_socket + id);
            let want = if accept {
                Code::AccessAccept
            } else {
                Code::AccessReject
            };
            assert_eq!(code, Some(want), "{user} / {pw}");
        }
    }
}
