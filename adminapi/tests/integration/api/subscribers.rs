//! Subscribers end to end: CRUD, validation, conflicts, permissions, audit, the cache,
//! list filters, search and paging, lifecycle actions, passwords and the CSV import.

use actix_web::test::TestRequest;
use proisp_adminapi::permission::Role;
use proisp_adminapi::time::Timestamp;
use proisp_model::Status;
use proisp_store::{Cache as _, CacheLookup, NewPlan, NewSubscriber, Store};
use proisp_testing::cached;
use serde_json::{Value, json};

use super::{Ctx, app, call, delete, get, patch, peer, post, post_empty, put, token, with_token};

pub(crate) fn csv(path: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .peer_addr(peer())
        .insert_header(("Content-Type", "text/csv"))
        .set_payload(body.to_owned())
}

fn now() -> i64 {
    Timestamp::now().unix()
}

async fn plan(store: &Store, name: &str, validity_days: u32) -> i64 {
    store
        .create_plan(&NewPlan {
            validity_days,
            ..NewPlan::new(name, 10_000, 5_000)
        })
        .await
        .unwrap()
        .id
}

fn alice(plan_id: i64) -> Value {
    json!({
        "username": "alice",
        "password": "Secret-pw1-of-A",
        "plan_id": plan_id,
        "expires_at": "2030-01-31",
        "mac": "4c-5e-0c-12-34-56",
        "ipv4": "100.64.0.10",
        "name": "Alice Example",
        "phone": "+1 555 0100",
        "email": "alice@example.net",
        "address": "1 Main St"
    })
}

#[actix_web::test]
async fn subscribers_crud_validation_conflicts_cache_and_audit() {
    let ctx = Ctx::new().await;
    ctx.forbid("Secret-pw1-of-A");
    ctx.forbid("new-Secret-pw2");
    ctx.admin("root", Role::Admin).await;
    let store = ctx.env.store().await;
    let home = plan(&store, "home", 30).await;
    let other = plan(&store, "other", 30).await;
    let cache = ctx.env.cache().await;
    let app = app!(ctx);
    let t = token!(app, ctx, "root");

    let r = call!(
        app,
        ctx,
        with_token(post("/api/v1/subscribers", alice(home)), &t)
    );
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(
        r.headers.get("location").unwrap().to_str().unwrap(),
        format!("/api/v1/subscribers/{id}")
    );
    assert_eq!(r.json["username"], "alice");
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["plan"], "home");
    assert_eq!(r.json["mac"], "4C:5E:0C:12:34:56");
    assert_eq!(r.json["ipv4"], "100.64.0.10");
    assert_eq!(r.json["expires_at"], "2030-01-31T00:00:00Z");
    assert_eq!(r.json["online"], false);
    assert!(r.json.get("password").is_none());
    // In Redis at once (radiusd reads it from there).
    match cached(&cache, "alice").await.unwrap() {
        CacheLookup::Hit(s) => {
            assert_eq!(s.id, id);
            assert_eq!(s.password.as_bytes(), b"Secret-pw1-of-A");
        }
        other => panic!("{other:?}"),
    }

    let got = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/subscribers/{id}")), &t)
    );
    got.expect(200);
    assert_eq!(got.json, r.json);
    let by_name = call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/by-username/alice"), &t)
    );
    assert_eq!(by_name.json, r.json);
    call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/by-username/nobody"), &t)
    )
    .error(404, "not_found", None);
    call!(app, ctx, with_token(get("/api/v1/subscribers/999999"), &t)).error(
        404,
        "not_found",
        None,
    );
    call!(app, ctx, with_token(get("/api/v1/subscribers/abc"), &t)).expect(404);

    // Conflicts: the username, the static address.
    let mut dup = alice(home);
    dup["ipv4"] = json!("100.64.0.11");
    call!(app, ctx, with_token(post("/api/v1/subscribers", dup), &t)).error(
        409,
        "conflict",
        Some("username"),
    );
    let mut dup = alice(home);
    dup["username"] = json!("bob");
    call!(app, ctx, with_token(post("/api/v1/subscribers", dup), &t)).error(
        409,
        "conflict",
        Some("ipv4"),
    );

    // 422 naming the field.
    for (field, value) in [
        ("username", json!("")),
        ("username", json!(" padded")),
        ("password", json!("")),
        // Not the username (the body's is carol), reversed or inside, nor a common one.
        ("password", json!("Carol")),
        ("password", json!("x-lorac-x")),
        ("password", json!("123456")),
        ("password", json!("qwerty")),
        ("password", json!("pw\u{0}")),
        ("name", json!("Al\u{0}ice")),
        ("status", json!("gone")),
        ("plan_id", json!(999_999)),
        ("plan_id", json!("home")),
        ("expires_at", json!("next week")),
        ("mac", json!("12:34")),
        ("ipv4", json!("300.1.1.1")),
        ("ipv6_prefix", json!("2001:db8::/129")),
        ("phone", json!("call me")),
        ("email", json!("not-an-address")),
        ("simultaneous_use", json!(-1)),
        ("colour", json!("blue")),
    ] {
        let mut bad = alice(home);
        bad["username"] = json!("carol");
        bad["ipv4"] = Value::Null;
        bad[field] = value;
        call!(app, ctx, with_token(post("/api/v1/subscribers", bad), &t)).error(
            422,
            "invalid",
            Some(field),
        );
    }
    let mut bad = alice(home);
    bad.as_object_mut().unwrap().remove("password");
    bad["username"] = json!("dave");
    bad["ipv4"] = Value::Null;
    call!(app, ctx, with_token(post("/api/v1/subscribers", bad), &t)).error(
        422,
        "invalid",
        Some("password"),
    );

    // PUT replaces (password kept when absent); PATCH merges, null clears.
    let mut replaced = alice(other);
    replaced.as_object_mut().unwrap().remove("password");
    replaced["name"] = json!("Alice Renamed");
    let r = call!(
        app,
        ctx,
        with_token(put(&format!("/api/v1/subscribers/{id}"), replaced), &t)
    );
    r.expect(200);
    assert_eq!(r.json["plan"], "other");
    assert_eq!(r.json["name"], "Alice Renamed");
    let sub = store.subscriber("alice").await.unwrap().unwrap();
    assert_eq!(sub.password.as_bytes(), b"Secret-pw1-of-A");
    assert_eq!(sub.plan_id, other);
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/subscribers/{id}"),
                json!({"mac": null, "phone": "+1 555 0199", "password": "new-Secret-pw2"})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["mac"], Value::Null);
    assert_eq!(r.json["phone"], "+1 555 0199");
    assert_eq!(r.json["ipv4"], "100.64.0.10");
    let sub = store.subscriber("alice").await.unwrap().unwrap();
    assert_eq!(sub.password.as_bytes(), b"new-Secret-pw2");
    assert_eq!(sub.mac, None);
    call!(
        app,
        ctx,
        with_token(
            patch(&format!("/api/v1/subscribers/{id}"), json!({"ipv4": "x"})),
            &t
        )
    )
    .error(422, "invalid", Some("ipv4"));
    call!(
        app,
        ctx,
        with_token(patch("/api/v1/subscribers/999999", json!({})), &t)
    )
    .error(404, "not_found", None);
    // A rename moves the cache entry.
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/subscribers/{id}"),
                json!({"username": "alice2"})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(
        cached(&cache, "alice").await.unwrap(),
        CacheLookup::Negative
    );
    assert!(matches!(
        cached(&cache, "alice2").await.unwrap(),
        CacheLookup::Hit(_)
    ));

    // Soft delete: 204, then 404, the row kept, the cache told, the name free again.
    let r = call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/subscribers/{id}")), &t)
    );
    assert_eq!(r.status, 204, "{}", r.text);
    call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/subscribers/{id}")), &t)
    )
    .expect(404);
    call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/subscribers/{id}")), &t)
    )
    .expect(404);
    assert_eq!(
        cached(&cache, "alice2").await.unwrap(),
        CacheLookup::Negative
    );
    let sql = ctx.env.sql().await;
    let deleted: i64 = sql
        .query_one(
            "SELECT count(*) FROM subscribers WHERE id = $1 AND deleted_at IS NOT NULL",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(deleted, 1);
    let mut again = alice(home);
    again["username"] = json!("alice2");
    call!(app, ctx, with_token(post("/api/v1/subscribers", again), &t)).expect(201);

    // Audit: before/after, never a password.
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/audit?entity=subscriber&limit=20"), &t)
    );
    r.expect(200);
    let actions: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "subscriber.create",
            "subscriber.delete",
            "subscriber.update",
            "subscriber.update",
            "subscriber.update",
            "subscriber.create"
        ]
    );
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items[1]["before"]["username"], "alice2");
    assert_eq!(items[4]["before"]["plan"], "home");
    assert_eq!(items[4]["after"]["plan"], "other");
    let raw: Vec<String> = sql
        .query("SELECT before::text || after::text FROM audit_log WHERE entity = 'subscriber' AND before IS NOT NULL AND after IS NOT NULL", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!raw.is_empty());
    assert!(raw.iter().all(|t| !t.contains("Secret-pw")), "{raw:?}");
}

#[actix_web::test]
async fn subscribers_permissions_per_role() {
    // Two-factor login is tested elsewhere; here the superadmin logs in with a password.
    let ctx = Ctx::with(|c| c.login.totp_required_roles.clear()).await;
    ctx.forbid("Viewer-cannot-see");
    for (name, role) in [
        ("v", Role::Viewer),
        ("s", Role::Support),
        ("a", Role::Admin),
        ("root", Role::Superadmin),
    ] {
        ctx.admin(name, role).await;
    }
    let store = ctx.env.store().await;
    let home = plan(&store, "home", 30).await;
    let id = store
        .create_subscriber(&NewSubscriber::new("bob", "Viewer-cannot-see", home))
        .await
        .unwrap()
        .id;
    let app = app!(ctx);
    let (v, s, a) = (
        token!(app, ctx, "v"),
        token!(app, ctx, "s"),
        token!(app, ctx, "a"),
    );
    let one = format!("/api/v1/subscribers/{id}");
    let body = json!({"username": "x", "password": "p", "plan_id": home});

    // Everyone reads.
    for t in [&v, &s, &a] {
        call!(app, ctx, with_token(get("/api/v1/subscribers"), t)).expect(200);
        call!(app, ctx, with_token(get(&one), t)).expect(200);
    }
    // The viewer writes nothing.
    call!(
        app,
        ctx,
        with_token(post("/api/v1/subscribers", body.clone()), &v)
    )
    .error(403, "forbidden", None);
    for path in [
        "suspend",
        "resume",
        "renew",
        "reset-password",
        "reveal-password",
    ] {
        call!(
            app,
            ctx,
            with_token(post_empty(&format!("{one}/{path}")), &v)
        )
        .error(403, "forbidden", None);
    }
    call!(app, ctx, with_token(delete(&one), &v)).error(403, "forbidden", None);
    call!(
        app,
        ctx,
        with_token(
            csv("/api/v1/subscribers/import", "username,password,plan\n"),
            &v
        )
    )
    .error(403, "forbidden", None);
    // Support resets passwords but does not delete, change or reveal.
    let r = call!(
        app,
        ctx,
        with_token(post_empty(&format!("{one}/reset-password")), &s)
    );
    r.expect(200);
    let generated = r.json["password"].as_str().unwrap().to_owned();
    ctx.forbid(generated.clone());
    call!(app, ctx, with_token(delete(&one), &s)).error(403, "forbidden", None);
    call!(app, ctx, with_token(patch(&one, json!({"name": "x"})), &s)).error(
        403,
        "forbidden",
        None,
    );
    call!(
        app,
        ctx,
        with_token(post_empty(&format!("{one}/suspend")), &s)
    )
    .error(403, "forbidden", None);
    call!(
        app,
        ctx,
        with_token(post_empty(&format!("{one}/reveal-password")), &s)
    )
    .error(403, "forbidden", None);
    // An admin writes but does not reveal.
    call!(app, ctx, with_token(post("/api/v1/subscribers", body), &a)).expect(201);
    call!(
        app,
        ctx,
        with_token(post_empty(&format!("{one}/reveal-password")), &a)
    )
    .error(403, "forbidden", None);
    // The superadmin reveals; the reveal is audited. (The reveal's answer holds the
    // password by design, so it is read without the secret scan.)
    let root = token!(app, ctx, "root");
    let res = actix_web::test::call_service(
        &app,
        with_token(post_empty(&format!("{one}/reveal-password")), &root).to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    let body: Value = actix_web::test::read_body_json(res).await;
    assert_eq!(body["password"], generated.as_str());
    assert_eq!(body["username"], "bob");
    let sql = ctx.env.sql().await;
    let reveals: Vec<(String, String)> = sql
        .query(
            "SELECT admin_username, entity_id FROM audit_log WHERE action = 'subscriber.password_reveal'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(reveals, [("root".to_owned(), id.to_string())]);
}

#[actix_web::test]
async fn subscribers_list_filters_search_and_paging() {
    let ctx = Ctx::new().await;
    ctx.admin("v", Role::Viewer).await;
    let store = ctx.env.store().await;
    let home = plan(&store, "home", 30).await;
    let biz = plan(&store, "biz", 30).await;
    let now = now();
    let mut ids = Vec::new();
    for i in 0..12u8 {
        let mut s = NewSubscriber::new(format!("user{i:02}"), "pw", if i < 4 { biz } else { home });
        s.name = Some(if i == 5 { "Maria Garcia" } else { "John Smith" }.to_owned());
        s.phone = Some(format!("+966 50 123 00{i:02}"));
        s.status = if i % 3 == 0 {
            Status::Suspended
        } else {
            Status::Active
        };
        s.expires_at = Some(now + (i64::from(i) - 3) * 86_400);
        s.mac = (i == 7).then(|| "02:00:00:00:00:07".parse().unwrap());
        // Addresses run against the ids: the prefix search orders by address.
        s.ipv4 = (i >= 6).then(|| std::net::Ipv4Addr::new(10, 9, 0, 20 - i));
        ids.push(store.create_subscriber(&s).await.unwrap().id);
    }
    // user01 and user02 are online.
    let sql = ctx.env.sql().await;
    sql.batch_execute(
        "INSERT INTO nas (name, address, secret_enc) VALUES ('n', '192.0.2.1/32', decode(repeat('00', 40), 'hex'));
         INSERT INTO sessions (nas_id, acct_session_id, username, started_at, updated_at, stale_at, interim_interval_secs)
         SELECT (SELECT id FROM nas), 's' || u, u, now(), now(), now() + interval '1 hour', 300
         FROM unnest(ARRAY['user01', 'user02']) u",
    )
    .await
    .unwrap();
    let app = app!(ctx);
    let t = token!(app, ctx, "v");
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |q: &str| with_token(get(&format!("/api/v1/subscribers?{q}")), &t);

    let r = call!(app, ctx, list(""));
    r.expect(200);
    assert_eq!(names(&r.json).len(), 12);
    assert_eq!(r.json["next"], Value::Null);
    assert_eq!(
        names(&call!(app, ctx, list("status=suspended")).json),
        ["user00", "user03", "user06", "user09"]
    );
    assert_eq!(
        names(&call!(app, ctx, list(&format!("plan_id={biz}"))).json),
        ["user00", "user01", "user02", "user03"]
    );
    let r = call!(app, ctx, list("online=true"));
    assert_eq!(names(&r.json), ["user01", "user02"]);
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["online"] == true)
    );
    assert_eq!(
        names(&call!(app, ctx, list("online=false&limit=500")).json).len(),
        10
    );
    // Expiring before now + 1.5 days: user00 … user04.
    let before = Timestamp::from_unix(now + 129_600);
    assert_eq!(
        names(&call!(app, ctx, list(&format!("expires_before={before}"))).json),
        ["user00", "user01", "user02", "user03", "user04"]
    );
    assert_eq!(
        names(&call!(app, ctx, list("status=active&online=true&plan_id=999")).json),
        Vec::<String>::new()
    );
    // Search: username, name, phone (any of them with q), case-insensitive.
    assert_eq!(
        names(&call!(app, ctx, list("q=USER1")).json),
        ["user10", "user11"]
    );
    assert_eq!(names(&call!(app, ctx, list("q=garc")).json), ["user05"]);
    assert_eq!(
        names(&call!(app, ctx, list("q=123%200003")).json),
        ["user03"]
    );
    assert_eq!(names(&call!(app, ctx, list("name=maria")).json), ["user05"]);
    assert_eq!(
        names(&call!(app, ctx, list("username=r07")).json),
        ["user07"]
    );
    assert_eq!(names(&call!(app, ctx, list("phone=0011")).json), ["user11"]);
    // LIKE wildcards are literal.
    assert_eq!(
        names(&call!(app, ctx, list("q=%25%25%25")).json),
        Vec::<String>::new()
    );
    // MAC in any form.
    for mac in [
        "02:00:00:00:00:07",
        "02-00-00-00-00-07",
        "0200.0000.0007",
        "020000000007",
    ] {
        assert_eq!(
            names(&call!(app, ctx, list(&format!("mac={mac}"))).json),
            ["user07"]
        );
    }
    // IP prefix, by address, paged by address.
    let r = call!(app, ctx, list("ip=10.9.0.0/24&limit=4"));
    assert_eq!(names(&r.json), ["user11", "user10", "user09", "user08"]);
    assert_eq!(r.json["next"], "10.9.0.12");
    let r = call!(app, ctx, list("ip=10.9.0.0/24&limit=4&after=10.9.0.12"));
    assert_eq!(names(&r.json), ["user07", "user06"]);
    assert_eq!(r.json["next"], Value::Null);
    assert_eq!(
        names(&call!(app, ctx, list("ip=10.9.0.14")).json),
        ["user06"]
    );
    assert_eq!(
        names(&call!(app, ctx, list("ip=10.9.0.8/30")).json),
        ["user11", "user10", "user09"]
    );
    // Id paging.
    let r = call!(app, ctx, list("limit=5"));
    assert_eq!(names(&r.json).len(), 5);
    let next = r.json["next"].as_str().unwrap().to_owned();
    assert_eq!(next, ids[4].to_string());
    let r2 = call!(app, ctx, list(&format!("limit=5&after={next}")));
    assert_eq!(
        names(&r2.json),
        ["user05", "user06", "user07", "user08", "user09"]
    );
    let r3 = call!(
        app,
        ctx,
        list(&format!(
            "limit=5&after={}",
            r2.json["next"].as_str().unwrap()
        ))
    );
    assert_eq!(names(&r3.json), ["user10", "user11"]);
    assert_eq!(r3.json["next"], Value::Null);
    // 422s.
    for (q, field) in [
        ("q=ab", "q"),
        ("name=x", "name"),
        ("status=gone", "status"),
        ("mac=zz", "mac"),
        ("ip=10.0.0.0/33", "ip"),
        ("ip=fe80::/10", "ip"),
        ("expires_before=soon", "expires_before"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("after=10.0.0.1", "after"),
        ("ip=10.0.0.0/8&after=7", "after"),
        ("online=maybe", "online"),
        ("colour=blue", "colour"),
    ] {
        call!(app, ctx, list(q)).error(422, "invalid", Some(field));
    }
}

#[actix_web::test]
async fn subscribers_suspend_resume_renew_and_passwords() {
    let ctx = Ctx::new().await;
    ctx.forbid("Given-Secret-pw3");
    ctx.admin("a", Role::Admin).await;
    let store = ctx.env.store().await;
    let home = plan(&store, "home", 30).await;
    let mut s = NewSubscriber::new("carol", "old-pw-1234", home);
    s.expires_at = Some(now() + 10 * 86_400);
    let carol = store.create_subscriber(&s).await.unwrap();
    let never = store
        .create_subscriber(&NewSubscriber::new("dan", "pw", home))
        .await
        .unwrap();
    let mut lapsed = NewSubscriber::new("erin", "pw", home);
    lapsed.expires_at = Some(now() - 100 * 86_400);
    let lapsed = store.create_subscriber(&lapsed).await.unwrap();
    let cache = ctx.env.cache().await;
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let one = |id: i64, action: &str| format!("/api/v1/subscribers/{id}/{action}");

    let r = call!(
        app,
        ctx,
        with_token(post_empty(&one(carol.id, "suspend")), &t)
    );
    r.expect(200);
    assert_eq!(r.json["status"], "suspended");
    match cached(&cache, "carol").await.unwrap() {
        CacheLookup::Hit(s) => assert_eq!(s.status, Status::Suspended),
        other => panic!("{other:?}"),
    }
    let r = call!(
        app,
        ctx,
        with_token(post_empty(&one(carol.id, "resume")), &t)
    );
    assert_eq!(r.json["status"], "active");
    call!(
        app,
        ctx,
        with_token(post_empty(&one(999_999, "suspend")), &t)
    )
    .error(404, "not_found", None);

    // Renew: from the current expiry when it is ahead, from now when it is past or unset.
    let days = |secs: i64| (secs as f64 / 86_400.0).round() as i64;
    call!(
        app,
        ctx,
        with_token(post_empty(&one(carol.id, "renew")), &t)
    )
    .expect(200);
    let after = store
        .subscriber("carol")
        .await
        .unwrap()
        .unwrap()
        .expires_at
        .unwrap();
    assert_eq!(days(after - now()), 40);
    call!(
        app,
        ctx,
        with_token(post(&one(carol.id, "renew"), json!({"periods": 2})), &t)
    )
    .expect(200);
    let after = store
        .subscriber("carol")
        .await
        .unwrap()
        .unwrap()
        .expires_at
        .unwrap();
    assert_eq!(days(after - now()), 100);
    for s in [&never, &lapsed] {
        let r = call!(app, ctx, with_token(post_empty(&one(s.id, "renew")), &t));
        r.expect(200);
        let e = store
            .subscriber(&s.username)
            .await
            .unwrap()
            .unwrap()
            .expires_at
            .unwrap();
        assert_eq!(days(e - now()), 30, "{}", r.text);
    }
    call!(
        app,
        ctx,
        with_token(post(&one(carol.id, "renew"), json!({"periods": 0})), &t)
    )
    .error(422, "invalid", Some("periods"));
    call!(
        app,
        ctx,
        with_token(post(&one(carol.id, "renew"), json!({"days": 1})), &t)
    )
    .error(422, "invalid", Some("days"));

    // Reset: given (not echoed) or generated (returned once).
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                &one(carol.id, "reset-password"),
                json!({"password": "Given-Secret-pw3"})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["generated"], false);
    assert!(r.json.get("password").is_none());
    assert_eq!(
        store
            .subscriber("carol")
            .await
            .unwrap()
            .unwrap()
            .password
            .as_bytes(),
        b"Given-Secret-pw3"
    );
    let r = call!(
        app,
        ctx,
        with_token(post_empty(&one(carol.id, "reset-password")), &t)
    );
    r.expect(200);
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    let generated = r.json["password"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 12);
    match cached(&cache, "carol").await.unwrap() {
        CacheLookup::Hit(s) => assert_eq!(s.password.as_bytes(), generated.as_bytes()),
        other => panic!("{other:?}"),
    }
    call!(
        app,
        ctx,
        with_token(
            post(&one(carol.id, "reset-password"), json!({"password": ""})),
            &t
        )
    )
    .error(422, "invalid", Some("password"));
    for guessable in ["CAROL", "password1", "carol2026"] {
        call!(
            app,
            ctx,
            with_token(
                post(
                    &one(carol.id, "reset-password"),
                    json!({"password": guessable})
                ),
                &t
            )
        )
        .error(422, "invalid", Some("password"));
    }
    call!(
        app,
        ctx,
        with_token(post_empty(&one(999_999, "reset-password")), &t)
    )
    .expect(404);

    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/audit?entity=subscriber&limit=50"), &t)
    );
    let actions: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "subscriber.password_reset",
            "subscriber.password_reset",
            "subscriber.renew",
            "subscriber.renew",
            "subscriber.renew",
            "subscriber.renew",
            "subscriber.resume",
            "subscriber.suspend"
        ]
    );
}

#[actix_web::test]
async fn subscribers_csv_import_both_modes() {
    let ctx = Ctx::new().await;
    ctx.admin("a", Role::Admin).await;
    let store = ctx.env.store().await;
    let home = plan(&store, "home", 30).await;
    store
        .create_subscriber(&NewSubscriber::new("taken", "pw", home))
        .await
        .unwrap();
    let cache = ctx.env.cache().await;
    // A login tried before the import left a negative marker: the import replaces it.
    cache.put_negatives(&["ok1"]).await.unwrap();
    let app = app!(ctx);
    let t = token!(app, ctx, "a");
    let file = "username,password,plan,status,expires_at,mac,ipv4,name,phone,email,address\r\n\
        ok1,Pw-one-111,home,,2030-01-01,4c5e.0c12.3456,10.0.0.1,\"Smith, Ann\",+1 555 1,ann@example.net,\"1 Road\nTown\"\r\n\
        taken,pw,home,,,,,,,,\r\n\
        bad-plan,pw,gold,,,,,,,,\r\n\
        ok2,Pw-two-222,home,suspended,,,,,,,\r\n\
        ok1,pw,home,,,,,,,,\r\n\
        bad-mac,pw,home,,,zz,,,,,\r\n\
        ok3,Pw-three-333,home,active,,,10.0.0.1,,,,\r\n\
        short,pw\r\n\
        ,pw,home,,,,,,,,\r\n";
    ctx.forbid("Pw-one-111");
    ctx.forbid("Pw-two-222");

    // All or nothing: the report, nothing written.
    let r = call!(
        app,
        ctx,
        with_token(
            csv("/api/v1/subscribers/import?all_or_nothing=true", file),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["rows"], 9);
    assert_eq!(r.json["committed"], false);
    assert_eq!(r.json["created"], json!([]));
    let errors: Vec<(u64, String)> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = [
        (3, "username"),
        (4, "plan"),
        (6, "username"),
        (7, "mac"),
        (8, "ipv4"),
        (9, "row"),
        (10, "username"),
    ]
    .into_iter()
    .map(|(r, f)| (r, f.to_owned()))
    .collect();
    assert_eq!(errors, expected, "{}", r.text);
    let sql = ctx.env.sql().await;
    assert_eq!(live(&sql).await, 1);

    // Otherwise: the valid rows are created, the others reported the same way.
    let r = call!(
        app,
        ctx,
        with_token(csv("/api/v1/subscribers/import", file), &t)
    );
    r.expect(200);
    assert_eq!(r.json["committed"], true);
    let created: Vec<(u64, &str)> = r.json["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["row"].as_u64().unwrap(), c["username"].as_str().unwrap()))
        .collect();
    assert_eq!(created, [(2, "ok1"), (5, "ok2")]);
    assert_eq!(r.json["errors"].as_array().unwrap().len(), 7);
    assert_eq!(live(&sql).await, 3);
    let ok1 = store.subscriber("ok1").await.unwrap().unwrap();
    assert_eq!(ok1.password.as_bytes(), b"Pw-one-111");
    assert_eq!(ok1.mac.unwrap().to_string(), "4C:5E:0C:12:34:56");
    let rec = proisp_adminapi::data::subscribers::subscriber_record(&store, ok1.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.name.as_deref(), Some("Smith, Ann"));
    assert_eq!(rec.address.as_deref(), Some("1 Road\nTown"));
    assert_eq!(
        store.subscriber("ok2").await.unwrap().unwrap().status,
        Status::Suspended
    );
    assert!(matches!(
        cached(&cache, "ok1").await.unwrap(),
        CacheLookup::Hit(_)
    ));
    let audited: i64 = sql
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'subscriber.import' \
             AND (after->>'created')::int = 2",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);

    // A clean file in all-or-nothing mode is written.
    let r = call!(
        app,
        ctx,
        with_token(
            csv(
                "/api/v1/subscribers/import?all_or_nothing=true",
                "plan,username,password\nhome,ok4,pw4\nhome,ok5,pw5\n"
            ),
            &t
        )
    );
    assert_eq!(r.json["committed"], true, "{}", r.text);
    assert_eq!(live(&sql).await, 5);

    // The file's shape: 422 naming the column, 400 for what is not CSV.
    call!(
        app,
        ctx,
        with_token(
            csv("/api/v1/subscribers/import", "username,password\nx,y\n"),
            &t
        )
    )
    .error(422, "invalid", Some("plan"));
    call!(
        app,
        ctx,
        with_token(
            csv(
                "/api/v1/subscribers/import",
                "username,password,plan,colour\n"
            ),
            &t
        )
    )
    .error(422, "invalid", Some("colour"));
    call!(
        app,
        ctx,
        with_token(csv("/api/v1/subscribers/import", ""), &t)
    )
    .error(422, "invalid", Some("body"));
    call!(
        app,
        ctx,
        with_token(
            csv(
                "/api/v1/subscribers/import",
                "username,password,plan\n\"x,y,z\n"
            ),
            &t
        )
    )
    .error(400, "bad_request", None);
    call!(
        app,
        ctx,
        with_token(post("/api/v1/subscribers/import", json!({})), &t)
    )
    .error(400, "bad_request", None);
}

/// Live (not deleted) subscribers.
pub(crate) async fn live(sql: &tokio_postgres::Client) -> i64 {
    sql.query_one(
        "SELECT count(*) FROM subscribers WHERE deleted_at IS NULL",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[actix_web::test]
async fn typed_fields_are_refused_naming_the_field() {
    let ctx = Ctx::new().await;
    ctx.forbid("Secret-pw1-of-A");
    ctx.admin("root", Role::Admin).await;
    let store = ctx.env.store().await;
    let home = plan(&store, "home", 30).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "root");
    for (bad, field, expected) in [
        (
            json!({"ipv4": "100.64.0.300"}),
            "ipv4",
            "expected an IPv4 address",
        ),
        (json!({"ipv4": 1}), "ipv4", "invalid type"),
        (json!({"mac": "4c-5e-0c-12-34"}), "mac", "not a MAC address"),
        (
            json!({"expires_at": "31/01/2030"}),
            "expires_at",
            "expected an RFC 3339 time",
        ),
        (
            json!({"ipv6_prefix": "2001:db8::1"}),
            "ipv6_prefix",
            "expected an IPv6 prefix",
        ),
    ] {
        let mut body = alice(home);
        proisp_adminapi::body::merge(&mut body, bad);
        let r = call!(app, ctx, with_token(post("/api/v1/subscribers", body), &t));
        r.error(422, "invalid", Some(field));
        let message = r.json["message"].as_str().unwrap();
        assert!(message.starts_with(expected), "{field}: {message}");
    }
    // Typed values leave in their canonical text form.
    let r = call!(
        app,
        ctx,
        with_token(post("/api/v1/subscribers", alice(home)), &t)
    );
    r.expect(201);
    assert_eq!(r.json["expires_at"], "2030-01-31T00:00:00Z");
    assert_eq!(r.json["mac"], "4C:5E:0C:12:34:56");
    assert_eq!(r.json["ipv4"], "100.64.0.10");
    let created = r.json["created_at"].as_str().unwrap();
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
}
