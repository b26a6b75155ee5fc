//! What the console reads beside the database: a subscriber's recent Access-Rejects and
//! the auth counts per minute (both from Redis, 503 without it), and the backends'
//! health (each check bounded, a dead radiusd reported as down).

use std::time::Duration;

use proisp_adminapi::permission::Role;
use proisp_store::{AuthStats, Cache as _, NewPlan, NewSubscriber, RejectRecord, unix_minute};
use proisp_testing::free_ports;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{Ctx, app, call, get, token, with_token};

fn reject(subscriber_id: i64, at: i64, reason: &str, message: &str) -> RejectRecord {
    RejectRecord {
        subscriber_id,
        at,
        username: "ana".to_owned(),
        nas: "bras-1".to_owned(),
        calling_station_id: Some("AA-BB-CC-00-11-22".to_owned()),
        reason: reason.to_owned(),
        reply_message: message.to_owned(),
    }
}

#[actix_web::test]
async fn rejects_newest_first_bounded_and_auth_counts_per_minute() {
    let ctx = Ctx::new().await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "vera");
    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 20_000, 5_000))
        .await
        .unwrap();
    let ana = store
        .create_subscriber(&NewSubscriber::new("ana", "pw", plan.id))
        .await
        .unwrap();
    let cache = ctx.env.cache().await;

    let r = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/subscribers/{}/rejects", ana.id)), &t)
    );
    r.expect(200);
    assert_eq!(r.json, json!({"items": []}));

    let records: Vec<RejectRecord> = (0..25)
        .map(|i| {
            reject(
                ana.id,
                1_800_000_000 + i,
                "wrong_password",
                "Wrong password",
            )
        })
        .chain([reject(
            ana.id,
            1_800_000_100,
            "suspended",
            "Account suspended",
        )])
        .collect();
    cache
        .push_rejects(&records, 20, Duration::from_secs(60))
        .await
        .unwrap();
    let r = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/subscribers/{}/rejects", ana.id)), &t)
    );
    r.expect(200);
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 20, "{}", r.text);
    assert_eq!(
        items[0],
        json!({
            "at": "2027-01-15T08:01:40Z",
            "username": "ana",
            "nas": "bras-1",
            "calling_station_id": "AA-BB-CC-00-11-22",
            "reason": "suspended",
            "reply_message": "Account suspended",
        })
    );
    assert_eq!(items[1]["at"], "2027-01-15T08:00:24Z");
    call!(
        app,
        ctx,
        with_token(get("/api/v1/subscribers/999999/rejects"), &t)
    )
    .error(404, "not_found", None);

    let now = unix_minute(proisp_adminapi::time::Timestamp::now().unix());
    cache
        .add_auth_minutes(
            &[
                (
                    now - 3,
                    AuthStats {
                        accepts: 5,
                        rejects: 1,
                    },
                ),
                (
                    now - 100,
                    AuthStats {
                        accepts: 9,
                        rejects: 9,
                    },
                ),
            ],
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    // A second radiusd adds to the same minute.
    cache
        .add_auth_minutes(
            &[(
                now - 3,
                AuthStats {
                    accepts: 2,
                    rejects: 0,
                },
            )],
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/dashboard/auth?minutes=10"), &t)
    );
    r.expect(200);
    let minutes = r.json["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 10, "{}", r.text);
    // Oldest first; a minute may have turned since `now` was read.
    let busy: Vec<_> = minutes.iter().filter(|m| m["accepts"] != 0).collect();
    assert_eq!(busy.len(), 1, "{}", r.text);
    assert_eq!(busy[0]["accepts"], 7);
    assert_eq!(busy[0]["rejects"], 1);
    assert!(minutes[0]["start"].as_str().unwrap() < minutes[9]["start"].as_str().unwrap());
    assert!(minutes[9]["start"].as_str().unwrap().ends_with(":00Z"));
    let r = call!(app, ctx, with_token(get("/api/v1/dashboard/auth"), &t));
    assert_eq!(r.json["minutes"].as_array().unwrap().len(), 60);
    for bad in ["0", "121", "x"] {
        let r = call!(
            app,
            ctx,
            with_token(get(&format!("/api/v1/dashboard/auth?minutes={bad}")), &t)
        );
        assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r.text);
    }
    call!(app, ctx, get("/api/v1/dashboard/auth")).error(401, "unauthorized", None);
}

#[actix_web::test]
async fn without_redis_rejects_and_the_chart_answer_503_saying_so() {
    let [port] = free_ports::<1>();
    let ctx = Ctx::with(|cfg| {
        let redis = cfg.redis.as_mut().unwrap();
        redis.url = format!("redis://127.0.0.1:{port}");
        redis.connect_timeout = Duration::from_millis(200);
        redis.command_timeout = Duration::from_millis(200);
    })
    .await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "vera");
    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 20_000, 5_000))
        .await
        .unwrap();
    let ana = store
        .create_subscriber(&NewSubscriber::new("ana", "pw", plan.id))
        .await
        .unwrap();
    for path in [
        format!("/api/v1/subscribers/{}/rejects", ana.id),
        "/api/v1/dashboard/auth".to_owned(),
    ] {
        let r = call!(app, ctx, with_token(get(&path), &t));
        r.error(503, "unavailable", None);
        assert!(
            r.json["message"]
                .as_str()
                .unwrap()
                .starts_with("Redis is unavailable"),
            "{}",
            r.text
        );
    }
    let h = call!(app, ctx, with_token(get("/api/v1/dashboard/health"), &t));
    h.expect(200);
    assert_eq!(h.json["checks"][1]["name"], "redis");
    assert_eq!(h.json["checks"][1]["status"], "down", "{}", h.text);
}

/// Answers one `/health` request per connection with `status` and `body`, as radiusd's
/// metrics port does.
async fn fake_radiusd(status: &'static str, body: &'static str) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    addr
}

#[actix_web::test]
async fn backend_health_lists_postgres_redis_the_outbox_and_each_radiusd() {
    let ready = fake_radiusd("200 OK", "ready").await;
    let draining = fake_radiusd("503 Service Unavailable", "draining").await;
    let [closed] = free_ports::<1>();
    let closed = std::net::SocketAddr::from(([127, 0, 0, 1], closed));
    let ctx = Ctx::with(|cfg| {
        cfg.dashboard.radiusd_health = vec![ready, draining, closed];
        cfg.dashboard.check_timeout = Duration::from_millis(500);
    })
    .await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "vera");
    ctx.env
        .sql()
        .await
        .execute(
            "INSERT INTO event_outbox (id, subject, event, created_at) \
             VALUES ('e1', 'proisp.v1.test', '{}', now() - interval '5 minutes')",
            &[],
        )
        .await
        .unwrap();
    let r = call!(app, ctx, with_token(get("/api/v1/dashboard/health"), &t));
    r.expect(200);
    let checks = r.json["checks"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    let names = [
        format!("radiusd {ready}"),
        format!("radiusd {draining}"),
        format!("radiusd {closed}"),
    ];
    assert_eq!(
        seen,
        vec![
            ("postgresql", "ok"),
            ("redis", "ok"),
            ("outbox", "degraded"),
            (names[0].as_str(), "ok"),
            (names[1].as_str(), "down"),
            (names[2].as_str(), "down"),
        ],
        "{}",
        r.text
    );
    assert_eq!(checks[4]["detail"], "draining");
    assert_eq!(r.json["outbox"]["depth"], 1);
    assert!(r.json["outbox"]["oldest_age_secs"].as_f64().unwrap() >= 299.0);
    call!(app, ctx, get("/api/v1/dashboard/health")).error(401, "unauthorized", None);
}

#[actix_web::test]
async fn the_openapi_document_lists_the_new_routes_their_parameters_and_the_503() {
    let ctx = Ctx::new().await;
    let app = app!(ctx);
    let doc = call!(app, ctx, get("/api/v1/openapi.json")).json.clone();
    let op = |path: &str| doc["paths"][path]["get"].clone();
    let names = |path: &str| -> Vec<String> {
        op(path)["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has no parameters"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("/api/v1/subscribers/{id}/rejects"), ["id"]);
    assert_eq!(names("/api/v1/dashboard/auth"), ["minutes"]);
    for path in ["/api/v1/subscribers/{id}/rejects", "/api/v1/dashboard/auth"] {
        let desc = op(path)["responses"]["503"]["description"].clone();
        assert!(
            desc.as_str().is_some_and(|d| d.contains("Redis")),
            "{path}: {desc}"
        );
    }
    assert_eq!(
        op("/api/v1/dashboard/health")["operationId"],
        "getBackendHealth"
    );
    for schema in ["RejectList", "AuthChart", "BackendHealth"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
