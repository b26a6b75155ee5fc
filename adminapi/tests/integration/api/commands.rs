//! `POST /commands/subscriber/{command}`: billing's commands over REST, idempotent by
//! `Idempotency-Key` (scoped to the admin), recorded beside the NATS ones, with the same
//! `command.result` event in the outbox.

use proisp_adminapi::permission::Role;
use proisp_model::Status;
use proisp_store::{NewPlan, NewSubscriber};
use serde_json::{Value, json};

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
