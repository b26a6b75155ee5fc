//! Protocol behaviour: retransmissions, unknown NASes, Message-Authenticator rules,
//! malformed packets and Status-Server.

use std::net::UdpSocket;
use std::time::Duration;

use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_testing::TestEnv;

use crate::harness::{Options, Radiusd, exchange, pap, pap_packet, radclient, seed};

const WAIT: Duration = Duration::from_secs(2);
const SILENCE: Duration = Duration::from_millis(600);

#[tokio::test(flavor = "multi_thread")]
async fn a_retransmission_gets_the_same_reply_without_a_second_evaluation() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (packet, _) = pap_packet(42, "user000001", "pw000001", true);
    let first = exchange(&socket, radiusd.auth, &packet, WAIT).expect("reply");
    let second = exchange(&socket, radiusd.auth, &packet, WAIT).expect("replayed reply");
    assert_eq!(first, second);
    assert_eq!(radiusd.metric("radius_duplicate_requests_total"), 1.0);
    assert_eq!(
        radiusd.metric("radius_auth_requests_total{result=\"accept\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_sent_back_to_back_all_get_the_one_reply() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A first login puts the subscriber in memory, so the next is answered in the batch
    // it arrives in: copies in that batch and in later ones all get its reply.
    let (warm, _) = pap_packet(1, "user000001", "pw000001", true);
    exchange(&socket, radiusd.auth, &warm, WAIT).expect("reply");
    let (packet, _) = pap_packet(2, "user000001", "pw000001", true);
    for _ in 0..3 {
        socket.send_to(&packet, radiusd.auth).unwrap();
    }
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 4096];
    let mut replies = Vec::new();
    for _ in 0..3 {
        let (len, _) = socket.recv_from(&mut buf).expect("a reply for every copy");
        replies.push(buf[..len].to_vec());
    }
    assert_eq!(Packet::decode(&replies[0]).unwrap().identifier(), 2);
    assert!(
        replies.iter().all(|r| *r == replies[0]),
        "one reply, three times"
    );
    assert_eq!(radiusd.metric("radius_duplicate_requests_total"), 2.0);
    assert_eq!(
        radiusd.metric("radius_auth_requests_total{result=\"accept\"}"),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_nas_missing_or_bad_message_authenticator_and_garbage_are_dropped_and_counted() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    let radiusd = Radiusd::start(&env, Options::default());

    // 127.0.0.2 is loopback too, but no NAS.
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    let (packet, _) = pap_packet(1, "user000001", "pw000001", true);
    assert_eq!(exchange(&stranger, radiusd.auth, &packet, SILENCE), None);
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"unknown_nas\"}"),
        1.0
    );

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (bare, _) = pap_packet(2, "user000001", "pw000001", false);
    assert_eq!(exchange(&socket, radiusd.auth, &bare, SILENCE), None);
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"missing_message_authenticator\"}"),
        1.0
    );

    let (mut forged, _) = pap_packet(3, "user000001", "pw000001", true);
    let last = forged.len() - 1;
    forged[last] ^= 0xFF;
    assert_eq!(exchange(&socket, radiusd.auth, &forged, SILENCE), None);
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"bad_message_authenticator\"}"),
        1.0
    );

    let garbage: [&[u8]; 4] = [
        b"",
        &[1, 2, 3],
        &[
            1, 9, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 40, 0, 0,
        ],
        &[99, 9, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    for g in garbage {
        assert_eq!(
            exchange(&socket, radiusd.auth, g, Duration::from_millis(200)),
            None
        );
    }
    assert!(radiusd.metric("radius_dropped_packets_total{reason=\"malformed\"}") >= 3.0);
    // Accounting on the auth port is not served here.
    let mut acct = pap_packet(4, "user000001", "pw000001", true).0;
    acct[0] = 4;
    assert_eq!(
        exchange(&socket, radiusd.auth, &acct, Duration::from_millis(200)),
        None
    );

    // And after all that, a good request is still answered.
    let ok = pap(radiusd.auth, "user000001", "pw000001");
    assert_eq!(ok.code, "Access-Accept", "{}", ok.output);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_server_is_answered() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 0).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let r = radclient(radiusd.auth, "status", "Message-Authenticator = 0x00\n");
    assert_eq!(r.code, "Access-Accept", "{}", r.output);
    assert_eq!(radiusd.metric("radius_status_server_total"), 1.0);
    let (raw, _) = pap_packet(1, "user000001", "pw000001", true);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let reply = exchange(&socket, radiusd.auth, &raw, WAIT).expect("reply");
    assert_eq!(Packet::decode(&reply).unwrap().code(), Code::AccessReject);
}
