//! Sessions end to end: the online list, kick against a fake NAS (ACK, NAK with
//! Error-Cause 503, silence), history, usage, live plan changes, permissions.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proisp_adminapi::permission::Role;
use proisp_model::RateLimit;
use proisp_model::{AcctRecord, AcctStatus};
use proisp_radius::header::Code;
use proisp_store::{NewNas, NewPlan, NewSubscriber, Store};
use proisp_testing::FakeNas;
use proisp_testing::fake_nas::Answer;
use serde_json::json;

use super::nas::NAS_SECRET;
use super::{Ctx, app, call, get, post, token, with_token};

pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A NAS's CoA server on `ip` sharing [`NAS_SECRET`].
pub(crate) fn fake_nas(ip: &str, answer: Answer) -> FakeNas {
    FakeNas::start(ip, NAS_SECRET.as_bytes(), answer)
}

pub(crate) fn record(
    status: AcctStatus,
    nas_id: i64,
    user: &str,
    sid: &str,
    down: u64,
) -> AcctRecord {
    AcctRecord {
        status,
        nas_id,
        acct_session_id: sid.into(),
        username: user.into(),
        upload_octets: down / 10,
        download_octets: down,
        session_time_secs: 60,
        received_at_ms: now_ms(),
        delay_secs: 0,
        framed_ip: Some(Ipv4Addr::new(100, 64, 0, 7)),
        calling_station_id: Some("AA:BB:CC:00:00:01".into()),
        nas_port_id: Some("<pppoe-x>".into()),
        terminate_cause: (status == AcctStatus::Stop).then(|| "User-Request".into()),
    }
}

pub(crate) async fn nas(store: &Store, name: &str, addr: &str, coa_port: u16) -> i64 {
    let mut n = NewNas::new(name, addr.parse().unwrap(), NAS_SECRET.as_bytes());
    n.coa_port = coa_port;
    store.create_nas(&n).await.unwrap().id
}

/// Plan `home`, subscribers alice-1 … alice-3 (ids returned), no NAS yet.
async fn subscribers(store: &Store) -> (i64, Vec<i64>) {
    let mut plan = NewPlan::new("home", 20_000, 5_000);
    plan.quota_bytes = Some(1 << 40);
    plan.fup_rate = Some(RateLimit {
        download_kbps: 1_000,
        upload_kbps: 500,
        ..RateLimit::default()
    });
    let plan = store.create_plan(&plan).await.unwrap();
    let mut ids = Vec::new();
    for i in 1..=3 {
        let mut s = NewSubscriber::new(format!("alice-{i}"), "pw", plan.id);
        s.simultaneous_use = 0;
        ids.push(store.create_subscriber(&s).await.unwrap().id);
    }
    (plan.id, ids)
}

/// `apply!(app, ctx, plan_id, token)`: applies the plan as a job (202 with its Location)
/// and polls the job until it has ended; the job's view.
macro_rules! apply {
    ($app:expr, $ctx:expr, $plan_id:expr, $t:expr) => {{
        let r = call!(
            $app,
            $ctx,
            with_token(
                post(&format!("/api/v1/plans/{}/apply", $plan_id), json!({})),
                $t
            )
        );
        r.expect(202);
        let job_id = r.json["job_id"].as_i64().unwrap();
        assert_eq!(
            r.headers.get("location").unwrap(),
            &format!("/api/v1/jobs/{job_id}")
        );
        let mut job = serde_json::Value::Null;
        let ended = proisp_testing::wait_until(Duration::from_secs(30), async || {
            job = call!(
                $app,
                $ctx,
                with_token(get(&format!("/api/v1/jobs/{job_id}")), $t)
            )
            .json;
            job["state"] != "running"
        })
        .await;
        assert!(ended, "job {job_id} still running: {job}");
        job
    }};
}

#[actix_web::test]
async fn online_list_history_usage_and_permissions() {
    let ctx = Ctx::new().await;
    ctx.forbid(NAS_SECRET);
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "vera");
    let store = ctx.env.store().await;
    let (_, subs) = subscribers(&store).await;
    let n1 = nas(&store, "n1", "192.0.2.1", 3799).await;
    let n2 = nas(&store, "n2", "192.0.2.2", 3799).await;
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.push(record(
            AcctStatus::Start,
            n1,
            "alice-1",
            &format!("a{i}"),
            0,
        ));
    }
    batch.push(record(AcctStatus::Start, n2, "alice-2", "b0", 0));
    batch.push(record(AcctStatus::Start, n2, "stranger", "c0", 0));
    store.apply_accounting(&batch, 3).await.unwrap();

    call!(app, ctx, get("/api/v1/sessions")).error(401, "unauthorized", None);
    let r = call!(app, ctx, with_token(get("/api/v1/sessions"), &t));
    r.expect(200);
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    assert_eq!(r.json["next_after_id"], serde_json::Value::Null);
    let first = &items[0];
    assert_eq!(first["username"], "alice-1");
    assert_eq!(first["nas_id"], n1);
    assert_eq!(first["subscriber_id"], subs[0]);
    assert_eq!(first["framed_ip"], "100.64.0.7");
    assert_eq!(first["calling_station_id"], "AA:BB:CC:00:00:01");
    assert!(first["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(items[6]["subscriber_id"], serde_json::Value::Null);

    let by_nas = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/sessions?nas_id={n2}")), &t)
    );
    assert_eq!(by_nas.json["items"].as_array().unwrap().len(), 2);
    let by_name = call!(
        app,
        ctx,
        with_token(get("/api/v1/sessions?username=alice-2"), &t)
    );
    assert_eq!(by_name.json["items"].as_array().unwrap().len(), 1);
    let by_sub = call!(
        app,
        ctx,
        with_token(
            get(&format!("/api/v1/sessions?subscriber_id={}", subs[0])),
            &t
        )
    );
    assert_eq!(by_sub.json["items"].as_array().unwrap().len(), 5);
    // Paging.
    let p1 = call!(app, ctx, with_token(get("/api/v1/sessions?limit=4"), &t));
    assert_eq!(p1.json["items"].as_array().unwrap().len(), 4);
    let after = p1.json["next_after_id"].as_i64().unwrap();
    let p2 = call!(
        app,
        ctx,
        with_token(
            get(&format!("/api/v1/sessions?limit=4&after_id={after}")),
            &t
        )
    );
    assert_eq!(p2.json["items"].as_array().unwrap().len(), 3);
    // Validation and not found.
    call!(app, ctx, with_token(get("/api/v1/sessions?limit=0"), &t)).error(
        422,
        "invalid",
        Some("limit"),
    );
    call!(app, ctx, with_token(get("/api/v1/sessions?nas_id=x"), &t)).expect(422);
    call!(app, ctx, with_token(get("/api/v1/sessions?sort=up"), &t)).expect(422);
    call!(
        app,
        ctx,
        with_token(get("/api/v1/sessions?subscriber_id=1&username=x"), &t)
    )
    .error(422, "invalid", Some("subscriber_id"));
    call!(
        app,
        ctx,
        with_token(get("/api/v1/sessions?subscriber_id=999999"), &t)
    )
    .error(404, "not_found", None);

    // History: five sessions of alice-1 end, newest first, paged.
    let mut stops = Vec::new();
    for i in 0..5 {
        stops.push(record(
            AcctStatus::Stop,
            n1,
            "alice-1",
            &format!("a{i}"),
            1_000 * (i + 1),
        ));
    }
    for (i, s) in stops.iter_mut().enumerate() {
        s.received_at_ms += i64::try_from(i).unwrap() * 1000;
    }
    store.apply_accounting(&stops, 3).await.unwrap();
    let h = call!(
        app,
        ctx,
        with_token(
            get(&format!(
                "/api/v1/subscribers/{}/sessions/history?limit=3",
                subs[0]
            )),
            &t
        )
    );
    h.expect(200);
    let items = h.json["items"].as_array().unwrap();
    let sids: Vec<&str> = items
        .iter()
        .map(|i| i["acct_session_id"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["a4", "a3", "a2"]);
    assert_eq!(items[0]["download_octets"], 5000);
    assert_eq!(items[0]["upload_octets"], 500);
    assert_eq!(items[0]["closed_by"], "stop");
    assert_eq!(items[0]["terminate_cause"], "User-Request");
    let before = h.json["next_before"].as_str().unwrap();
    let h2 = call!(
        app,
        ctx,
        with_token(
            get(&format!(
                "/api/v1/subscribers/{}/sessions/history?limit=3&before={before}",
                subs[0]
            )),
            &t
        )
    );
    let sids: Vec<&str> = h2.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["acct_session_id"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["a1", "a0"]);
    assert_eq!(h2.json["next_before"], serde_json::Value::Null);
    call!(
        app,
        ctx,
        with_token(
            get(&format!(
                "/api/v1/subscribers/{}/sessions/history?before=nonsense",
                subs[0]
            )),
            &t
        )
    )
    .error(422, "invalid", Some("before"));
    call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/999999/sessions/history"), &t)
    )
    .error(404, "not_found", None);
    let empty = call!(
        app,
        ctx,
        with_token(
            get(&format!("/api/v1/subscribers/{}/sessions/history", subs[2])),
            &t
        )
    );
    assert_eq!(empty.json["items"], json!([]));

    // Usage: what the Stops counted, in download/upload words.
    let u = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/subscribers/{}/usage", subs[0])), &t)
    );
    u.expect(200);
    assert_eq!(u.json["username"], "alice-1");
    assert_eq!(u.json["period"], "month");
    assert_eq!(u.json["quota_bytes"], 1u64 << 40);
    assert_eq!(u.json["fair_usage_until"], serde_json::Value::Null);
    let periods = u.json["items"].as_array().unwrap();
    assert_eq!(periods.len(), 1);
    assert_eq!(periods[0]["download_octets"], 15_000);
    assert_eq!(periods[0]["upload_octets"], 1_500);
    assert_eq!(periods[0]["total_octets"], 16_500);
    assert_eq!(periods[0]["period_start"], u.json["current_period_start"]);
    let none = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/subscribers/{}/usage", subs[2])), &t)
    );
    assert_eq!(none.json["items"], json!([]));
    call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/999999/usage"), &t)
    )
    .error(404, "not_found", None);
    call!(
        app,
        ctx,
        with_token(
            get(&format!(
                "/api/v1/subscribers/{}/usage?before=yesterday",
                subs[0]
            )),
            &t
        )
    )
    .error(422, "invalid", Some("before"));

    // A viewer may not kick or change plans live.
    let id = call!(app, ctx, with_token(get("/api/v1/sessions"), &t)).json["items"][0]["id"]
        .as_i64()
        .unwrap();
    call!(
        app,
        ctx,
        with_token(post(&format!("/api/v1/sessions/{id}/kick"), json!({})), &t)
    )
    .error(403, "forbidden", None);
    call!(
        app,
        ctx,
        with_token(post("/api/v1/plans/1/apply", json!({})), &t)
    )
    .error(403, "forbidden", None);
}

#[actix_web::test]
async fn kick_reports_ack_nak_and_timeout() {
    // A silent NAS answers `timeout` after three tries of 300 ms ([coa] in the config).
    let ctx = Ctx::with(|c| c.coa.timeout = Duration::from_millis(300)).await;
    ctx.forbid(NAS_SECRET);
    ctx.admin("sam", Role::Support).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "sam");
    let store = ctx.env.store().await;
    subscribers(&store).await;
    let acks = fake_nas("127.0.0.1", Answer::Ack);
    let naks = fake_nas("127.0.0.2", Answer::Nak(503));
    let silent = fake_nas("127.0.0.3", Answer::Silence);
    let n_ack = nas(&store, "acks", "127.0.0.1", acks.port()).await;
    let n_nak = nas(&store, "naks", "127.0.0.2", naks.port()).await;
    let n_silent = nas(&store, "silent", "127.0.0.3", silent.port()).await;
    let n_range = {
        let mut n = NewNas::new("range", "10.9.0.0".parse().unwrap(), NAS_SECRET.as_bytes());
        n.prefix_len = 16;
        store.create_nas(&n).await.unwrap().id
    };
    store
        .apply_accounting(
            &[
                record(AcctStatus::Start, n_ack, "alice-1", "k1", 0),
                record(AcctStatus::Start, n_nak, "alice-2", "k2", 0),
                record(AcctStatus::Start, n_silent, "alice-3", "k3", 0),
                record(AcctStatus::Start, n_range, "alice-3", "k4", 0),
            ],
            3,
        )
        .await
        .unwrap();
    let sessions = call!(app, ctx, with_token(get("/api/v1/sessions"), &t));
    let id_of = |sid: &str| {
        sessions.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["acct_session_id"] == sid)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let kick = |id: i64| with_token(post(&format!("/api/v1/sessions/{id}/kick"), json!({})), &t);

    let r = call!(app, ctx, kick(id_of("k1")));
    r.expect(200);
    assert_eq!(r.json["result"], "ack", "{}", r.text);
    assert_eq!(r.json["error_cause"], serde_json::Value::Null);
    assert_eq!(r.json["username"], "alice-1");
    assert_eq!(r.json["sent_to"], format!("127.0.0.1:{}", acks.port()));
    let seen = acks.next(Duration::from_secs(1)).unwrap();
    assert_eq!(seen.code, Code::DisconnectRequest);
    assert_eq!(seen.user, "alice-1");
    assert_eq!(seen.session, "k1");
    assert_eq!(seen.framed_ip, Some(Ipv4Addr::new(100, 64, 0, 7)));

    let r = call!(app, ctx, kick(id_of("k2")));
    r.expect(200);
    assert_eq!(r.json["result"], "nak", "{}", r.text);
    assert_eq!(r.json["error_cause"]["code"], 503);
    assert_eq!(
        r.json["error_cause"]["name"], "Session-Context-Not-Found",
        "{}",
        r.text
    );
    assert!(naks.next(Duration::from_secs(1)).is_some());

    let r = call!(app, ctx, kick(id_of("k3")));
    r.expect(200);
    assert_eq!(r.json["result"], "timeout", "{}", r.text);
    // Three tries of the same request.
    for _ in 0..3 {
        let seen = silent.next(Duration::from_secs(1)).unwrap();
        assert_eq!(seen.session, "k3");
    }

    call!(app, ctx, kick(id_of("k4"))).error(409, "conflict", None);
    call!(app, ctx, kick(999_999)).error(404, "not_found", None);
    call!(
        app,
        ctx,
        with_token(post("/api/v1/sessions/abc/kick", json!({})), &t)
    )
    .error(404, "not_found", None);

    // Each kick is audited with its outcome.
    let sql = ctx.env.sql().await;
    let rows = sql
        .query(
            "SELECT after->>'result', after->>'acct_session_id', admin_username FROM audit_log \
             WHERE action = 'session.kick' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            ("ack".into(), "k1".into(), "sam".into()),
            ("nak".into(), "k2".into(), "sam".into()),
            ("timeout".into(), "k3".into(), "sam".into()),
        ]
    );
    // And announced: a coa.result event each, in the outbox.
    let rows = sql
        .query(
            "SELECT event->'data'->>'Acct-Session-Id', event->'data'->>'result', \
                    event->'data'->>'request', event->'data'->>'reason', \
                    event->'data'->>'NAS-Identifier', event->>'source' \
             FROM event_outbox WHERE subject = 'proisp.v1.coa.result' ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let events: Vec<Vec<String>> = rows
        .iter()
        .map(|r| (0..6).map(|i| r.get::<_, String>(i)).collect())
        .collect();
    let want = |sid: &str, result: &str, nas: &str| {
        [sid, result, "disconnect", "admin", nas, "/proisp/adminapi"].map(String::from)
    };
    assert_eq!(
        events,
        [
            want("k1", "ack", "acks"),
            want("k2", "nak", "naks"),
            want("k3", "timeout", "silent"),
        ]
    );
}

#[actix_web::test]
async fn a_plan_applied_live_sends_its_rate_to_online_subscribers() {
    let ctx = Ctx::new().await;
    ctx.forbid(NAS_SECRET);
    ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "alice");
    let store = ctx.env.store().await;
    let (plan_id, subs) = subscribers(&store).await;
    let fake = fake_nas("127.0.0.1", Answer::Ack);
    let n = nas(&store, "bras", "127.0.0.1", fake.port()).await;
    let cisco = {
        let mut c = NewNas::new("cisco", "127.0.0.5".parse().unwrap(), NAS_SECRET.as_bytes());
        c.vendor = proisp_model::NasVendor::Cisco;
        store.create_nas(&c).await.unwrap().id
    };
    store
        .apply_accounting(
            &[
                record(AcctStatus::Start, n, "alice-1", "p1", 0),
                record(AcctStatus::Start, n, "alice-2", "p2", 0),
                record(AcctStatus::Start, cisco, "alice-3", "p3", 0),
                record(AcctStatus::Start, n, "stranger", "p4", 0),
            ],
            3,
        )
        .await
        .unwrap();
    // alice-2 spent the quota: the fair-usage rate stays.
    let sql = ctx.env.sql().await;
    sql.execute(
        "UPDATE subscribers SET fup_until = now() + interval '1 day' WHERE id = $1",
        &[&subs[1]],
    )
    .await
    .unwrap();

    let r = call!(
        app,
        ctx,
        with_token(
            super::patch(
                &format!("/api/v1/plans/{plan_id}"),
                json!({"download_kbps": 30000})
            ),
            &t
        )
    );
    r.expect(200);
    let job = apply!(app, ctx, plan_id, &t);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["kind"], "plan.apply");
    assert_eq!(job["subject_id"], plan_id);
    assert_eq!(job["totals"]["sessions"], 3, "{job}");
    assert_eq!(job["totals"]["ack"], 2);
    assert_eq!(job["totals"]["skipped"], 1);
    assert_eq!(job["nas"][0]["nas_id"], n, "{job}");
    assert_eq!(job["nas"][0]["ack"], 2, "{job}");
    assert_eq!(job["nas"][1]["nas_id"], cisco, "{job}");
    assert_eq!(job["nas"][1]["skipped"], 1, "{job}");
    let mut seen: Vec<(String, Option<String>)> = (0..2)
        .map(|_| {
            let s = fake.next(Duration::from_secs(1)).unwrap();
            assert_eq!(s.code, Code::CoaRequest);
            (s.user, s.rate_limit)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("alice-1".into(), Some("5M/30M".into())),
            ("alice-2".into(), Some("500k/1M".into())),
        ]
    );
    call!(
        app,
        ctx,
        with_token(post("/api/v1/plans/999999/apply", json!({})), &t)
    )
    .error(404, "not_found", None);

    // An ended job cannot be cancelled; an unknown one is 404.
    let job_id = job["id"].as_i64().unwrap();
    call!(
        app,
        ctx,
        with_token(super::delete(&format!("/api/v1/jobs/{job_id}")), &t)
    )
    .error(409, "conflict", None);
    call!(app, ctx, with_token(get("/api/v1/jobs/999999"), &t)).error(404, "not_found", None);

    // A job whose runner died (its lease ran out: killed, restarted) is taken over by an
    // adminapi and run to its end.
    let orphan: i64 = sql
        .query_one(
            "INSERT INTO jobs (kind, subject_id, created_by, lease_until) \
             VALUES ('plan.apply', $1, 'alice', now() - interval '1 minute') RETURNING id",
            &[&plan_id],
        )
        .await
        .unwrap()
        .get(0);
    proisp_adminapi::jobs::resume_orphans(&ctx.state)
        .await
        .unwrap();
    let mut job = serde_json::Value::Null;
    assert!(
        proisp_testing::wait_until(Duration::from_secs(30), async || {
            job = call!(
                app,
                ctx,
                with_token(get(&format!("/api/v1/jobs/{orphan}")), &t)
            )
            .json;
            job["state"] == "done"
        })
        .await,
        "{job}"
    );
    assert_eq!(job["totals"]["ack"], 2, "{job}");
    assert_eq!(job["created_by"], "alice");
}

#[actix_web::test]
async fn a_silent_nas_defers_its_own_changes_and_holds_up_no_one_else() {
    // One try of 200 ms; two timeouts in a row mark a NAS unreachable.
    let ctx = Ctx::with(|c| {
        c.coa.timeout = Duration::from_millis(200);
        c.coa.retries = 0;
        c.coa.unreachable_after = 2;
    })
    .await;
    ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "alice");
    let store = ctx.env.store().await;
    let (plan_id, _) = subscribers(&store).await;
    let live = fake_nas("127.0.0.1", Answer::Ack);
    let silent = fake_nas("127.0.0.3", Answer::Silence);
    let n_live = nas(&store, "live", "127.0.0.1", live.port()).await;
    let n_silent = nas(&store, "silent", "127.0.0.3", silent.port()).await;
    store
        .apply_accounting(
            &[
                record(AcctStatus::Start, n_silent, "alice-3", "s1", 0),
                record(AcctStatus::Start, n_silent, "alice-3", "s2", 0),
                record(AcctStatus::Start, n_silent, "alice-3", "s3", 0),
                record(AcctStatus::Start, n_live, "alice-1", "a1", 0),
                record(AcctStatus::Start, n_live, "alice-2", "a2", 0),
            ],
            3,
        )
        .await
        .unwrap();

    let job = apply!(app, ctx, plan_id, &t);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["totals"]["sessions"], 5, "{job}");
    assert_eq!(job["totals"]["ack"], 2, "{job}");
    assert_eq!(job["totals"]["deferred"], 3, "{job}");
    assert_eq!(job["totals"]["timeout"], 0, "{job}");
    for _ in 0..2 {
        let seen = live.next(Duration::from_secs(1)).unwrap();
        assert_eq!(seen.code, Code::CoaRequest);
    }

    // The NAS is marked: a kick waits in its lane rather than three timeouts long.
    let sessions = call!(app, ctx, with_token(get("/api/v1/sessions"), &t));
    let s1 = sessions.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["acct_session_id"] == "s1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = call!(
        app,
        ctx,
        with_token(post(&format!("/api/v1/sessions/{s1}/kick"), json!({})), &t)
    );
    r.expect(200);
    assert_eq!(r.json["result"], "deferred", "{}", r.text);

    // Kept in PostgreSQL, one per session (the kick replaced s1's rate change), and shown
    // in the NAS view; the live NAS has nothing waiting.
    let view = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/nas/{n_silent}")), &t)
    );
    view.expect(200);
    let health = &view.json["coa_health"];
    assert_eq!(health["kept"], 3, "{}", view.text);
    assert_eq!(health["unreachable"], true, "{}", view.text);
    assert!(health["oldest_kept_at"].is_string(), "{}", view.text);
    let kept: Vec<(String, Vec<u8>)> = ctx
        .env
        .sql()
        .await
        .query(
            "SELECT acct_session_id, request FROM coa_deferred ORDER BY acct_session_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let sessions: Vec<&str> = kept.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(sessions, ["s1", "s2", "s3"]);
    let kick = proisp_radius::dynauth::Request::from_octets(&kept[0].1).unwrap();
    assert_eq!(kick.kind, proisp_radius::dynauth::Kind::Disconnect);
    let list = call!(app, ctx, with_token(get("/api/v1/nas"), &t));
    let live_view = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == n_live)
        .unwrap()
        .clone();
    assert_eq!(live_view["coa_health"]["kept"], 0, "{}", list.text);
    assert_eq!(live_view["coa_health"]["ack"], 2, "{}", list.text);
    assert_eq!(
        live_view["coa_health"]["unreachable"], false,
        "{}",
        list.text
    );
}

#[actix_web::test]
async fn a_running_job_is_cancelled_and_says_so() {
    // A silent NAS with a window of one: each change holds the lane for 2 s, so the job
    // runs for seconds.
    let ctx = Ctx::with(|c| {
        c.coa.timeout = Duration::from_secs(2);
        c.coa.retries = 0;
        c.coa.unreachable_after = 100;
    })
    .await;
    ctx.admin("alice", Role::Admin).await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "alice");
    let viewer = token!(app, ctx, "vera");
    let store = ctx.env.store().await;
    let (plan_id, _) = subscribers(&store).await;
    let silent = fake_nas("127.0.0.3", Answer::Silence);
    let mut n = NewNas::new("slow", "127.0.0.3".parse().unwrap(), NAS_SECRET.as_bytes());
    n.coa_port = silent.port();
    n.coa_lane.window = Some(1);
    let n = store.create_nas(&n).await.unwrap().id;
    let records: Vec<AcctRecord> = (1..=3)
        .map(|i| {
            record(
                AcctStatus::Start,
                n,
                &format!("alice-{i}"),
                &format!("c{i}"),
                0,
            )
        })
        .collect();
    store.apply_accounting(&records, 3).await.unwrap();

    let r = call!(
        app,
        ctx,
        with_token(
            post(&format!("/api/v1/plans/{plan_id}/apply"), json!({})),
            &t
        )
    );
    r.expect(202);
    let job_id = r.json["job_id"].as_i64().unwrap();
    let cancel = || with_token(super::delete(&format!("/api/v1/jobs/{job_id}")), &t);
    // A viewer may look, not cancel.
    let seen = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/jobs/{job_id}")), &viewer)
    );
    seen.expect(200);
    call!(
        app,
        ctx,
        with_token(super::delete(&format!("/api/v1/jobs/{job_id}")), &viewer)
    )
    .error(403, "forbidden", None);
    let r = call!(app, ctx, cancel());
    r.expect(200);
    assert_eq!(r.json["state"], "cancelled", "{}", r.text);
    assert!(r.json["finished_at"].is_string(), "{}", r.text);
    call!(app, ctx, cancel()).error(409, "conflict", None);
    // The runner notices and ends without overwriting the cancellation.
    let r = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/jobs/{job_id}")), &t)
    );
    assert_eq!(r.json["state"], "cancelled");
}

#[actix_web::test]
async fn a_deleted_subscriber_has_no_history_usage_or_sessions_filter() {
    let ctx = Ctx::new().await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "vera");
    let store = ctx.env.store().await;
    let (_, subs) = subscribers(&store).await;
    let n1 = nas(&store, "n1", "192.0.2.1", 3799).await;
    store
        .apply_accounting(
            &[
                record(AcctStatus::Start, n1, "alice-1", "a0", 0),
                record(AcctStatus::Stop, n1, "alice-1", "a0", 1_000),
            ],
            3,
        )
        .await
        .unwrap();
    let paths = [
        format!("/api/v1/subscribers/{}/usage", subs[0]),
        format!("/api/v1/subscribers/{}/sessions/history", subs[0]),
        format!("/api/v1/sessions?subscriber_id={}", subs[0]),
    ];
    for path in &paths {
        call!(app, ctx, with_token(get(path), &t)).expect(200);
    }
    store.delete_subscriber("alice-1").await.unwrap();
    for path in &paths {
        let r = call!(app, ctx, with_token(get(path), &t));
        r.error(404, "not_found", None);
        assert!(!r.text.contains("alice-1"), "{}", r.text);
    }
}
