//! radiusd across a PostgreSQL promotion: `[database] url` lists the primary and its
//! streaming replica with `target_session_attrs=read-write`; the primary crashes, the
//! replica is promoted, and accounting acknowledged meanwhile lands in the promoted
//! server once, while logins keep being answered.

use std::net::UdpSocket;
use std::time::Duration;

use proisp_testing::{TestEnv, wait_until_blocking};

use crate::accounting::{acct_packet, acknowledged};
use crate::harness::{Options, Radiusd, eventually, exchange, one_i64, pap, private_database};

const GIB: u64 = 1 << 30;

/// Sends an Accounting-Request (Start: 1, Interim-Update: 3) twice, as a NAS that
/// retransmits does; whether both copies were acknowledged.
fn account(radiusd: &Radiusd, id: u8, status: u32, user: &str, session: &str, down: u64) -> bool {
    let packet = acct_packet(id, status, user, session, down);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    (0..2).all(|_| {
        acknowledged(exchange(
            &socket,
            radiusd.acct,
            &packet,
            Duration::from_secs(5),
        ))
    })
}

fn accepted(radiusd: &Radiusd, i: u32) -> bool {
    pap(radiusd.auth, &format!("user{i:06}"), &format!("pw{i:06}")).code == "Access-Accept"
}

#[tokio::test(flavor = "multi_thread")]
async fn accounting_during_a_promotion_lands_once_in_the_promoted_replica() {
    let env = TestEnv::start().await;
    let (mut primary, _db, _store) = private_database(&env, "proisp_failover", 7).await;
    let replica = primary.start_replica().await.unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/proisp_failover\
         ?target_session_attrs=read-write",
        primary.port(),
        replica.port()
    );
    let radiusd = Radiusd::start(
        &env,
        Options {
            database_url: Some(url),
            ..Options::default()
        },
    );
    // Sessions 1 and 2 open on the primary; users 1 and 2 are in the caches.
    for i in 1..=2u32 {
        assert!(accepted(&radiusd, i), "{}", radiusd.log());
        let (user, session) = (format!("user{i:06}"), format!("fo-{i}"));
        assert!(account(&radiusd, i as u8, 1, &user, &session, 0));
        assert!(account(&radiusd, 10 + i as u8, 3, &user, &session, GIB));
    }
    assert!(
        radiusd.metric("radius_acct_requests_total{status=\"interim\",durability=\"committed\"}")
            >= 2.0
    );
    // Replication is asynchronous: what the primary committed in its last instant before a
    // crash would be lost with it (synchronous_standby_names closes that window).
    replica.wait_replayed(&primary).await.unwrap();

    primary.stop_immediate().await;
    // Acknowledged while no server takes writes (the replica refuses read-write
    // sessions): sessions 1 and 2 move on, 3 to 6 open.
    for i in 1..=6u32 {
        let (user, session) = (format!("user{i:06}"), format!("fo-{i}"));
        if i > 2 {
            assert!(account(&radiusd, 20 + i as u8, 1, &user, &session, 0));
        }
        assert!(
            account(&radiusd, 30 + i as u8, 3, &user, &session, 3 * GIB),
            "not acknowledged during the failover:\n{}",
            radiusd.log()
        );
    }
    assert!(
        radiusd.metric("radius_acct_requests_total{status=\"interim\",durability=\"spooled\"}")
            >= 1.0
    );
    for i in 1..=2 {
        assert!(accepted(&radiusd, i), "auth stopped during the failover");
    }

    replica.promote().await.unwrap();
    let (sql, conn) =
        tokio_postgres::connect(&replica.url("proisp_failover"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let want = 6 * 3 * GIB as i64;
    let total = eventually(
        &sql,
        "SELECT coalesce(sum(download_octets), 0)::int8 FROM usage",
        want,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(total, want, "every record once:\n{}", radiusd.log());
    assert_eq!(one_i64(&sql, "SELECT count(*) FROM sessions").await, 6);
    let mut spooled = f64::NAN;
    wait_until_blocking(Duration::from_secs(10), || {
        spooled = (0..4)
            .map(|w| radiusd.metric(&format!("radius_acct_spooled_records{{writer=\"{w}\"}}")))
            .sum();
        spooled == 0.0
    });
    assert_eq!(spooled, 0.0, "spool emptied");
    // The promoted server answers lookups (user 7: in no cache, no session open) and
    // takes new records directly.
    assert!(accepted(&radiusd, 7), "{}", radiusd.log());
    let committed =
        radiusd.metric("radius_acct_requests_total{status=\"start\",durability=\"committed\"}");
    assert!(account(&radiusd, 50, 1, "user000007", "fo-7", 0));
    assert!(
        radiusd.metric("radius_acct_requests_total{status=\"start\",durability=\"committed\"}")
            > committed
    );
}
