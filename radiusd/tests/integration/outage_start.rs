//! radiusd (re)started while PostgreSQL is down (issue 13, defect 4): it starts from the
//! tables it last read, answers subscribers Redis knows, spools accounting, and takes up
//! PostgreSQL when it answers.

use std::time::Duration;

use proisp_testing::TestEnv;

use crate::harness::{Options, Radiusd, eventually, pap, private_database, radclient};

#[tokio::test(flavor = "multi_thread")]
async fn a_radiusd_started_while_postgres_is_down_serves_from_redis_and_spools() {
    let env = TestEnv::start().await;
    let (mut pg, db, _store) = private_database(&env, "proisp_outage_start", 2).await;
    let spool = std::env::temp_dir().join(format!(
        "radiusd-outage-start-{}-{}",
        std::process::id(),
        pg.port()
    ));
    let options = || Options {
        database_url: Some(db.clone()),
        spool_dir: Some(spool.clone()),
        ..Options::default()
    };
    // A first run reads the tables (and keeps their snapshot) and fills Redis.
    let mut first = Radiusd::start(&env, options());
    assert_eq!(
        pap(first.auth, "user000001", "pw000001").code,
        "Access-Accept"
    );
    first.kill9();

    pg.stop().await;
    // Before: "Error: connecting to PostgreSQL", and no auth, no spool.
    let radiusd = Radiusd::start(&env, options());
    assert_eq!(
        pap(radiusd.auth, "user000001", "pw000001").code,
        "Access-Accept",
        "{}",
        radiusd.log()
    );
    assert_eq!(
        pap(radiusd.auth, "user000001", "wrong").code,
        "Access-Reject"
    );
    let start = radclient(
        radiusd.acct,
        "acct",
        "Acct-Status-Type = Start\nUser-Name = \"user000001\"\nAcct-Session-Id = \"outage-1\"\nNAS-IP-Address = 127.0.0.1\n",
    );
    assert_eq!(start.code, "Accounting-Response", "{}", start.output);
    assert!(
        radiusd.metric("radius_acct_requests_total{status=\"start\",durability=\"spooled\"}")
            >= 1.0
    );

    // PostgreSQL answers: the schema is checked, the tables read, the spool replayed.
    pg.restart().await.unwrap();
    let (sql, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let replayed = eventually(
        &sql,
        "SELECT count(*) FROM sessions WHERE acct_session_id = 'outage-1'",
        1,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        replayed,
        1,
        "spooled Start never replayed:\n{}",
        radiusd.log()
    );
    assert!(
        radiusd.log().contains("NAS and plan tables read from it"),
        "{}",
        radiusd.log()
    );
    let _ = std::fs::remove_dir_all(&spool);
}
