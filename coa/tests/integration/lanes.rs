//! The dispatcher's lanes against fake NAS on the loopback that answer real RFC 5176
//! packets: at once, after a delay, or not at all until told to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use proisp_coa::{Client, ClientConfig, Dispatcher, LaneConfig, Outcome, Target};
use proisp_radius::dictionary::{attr, mikrotik, vendor};
use proisp_radius::dynauth::Request;
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Behaviour, SECRET, answers};

/// What a lane NAS has seen: per session, the rates it acknowledged, in order.
#[derive(Debug, Default)]
struct Seen {
    acked: HashMap<String, Vec<String>>,
    received: usize,
}

/// A NAS on 127.0.0.1 that answers every request with an ACK after `delay`, or drops
/// it while silent; it counts requests outstanding (received, not yet answered).
struct LaneNas {
    addr: SocketAddr,
    silent: Arc<AtomicBool>,
    outstanding: Arc<AtomicUsize>,
    most_outstanding: Arc<AtomicUsize>,
    seen: Arc<Mutex<Seen>>,
    changed: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl LaneNas {
    async fn start(delay: Duration, silent: bool) -> LaneNas {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let silent = Arc::new(AtomicBool::new(silent));
        let outstanding = Arc::new(AtomicUsize::new(0));
        let most_outstanding = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tick, changed) = watch::channel(0);
        let tick = Arc::new(tick);
        let task = {
            let (silent, outstanding, most, seen) = (
                silent.clone(),
                outstanding.clone(),
                most_outstanding.clone(),
                seen.clone(),
            );
            tokio::spawn(async move {
                let mut buf = vec![0; 4096];
                loop {
                    let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                        return;
                    };
                    let datagram = buf[..len].to_vec();
                    seen.lock().unwrap().received += 1;
                    if silent.load(Ordering::SeqCst) {
                        tick.send_modify(|n| *n += 1);
                        continue;
                    }
                    let now = outstanding.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let (socket, outstanding, seen, tick) = (
                        socket.clone(),
                        outstanding.clone(),
                        seen.clone(),
                        tick.clone(),
                    );
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let (session, rate) = identify(&datagram);
                        seen.lock()
                            .unwrap()
                            .acked
                            .entry(session)
                            .or_default()
                            .push(rate);
                        outstanding.fetch_sub(1, Ordering::SeqCst);
                        for reply in answers(&datagram, Behaviour::Ack) {
                            let _ = socket.send_to(&reply, from).await;
                        }
                        tick.send_modify(|n| *n += 1);
                    });
                }
            })
        };
        LaneNas {
            addr,
            silent,
            outstanding,
            most_outstanding,
            seen,
            changed,
            task,
        }
    }

    fn target(&self, nas_id: i64) -> Target {
        Target {
            nas_id,
            name: format!("nas-{nas_id}"),
            addr: Some(self.addr),
            secret: Secret::new(SECRET),
            window: None,
            rate: None,
            stream: false,
        }
    }

    /// Waits until `done` holds of what the NAS has seen (re-checked on every datagram).
    async fn until(&self, done: impl Fn(&Seen) -> bool) {
        let mut changed = self.changed.clone();
        changed
            .wait_for(|_| done(&self.seen.lock().unwrap()))
            .await
            .unwrap();
    }
}

impl Drop for LaneNas {
    fn drop(&mut self) {
        self.task.abort();
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

fn change(session: &str, rate: &str) -> Request {
    Request::coa("user", session).with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, rate)
}

/// One try of 200 ms: a silent NAS is found out quickly.
fn dispatcher(window: u32) -> Dispatcher<Client> {
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
async fn send_all(
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
    let fast = LaneNas::start(Duration::ZERO, false).await;
    let slow = LaneNas::start(Duration::from_millis(50), false).await;
    let silent = LaneNas::start(Duration::ZERO, true).await;
    let lanes = dispatcher(16);
    let (to_fast, to_slow, to_silent) = (fast.target(1), slow.target(2), silent.target(3));

    // The silent NAS's changes are asked for first.
    let silent_run = send_all(&lanes, &to_silent, "s", 300, "1M/1M");
    let fast_run = send_all(&lanes, &to_fast, "f", 2000, "1M/1M");
    let slow_run = send_all(&lanes, &to_slow, "w", 200, "1M/1M");
    let (silent_out, fast_out, slow_out) = tokio::join!(silent_run, fast_run, slow_run);

    assert!(fast_out.iter().all(Outcome::is_ack), "fast: {fast_out:?}");
    assert!(slow_out.iter().all(Outcome::is_ack));
    assert!(
        silent_out.iter().all(|o| matches!(o, Outcome::Deferred)),
        "silent: {silent_out:?}"
    );
    // The slow NAS never had more than its window outstanding.
    assert!(slow.most_outstanding.load(Ordering::SeqCst) <= 16);
    // The silent one got a window's worth, and one more for each timeout that freed a
    // slot before the third marked it unreachable.
    assert!(silent.seen.lock().unwrap().received <= 16 + 2);
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
    silent.silent.store(false, Ordering::SeqCst);
    lanes.alive(3);
    silent
        .until(|seen| seen.acked.len() == 300 && silent.outstanding.load(Ordering::SeqCst) == 0)
        .await;
    let seen = silent.seen.lock().unwrap();
    assert!(seen.acked.values().all(|rates| rates.len() == 1));
}

#[tokio::test]
async fn the_newest_change_of_a_session_is_the_one_sent() {
    // A NAS that answers: while one request is in flight (a window of one), a change
    // queued for session x is replaced by a newer one for x.
    let nas = LaneNas::start(Duration::from_millis(50), false).await;
    let lanes = dispatcher(1);
    let target = nas.target(6);
    let (block, older, newer) = tokio::join!(
        lanes.send(&target, Some("block"), change("block", "1M/1M")),
        lanes.send(&target, Some("x"), change("x", "2M/2M")),
        lanes.send(&target, Some("x"), change("x", "8M/8M")),
    );
    assert!(block.is_ack());
    assert!(matches!(older, Outcome::Superseded), "{older:?}");
    assert!(newer.is_ack(), "{newer:?}");
    assert_eq!(nas.seen.lock().unwrap().acked["x"], ["8M/8M"]);

    // Behind an unreachable NAS: both callers hear Deferred at once; only the newer goes
    // out when it is back.
    let nas = LaneNas::start(Duration::ZERO, true).await;
    let lanes = dispatcher(4);
    let target = nas.target(7);
    let first = send_all(&lanes, &target, "other", 4, "1M/1M").await;
    assert!(first.iter().all(|o| matches!(o, Outcome::Deferred)));
    let older = lanes.send(&target, Some("x"), change("x", "2M/2M")).await;
    let newer = lanes.send(&target, Some("x"), change("x", "8M/8M")).await;
    assert!(matches!(older, Outcome::Deferred), "{older:?}");
    assert!(matches!(newer, Outcome::Deferred), "{newer:?}");
    assert_eq!(lanes.health()[0].queued, 5);

    nas.silent.store(false, Ordering::SeqCst);
    lanes.alive(7);
    nas.until(|seen| seen.acked.len() == 5).await;
    let seen = nas.seen.lock().unwrap();
    assert_eq!(seen.acked["x"], ["8M/8M"]);
    assert!(seen.acked.values().all(|rates| rates.len() == 1));
}

#[tokio::test]
async fn an_accounting_on_drops_what_waited_for_the_nas() {
    let nas = LaneNas::start(Duration::ZERO, true).await;
    let lanes = dispatcher(4);
    let target = nas.target(9);
    let waiting = send_all(&lanes, &target, "gone", 20, "1M/1M").await;
    assert!(waiting.iter().all(|o| matches!(o, Outcome::Deferred)));

    nas.silent.store(false, Ordering::SeqCst);
    lanes.rebooted(9);
    // A change after the reboot goes out; the lane is first in, first out, so once it is
    // answered nothing from before the reboot is left to come.
    let after = lanes
        .send(&target, Some("new"), change("new", "1M/1M"))
        .await;
    assert!(after.is_ack(), "{after:?}");
    let seen = nas.seen.lock().unwrap();
    assert_eq!(seen.acked.keys().collect::<Vec<_>>(), ["new"]);
    assert_eq!(lanes.health()[0].queued, 0);
}

#[tokio::test]
async fn a_nas_entry_sets_its_own_window() {
    let nas = LaneNas::start(Duration::from_millis(20), false).await;
    let lanes = dispatcher(32);
    let target = Target {
        window: Some(3),
        ..nas.target(4)
    };
    let all = send_all(&lanes, &target, "p", 60, "4M/4M").await;
    assert!(all.iter().all(Outcome::is_ack));
    let most = nas.most_outstanding.load(Ordering::SeqCst);
    assert!((1..=3).contains(&most), "{most} outstanding at once");
}
