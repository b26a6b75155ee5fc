//! A real adminapi killed (SIGKILL) in the middle of a CSV import job: another takes the
//! job over where the last committed part ended, and every row is created once, audited
//! once.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use proisp_store::NewPlan;
use proisp_testing::{TestEnv, free_ports, wait_until};

use crate::haproxy::{exchange, http, serve};
use crate::{LISTENING, adminapi_stdin, as_refs, stack_env, text};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Rows in the file: fifteen parts of 2,000.
const ROWS: i32 = 30_000;

/// One column of the import's row.
async fn progress(sql: &tokio_postgres::Client, column: &str) -> i32 {
    sql.query_one(&format!("SELECT {column} FROM import_jobs"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_import_whose_adminapi_is_killed_is_finished_by_another_once() {
    let env = TestEnv::start().await;
    let vars = stack_env(&env);
    let password = "a-long-enough-password";
    let out = adminapi_stdin(
        &as_refs(&vars),
        &["create-admin", "--username", "desk", "--role", "admin"],
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    env.store()
        .await
        .create_plan(&NewPlan::new("home", 10_000, 5_000))
        .await
        .unwrap();
    let sql = env.sql().await;

    let ports = free_ports::<2>();
    let (mut first, mut log) = serve(&vars, ports[0]);
    log.wait_for(LISTENING, Duration::from_secs(20)).await;
    let to = SocketAddr::from((LOCAL, ports[0]));
    let (status, body) = http(
        LOCAL,
        to,
        "POST",
        "/api/v1/auth/login",
        "",
        &format!(r#"{{"username":"desk","password":"{password}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let login: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = login["access_token"].as_str().unwrap();

    let mut file = String::from("username,password,plan\n");
    for i in 1..=ROWS {
        file.push_str(&format!("u{i},pw-{i},home\n"));
    }
    let request = format!(
        "POST /api/v1/subscribers/imports HTTP/1.0\r\nHost: adminapi\r\n\
         Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
         Content-Length: {}\r\n\r\n{file}",
        file.len()
    );
    let started = std::time::Instant::now();
    let (status, body) = exchange(LOCAL, to, &request).await;
    assert_eq!(status, 202, "{body}");

    // Once a part is in, no other may commit (each writes to import_job_errors): the
    // runner is killed with its next part open.
    assert!(
        wait_until(Duration::from_secs(60), async || {
            progress(&sql, "processed").await >= 2_000
        })
        .await,
        "no part written"
    );
    let mut hold = env.sql().await;
    let tx = hold.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE import_job_errors IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let at_kill = progress(&sql, "processed").await;
    assert!(
        (2_000..ROWS).contains(&at_kill) && at_kill % 2_000 == 0,
        "{at_kill} rows done when killed"
    );
    eprintln!("killed at {at_kill} rows after {:?}", started.elapsed());
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    tx.rollback().await.unwrap();
    drop(first);

    // Its lease would run out in 30 s: time passes at once here.
    sql.execute("UPDATE jobs SET lease_until = now()", &[])
        .await
        .unwrap();
    let (_second, mut log) = serve(&vars, ports[1]);
    log.wait_for(LISTENING, Duration::from_secs(20)).await;
    eprintln!("second started after {:?}", started.elapsed());
    let done = wait_until(Duration::from_secs(120), async || {
        sql.query_one("SELECT state FROM jobs", &[])
            .await
            .unwrap()
            .get::<_, String>(0)
            == "done"
    })
    .await;
    if !done {
        let mut written = Vec::new();
        let soon = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Some(line) = log.next_before(soon).await {
            written.push(line);
        }
        let row = sql
            .query_one("SELECT row_to_json(j)::text FROM jobs j", &[])
            .await
            .unwrap()
            .get::<_, String>(0);
        panic!("the import was not finished after the kill: {row}; written: {written:#?}");
    }

    eprintln!("done after {:?}", started.elapsed());
    assert_eq!(progress(&sql, "processed").await, ROWS);
    assert_eq!(progress(&sql, "created").await, ROWS);
    assert_eq!(progress(&sql, "refused").await, 0);
    let count = |q: &'static str| {
        let sql = &sql;
        async move { sql.query_one(q, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count("SELECT count(*) FROM subscribers WHERE deleted_at IS NULL").await,
        i64::from(ROWS)
    );
    assert_eq!(count("SELECT count(*) FROM import_job_errors").await, 0);
    // Every part audited once: the parts before the kill by the first, the rest by the
    // second, none twice.
    assert_eq!(
        count(
            "SELECT coalesce(sum((after->>'created')::int), 0)::int8 FROM audit_log \
             WHERE action = 'subscriber.import'"
        )
        .await,
        i64::from(ROWS)
    );
    assert_eq!(
        count(
            "SELECT count(DISTINCT after->>'first_row') FROM audit_log \
             WHERE action = 'subscriber.import'"
        )
        .await,
        15
    );
}
