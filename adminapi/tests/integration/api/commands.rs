//! `POST /commands/subscriber/{command}`: billing's commands over REST, idempotent by
//! `Idempotency-Key` (scoped to the admin), recorded beside the NATS ones, with the same
//! `command.result` event in the outbox.

use proisp_adminapi::permission::Role;
use proisp_model::{AcctStatus, RateLimit, Status};
use proisp_radius::header::Code;
use proisp_store::{NewPlan, NewSubscriber};
use proisp_testing::fake_nas::Answer;
use serde_json::{Value, json};

use super::nas::NAS_SECRET;
use super::sessions::{fake_nas, nas, record};
use super::{Ctx, app, call, post, token, with_token};

fn command(
    name: &str,
    key: Option<&str>,
    body: Value,
    token: &str,
) -> actix_web::test::TestRequest {
    let req = with_token(
        post(&format!("/api/v1/commands/subscriber/{name}"), body),
        token,
    );
    match key {
        Some(k) => req.insert_header(("Idempotency-Key", k)),
        None => req,
    }
}

#[actix_web::test]
async fn rest_commands_replay_by_idempotency_key() {
    let ctx = Ctx::new().await;
    ctx.admin("bill", Role::Admin).await;
    ctx.admin("other", Role::Admin).await;
    ctx.admin("viewer", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "bill");
    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("basic", 10_000, 2_000))
        .await
        .unwrap();
    store
        .create_subscriber(&NewSubscriber::new("carol", "pw-carol-1", plan.id))
        .await
        .unwrap();
    let body = json!({"username": "carol", "data": {}});

    let r = call!(app, ctx, command("suspend", Some("k-1"), body.clone(), &t));
    r.expect(200);
    assert_eq!(r.json, json!({"command_id": "k-1", "ok": true}));
    assert!(r.headers.get("idempotent-replayed").is_none());
    let carol = store.subscriber("carol").await.unwrap().unwrap();
    assert_eq!(carol.status, Status::Suspended);

    // A retry: the first answer, nothing changed.
    let r = call!(app, ctx, command("suspend", Some("k-1"), body.clone(), &t));
    r.expect(200);
    assert_eq!(r.json, json!({"command_id": "k-1", "ok": true}));
    assert_eq!(r.header("idempotent-replayed"), "true");
    let again = store.subscriber("carol").await.unwrap().unwrap();
    assert_eq!(again.version, carol.version);

    // The same key for another request: 422, nothing done.
    let r = call!(app, ctx, command("resume", Some("k-1"), body.clone(), &t));
    r.error(422, "invalid", Some("Idempotency-Key"));
    assert_eq!(
        store.subscriber("carol").await.unwrap().unwrap().status,
        Status::Suspended
    );
    // The key is the caller's: another admin's k-1 is a command of its own.
    let t2 = token!(app, ctx, "other");
    let r = call!(app, ctx, command("resume", Some("k-1"), body.clone(), &t2));
    r.expect(200);
    assert_eq!(r.json["ok"], true, "{}", r.text);
    assert_eq!(
        store.subscriber("carol").await.unwrap().unwrap().status,
        Status::Active
    );

    // Refusals are results too, and replay as such.
    let r = call!(
        app,
        ctx,
        command(
            "set_plan",
            Some("k-2"),
            json!({"username": "carol", "data": {"plan": "gold"}}),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["ok"], false);
    assert_eq!(r.json["error"]["code"], "not_found");
    let r = call!(
        app,
        ctx,
        command(
            "renew",
            Some("k-3"),
            json!({"username": "carol", "data": {"expires_at": "2000-01-01T00:00:00Z"}}),
            &t
        )
    );
    assert_eq!(r.json["error"]["code"], "invalid", "{}", r.text);
    let r = call!(
        app,
        ctx,
        command("resume", Some("k-4"), json!({"username": "nobody"}), &t)
    );
    assert_eq!(r.json["error"]["code"], "not_found", "{}", r.text);

    // No key: 400; an unknown command: 404; a body of the wrong shape: 422; a viewer: 403.
    call!(app, ctx, command("suspend", None, body.clone(), &t)).error(
        400,
        "bad_request",
        Some("Idempotency-Key"),
    );
    call!(app, ctx, command("explode", Some("k-5"), body.clone(), &t)).error(
        404,
        "not_found",
        None,
    );
    call!(
        app,
        ctx,
        command("suspend", Some("k-6"), json!({"user": "carol"}), &t)
    )
    .expect(422);
    let tv = token!(app, ctx, "viewer");
    call!(app, ctx, command("suspend", Some("k-7"), body.clone(), &tv)).expect(403);

    // Recorded as REST commands of their admins, each with one result event per answer.
    let client = store.client().await.unwrap();
    let rows = client
        .query(
            "SELECT credential, command_id, source FROM commands ORDER BY created_at, command_id",
            &[],
        )
        .await
        .unwrap();
    let recorded: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(recorded.len(), 5, "{recorded:?}");
    assert!(recorded.iter().all(|(_, _, s)| s == "rest"));
    assert!(recorded.contains(&("other".to_owned(), "k-1".to_owned(), "rest".to_owned())));
    let results: i64 = client
        .query_one(
            "SELECT count(*) FROM event_outbox WHERE subject = 'proisp.v1.command.result'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(results, 6, "five commands and one replay");
}

#[actix_web::test]
async fn reset_quota_ends_fair_usage_and_sends_the_full_rate() {
    let ctx = Ctx::new().await;
    ctx.forbid(NAS_SECRET);
    ctx.admin("bill", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "bill");
    let store = ctx.env.store().await;
    let mut plan = NewPlan::new("capped", 20_000, 5_000);
    plan.quota_bytes = Some(1_000_000);
    plan.fup_rate = Some(RateLimit {
        download_kbps: 1_000,
        upload_kbps: 500,
        ..RateLimit::default()
    });
    let plan = store.create_plan(&plan).await.unwrap();
    store
        .create_subscriber(&NewSubscriber::new("frank", "pw-frank-1", plan.id))
        .await
        .unwrap();
    let acks = fake_nas("127.0.0.1", Answer::Ack);
    let nas_id = nas(&store, "nas1", "127.0.0.1", acks.port()).await;
    store
        .apply_accounting(&[record(AcctStatus::Start, nas_id, "frank", "f1", 0)], 3)
        .await
        .unwrap();
    store
        .apply_accounting(
            &[record(
                AcctStatus::InterimUpdate,
                nas_id,
                "frank",
                "f1",
                5_000_000,
            )],
            3,
        )
        .await
        .unwrap();
    let sql = ctx.env.sql().await;
    let in_fup: bool = sql
        .query_one(
            "SELECT fup_until > now() FROM subscribers WHERE username = 'frank'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(in_fup, "the quota was not spent");

    let r = call!(
        app,
        ctx,
        command("reset_quota", Some("q-1"), json!({"username": "frank"}), &t)
    );
    r.expect(200);
    assert_eq!(r.json, json!({"command_id": "q-1", "ok": true}));
    let row = sql
        .query_one(
            "SELECT s.fup_until IS NULL, \
                    (SELECT sum(u.download_octets + u.upload_octets)::int8 FROM usage u \
                     WHERE u.subscriber_id = s.id) \
             FROM subscribers s WHERE s.username = 'frank'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "fair usage still on");
    assert_eq!(row.get::<_, Option<i64>>(1), Some(0), "usage not reset");
    // The open session gets the plan's full rate.
    acks.until(|seen| !seen.requests.is_empty()).await;
    let coa = acks.seen().requests[0].clone();
    assert_eq!(coa.code, Code::CoaRequest);
    assert_eq!(
        coa.rate_limit,
        Some(
            store
                .plan(plan.id)
                .await
                .unwrap()
                .unwrap()
                .rate
                .to_mikrotik()
        )
    );
    let audited: i64 = sql
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'subscriber.reset_quota' \
             AND admin_username = 'bill'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);
}
