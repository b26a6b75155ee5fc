//! The dispatcher's lanes against fake NAS on the loopback that answer real RFC 5176
//! packets at once, or not at all until told to; and, on tokio's paused clock, against a
//! NAS in memory that answers late ([`Scripted`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::future::join_all;
use proisp_coa::{Client, ClientConfig, Dispatcher, LaneConfig, Outcome, Target};
use proisp_radius::dictionary::{attr, mikrotik, vendor};
use proisp_radius::dynauth::Request;
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;
use proisp_testing::FakeNas;
use proisp_testing::fake_nas::Answer;

use crate::{SECRET, fake_nas};

/// How the dispatcher reaches `nas` as NAS `nas_id`.
pub(crate) fn target(nas: &FakeNas, nas_id: i64) -> Target {
    Target {
        nas_id,
        name: format!("nas-{nas_id}"),
        addr: Some(nas.addr()),
        secret: Secret::new(SECRET),
        window: None,
        rate: None,
        stream: false,
    }
}

/// The session and the Mikrotik-Rate-Limit of a request.
fn identify(datagram: &[u8]) -> (String, String) {
    let p = Packet::decode(datagram).unwrap();
    let session = p.attr(attr::ACCT_SESSION_ID).unwrap().as_str().unwrap();
    let rate = p
        .vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    (session.to_owned(), rate)
}

pub(crate) fn change(session: &str, rate: &str) -> Request {
    Request::coa("user", session).with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, rate)
}

/// One try of 200 ms: a silent NAS is found out quickly.
pub(crate) fn dispatcher(window: u32) -> Dispatcher<Client> {
    let client = Client::new(ClientConfig {
        timeout: Duration::from_millis(200),
        retries: 0,
        ..ClientConfig::default()
    });
    Dispatcher::new(
        client,
        LaneConfig {
            window,
            unreachable_after: 3,
            // Resumed by `alive` in these tests, never by a probe.
            probe_interval: Duration::from_secs(3600),
        },
    )
}

/// Sends `n` changes (sessions `{prefix}{i}`) to `target`, all at once.
pub(crate) async fn send_all(
    lanes: &Dispatcher<Client>,
    target: &Target,
    prefix: &str,
    n: usize,
    rate: &str,
) -> Vec<Outcome> {
    let sessions: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    join_all(
        sessions
            .iter()
            .map(|s| lanes.send(target, Some(s), change(s, rate))),
    )
    .await
}

#[tokio::test]
async fn a_silent_nas_holds_only_its_own_changes_and_gets_them_once_it_answers() {
    let fast = fake_nas(Answer::Ack);
    let silent = fake_nas(Answer::Silence);
    let lanes = dispatcher(16);
    let (to_fast, to_silent) = (target(&fast, 1), target(&silent, 3));

    // The silent NAS's changes are asked for first.
    let silent_run = send_all(&lanes, &to_silent, "s", 300, "1M/1M");
    let fast_run = send_all(&lanes, &to_fast, "f", 2000, "1M/1M");
    let (silent_out, fast_out) = tokio::join!(silent_run, fast_run);

    assert!(fast_out.iter().all(Outcome::is_ack), "fast: {fast_out:?}");
    assert!(
        silent_out.iter().all(|o| matches!(o, Outcome::Deferred)),
        "silent: {silent_out:?}"
    );
    // The silent one got one window's worth: nothing new starts after a timeout until
    // the NAS answers.
    assert!(silent.seen().requests.len() <= 16);
    let health = lanes.health();
    let silent_lane = health.iter().find(|h| h.nas_id == 3).unwrap();
    assert!(silent_lane.unreachable);
    assert_eq!(silent_lane.queued, 300);
    assert_eq!(health.iter().find(|h| h.nas_id == 1).unwrap().ack, 2000);
    let mut metrics = String::new();
    lanes.render(&mut metrics);
    for line in [
        "proisp_coa_lane_unreachable{nas=\"nas-3\"} 1",
        "proisp_coa_lane_queued{nas=\"nas-3\"} 300",
        "proisp_coa_lane_unreachable{nas=\"nas-1\"} 0",
        "proisp_coa_lane_answers_total{nas=\"nas-1\",result=\"ack\"} 2000",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }

    // It answers again, and says so (an Interim-Update): every change, exactly once.
    silent.set_answer(Answer::Ack);
    lanes.alive(3);
    silent.until(|seen| seen.acked.len() == 300).await;
    let seen = silent.seen();
    assert!(seen.acked.values().all(|rates| rates.len() == 1));
}

#[tokio::test]
async fn behind_an_unreachable_nas_only_the_newest_change_of_a_session_goes_out() {
    // Behind an unreachable NAS: both callers hear Deferred at once; only the newer goes
    // out when it is back.
    let nas = fake_nas(Answer::Silence);
    let lanes = dispatcher(4);
    let target = target(&nas, 7);
    let first = send_all(&lanes, &target, "other", 4, "1M/1M").await;
    assert!(first.iter().all(|o| matches!(o, Outcome::Deferred)));
    let older = lanes.send(&target, Some("x"), change("x", "2M/2M")).await;
    let newer = lanes.send(&target, Some("x"), change("x", "8M/8M")).await;
    assert!(matches!(older, Outcome::Deferred), "{older:?}");
    assert!(matches!(newer, Outcome::Deferred), "{newer:?}");
    assert_eq!(lanes.health()[0].queued, 5);

    nas.set_answer(Answer::Ack);
    lanes.alive(7);
    nas.until(|seen| seen.acked.len() == 5).await;
    let seen = nas.seen();
    assert_eq!(seen.acked["x"], ["8M/8M"]);
    assert!(seen.acked.values().all(|rates| rates.len() == 1));
}

#[tokio::test]
async fn a_nas_whose_coa_port_is_closed_is_unreachable_and_its_changes_wait() {
    // Nothing listens on the port: the kernel answers each request with ICMP port
    // unreachable at once, as for a router rebooting.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target {
        nas_id: 11,
        name: "rebooting".into(),
        addr: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        secret: Secret::new(SECRET),
        window: None,
        rate: None,
        stream: false,
    };
    let lanes = dispatcher(4);
    let out = send_all(&lanes, &target, "r", 10, "1M/1M").await;
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Deferred)),
        "{out:?}"
    );
    let health = lanes.health();
    assert!(health[0].unreachable);
    assert_eq!(health[0].queued, 10);
}

#[tokio::test]
async fn an_accounting_on_drops_what_waited_for_the_nas() {
    let nas = fake_nas(Answer::Silence);
    let lanes = dispatcher(4);
    let target = target(&nas, 9);
    let waiting = send_all(&lanes, &target, "gone", 20, "1M/1M").await;
    assert!(waiting.iter().all(|o| matches!(o, Outcome::Deferred)));

    nas.set_answer(Answer::Ack);
    lanes.rebooted(9);
    // A change after the reboot goes out; the lane is first in, first out, so once it is
    // answered nothing from before the reboot is left to come.
    let after = lanes
        .send(&target, Some("new"), change("new", "1M/1M"))
        .await;
    assert!(after.is_ack(), "{after:?}");
    let seen = nas.seen();
    assert_eq!(seen.acked.keys().collect::<Vec<_>>(), ["new"]);
    assert_eq!(lanes.health()[0].queued, 0);
}

/// A NAS in memory that answers every request with an ACK after `delay` on tokio's
/// (paused) clock, recording when each request started, how many were outstanding at
/// most, and per session the rates it acknowledged.
#[derive(Default)]
struct Scripted {
    delay: Duration,
    starts: Mutex<Vec<tokio::time::Instant>>,
    outstanding: AtomicUsize,
    most_outstanding: AtomicUsize,
    acked: Mutex<HashMap<String, Vec<String>>>,
}

/// A [`Scripted`] NAS shared with the test.
struct Shared(Arc<Scripted>);

impl proisp_coa::Transport for Shared {
    fn send<'a>(&'a self, _nas: &'a Target, request: &'a Request) -> proisp_coa::Sending<'a> {
        let nas = &self.0;
        nas.starts.lock().unwrap().push(tokio::time::Instant::now());
        let now = nas.outstanding.fetch_add(1, Ordering::SeqCst) + 1;
        nas.most_outstanding.fetch_max(now, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(nas.delay).await;
            let mut buf = BytesMut::new();
            let wire = request.encode(&mut buf, 0, &Secret::new(SECRET)).unwrap();
            let (session, rate) = identify(wire);
            nas.acked
                .lock()
                .unwrap()
                .entry(session)
                .or_default()
                .push(rate);
            nas.outstanding.fetch_sub(1, Ordering::SeqCst);
            Outcome::Ack
        })
    }
}

/// A dispatcher over a [`Scripted`] NAS answering after `delay`.
fn scripted(delay: Duration, config: LaneConfig) -> (Dispatcher<Shared>, Arc<Scripted>) {
    let nas = Arc::new(Scripted {
        delay,
        ..Scripted::default()
    });
    (Dispatcher::new(Shared(nas.clone()), config), nas)
}

fn scripted_target(window: Option<u32>, rate: Option<u32>) -> Target {
    Target {
        nas_id: 1,
        name: "scripted".into(),
        addr: None,
        secret: Secret::new(SECRET),
        window,
        rate,
        stream: false,
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_nas_never_has_more_than_its_window_outstanding() {
    let (lanes, nas) = scripted(
        Duration::from_millis(50),
        LaneConfig {
            window: 16,
            ..LaneConfig::default()
        },
    );
    let target = scripted_target(None, None);
    let sessions: Vec<String> = (0..200).map(|i| format!("w{i}")).collect();
    let all = join_all(
        sessions
            .iter()
            .map(|s| lanes.send(&target, Some(s), change(s, "1M/1M"))),
    )
    .await;
    assert!(all.iter().all(Outcome::is_ack));
    assert!(nas.most_outstanding.load(Ordering::SeqCst) <= 16);
}

#[tokio::test(start_paused = true)]
async fn a_nas_entry_sets_its_own_window() {
    let (lanes, nas) = scripted(Duration::from_millis(20), LaneConfig::default());
    let target = scripted_target(Some(3), None);
    let sessions: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    let all = join_all(
        sessions
            .iter()
            .map(|s| lanes.send(&target, Some(s), change(s, "4M/4M"))),
    )
    .await;
    assert!(all.iter().all(Outcome::is_ack));
    let most = nas.most_outstanding.load(Ordering::SeqCst);
    assert!((1..=3).contains(&most), "{most} outstanding at once");
}

#[tokio::test(start_paused = true)]
async fn a_queued_change_is_replaced_by_a_newer_one_for_its_session() {
    // While one request is in flight (a window of one), a change queued for session x
    // is replaced by a newer one for x.
    let (lanes, nas) = scripted(Duration::from_millis(50), LaneConfig::default());
    let target = scripted_target(Some(1), None);
    let (block, older, newer) = tokio::join!(
        lanes.send(&target, Some("block"), change("block", "1M/1M")),
        lanes.send(&target, Some("x"), change("x", "2M/2M")),
        lanes.send(&target, Some("x"), change("x", "8M/8M")),
    );
    assert!(block.is_ack());
    assert!(matches!(older, Outcome::Superseded), "{older:?}");
    assert!(newer.is_ack(), "{newer:?}");
    assert_eq!(nas.acked.lock().unwrap()["x"], ["8M/8M"]);
}

#[tokio::test(start_paused = true)]
async fn a_rate_cap_spaces_the_requests() {
    let (lanes, nas) = scripted(Duration::ZERO, LaneConfig::default());
    let target = scripted_target(None, Some(20));
    let sessions: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let all = join_all(
        sessions
            .iter()
            .map(|s| lanes.send(&target, Some(s), change(s, "1M/1M"))),
    )
    .await;
    assert!(all.iter().all(Outcome::is_ack));
    let starts = nas.starts.lock().unwrap();
    assert_eq!(starts.len(), 10);
    // 20 a second: 50 ms apart at least, on the paused clock.
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(50), "{starts:?}");
    }
}
