//! A fair-usage change for a NAS that does not answer is kept in PostgreSQL, survives
//! kill -9 of radiusd, and reaches the NAS once a radiusd started afterwards finds it
//! answering.

use std::time::Duration;

use proisp_radius::header::Code;
use proisp_testing::{TestEnv, wait_until};

use crate::accounting::{FakeNas, radclient_acct, seed_fup};
use crate::harness::{Options, Radiusd};

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
