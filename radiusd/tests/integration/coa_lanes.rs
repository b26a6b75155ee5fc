//! radiusd's CoA lanes: a fair-usage change for a NAS that does not answer is kept in
//! PostgreSQL, survives kill -9 of radiusd, and reaches the NAS once a radiusd started
//! afterwards finds it answering; a billing period ending for 20,000 subscribers on one NAS
//! never has more in flight to it than its window.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use proisp_model::{AcctRecord, AcctStatus};
use proisp_radius::dictionary::{attr, mikrotik, vendor};
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_store::{ImportMode, ImportRow, NewSubscriber};
use proisp_testing::{TestEnv, acct_record, wait_until};
use tokio::net::UdpSocket;

use crate::accounting::{FakeNas, radclient_acct, seed_fup};
use crate::harness::{Options, Radiusd, SECRET};

/// One try of 300 ms marks a NAS unreachable; probes only when told of kept changes.
fn options() -> Options {
    Options {
        env: vec![
            ("PROISP_COA__RETRIES", "0"),
            ("PROISP_COA__UNREACHABLE_AFTER", "1"),
            ("PROISP_COA__PROBE_INTERVAL", "1h"),
        ],
        ..Options::default()
    }
}

async fn kept(env: &TestEnv) -> i64 {
    env.sql()
        .await
        .query_one("SELECT count(*) FROM coa_deferred", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_kept_for_a_silent_nas_survives_kill_9_and_goes_out_after_restart() {
    let env = TestEnv::start().await;
    // Bound and never read: the NAS's CoA server is down.
    let silent = FakeNas::start();
    seed_fup(&env.store().await, silent.port(), false).await;
    let mut radiusd = Radiusd::start(&env, options());
    assert!(radclient_acct(&radiusd, "Start", "fup1", "k-1", ""));
    assert!(radclient_acct(
        &radiusd,
        "Interim-Update",
        "fup1",
        "k-1",
        "Acct-Output-Octets = 1000\nAcct-Output-Gigawords = 1\nAcct-Session-Time = 300\n"
    ));
    assert!(
        wait_until(Duration::from_secs(10), async || kept(&env).await == 1).await,
        "the change is not kept:\n{}",
        radiusd.log()
    );
    radiusd.kill9();

    // The router comes back (on another port, so nothing the silent one got is answered).
    let nas = FakeNas::start();
    env.sql()
        .await
        .execute("UPDATE nas SET coa_port = $1", &[&i32::from(nas.port())])
        .await
        .unwrap();
    let radiusd = Radiusd::start(&env, options());
    let seen = nas
        .answer_one(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the kept change never came:\n{}", radiusd.log()));
    assert_eq!(seen.code, Code::CoaRequest);
    assert_eq!((seen.user.as_str(), seen.session.as_str()), ("fup1", "k-1"));
    assert_eq!(seen.rate_limit.as_deref(), Some("512k/1M"));
    assert!(
        wait_until(Duration::from_secs(10), async || kept(&env).await == 0).await,
        "the delivered change is still kept:\n{}",
        radiusd.log()
    );
}

/// What the router of the period test has seen.
#[derive(Debug, Default)]
struct Router {
    /// Per session, the rates it acknowledged.
    acked: HashMap<String, Vec<String>>,
    /// Sessions whose request came and is not answered yet (a retransmission of one of
    /// them is the same request, not another).
    outstanding: HashSet<String>,
    most_outstanding: usize,
}

/// A router on 127.0.0.1 answering every CoA-Request with a CoA-ACK `latency` after it
/// came (many at once), counting what is outstanding.
async fn router(latency: Duration) -> (u16, Arc<Mutex<Router>>) {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let port = socket.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Router::default()));
    let state = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0; 4096];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let datagram = buf[..len].to_vec();
            let session = {
                let request = Packet::decode(&datagram).unwrap();
                String::from_utf8_lossy(request.value(attr::ACCT_SESSION_ID).unwrap_or_default())
                    .into_owned()
            };
            {
                let mut s = state.lock().unwrap();
                s.outstanding.insert(session.clone());
                s.most_outstanding = s.most_outstanding.max(s.outstanding.len());
            }
            let (socket, state) = (socket.clone(), state.clone());
            tokio::spawn(async move {
                tokio::time::sleep(latency).await;
                let request = Packet::decode(&datagram).unwrap();
                let rate = request
                    .vendor_value(vendor::MIKROTIK, mikrotik::RATE_LIMIT)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                let mut out = BytesMut::new();
                let ack = Encoder::reply(&mut out, &request, Code::CoaAck)
                    .finish(SECRET.as_bytes())
                    .unwrap()
                    .to_vec();
                {
                    let mut s = state.lock().unwrap();
                    if s.outstanding.remove(&session) {
                        s.acked.entry(session).or_default().push(rate);
                    }
                }
                let _ = socket.send_to(&ack, from).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_billing_period_ending_for_20000_subscribers_stays_within_the_nas_window() {
    const N: usize = 20_000;
    const WINDOW: usize = 16;
    let env = TestEnv::start().await;
    let store = env.store().await;
    // A router that takes 5 ms a change: its window, not the speed of radiusd, bounds
    // what is in flight.
    let (port, seen) = router(Duration::from_millis(5)).await;
    let plan = seed_fup(&store, port, false).await;
    let sql = env.sql().await;
    sql.execute("UPDATE nas SET coa_window = $1", &[&(WINDOW as i32)])
        .await
        .unwrap();
    let nas_id: i64 = sql
        .query_one("SELECT id FROM nas", &[])
        .await
        .unwrap()
        .get(0);
    let rows = (0..N)
        .map(|i| ImportRow {
            row: i,
            subscriber: NewSubscriber::new(format!("p{i}"), "pw", plan),
        })
        .collect();
    let imported = store
        .import_subscribers(rows, ImportMode::AllOrNothing)
        .await
        .unwrap();
    assert_eq!(imported.created.len(), N);
    let starts: Vec<AcctRecord> = (0..N)
        .map(|i| {
            acct_record(
                AcctStatus::Start,
                nas_id,
                &format!("p{i}"),
                &format!("ps{i}"),
            )
        })
        .collect();
    for batch in starts.chunks(1000) {
        store.apply_accounting(batch, 3).await.unwrap();
    }
    // Every one of them was slowed down, and the period is over.
    sql.execute(
        "UPDATE subscribers SET fup_until = now() - interval '1 second' WHERE username LIKE 'p%'",
        &[],
    )
    .await
    .unwrap();

    let radiusd = Radiusd::start(&env, Options::default());
    assert!(
        wait_until(Duration::from_secs(120), async || {
            seen.lock().unwrap().acked.len() == N
        })
        .await,
        "{} of {N} sessions got their rate back:\n{}",
        seen.lock().unwrap().acked.len(),
        radiusd.log()
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.most_outstanding <= WINDOW,
        "{} in flight at once",
        seen.most_outstanding
    );
    assert!(seen.acked.values().all(|rates| rates == &["10M/20M"]));
}
