//! radiusd's CoA lanes: a fair-usage change for a NAS that does not answer is kept in
//! PostgreSQL, survives kill -9 of radiusd, and reaches the NAS once a radiusd started
//! afterwards finds it answering; a billing period ending for 2,000 subscribers on one NAS
//! fills its window and never has more in flight to it.

use std::time::Duration;

use proisp_model::{AcctRecord, AcctStatus};
use proisp_radius::header::Code;
use proisp_store::{ImportMode, ImportRow, NewSubscriber};
use proisp_testing::fake_nas::Answer;
use proisp_testing::{TestEnv, acct_record, wait_until};

use crate::accounting::{coa_nas, next_coa, radclient_acct, seed_fup};
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
    let silent = coa_nas(Answer::Silence);
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
    let nas = coa_nas(Answer::Ack);
    env.sql()
        .await
        .execute("UPDATE nas SET coa_port = $1", &[&i32::from(nas.port())])
        .await
        .unwrap();
    let radiusd = Radiusd::start(&env, options());
    let seen = next_coa(&nas, Duration::from_secs(10))
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

#[tokio::test(flavor = "multi_thread")]
async fn a_billing_period_ending_for_2000_subscribers_fills_the_nas_window_and_no_more() {
    // The period ends for all of them in one UPDATE, whatever their number: 2,000 fill the
    // window 125 times over.
    const N: usize = 2_000;
    const WINDOW: usize = 16;
    let env = TestEnv::start().await;
    let store = env.store().await;
    // A router that answers only once the window is full: its window, not the speed of
    // radiusd or of the router, bounds what is in flight.
    let router = coa_nas(Answer::Hold);
    let plan = seed_fup(&store, router.port(), false).await;
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
    let paced = tokio::time::timeout(Duration::from_secs(60), router.pace(WINDOW, N)).await;
    let seen = router.seen();
    assert!(
        paced.is_ok(),
        "{} of {N} sessions got their rate back, {} held:\n{}",
        seen.acked.len(),
        seen.held,
        radiusd.log()
    );
    assert_eq!(seen.most_held, WINDOW, "in flight at once");
    assert_eq!(seen.acked.len(), N);
    assert!(seen.acked.values().all(|rates| rates == &["10M/20M"]));
}
