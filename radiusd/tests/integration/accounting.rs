//! Accounting end to end: radclient's Accounting-Requests, durability through a
//! PostgreSQL outage, a slow and a frozen PostgreSQL and kill -9, fair-usage CoA to a
//! fake NAS, stale sessions, Accounting-On and the simultaneous-use check with real
//! sessions.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proisp_model::RateLimit;
use proisp_radius::dictionary::attr;
use proisp_radius::encode::Encoder;
use proisp_radius::header::Code;
use proisp_radius::packet::Packet;
use proisp_store::{NewNas, NewPlan, NewSubscriber, Store};
use proisp_testing::fake_nas::{Answer, Request as NasRequest};
use proisp_testing::{FakeNas, TestEnv, wait_until, wait_until_blocking};

use crate::harness::{
    Options, Radiusd, SECRET, eventually, exchange, one_i64, pap, private_database, radclient, seed,
};

const GIB: i64 = 1 << 30;

/// An Accounting-Request built with the codec.
pub(crate) fn acct_packet(id: u8, status: u32, user: &str, session: &str, down: u64) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, Code::AccountingRequest, id, &[0; 16]);
    enc.u32(attr::ACCT_STATUS_TYPE, status)
        .attr(attr::USER_NAME, user.as_bytes())
        .attr(attr::ACCT_SESSION_ID, session.as_bytes())
        .u32(attr::ACCT_INPUT_OCTETS, 1000)
        .u32(attr::ACCT_OUTPUT_OCTETS, down as u32)
        .u32(attr::ACCT_OUTPUT_GIGAWORDS, (down >> 32) as u32)
        .u32(attr::ACCT_SESSION_TIME, if status == 1 { 0 } else { 60 });
    enc.finish(SECRET.as_bytes()).unwrap().to_vec()
}

/// Whether `reply` is a valid Accounting-Response.
pub(crate) fn acknowledged(reply: Option<Vec<u8>>) -> bool {
    reply.is_some_and(|r| Packet::decode(&r).is_ok_and(|p| p.code() == Code::AccountingResponse))
}

/// radclient's Accounting-Request for `user`'s session `session`.
pub(crate) fn radclient_acct(
    radiusd: &Radiusd,
    status: &str,
    user: &str,
    session: &str,
    extra: &str,
) -> bool {
    let reply = radclient(
        radiusd.acct,
        "acct",
        &format!(
            "Acct-Status-Type = {status}\nUser-Name = \"{user}\"\nAcct-Session-Id = \"{session}\"\n\
             NAS-IP-Address = 127.0.0.1\nFramed-IP-Address = 100.64.0.9\n{extra}"
        ),
    );
    reply.code == "Accounting-Response"
}

#[tokio::test(flavor = "multi_thread")]
async fn radclient_sessions_past_4_gib_are_recorded_exactly_once() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 2).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let sql = env.sql().await;
    assert!(radclient_acct(&radiusd, "Start", "user000001", "s-1", ""));
    let interim = "Acct-Input-Octets = 100\nAcct-Input-Gigawords = 1\n\
                   Acct-Output-Octets = 5\nAcct-Output-Gigawords = 6\nAcct-Session-Time = 300\n";
    // The same totals twice (a NAS retrying with a new identifier): counted once.
    assert!(radclient_acct(
        &radiusd,
        "Interim-Update",
        "user000001",
        "s-1",
        interim
    ));
    assert!(radclient_acct(
        &radiusd,
        "Interim-Update",
        "user000001",
        "s-1",
        interim
    ));
    assert_eq!(
        one_i64(
            &sql,
            "SELECT count(*) FROM sessions WHERE username = 'user000001'"
        )
        .await,
        1
    );
    let stop = "Acct-Input-Octets = 200\nAcct-Input-Gigawords = 1\n\
                Acct-Output-Octets = 7\nAcct-Output-Gigawords = 6\nAcct-Session-Time = 600\n\
                Acct-Terminate-Cause = User-Request\n";
    assert!(radclient_acct(&radiusd, "Stop", "user000001", "s-1", stop));
    assert!(radclient_acct(&radiusd, "Stop", "user000001", "s-1", stop));
    let row = sql
        .query_one(
            "SELECT upload_octets, download_octets, session_time_secs, terminate_cause, closed_by, \
             host(framed_ip) FROM session_history WHERE acct_session_id = 's-1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), (1 << 32) + 200, "upload = input");
    assert_eq!(row.get::<_, i64>(1), 6 * (1 << 32) + 7, "download = output");
    assert_eq!(row.get::<_, i64>(2), 600);
    assert_eq!(row.get::<_, String>(3), "User-Request");
    assert_eq!(row.get::<_, String>(4), "stop");
    assert_eq!(row.get::<_, String>(5), "100.64.0.9");
    assert_eq!(
        one_i64(&sql, "SELECT sum(download_octets)::int8 FROM usage").await,
        6 * (1 << 32) + 7
    );
    assert_eq!(
        one_i64(&sql, "SELECT count(*) FROM sessions").await,
        0,
        "closed"
    );
    assert_eq!(
        radiusd.metric("radius_acct_requests_total{status=\"stop\",durability=\"committed\"}"),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn while_postgres_is_down_accounting_is_spooled_acknowledged_and_replayed() {
    postgres_down_then_back("commit", "spooled").await;
}

/// Five sessions' Start and two Interim-Updates each, answered while PostgreSQL is
/// stopped (`durability` in the metrics), then applied once when it is back; radiusd
/// acknowledges as `acknowledge` says.
pub(crate) async fn postgres_down_then_back(acknowledge: &'static str, durability: &str) {
    let env = TestEnv::start().await;
    let (mut pg, db, _store) = private_database(&env, "proisp_spool", 5).await;
    let radiusd = Radiusd::start(
        &env,
        Options {
            database_url: Some(db.clone()),
            env: vec![("PROISP_ACCOUNTING__ACKNOWLEDGE", acknowledge)],
            ..Options::default()
        },
    );
    pg.stop().await;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (n, i) in (1..=5).enumerate() {
        let user = format!("user{i:06}");
        let start = acct_packet(n as u8, 1, &user, &format!("sp-{i}"), 0);
        let interim = acct_packet(100 + n as u8, 3, &user, &format!("sp-{i}"), 5 << 32);
        for packet in [start, interim.clone(), interim] {
            assert!(
                acknowledged(exchange(
                    &socket,
                    radiusd.acct,
                    &packet,
                    Duration::from_secs(5)
                )),
                "not acknowledged while PostgreSQL is down:\n{}",
                radiusd.log()
            );
        }
    }
    assert!(
        radiusd.metric(&format!(
            "radius_acct_requests_total{{status=\"interim\",durability=\"{durability}\"}}"
        )) >= 1.0
    );
    pg.restart().await.unwrap();
    let (sql, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let total = eventually(
        &sql,
        "SELECT coalesce(sum(download_octets), 0)::int8 FROM usage",
        5 * (5 << 32),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        total,
        5 * (5 << 32),
        "every spooled record once:\n{}",
        radiusd.log()
    );
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 5);
    // A writer empties its spool once its last batch is committed: a moment later.
    let mut spooled = f64::NAN;
    wait_until_blocking(Duration::from_secs(10), || {
        spooled = (0..4)
            .map(|w| radiusd.metric(&format!("radius_acct_spooled_records{{writer=\"{w}\"}}")))
            .sum();
        spooled == 0.0
    });
    assert_eq!(spooled, 0.0, "spool emptied");
}

/// Waits (up to ten seconds) until a radiusd commit waits for a lock in `sql`'s database.
pub(crate) async fn commit_waits_for_a_lock(sql: &tokio_postgres::Client) {
    let waiting = eventually(
        sql,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE '%proisp_apply_accounting%'",
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(waiting, 1, "no commit waits for the lock");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_retransmitted_while_postgres_is_slow_is_one_session_counted_once() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    // Nothing gives up on the slow commit (no deadline, no statement_timeout), and the
    // duplicate window is short: the NAS's copies arrive past it while the first copy
    // waits.
    let radiusd = Radiusd::start(
        &env,
        Options {
            env: vec![
                ("PROISP_AUTH__DUPLICATE_WINDOW", "1s"),
                ("PROISP_ACCOUNTING__COMMIT_TIMEOUT", "60s"),
                ("PROISP_DATABASE__STATEMENT_TIMEOUT", "0s"),
            ],
            ..Options::default()
        },
    );
    let sql = env.sql().await;
    // PostgreSQL slow: `subscribers` locked by another session, as in issue 13.
    let mut holder = env.sql().await;
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE subscribers IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = acct_packet(1, 1, "user000001", "slow-1", 0);
    nas.send_to(&start, radiusd.acct).unwrap();
    commit_waits_for_a_lock(&sql).await;
    // The session's first interim queues behind the Start.
    let interim_nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let interim = acct_packet(2, 3, "user000001", "slow-1", 5 << 32);
    interim_nas.send_to(&interim, radiusd.acct).unwrap();
    // The NAS resends the Start every 1.2 s, unanswered, until its copies come well past
    // the duplicate window and more than 2 s after the first: evaluated again, such a copy
    // would name a later start and replace the session.
    let first = Instant::now();
    let mut copies = 0.0;
    while first.elapsed() < Duration::from_secs(3) {
        let reply = exchange(&nas, radiusd.acct, &start, Duration::from_millis(1200));
        assert!(reply.is_none(), "answered while the commit waits");
        copies += 1.0;
    }
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"duplicate_in_progress\"}"),
        copies,
        "every copy joins the request in flight"
    );
    lock.commit().await.unwrap();
    nas.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = nas.recv_from(&mut buf).expect("the Start is answered");
    assert!(acknowledged(Some(buf[..n].to_vec())));
    interim_nas
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (n, _) = interim_nas
        .recv_from(&mut buf)
        .expect("the interim is answered");
    assert!(acknowledged(Some(buf[..n].to_vec())));
    let stop = acct_packet(3, 2, "user000001", "slow-1", 5 << 32);
    assert!(acknowledged(exchange(
        &nas,
        radiusd.acct,
        &stop,
        Duration::from_secs(5)
    )));
    let closed: Vec<String> = sql
        .query(
            "SELECT closed_by FROM session_history WHERE acct_session_id = 'slow-1'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(closed, ["stop"], "one session:\n{}", radiusd.log());
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 0);
    assert_eq!(
        one_i64(&sql, "SELECT sum(download_octets)::int8 FROM usage").await,
        5 << 32,
        "usage counted once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn while_postgres_is_frozen_accounting_is_spooled_then_applied_exactly_once() {
    let env = TestEnv::start().await;
    let (pg, db, _store) = private_database(&env, "proisp_frozen", 6).await;
    let radiusd = Radiusd::start(
        &env,
        Options {
            database_url: Some(db.clone()),
            env: vec![("PROISP_ACCOUNTING__COMMIT_TIMEOUT", "1s")],
            ..Options::default()
        },
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut id = 0u8;
    let mut send = |status, user: u32, session: &str, down: u64| {
        id = id.wrapping_add(1);
        let packet = acct_packet(id, status, &format!("user{user:06}"), session, down);
        acknowledged(exchange(
            &socket,
            radiusd.acct,
            &packet,
            Duration::from_secs(5),
        ))
    };
    // Sessions open while PostgreSQL answers (and the pool holds connections to it).
    for i in 1..=6 {
        assert!(send(1, i, &format!("s-{i}"), 0), "{}", radiusd.log());
    }
    let frozen = pg.freeze().unwrap();
    // Everything acknowledged while it is frozen: the first commit gives up after its
    // deadline, the rest go straight to the spool.
    for i in 1..=6 {
        let down = u64::from(i) << 30;
        for (status, session, down) in [
            (3, format!("s-{i}"), down),
            (2, format!("s-{i}"), down + 5),
            (1, format!("t-{i}"), 0),
            (3, format!("t-{i}"), 1 << 30),
        ] {
            assert!(
                send(status, i, &session, down),
                "not acknowledged while PostgreSQL is frozen:\n{}",
                radiusd.log()
            );
        }
    }
    assert_eq!(
        radiusd.metric("radius_acct_commit_timeouts_total"),
        1.0,
        "one batch waited for the deadline, not each:\n{}",
        radiusd.log()
    );
    assert!(
        radiusd.metric("radius_acct_requests_total{status=\"stop\",durability=\"spooled\"}") >= 5.0
    );
    drop(frozen);
    // The batch given up at the deadline may complete now too; everything is there once.
    let (sql, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let want: i64 = (1..=6).map(|i| (i << 30) + 5 + (1 << 30)).sum();
    let total = eventually(
        &sql,
        "SELECT coalesce(sum(download_octets), 0)::int8 FROM usage",
        want,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(total, want, "every record once:\n{}", radiusd.log());
    let spooled = eventually(
        &sql,
        "SELECT count(*) FROM session_history WHERE closed_by = 'stop'",
        6,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(spooled, 6);
    assert_eq!(
        one_i64(&sql, "SELECT count(*) FROM session_history").await,
        6,
        "no session replaced"
    );
    assert_eq!(
        one_i64(
            &sql,
            "SELECT count(*) FROM sessions WHERE acct_session_id LIKE 't-%' \
             AND download_octets = 1073741824"
        )
        .await,
        6
    );
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_burst_loses_no_acknowledged_record() {
    kill_9_during_a_burst("commit").await;
}

/// A burst of Starts from 8 sockets, radiusd killed -9 in the middle of it and started
/// again on the same spool: every Start it acknowledged is stored, once it has replayed.
pub(crate) async fn kill_9_during_a_burst(acknowledge: &'static str) {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    let options = || Options {
        env: vec![("PROISP_ACCOUNTING__ACKNOWLEDGE", acknowledge)],
        ..Options::default()
    };
    let mut radiusd = Radiusd::start(&env, options());
    let spool_dir = radiusd.spool_dir.clone();
    let target = radiusd.acct;
    // A burst from 8 sockets; each remembers which sessions were acknowledged, and
    // reports every acknowledgement so the kill lands in the middle of the burst.
    let (ack_tx, ack_rx) = std::sync::mpsc::channel();
    let senders: Vec<_> = (0..8u32)
        .map(|s| {
            let ack_tx = ack_tx.clone();
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let mut acked = Vec::new();
                for n in 0..400u32 {
                    let session = format!("k-{s}-{n}");
                    let packet = acct_packet((n % 256) as u8, 1, "user000001", &session, 0);
                    if socket.send_to(&packet, target).is_err() {
                        break;
                    }
                    let mut buf = [0u8; 4096];
                    match socket.recv_from(&mut buf) {
                        Ok((len, _)) if acknowledged(Some(buf[..len].to_vec())) => {
                            acked.push(session);
                            let _ = ack_tx.send(());
                        }
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    // 200 of the 3,200 records acknowledged: the burst is under way, far from over.
    for _ in 0..200 {
        ack_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("the burst is not answered:\n{}", radiusd.log()));
    }
    radiusd.kill9();
    let acked: BTreeSet<String> = senders
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(!acked.is_empty(), "the burst was answered before the kill");

    let radiusd = Radiusd::start(
        &env,
        Options {
            spool_dir: Some(spool_dir),
            ..options()
        },
    );
    let sql = env.sql().await;
    // What the killed radiusd had not applied is replayed from its spool after the start.
    let mut missing = acked.clone();
    wait_until(Duration::from_secs(15), async || {
        let stored: BTreeSet<String> = sql
            .query(
                "SELECT acct_session_id FROM sessions UNION SELECT acct_session_id FROM session_history",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        missing = acked.difference(&stored).cloned().collect();
        missing.is_empty()
    })
    .await;
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records lost: {missing:?}\n{}",
        missing.len(),
        acked.len(),
        radiusd.log()
    );
}

/// A NAS's CoA server on 127.0.0.1 sharing [`SECRET`] with radiusd.
pub(crate) fn coa_nas(answer: Answer) -> FakeNas {
    FakeNas::start("127.0.0.1", SECRET.as_bytes(), answer)
}

/// The next request radiusd sent `nas` within `within`, checked for its signatures.
pub(crate) fn next_coa(nas: &FakeNas, within: Duration) -> Option<NasRequest> {
    let request = nas.next(within)?;
    assert!(request.signed, "{request:?}");
    Some(request)
}

/// A plan with a 1 GiB quota (slowing down, or disconnecting), the NAS 127.0.0.1 with its
/// CoA port at `coa_port`, and subscriber `fup1`.
pub(crate) async fn seed_fup(store: &Store, coa_port: u16, disconnect: bool) -> i64 {
    let mut plan = NewPlan::new("fup-1g", 20_000, 10_000);
    plan.quota_bytes = Some(GIB as u64);
    plan.fup_rate = Some(RateLimit {
        download_kbps: 1_000,
        upload_kbps: 512,
        ..RateLimit::default()
    });
    if disconnect {
        plan.fup_action = proisp_model::FupAction::Disconnect;
    }
    let plan = store.create_plan(&plan).await.unwrap();
    let mut nas = NewNas::new("bras-fup", "127.0.0.1".parse().unwrap(), SECRET.as_bytes());
    nas.coa_port = coa_port;
    store.create_nas(&nas).await.unwrap();
    // Two sessions allowed: the test logs in again while the first is open.
    let mut sub = NewSubscriber::new("fup1", "pw-fup1", plan.id);
    sub.simultaneous_use = 2;
    store.create_subscriber(&sub).await.unwrap();
    plan.id
}

#[tokio::test(flavor = "multi_thread")]
async fn the_interim_that_spends_the_quota_brings_a_coa_with_the_fair_usage_rate() {
    let env = TestEnv::start().await;
    let nas = coa_nas(Answer::Ack);
    seed_fup(&env.store().await, nas.port(), false).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let login = pap(radiusd.auth, "fup1", "pw-fup1");
    assert!(
        login.has("Mikrotik-Rate-Limit", "10M/20M"),
        "{}",
        login.output
    );
    assert!(radclient_acct(&radiusd, "Start", "fup1", "f-1", ""));
    assert!(radclient_acct(
        &radiusd,
        "Interim-Update",
        "fup1",
        "f-1",
        "Acct-Output-Octets = 1000\nAcct-Output-Gigawords = 1\nAcct-Session-Time = 300\n"
    ));
    let seen = next_coa(&nas, Duration::from_secs(1))
        .unwrap_or_else(|| panic!("no CoA within a second:\n{}", radiusd.log()));
    assert_eq!(seen.code, Code::CoaRequest);
    assert_eq!(seen.user, "fup1");
    assert_eq!(seen.session, "f-1");
    assert_eq!(seen.framed_ip, Some("100.64.0.9".parse().unwrap()));
    assert_eq!(seen.rate_limit.as_deref(), Some("512k/1M"));
    // New logins get the fair-usage speed too.
    let mut output = String::new();
    let slowed = wait_until_blocking(Duration::from_secs(1), || {
        let login = pap(radiusd.auth, "fup1", "pw-fup1");
        output = login.output.clone();
        login.has("Mikrotik-Rate-Limit", "512k/1M")
    });
    assert!(slowed, "{output}");
    let mut acked = 0.0;
    wait_until_blocking(Duration::from_secs(1), || {
        acked = radiusd.metric("radius_coa_requests_total{kind=\"coa\",result=\"ack\"}");
        acked == 1.0
    });
    assert_eq!(acked, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disconnecting_plan_sends_disconnect_and_refuses_new_logins() {
    let env = TestEnv::start().await;
    let nas = coa_nas(Answer::Ack);
    seed_fup(&env.store().await, nas.port(), true).await;
    let radiusd = Radiusd::start(&env, Options::default());
    assert!(radclient_acct(&radiusd, "Start", "fup1", "d-1", ""));
    assert!(radclient_acct(
        &radiusd,
        "Interim-Update",
        "fup1",
        "d-1",
        "Acct-Input-Octets = 1\nAcct-Input-Gigawords = 1\nAcct-Session-Time = 300\n"
    ));
    let seen = next_coa(&nas, Duration::from_secs(1))
        .unwrap_or_else(|| panic!("no Disconnect within a second:\n{}", radiusd.log()));
    assert_eq!(seen.code, Code::DisconnectRequest);
    assert_eq!(seen.session, "d-1");
    assert_eq!(seen.rate_limit, None);
    assert!(radclient_acct(&radiusd, "Stop", "fup1", "d-1", ""));
    let login = pap(radiusd.auth, "fup1", "pw-fup1");
    assert_eq!(login.code, "Access-Reject", "{}", login.output);
    assert!(login.has("Reply-Message", "Data quota for this period is used up"));
}

#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_use_counts_real_sessions_and_accounting_on_frees_them() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    let radiusd = Radiusd::start(&env, Options::default());
    assert_eq!(
        pap(radiusd.auth, "user000001", "pw000001").code,
        "Access-Accept"
    );
    assert!(radclient_acct(&radiusd, "Start", "user000001", "u-1", ""));
    let second = pap(radiusd.auth, "user000001", "pw000001");
    assert_eq!(second.code, "Access-Reject", "{}", second.output);
    assert!(second.has("Reply-Message", "Simultaneous session limit reached"));
    // The NAS reboots: its sessions are gone, and the limit no longer bites.
    let on = radclient(
        radiusd.acct,
        "acct",
        "Acct-Status-Type = Accounting-On\nNAS-IP-Address = 127.0.0.1\nAcct-Session-Id = \"0\"\n",
    );
    assert_eq!(on.code, "Accounting-Response", "{}", on.output);
    assert_eq!(
        pap(radiusd.auth, "user000001", "pw000001").code,
        "Access-Accept"
    );
    let sql = env.sql().await;
    assert_eq!(
        one_i64(
            &sql,
            "SELECT count(*) FROM session_history WHERE closed_by = 'nas-reboot'"
        )
        .await,
        1
    );
}

/// Polls `user000001`'s PAP login on `radiusd` until it gets `want`, for up to a second.
fn login_becomes(radiusd: &Radiusd, want: &str) -> String {
    let mut got = String::new();
    wait_until_blocking(Duration::from_secs(1), || {
        got = pap(radiusd.auth, "user000001", "pw000001").code;
        got == want
    });
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_opened_and_closed_on_one_radiusd_are_counted_by_the_other_within_a_second() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    let a = Radiusd::start(&env, Options::default());
    let b = Radiusd::start(&env, Options::default());
    // b counts no open session, and would trust that count for session_count_ttl (5 min).
    assert_eq!(pap(b.auth, "user000001", "pw000001").code, "Access-Accept");
    assert!(radclient_acct(&a, "Start", "user000001", "pair-1", ""));
    assert_eq!(
        login_becomes(&b, "Access-Reject"),
        "Access-Reject",
        "{}",
        b.log()
    );
    assert!(radclient_acct(&a, "Stop", "user000001", "pair-1", ""));
    assert_eq!(
        login_becomes(&b, "Access-Accept"),
        "Access-Accept",
        "{}",
        b.log()
    );
    // A NAS reboot announced through a frees every count on b too.
    assert!(radclient_acct(&a, "Start", "user000001", "pair-2", ""));
    assert_eq!(login_becomes(&b, "Access-Reject"), "Access-Reject");
    let on = radclient(
        a.acct,
        "acct",
        "Acct-Status-Type = Accounting-On\nNAS-IP-Address = 127.0.0.1\nAcct-Session-Id = \"0\"\n",
    );
    assert_eq!(on.code, "Accounting-Response", "{}", on.output);
    assert_eq!(
        login_becomes(&b, "Access-Accept"),
        "Access-Accept",
        "{}",
        b.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_session_is_closed_as_stale_and_reopened_by_a_late_interim() {
    let env = TestEnv::start().await;
    let store = env.store().await;
    let plan_id = seed(&store, 1).await;
    let sql = env.sql().await;
    // One-second interims: stale after three silent seconds (the harness sweeps often).
    sql.execute(
        "UPDATE plans SET interim_interval_secs = 1 WHERE id = $1",
        &[&plan_id],
    )
    .await
    .unwrap();
    let radiusd = Radiusd::start(&env, Options::default());
    assert!(radclient_acct(&radiusd, "Start", "user000001", "q-1", ""));
    let stale = eventually(
        &sql,
        "SELECT count(*) FROM session_history WHERE closed_by = 'stale'",
        1,
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(stale, 1, "{}", radiusd.log());
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 0);
    assert!(radclient_acct(
        &radiusd,
        "Interim-Update",
        "user000001",
        "q-1",
        "Acct-Output-Octets = 9\nAcct-Session-Time = 5\n"
    ));
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 1);
    assert_eq!(
        one_i64(&sql, "SELECT count(*) FROM session_history").await,
        0,
        "re-opened, not duplicated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_unusable_accounting_requests_are_dropped_and_counted() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 1).await;
    let radiusd = Radiusd::start(&env, Options::default());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut forged = acct_packet(1, 1, "user000001", "x", 0);
    forged[30] ^= 1;
    assert!(!acknowledged(exchange(
        &socket,
        radiusd.acct,
        &forged,
        Duration::from_millis(500)
    )));
    // An Access-Request on the accounting port is not served there.
    let (access, _) = crate::harness::pap_packet(2, "user000001", "pw000001", true);
    assert!(exchange(&socket, radiusd.acct, &access, Duration::from_millis(500)).is_none());
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"bad_request_authenticator\"}"),
        1.0
    );
    assert_eq!(
        radiusd.metric("radius_dropped_packets_total{reason=\"unexpected_code\"}"),
        1.0
    );
    // Status-Server on the accounting port gets an Accounting-Response.
    let status = radclient(radiusd.acct, "status", "Message-Authenticator = 0x00\n");
    assert!(
        status.output.contains("Accounting-Response"),
        "{}",
        status.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_postgresql_refuses_is_acknowledged_kept_and_counted() {
    let env = TestEnv::start().await;
    seed(&env.store().await, 2).await;
    let radiusd = Radiusd::start(&env, Options::default());
    assert!(radclient_acct(&radiusd, "Start", "user000001", "ok-1", ""));
    // The NAS disappears behind radiusd's back: its sessions can no longer be stored, but
    // what the NAS was told is recorded must not be lost. In replica mode no trigger fires,
    // so neither the invalidation nor the change feed tells radiusd, which keeps the NAS
    // in its table however long the next request takes.
    env.sql()
        .await
        .batch_execute("SET session_replication_role = replica; DELETE FROM nas")
        .await
        .unwrap();
    assert!(radclient_acct(
        &radiusd,
        "Start",
        "user000002",
        "lost-1",
        ""
    ));
    let rejected = std::fs::read_to_string(radiusd.spool_dir.join("rejected.jsonl")).unwrap();
    assert!(rejected.contains("\"lost-1\""), "{rejected}");
    assert_eq!(
        radiusd.metric("radius_acct_rejected_records_total"),
        1.0,
        "{}",
        radiusd.log()
    );
}
