//! The audit log is written in the transaction of the change it records: a change and its
//! entry are committed together, and when the entry cannot be written the change is not
//! made, the client gets a 500 with a JSON error, and neither Redis nor radiusd hears of
//! it.

use std::time::Duration;

use proisp_adminapi::permission::Role;
use proisp_store::{Cache as _, CacheEvent, CacheLookup, Invalidation, RedisCache};
use proisp_testing::cached;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::subscribers::csv;
use super::{Ctx, app, call, delete, login, patch, post, post_empty, put, token, with_token};

/// Makes every insert into the audit log fail, on this test's own database.
const REFUSE_AUDIT: &str = "\
    CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
    $$ BEGIN RAISE EXCEPTION 'the audit log refuses entries'; END $$; \
    CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
    FOR EACH ROW EXECUTE FUNCTION refuse_audit()";

/// Publishes a marker invalidation and drops every event up to it, so the next event
/// received was published after this call.
async fn settle(cache: &RedisCache, events: &mut mpsc::Receiver<CacheEvent>, marker: i64) {
    cache.publish(&Invalidation::Plan(marker)).await.unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("the marker arrives")
            .expect("subscription open");
        if event == CacheEvent::Invalidate(Invalidation::Plan(marker)) {
            return;
        }
    }
}

/// Everything the refused changes must leave as it was, as one JSON value.
async fn snapshot(sql: &tokio_postgres::Client) -> Value {
    let mut out = serde_json::Map::new();
    for (name, query) in [
        (
            "plans",
            "SELECT coalesce(json_agg(p ORDER BY id), '[]') FROM plans p",
        ),
        (
            "nas",
            "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, \
             'version', version) ORDER BY id), '[]') FROM nas",
        ),
        (
            "subscribers",
            "SELECT coalesce(json_agg(json_build_object('id', id, 'username', username, \
             'status', status, 'expires_at', expires_at, 'password_enc', \
             encode(password_enc, 'hex'), 'deleted_at', deleted_at, 'version', version) \
             ORDER BY id), '[]') FROM subscribers",
        ),
        (
            "admins",
            "SELECT coalesce(json_agg(json_build_object('id', id, 'role', role, \
             'disabled', disabled, 'totp_pending', totp_pending_enc IS NOT NULL, \
             'last_login_at', last_login_at) ORDER BY id), '[]') FROM admins",
        ),
        (
            "refresh_tokens",
            "SELECT to_json(count(*) FILTER (WHERE revoked_at IS NULL)) \
             FROM admin_refresh_tokens",
        ),
        ("audit_log", "SELECT to_json(count(*)) FROM audit_log"),
    ] {
        let v: Value = sql.query_one(query, &[]).await.unwrap().get(0);
        out.insert(name.to_owned(), v);
    }
    Value::Object(out)
}

#[actix_web::test]
async fn a_change_and_its_audit_entry_commit_together_or_not_at_all() {
    let ctx = Ctx::with(|c| c.login.totp_required_roles.clear()).await;
    ctx.forbid("Nas-s3cret-1");
    ctx.admin("root", Role::Superadmin).await;
    let alice = ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "root");
    let sql = ctx.env.sql().await;
    let cache = ctx.env.cache().await;
    let mut events = cache.subscribe();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Connected)
    );

    // Working audit log: each change is there with its entry, whose `after` is what the
    // API answered (read back inside the write's transaction).
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/plans",
                json!({"name": "home", "download_kbps": 50000, "upload_kbps": 10000})
            ),
            &t
        )
    );
    r.expect(201);
    let home = r.json["id"].as_i64().unwrap();
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/plans",
                json!({"name": "spare", "download_kbps": 1000, "upload_kbps": 1000})
            ),
            &t
        )
    );
    r.expect(201);
    let spare = r.json["id"].as_i64().unwrap();
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/nas",
                json!({"name": "bras", "address": "192.0.2.10", "secret": "Nas-s3cret-1"})
            ),
            &t
        )
    );
    r.expect(201);
    let nas = r.json["id"].as_i64().unwrap();
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/subscribers",
                json!({"username": "ada", "password": "Pw-123456", "plan_id": home,
                       "name": "Ada Lovelace", "phone": "+44 20 7946 0000"})
            ),
            &t
        )
    );
    r.expect(201);
    let ada = r.json["id"].as_i64().unwrap();
    let created = r.json.clone();
    let entry = |action: &str, id: i64| {
        let sql = &sql;
        let action = action.to_owned();
        async move {
            sql.query_opt(
                "SELECT after FROM audit_log WHERE action = $1 AND entity_id = $2",
                &[&action, &id.to_string()],
            )
            .await
            .unwrap()
            .map(|r| r.get::<_, Option<Value>>(0))
        }
    };
    assert_eq!(entry("subscriber.create", ada).await, Some(Some(created)));
    let after = entry("plan.create", home).await.unwrap().unwrap();
    assert_eq!(after["name"], "home");
    let after = entry("nas.create", nas).await.unwrap().unwrap();
    assert_eq!(after["name"], "bras");

    // The audit log refuses entries: every change answers 500 and is not made.
    sql.batch_execute(REFUSE_AUDIT).await.unwrap();
    settle(&cache, &mut events, -1).await;
    let before = snapshot(&sql).await;
    let refused = [
        post(
            "/api/v1/plans",
            json!({"name": "new", "download_kbps": 1, "upload_kbps": 1}),
        ),
        patch(&format!("/api/v1/plans/{home}"), json!({"name": "home-2"})),
        delete(&format!("/api/v1/plans/{spare}")),
        post(
            "/api/v1/nas",
            json!({"name": "b2", "address": "192.0.2.11", "secret": "Nas-s3cret-1"}),
        ),
        patch(&format!("/api/v1/nas/{nas}"), json!({"coa_port": 1700})),
        delete(&format!("/api/v1/nas/{nas}")),
        post(
            "/api/v1/subscribers",
            json!({"username": "ghost", "password": "Pw-123456", "plan_id": home}),
        ),
        patch(
            &format!("/api/v1/subscribers/{ada}"),
            json!({"username": "ada2"}),
        ),
        put(
            &format!("/api/v1/subscribers/{ada}"),
            json!({"username": "ada", "plan_id": spare}),
        ),
        post_empty(&format!("/api/v1/subscribers/{ada}/suspend")),
        post(
            &format!("/api/v1/subscribers/{ada}/renew"),
            json!({"periods": 2}),
        ),
        post(
            &format!("/api/v1/subscribers/{ada}/reset-password"),
            json!({"password": "Other-pw-987"}),
        ),
        post_empty(&format!("/api/v1/subscribers/{ada}/reveal-password")),
        delete(&format!("/api/v1/subscribers/{ada}")),
        post(
            "/api/v1/admins",
            json!({"username": "bob", "password": super::PASSWORD, "role": "viewer"}),
        ),
        patch(
            &format!("/api/v1/admins/{}", alice.id),
            json!({"role": "viewer"}),
        ),
        post_empty(&format!("/api/v1/admins/{}/reset-totp", alice.id)),
        delete(&format!("/api/v1/admins/{}", alice.id)),
        post_empty("/api/v1/auth/totp/setup"),
        // Last: were it to go through, the token would be dead for the rest of the test.
        post_empty("/api/v1/auth/logout"),
    ];
    for req in refused {
        call!(app, ctx, with_token(req, &t)).error(500, "internal", None);
    }
    call!(
        app,
        ctx,
        with_token(
            csv(
                "/api/v1/subscribers/import",
                "username,password,plan\nimported,Pw-123456,home\n"
            ),
            &t
        )
    )
    .error(500, "internal", None);
    // A login that cannot be recorded is not made either (no refresh token issued).
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": super::PASSWORD})
        )
    )
    .error(500, "internal", None);

    assert_eq!(snapshot(&sql).await, before);
    for name in ["ghost", "imported", "ada2"] {
        assert_eq!(
            cached(&cache, name).await.unwrap(),
            CacheLookup::Miss,
            "{name}"
        );
    }
    // No invalidation went out: the next event is the next marker.
    cache.publish(&Invalidation::Plan(-2)).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Invalidate(Invalidation::Plan(-2)))
    );

    // Once entries can be written again, the same change goes through with its entry.
    sql.batch_execute("DROP TRIGGER refuse_audit ON audit_log")
        .await
        .unwrap();
    call!(
        app,
        ctx,
        with_token(
            post_empty(&format!("/api/v1/subscribers/{ada}/suspend")),
            &t
        )
    )
    .expect(200);
    let after = entry("subscriber.suspend", ada).await.unwrap().unwrap();
    assert_eq!(after["status"], "suspended");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Invalidate(Invalidation::Subscriber(
            "ada".into()
        )))
    );
    login!(app, ctx, "alice");
}
