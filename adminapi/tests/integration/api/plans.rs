//! Plans end to end: CRUD, validation, conflicts, permissions, audit; the OpenAPI
//! document, /health, /metrics.

use actix_web::test::TestRequest;
use proisp_adminapi::permission::Role;
use proisp_store::NewSubscriber;
use serde_json::{Value, json};

use super::{Ctx, app, call, delete, get, patch, peer, post, put, token, with_token};

fn home50() -> Value {
    json!({
        "name": "home-50",
        "download_kbps": 50000,
        "upload_kbps": 10000,
        "burst": {"download_kbps": 80000, "upload_kbps": 20000,
                  "threshold_download_kbps": 40000, "threshold_upload_kbps": 8000,
                  "time_secs": 16},
        "quota_bytes": 100_000_000_000u64,
        "fup": {"download_kbps": 2000, "upload_kbps": 1000},
        "price_cents": 2500
    })
}

#[actix_web::test]
async fn plans_crud_validation_conflicts_and_audit() {
    let ctx = Ctx::new().await;
    let admin = ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "alice");

    let r = call!(app, ctx, with_token(post("/api/v1/plans", home50()), &t));
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(
        r.headers.get("location").unwrap().to_str().unwrap(),
        format!("/api/v1/plans/{id}")
    );
    assert_eq!(r.json["name"], "home-50");
    assert_eq!(r.json["fup_action"], "throttle");
    assert_eq!(r.json["interim_interval_secs"], 300);
    assert_eq!(
        r.json["mikrotik_rate_limit"],
        "10M/50M 20M/80M 8M/40M 16/16"
    );

    let got = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/plans/{id}")), &t)
    );
    got.expect(200);
    assert_eq!(got.json, r.json);
    let list = call!(app, ctx, with_token(get("/api/v1/plans"), &t));
    list.expect(200);
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);

    // 409 on a taken name, 422 naming the field, 400 for non-JSON.
    call!(app, ctx, with_token(post("/api/v1/plans", home50()), &t)).error(
        409,
        "conflict",
        Some("name"),
    );
    let mut bad = home50();
    bad["priority"] = json!(9);
    call!(app, ctx, with_token(post("/api/v1/plans", bad), &t)).error(
        422,
        "invalid",
        Some("priority"),
    );
    let mut bad = home50();
    bad["download_kbps"] = json!("fast");
    call!(app, ctx, with_token(post("/api/v1/plans", bad), &t)).error(
        422,
        "invalid",
        Some("download_kbps"),
    );
    let mut bad = home50();
    bad["burst"]["time_secs"] = json!(-1);
    call!(app, ctx, with_token(post("/api/v1/plans", bad), &t)).error(
        422,
        "invalid",
        Some("burst.time_secs"),
    );
    let mut bad = home50();
    bad["speed"] = json!(1);
    call!(app, ctx, with_token(post("/api/v1/plans", bad), &t)).error(
        422,
        "invalid",
        Some("speed"),
    );
    let mut bad = home50();
    bad["name"] = json!("  ");
    call!(app, ctx, with_token(post("/api/v1/plans", bad), &t)).error(422, "invalid", Some("name"));
    let mut bad = home50();
    bad["fup_action"] = json!("explode");
    call!(app, ctx, with_token(post("/api/v1/plans", bad), &t)).error(
        422,
        "invalid",
        Some("fup_action"),
    );
    let mut bad = home50();
    bad["interim_interval_secs"] = json!(0);
    call!(app, ctx, with_token(post("/api/v1/plans", bad), &t)).error(
        422,
        "invalid",
        Some("interim_interval_secs"),
    );
    let raw = with_token(
        TestRequest::post()
            .uri("/api/v1/plans")
            .peer_addr(peer())
            .insert_header(("content-type", "application/json"))
            .set_payload("{\"name\":"),
        &t,
    );
    call!(app, ctx, raw).error(400, "bad_request", None);
    // Nothing half-written.
    let list = call!(app, ctx, with_token(get("/api/v1/plans"), &t));
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);

    // 404s.
    call!(app, ctx, with_token(get("/api/v1/plans/999999"), &t)).error(404, "not_found", None);
    call!(app, ctx, with_token(get("/api/v1/plans/abc"), &t)).error(404, "not_found", None);
    call!(
        app,
        ctx,
        with_token(put("/api/v1/plans/999999", home50()), &t)
    )
    .error(404, "not_found", None);
    call!(app, ctx, with_token(delete("/api/v1/plans/999999"), &t)).error(404, "not_found", None);
    call!(app, ctx, with_token(get("/api/v1/nothing"), &t)).error(404, "not_found", None);

    // PUT replaces; PATCH merges (null removes the burst).
    let mut replaced = home50();
    replaced["download_kbps"] = json!(60000);
    let r = call!(
        app,
        ctx,
        with_token(put(&format!("/api/v1/plans/{id}"), replaced), &t)
    );
    r.expect(200);
    assert_eq!(r.json["download_kbps"], 60000);
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/plans/{id}"),
                json!({"burst": null, "price_cents": 3000})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["burst"], Value::Null);
    assert_eq!(r.json["price_cents"], 3000);
    assert_eq!(r.json["download_kbps"], 60000);
    assert_eq!(r.json["mikrotik_rate_limit"], "10M/60M");
    call!(
        app,
        ctx,
        with_token(
            patch(&format!("/api/v1/plans/{id}"), json!({"priority": 0})),
            &t
        )
    )
    .error(422, "invalid", Some("priority"));

    // The change reaches the store (and so radiusd).
    let store = ctx.env.store().await;
    let plan = store.plan(id).await.unwrap().unwrap();
    assert_eq!(plan.rate.download_kbps, 60000);

    // 409 while subscribers are on it; 204 once they are not.
    store
        .create_subscriber(&NewSubscriber::new("sub1", "pw", id))
        .await
        .unwrap();
    call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/plans/{id}")), &t)
    )
    .error(409, "conflict", None);
    let sql = ctx.env.sql().await;
    sql.execute("DELETE FROM subscribers", &[]).await.unwrap();
    let r = call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/plans/{id}")), &t)
    );
    assert_eq!(r.status, 204, "{}", r.text);
    call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/plans/{id}")), &t)
    )
    .expect(404);

    // Audit: create, two updates, delete — with before/after — readable with filters.
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/audit?entity=plan&limit=10"), &t)
    );
    r.expect(200);
    let items = r.json["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["plan.delete", "plan.update", "plan.update", "plan.create"]
    );
    assert!(items.iter().all(|i| i["admin_id"] == admin.id));
    assert!(items.iter().all(|i| i["admin_username"] == "alice"));
    assert!(items.iter().all(|i| i["client_ip"] == "127.0.0.1"));
    let entity_id = id.to_string();
    assert!(items.iter().all(|i| i["entity_id"] == entity_id.as_str()));
    assert_eq!(items[3]["before"], Value::Null);
    assert_eq!(items[3]["after"]["download_kbps"], 50000);
    assert_eq!(items[2]["before"]["download_kbps"], 50000);
    assert_eq!(items[2]["after"]["download_kbps"], 60000);
    assert_eq!(items[0]["after"], Value::Null);
    assert_eq!(items[0]["before"]["name"], "home-50");
    assert!(items[0]["at"].as_str().unwrap().ends_with('Z'));
    // Paging and filters.
    let p1 = call!(
        app,
        ctx,
        with_token(get("/api/v1/audit?entity=plan&limit=3"), &t)
    );
    let next = p1.json["next_before_id"].as_i64().unwrap();
    let p2 = call!(
        app,
        ctx,
        with_token(
            get(&format!(
                "/api/v1/audit?entity=plan&limit=3&before_id={next}"
            )),
            &t
        )
    );
    assert_eq!(p2.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2.json["next_before_id"], Value::Null);
    let r = call!(
        app,
        ctx,
        with_token(
            get("/api/v1/audit?action=plan.update&since=2000-01-01T00:00:00Z"),
            &t
        )
    );
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/audit?until=2000-01-01T00:00:00Z"), &t)
    );
    assert_eq!(r.json["items"].as_array().unwrap().len(), 0);
    call!(
        app,
        ctx,
        with_token(get("/api/v1/audit?since=yesterday"), &t)
    )
    .error(422, "invalid", Some("since"));
    call!(app, ctx, with_token(get("/api/v1/audit?limit=0"), &t)).error(
        422,
        "invalid",
        Some("limit"),
    );
    call!(app, ctx, with_token(get("/api/v1/audit?admin_id=x"), &t)).error(
        422,
        "invalid",
        Some("query"),
    );
}

#[actix_web::test]
async fn permissions_per_role() {
    let ctx = Ctx::new().await;
    for (name, role) in [
        ("v", Role::Viewer),
        ("s", Role::Support),
        ("a", Role::Admin),
    ] {
        ctx.admin(name, role).await;
    }
    let app = app!(ctx);
    let viewer = token!(app, ctx, "v");
    let support = token!(app, ctx, "s");
    let admin = token!(app, ctx, "a");

    call!(app, ctx, get("/api/v1/plans")).error(401, "unauthorized", None);
    for t in [&viewer, &support, &admin] {
        call!(app, ctx, with_token(get("/api/v1/plans"), t)).expect(200);
    }
    for t in [&viewer, &support] {
        call!(app, ctx, with_token(post("/api/v1/plans", home50()), t)).error(
            403,
            "forbidden",
            None,
        );
        call!(app, ctx, with_token(get("/api/v1/audit"), t)).error(403, "forbidden", None);
    }
    let r = call!(
        app,
        ctx,
        with_token(post("/api/v1/plans", home50()), &admin)
    );
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    for t in [&viewer, &support] {
        call!(
            app,
            ctx,
            with_token(delete(&format!("/api/v1/plans/{id}")), t)
        )
        .expect(403);
        call!(
            app,
            ctx,
            with_token(
                patch(&format!("/api/v1/plans/{id}"), json!({"price_cents": 1})),
                t
            )
        )
        .expect(403);
    }
    call!(app, ctx, with_token(get("/api/v1/audit"), &admin)).expect(200);
    // The viewer's denied write left nothing behind.
    let sql = ctx.env.sql().await;
    let n: i64 = sql
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'plan.%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[actix_web::test]
async fn openapi_health_and_metrics() {
    let ctx = Ctx::new().await;
    ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let doc = call!(app, ctx, get("/api/v1/openapi.json"));
    doc.expect(200);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.json["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/auth/totp/setup",
        "/api/v1/auth/totp/confirm",
        "/api/v1/plans",
        "/api/v1/plans/{id}",
        "/api/v1/audit",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
    let plan_item = &paths["/api/v1/plans/{id}"];
    for m in ["get", "put", "patch", "delete"] {
        assert!(plan_item.get(m).is_some(), "{m}");
    }
    assert!(doc.json["components"]["schemas"]["PlanInput"].is_object());
    assert!(doc.json["components"]["securitySchemes"]["bearer"].is_object());

    let h = call!(app, ctx, get("/health"));
    h.expect(200);
    assert_eq!(h.json["status"], "ok");

    let t = token!(app, ctx, "alice");
    call!(app, ctx, with_token(get("/api/v1/plans/1"), &t)).expect(404);
    ctx.state.metrics.upkeep();
    let m = call!(app, ctx, get("/metrics"));
    m.expect(200);
    assert!(
        m.text.contains(
            "http_request_duration_seconds_bucket{route=\"/api/v1/plans/{id}\",method=\"GET\",status=\"404\""
        ),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("route=\"/api/v1/auth/login\""),
        "{}",
        m.text
    );
}
