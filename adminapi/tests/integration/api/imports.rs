//! The CSV import as a job (`/subscribers/imports`): parts written with their progress,
//! every refused row listed by page, all or nothing, cancelling, and a job whose runner
//! died taken over where its last part ended.

use std::time::Duration;

use proisp_adminapi::permission::Role;
use proisp_store::{ImportMode, ImportRow, Label, NewPlan, NewSubscriber};
use serde_json::Value;

use super::subscribers::{csv, live};
use super::{Ctx, app, call, delete, get, token, with_token};

/// The runner's part size (`PART_ROWS`): the files below span several parts.
const PART: usize = 2_000;

/// A file of `n` valid rows `u1`…`un` on plan `home`, the header first.
fn file(n: usize) -> String {
    let mut f = String::from("username,password,plan\n");
    for i in 1..=n {
        f.push_str(&format!("u{i},pw-{i},home\n"));
    }
    f
}

/// Waits until import `id` has ended; returns its view.
macro_rules! ended {
    ($app:expr, $ctx:expr, $id:expr, $t:expr) => {{
        let mut job = Value::Null;
        let ended = proisp_testing::wait_until(Duration::from_secs(60), async || {
            job = call!(
                $app,
                $ctx,
                with_token(get(&format!("/api/v1/subscribers/imports/{}", $id)), $t)
            )
            .json;
            job["state"] != "running"
        })
        .await;
        assert!(ended, "import {} still running: {job}", $id);
        job
    }};
}

/// Every refused row of import `id`, read `limit` at a time: (row, field, message).
macro_rules! refused {
    ($app:expr, $ctx:expr, $id:expr, $t:expr, $limit:expr) => {{
        let mut all: Vec<(u64, String, String)> = Vec::new();
        let mut after = 0;
        loop {
            let r = call!(
                $app,
                $ctx,
                with_token(
                    get(&format!(
                        "/api/v1/subscribers/imports/{}/errors?after={after}&limit={}",
                        $id, $limit
                    )),
                    $t
                )
            );
            r.expect(200);
            let items = r.json["items"].as_array().unwrap();
            assert!(items.len() <= $limit, "{}", r.text);
            all.extend(items.iter().map(|e| {
                (
                    e["row"].as_u64().unwrap(),
                    e["field"].as_str().unwrap().to_owned(),
                    e["message"].as_str().unwrap().to_owned(),
                )
            }));
            match r.json["next"].as_u64() {
                Some(next) => after = next,
                None => break,
            }
        }
        all
    }};
}

async fn home(ctx: &Ctx) -> i64 {
    ctx.env
        .store()
        .await
        .create_plan(&NewPlan::new("home", 10_000, 5_000))
        .await
        .unwrap()
        .id
}

#[actix_web::test]
async fn an_import_job_writes_its_parts_with_their_audit_rows_and_lists_every_refused_row() {
    let ctx = Ctx::new().await;
    ctx.admin("a", Role::Admin).await;
    ctx.admin("v", Role::Viewer).await;
    let plan = home(&ctx).await;
    let store = ctx.env.store().await;
    store
        .create_subscriber(&NewSubscriber::new("u7", "pw", plan))
        .await
        .unwrap();
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let viewer = token!(app, ctx, "v");
    // 5,000 rows over three parts; refused: a taken name (row 8), an unknown plan in
    // each part, a name an earlier part created (row 4,502 repeats u1) and a short row.
    let mut f = file(5_000);
    f = f.replace("\nu100,pw-100,home\n", "\nu100,pw-100,gold\n");
    f = f.replace("\nu2100,pw-2100,home\n", "\nu2100,pw-2100,gold\n");
    f = f.replace("\nu4100,pw-4100,home\n", "\nu4100,pw-4100,gold\n");
    f = f.replace("\nu4501,pw-4501,home\n", "\nu1,pw-4501,home\n");
    f = f.replace("\nu4900,pw-4900,home\n", "\nu4900,pw-4900\n");
    ctx.forbid("pw-4501");

    call!(
        app,
        ctx,
        with_token(csv("/api/v1/subscribers/imports", &f), &viewer)
    )
    .error(403, "forbidden", None);
    let r = call!(
        app,
        ctx,
        with_token(csv("/api/v1/subscribers/imports", &f), &t)
    );
    r.expect(202);
    assert_eq!(r.json["rows"], 5_000, "{}", r.text);
    let id = r.json["job_id"].as_i64().unwrap();
    assert_eq!(
        r.header("location"),
        format!("/api/v1/subscribers/imports/{id}")
    );

    // A viewer may follow it.
    let job = ended!(app, ctx, id, &viewer);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["all_or_nothing"], false);
    assert_eq!(job["rows"], 5_000);
    assert_eq!(job["processed"], 5_000);
    assert_eq!(job["created"], 4_994, "{job}");
    assert_eq!(job["refused"], 6, "{job}");
    assert_eq!(job["committed"], true);
    assert_eq!(job["created_by"], "a");
    assert!(job["finished_at"].is_string(), "{job}");

    // Read two at a time, the rows of every part, numbered as in the file.
    let rows = refused!(app, ctx, id, &t, 2);
    let fields: Vec<(u64, &str)> = rows.iter().map(|(r, f, _)| (*r, f.as_str())).collect();
    assert_eq!(
        fields,
        [
            (8, "username"),
            (101, "plan"),
            (2_101, "plan"),
            (4_101, "plan"),
            (4_502, "username"),
            (4_901, "row"),
        ]
    );
    assert_eq!(rows[0].2, "already taken");
    assert_eq!(rows[4].2, "already taken");

    let sql = ctx.env.sql().await;
    assert_eq!(live(&sql).await, 1 + 4_994);
    let u2 = store.subscriber("u2").await.unwrap().unwrap();
    assert_eq!(u2.password.as_bytes(), b"pw-2");
    // One audit row per part that created subscribers, naming the job.
    let audit = sql
        .query_one(
            "SELECT count(*), sum((after->>'created')::int)::int8 FROM audit_log \
             WHERE action = 'subscriber.import' AND (after->>'job_id')::int8 = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(audit.get::<_, i64>(0), 3);
    assert_eq!(audit.get::<_, i64>(1), 4_994);
    // The file, passwords and all, is gone with the job.
    let body: Option<Vec<u8>> = sql
        .query_one("SELECT body FROM import_jobs WHERE job_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(body, None);

    // The latest imports, newest first.
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/imports?limit=5"), &viewer)
    );
    r.expect(200);
    assert_eq!(r.json[0]["id"], id, "{}", r.text);
    assert_eq!(r.json[0]["created"], 4_994);
    call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/imports?limit=0"), &t)
    )
    .error(422, "invalid", Some("limit"));

    // It has ended: nothing to cancel.
    call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/jobs/{id}")), &t)
    )
    .error(409, "conflict", None);
    call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/imports/999999"), &t)
    )
    .error(404, "not_found", None);
    call!(
        app,
        ctx,
        with_token(
            get(&format!("/api/v1/subscribers/imports/{id}/errors?limit=0")),
            &t
        )
    )
    .error(422, "invalid", Some("limit"));
    // The header is checked at once.
    call!(
        app,
        ctx,
        with_token(
            csv("/api/v1/subscribers/imports", "username,password\nx,y\n"),
            &t
        )
    )
    .error(422, "invalid", Some("plan"));
}

#[actix_web::test]
async fn an_all_or_nothing_import_writes_every_row_or_none() {
    let ctx = Ctx::new().await;
    ctx.admin("a", Role::Admin).await;
    home(&ctx).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let sql = ctx.env.sql().await;

    // Each part is valid alone; the last repeats a name of the first, which only the
    // write of every row together sees: nothing is written.
    let f = file(PART + 500).replace("\nu2400,pw-2400,home\n", "\nu3,pw-2400,home\n");
    let r = call!(
        app,
        ctx,
        with_token(
            csv("/api/v1/subscribers/imports?all_or_nothing=true", &f),
            &t
        )
    );
    r.expect(202);
    let id = r.json["job_id"].as_i64().unwrap();
    let job = ended!(app, ctx, id, &t);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["all_or_nothing"], true);
    assert_eq!(job["processed"], 2_500);
    assert_eq!(job["committed"], false, "{job}");
    assert_eq!(job["created"], 0);
    assert_eq!(job["refused"], 1);
    let rows = refused!(app, ctx, id, &t, 100);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0, rows[0].1.as_str()), (2_401, "username"));
    assert_eq!(live(&sql).await, 0);

    // A refused row found while checking: nothing written either.
    let f = file(PART + 500).replace("\nu2200,pw-2200,home\n", "\nu2200,pw-2200,gold\n");
    let r = call!(
        app,
        ctx,
        with_token(
            csv("/api/v1/subscribers/imports?all_or_nothing=true", &f),
            &t
        )
    );
    let job = ended!(app, ctx, r.json["job_id"].as_i64().unwrap(), &t);
    assert_eq!(
        (job["committed"].clone(), job["refused"].clone()),
        (false.into(), 1.into()),
        "{job}"
    );
    assert_eq!(live(&sql).await, 0);

    // A clean file: every row, in one transaction with one audit row.
    let r = call!(
        app,
        ctx,
        with_token(
            csv(
                "/api/v1/subscribers/imports?all_or_nothing=true",
                &file(PART + 500)
            ),
            &t
        )
    );
    let id = r.json["job_id"].as_i64().unwrap();
    let job = ended!(app, ctx, id, &t);
    assert_eq!(job["committed"], true, "{job}");
    assert_eq!(job["created"], 2_500);
    assert_eq!(job["refused"], 0);
    assert_eq!(job["processed"], 2_500);
    assert_eq!(live(&sql).await, 2_500);
    let audited: i64 = sql
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'subscriber.import' \
             AND (after->>'job_id')::int8 = $1 AND (after->>'created')::int = 2500",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);
}

#[actix_web::test]
async fn a_cancelled_import_writes_no_part_after_and_drops_its_file() {
    let ctx = Ctx::new().await;
    ctx.admin("a", Role::Admin).await;
    ctx.admin("v", Role::Viewer).await;
    home(&ctx).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let viewer = token!(app, ctx, "v");
    let sql = ctx.env.sql().await;

    // A part commits only with its refused rows (none here, the insert still runs):
    // holding that table keeps the runner's first part waiting until the cancel is in.
    let mut hold = ctx.env.sql().await;
    let tx = hold.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE import_job_errors IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let r = call!(
        app,
        ctx,
        with_token(csv("/api/v1/subscribers/imports", &file(3 * PART)), &t)
    );
    r.expect(202);
    let id = r.json["job_id"].as_i64().unwrap();
    // The runner's first part is written and waits for the table: its backend.
    let mut runner = None;
    assert!(
        proisp_testing::wait_until(Duration::from_secs(30), async || {
            runner = sql
                .query_opt(
                    "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                     WHERE c.relname = 'import_job_errors' AND NOT l.granted",
                    &[],
                )
                .await
                .unwrap()
                .map(|r| r.get::<_, i32>(0));
            runner.is_some()
        })
        .await,
        "the runner's first part never came to the held table"
    );
    call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/jobs/{id}")), &viewer)
    )
    .error(403, "forbidden", None);
    let r = call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/jobs/{id}")), &t)
    );
    r.expect(200);
    assert_eq!(r.json["state"], "cancelled", "{}", r.text);
    assert_eq!(r.json["kind"], "subscriber.import");
    assert_eq!(r.json["subject_id"], Value::Null);
    // The file, passwords and all, goes at once.
    let body: Option<Vec<u8>> = sql
        .query_one("SELECT body FROM import_jobs WHERE job_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(body, None);
    tx.rollback().await.unwrap();

    // The part that waited is rolled back with its subscribers; no other is written.
    assert!(
        proisp_testing::wait_until(Duration::from_secs(30), async || {
            sql.query_opt(
                "SELECT FROM pg_stat_activity WHERE pid = $1 AND state <> 'idle'",
                &[&runner],
            )
            .await
            .unwrap()
            .is_none()
        })
        .await,
        "the runner's part never ended"
    );
    let job = ended!(app, ctx, id, &t);
    assert_eq!(job["state"], "cancelled", "{job}");
    assert_eq!(job["processed"], 0, "{job}");
    assert_eq!(job["created"], 0, "{job}");
    assert_eq!(live(&sql).await, 0);
    call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/jobs/{id}")), &t)
    )
    .error(409, "conflict", None);
}

#[actix_web::test]
async fn an_import_whose_runner_died_is_taken_over_where_its_last_part_ended() {
    let ctx = Ctx::new().await;
    ctx.admin("a", Role::Admin).await;
    let plan = home(&ctx).await;
    let store = ctx.env.store().await;
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let sql = ctx.env.sql().await;

    // What a runner killed after its first part leaves: that part's subscribers and
    // progress committed, the file sealed as `POST /subscribers/imports` keeps it, and a
    // lease that has run out.
    let f = file(PART + 700).replace("\nu2600,pw-2600,home\n", "\nu2600,pw-2600,gold\n");
    let first: Vec<ImportRow> = (1..=PART)
        .map(|i| ImportRow {
            row: i + 1,
            subscriber: NewSubscriber::new(format!("u{i}"), format!("pw-{i}"), plan),
        })
        .collect();
    store
        .import_subscribers(first, ImportMode::ValidRows)
        .await
        .unwrap();
    let sealed = ctx
        .env
        .keys
        .encrypt(Label::new("proisp/import-file/v1"), f.as_bytes());
    let id: i64 = sql
        .query_one(
            "WITH job AS (INSERT INTO jobs (kind, created_by, lease_until) \
                 VALUES ('subscriber.import', 'a', now() - interval '1 minute') RETURNING id) \
             INSERT INTO import_jobs (job_id, body, all_or_nothing, rows, processed, created) \
             SELECT id, $1, false, 2700, 2000, 2000 FROM job RETURNING job_id",
            &[&sealed],
        )
        .await
        .unwrap()
        .get(0);

    proisp_adminapi::routes::subscribers::import_job::resume_orphans(&ctx.state)
        .await
        .unwrap();
    let job = ended!(app, ctx, id, &t);
    // Nothing of the first part again: no "already taken" for its 2,000 rows.
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["processed"], 2_700);
    assert_eq!(job["created"], 2_699, "{job}");
    assert_eq!(job["refused"], 1, "{job}");
    let rows = refused!(app, ctx, id, &t, 100);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0, rows[0].1.as_str()), (2_601, "plan"));
    assert_eq!(live(&sql).await, 2_699);
    assert_eq!(
        store
            .subscriber("u2700")
            .await
            .unwrap()
            .unwrap()
            .password
            .as_bytes(),
        b"pw-2700"
    );
    // Its audit row carries who started it.
    let by: String = sql
        .query_one(
            "SELECT admin_username FROM audit_log WHERE action = 'subscriber.import' \
             AND (after->>'job_id')::int8 = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(by, "a");
}

#[actix_web::test]
async fn jobs_ended_thirty_days_ago_are_purged_with_their_refused_rows() {
    let ctx = Ctx::new().await;
    ctx.admin("a", Role::Admin).await;
    home(&ctx).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let sql = ctx.env.sql().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = call!(
            app,
            ctx,
            with_token(
                csv(
                    "/api/v1/subscribers/imports",
                    "username,password,plan\nx,y,gold\n"
                ),
                &t
            )
        );
        let id = r.json["job_id"].as_i64().unwrap();
        assert_eq!(ended!(app, ctx, id, &t)["refused"], 1);
        ids.push(id);
    }
    sql.execute(
        "UPDATE jobs SET finished_at = now() - interval '31 days' WHERE id = $1",
        &[&ids[0]],
    )
    .await
    .unwrap();
    // A job still running is kept however old.
    sql.execute(
        "INSERT INTO jobs (kind, subject_id, created_by, created_at, lease_until) \
         VALUES ('plan.apply', 1, 'a', now() - interval '40 days', now() + interval '1 minute')",
        &[],
    )
    .await
    .unwrap();
    let purged =
        proisp_adminapi::jobs::purge_ended(&ctx.state.db, proisp_adminapi::jobs::JOB_RETENTION)
            .await
            .unwrap();
    assert_eq!(purged, 1);
    let left: Vec<i64> = sql
        .query("SELECT job_id FROM import_job_errors ORDER BY job_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, [ids[1]]);
    let jobs: i64 = sql
        .query_one("SELECT count(*) FROM jobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(jobs, 2);
    call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/subscribers/imports/{}", ids[0])), &t)
    )
    .error(404, "not_found", None);
}

#[actix_web::test]
async fn two_runners_of_one_import_record_each_part_once() {
    let ctx = Ctx::new().await;
    ctx.admin("a", Role::Admin).await;
    home(&ctx).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let sql = ctx.env.sql().await;
    // Every row refused: no unique name stops a second writer of a part, only the
    // progress it must find as it left it.
    let f = file(3 * PART).replace(",home\n", ",gold\n");
    let waiting = async || {
        sql.query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 'import_job_errors' AND NOT l.granted",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
    };

    // The first runner's first part waits for the table…
    let mut hold = ctx.env.sql().await;
    let tx = hold.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE import_job_errors IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let r = call!(
        app,
        ctx,
        with_token(csv("/api/v1/subscribers/imports", &f), &t)
    );
    r.expect(202);
    let id = r.json["job_id"].as_i64().unwrap();
    assert!(
        proisp_testing::wait_until(Duration::from_secs(30), async || waiting().await == 1).await
    );
    // …so long that its lease runs out and a second runner takes the job over.
    sql.execute(
        "UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    proisp_adminapi::routes::subscribers::import_job::resume_orphans(&ctx.state)
        .await
        .unwrap();
    assert!(
        proisp_testing::wait_until(Duration::from_secs(30), async || waiting().await == 2).await
    );
    tx.rollback().await.unwrap();

    let job = ended!(app, ctx, id, &t);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["processed"], 3 * PART, "{job}");
    assert_eq!(job["refused"], 3 * PART, "{job}");
    let rows = refused!(app, ctx, id, &t, 1000);
    assert_eq!(rows.len(), 3 * PART);
    let mut numbers: Vec<u64> = rows.iter().map(|r| r.0).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 3 * PART, "a row reported twice");
}
