//! Session events end to end (issue 22): Accounting-Requests through a real radiusd, the
//! outbox relayed by proisp-events' relay to a private nats-server with JetStream, which
//! is killed in the middle of the run and started again. Every session's start and stop
//! reach the stream exactly once by id, in order per subscriber, each valid against
//! events/asyncapi.json; and no Accounting-Response waited for NATS.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proisp_events::config::{RelayConfig, StreamConfig};
use proisp_events::metrics::Metrics;
use proisp_events::relay::{Relay, State};
use proisp_events::{connect_nats, jetstream};
use proisp_testing::{PrivateNats, TestEnv, wait_until};

use crate::accounting::{acct_packet, acknowledged};
use crate::harness::{Options, Radiusd, one_i64, seed};
use crate::validator::receive;

/// Sessions (a Start and a Stop each) in the run.
const SESSIONS: usize = 10_000;
/// Subscribers they belong to, spread over the senders.
const USERS: usize = 200;
/// Concurrent senders (NASes), each with its own subscribers.
const SENDERS: usize = 10;
/// How long a test waits for a signal before it fails.
const PATIENCE: Duration = Duration::from_secs(180);

/// Sends `user`'s request until it is acknowledged: one copy, then the same packet again
/// as a NAS retransmits, 3 s apart, 5 times. Whether it was.
fn send(socket: &UdpSocket, target: SocketAddr, packet: &[u8]) -> bool {
    let mut buf = [0u8; 4096];
    for _ in 0..5 {
        if socket.send_to(packet, target).is_err() {
            return false;
        }
        if let Ok((len, _)) = socket.recv_from(&mut buf)
            && buf[1] == packet[1]
        {
            return acknowledged(Some(buf[..len].to_vec()));
        }
    }
    false
}

/// A NAS's run: its subscribers' sessions one after another (Start, then Stop), each
/// request acknowledged before the next. Counts finished sessions in `done`; returns the
/// sessions it ran, in order, as (user, Acct-Session-Id), or panics at a request left
/// unacknowledged.
fn nas_run(target: SocketAddr, sender: usize, done: Arc<AtomicUsize>) -> Vec<(String, String)> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let users: Vec<String> = (0..USERS / SENDERS)
        .map(|i| format!("user{:06}", 1 + sender * (USERS / SENDERS) + i))
        .collect();
    let mut ran = Vec::new();
    let mut id: u8 = 0;
    for n in 0..SESSIONS / SENDERS {
        let user = &users[n % users.len()];
        let session = format!("ev-{sender}-{n}");
        for status in [1, 2] {
            id = id.wrapping_add(1);
            let packet = acct_packet(id, status, user, &session, 4096);
            assert!(
                send(&socket, target, &packet),
                "{user} {session}: status {status} not acknowledged in 15 s"
            );
        }
        ran.push((user.clone(), session));
        done.fetch_add(1, Ordering::Relaxed);
    }
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_reach_the_stream_once_and_in_order_through_a_nats_outage() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    seed(&store, USERS).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let mut nats = PrivateNats::start().await.expect("nats-server");
    let js = jetstream(
        connect_nats(&nats.url()).await.expect("connect to NATS"),
        Duration::from_secs(2),
    );
    let relay = Relay {
        store: store.clone(),
        js: js.clone(),
        stream: StreamConfig::default(),
        config: RelayConfig {
            max_backoff: Duration::from_millis(200),
            ..RelayConfig::default()
        },
        ack_timeout: Duration::from_secs(2),
        metrics: Metrics::new(),
        state: Arc::new(State::default()),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let relaying = tokio::spawn({
        let cancel = cancel.clone();
        async move { relay.run(cancel).await }
    });

    let done = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (target, done) = (radiusd.acct, done.clone());
            std::thread::spawn(move || nas_run(target, s, done))
        })
        .collect();
    let sql = env.sql().await;
    let published = async || stream_messages(&js).await;
    // NATS dies once events are flowing, a third of the way in, and stays down for the
    // middle third of the sessions: accounting goes on, the events wait in the outbox.
    assert!(
        wait_until(PATIENCE, async || done.load(Ordering::Relaxed)
            >= SESSIONS / 3)
        .await
    );
    assert!(wait_until(PATIENCE, async || published().await > 0).await);
    nats.stop().await;
    let down_at = done.load(Ordering::Relaxed);
    assert!(
        wait_until(PATIENCE, async || done.load(Ordering::Relaxed)
            >= 2 * SESSIONS / 3)
        .await,
        "accounting stalled while NATS was down:\n{}",
        radiusd.log()
    );
    let waiting = one_i64(&sql, "SELECT count(*) FROM event_outbox").await;
    assert!(
        waiting > 0,
        "events of the sessions after {down_at} wait in the outbox"
    );
    nats.restart().await.expect("nats-server again");
    let ran: Vec<(String, String)> = senders
        .into_iter()
        .flat_map(|t| t.join().expect("every request acknowledged"))
        .collect();
    assert_eq!(ran.len(), SESSIONS);

    let drained = wait_until(PATIENCE, async || {
        one_i64(&sql, "SELECT count(*) FROM event_outbox").await == 0
    })
    .await;
    assert!(drained, "the outbox was not drained");
    cancel.cancel();
    relaying.await.unwrap();

    let name = StreamConfig::default().name;
    let events = receive(&js, &name, "proisp.v1.session.>", 2 * SESSIONS, PATIENCE).await;
    assert_eq!(stream_messages(&js).await, (2 * SESSIONS) as u64);
    // Once each by id; per subscriber, each session's start then its stop, sessions in
    // the order the NAS ran them.
    let mut ids = HashSet::new();
    let mut seen: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut keys: HashMap<String, String> = HashMap::new();
    for e in &events {
        assert!(
            ids.insert(e["id"].as_str().unwrap().to_owned()),
            "{e} twice"
        );
        let data = &e["data"];
        let user = e["subject"].as_str().unwrap().to_owned();
        let session = data["Acct-Session-Id"].as_str().unwrap().to_owned();
        let kind = e["type"]
            .as_str()
            .unwrap()
            .trim_start_matches("net.proisp.");
        let key = data["Acct-Unique-Session-Id"].as_str().unwrap().to_owned();
        assert_eq!(
            keys.entry(session.clone()).or_insert_with(|| key.clone()),
            &key,
            "start and stop of {session} share Acct-Unique-Session-Id"
        );
        seen.entry(user)
            .or_default()
            .push((session, kind.to_owned()));
    }
    let mut want: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (user, session) in ran {
        let sessions = want.entry(user).or_default();
        sessions.push((session.clone(), "session.start".to_owned()));
        sessions.push((session, "session.stop".to_owned()));
    }
    assert_eq!(seen.len(), want.len());
    for (user, sessions) in &want {
        assert_eq!(seen.get(user), Some(sessions), "{user}'s events in order");
    }
}

/// Messages in the stream now (0 while NATS is down).
async fn stream_messages(js: &async_nats::jetstream::Context) -> u64 {
    match js.get_stream(&StreamConfig::default().name).await {
        Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}
