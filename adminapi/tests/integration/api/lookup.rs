//! "Who had this address?" (`GET /sessions/history`): open and closed sessions by IP, MAC
//! or user name at an instant or over a period, paged, every lookup audited; the query
//! parameters in the OpenAPI document.

use proisp_adminapi::permission::Role;
use proisp_adminapi::time::Timestamp;
use proisp_model::AcctStatus;
use proisp_store::{NewPlan, NewSubscriber};
use serde_json::Value;

use super::sessions::{nas, now_ms, record};
use super::{Ctx, app, call, get, token, with_token};

const HOUR_MS: i64 = 3_600_000;

fn sids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["acct_session_id"].as_str().unwrap().to_owned())
        .collect()
}

fn at(ms: i64) -> String {
    Timestamp::from_unix(ms / 1000).to_string()
}

#[actix_web::test]
async fn who_had_an_address_at_a_time_from_live_and_closed_sessions_audited() {
    let ctx = Ctx::new().await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "vera");
    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 20_000, 5_000))
        .await
        .unwrap();
    for name in ["alice", "bob"] {
        store
            .create_subscriber(&NewSubscriber::new(name, "pw", plan.id))
            .await
            .unwrap();
    }
    let n1 = nas(&store, "n1", "192.0.2.1", 3799).await;
    let now = now_ms();
    // alice had 100.64.0.7 from 3 h ago to 2 h ago; bob has had it for the last hour.
    let mut start = record(AcctStatus::Start, n1, "alice", "s-alice", 0);
    start.received_at_ms = now - 3 * HOUR_MS;
    start.session_time_secs = 0;
    let mut stop = record(AcctStatus::Stop, n1, "alice", "s-alice", 5_000);
    stop.received_at_ms = now - 2 * HOUR_MS;
    stop.session_time_secs = 3_600;
    let mut bob = record(AcctStatus::Start, n1, "bob", "s-bob", 0);
    bob.received_at_ms = now - HOUR_MS;
    bob.session_time_secs = 0;
    bob.calling_station_id = Some("bb-bb-cc-00-00-02".into());
    store
        .apply_accounting(&[start, stop, bob], 3)
        .await
        .unwrap();

    let look = |q: &str| with_token(get(&format!("/api/v1/sessions/history?{q}")), &t);
    let mut audited = 0;
    let r = call!(
        app,
        ctx,
        look(&format!("ip=100.64.0.7&at={}", at(now - 150 * 60_000)))
    );
    r.expect(200);
    audited += 1;
    assert_eq!(sids(&r.json), ["s-alice"]);
    let alice = &r.json["items"][0];
    assert_eq!(alice["state"], "closed");
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["download_octets"], 5_000);
    assert_eq!(alice["closed_by"], "stop");
    assert_eq!(alice["id"], Value::Null);
    let r = call!(
        app,
        ctx,
        look(&format!("ip=100.64.0.7&at={}", at(now - 30 * 60_000)))
    );
    audited += 1;
    assert_eq!(sids(&r.json), ["s-bob"]);
    assert_eq!(r.json["items"][0]["state"], "online");
    assert!(r.json["items"][0]["id"].is_i64());
    assert_eq!(r.json["items"][0]["stopped_at"], Value::Null);
    // Between the two: nobody.
    let r = call!(
        app,
        ctx,
        look(&format!("ip=100.64.0.7&at={}", at(now - 90 * 60_000)))
    );
    audited += 1;
    assert!(sids(&r.json).is_empty());
    // Any time, newest first; a period; the MAC in another form; the user; the NAS.
    let r = call!(app, ctx, look("ip=100.64.0.7"));
    audited += 1;
    assert_eq!(sids(&r.json), ["s-bob", "s-alice"]);
    let r = call!(
        app,
        ctx,
        look(&format!(
            "ip=100.64.0.7&from={}&to={}",
            at(now - 4 * HOUR_MS),
            at(now - 150 * 60_000)
        ))
    );
    audited += 1;
    assert_eq!(sids(&r.json), ["s-alice"]);
    let r = call!(app, ctx, look("mac=aabb.cc00.0001"));
    audited += 1;
    assert_eq!(sids(&r.json), ["s-alice"]);
    let r = call!(app, ctx, look("mac=BB:BB:CC:00:00:02"));
    audited += 1;
    assert_eq!(sids(&r.json), ["s-bob"]);
    let r = call!(app, ctx, look("username=bob"));
    audited += 1;
    assert_eq!(sids(&r.json), ["s-bob"]);
    let r = call!(app, ctx, look(&format!("ip=100.64.0.7&nas_id={}", n1 + 1)));
    audited += 1;
    assert!(sids(&r.json).is_empty());
    // Pages.
    let r = call!(app, ctx, look("ip=100.64.0.7&limit=1"));
    audited += 1;
    assert_eq!(sids(&r.json), ["s-bob"]);
    let before = r.json["next_before"].as_str().unwrap().to_owned();
    let r = call!(
        app,
        ctx,
        look(&format!("ip=100.64.0.7&limit=1&before={before}"))
    );
    audited += 1;
    assert_eq!(sids(&r.json), ["s-alice"]);

    // Refused before anything is read: no identifier, bad values, at with a period.
    for (q, field) in [
        ("at=2026-01-01T00:00:00Z", "ip"),
        ("ip=300.1.1.1", "ip"),
        ("mac=xx", "mac"),
        (
            "ip=10.0.0.1&at=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z",
            "from",
        ),
        (
            "ip=10.0.0.1&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            "to",
        ),
        ("ip=10.0.0.1&before=nonsense", "before"),
        ("ip=10.0.0.1&limit=501", "limit"),
        ("username=", "username"),
    ] {
        call!(app, ctx, look(q)).error(422, "invalid", Some(field));
    }
    call!(app, ctx, look("ip=10.0.0.1&sort=up")).expect(422);
    call!(app, ctx, get("/api/v1/sessions/history?ip=10.0.0.1")).expect(401);

    // One audit row per answered lookup, naming what was asked.
    let sql = ctx.env.sql().await;
    let rows = sql
        .query(
            "SELECT admin_username, after FROM audit_log WHERE action = 'session.lookup' \
             ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), audited);
    let first: Value = rows[0].get(1);
    assert_eq!(rows[0].get::<_, String>(0), "vera");
    assert_eq!(first["ip"], "100.64.0.7");
    assert_eq!(first["found"], 1);
}

#[actix_web::test]
async fn the_openapi_document_lists_the_query_parameters_of_sessions_history_and_usage() {
    let ctx = Ctx::new().await;
    let app = app!(ctx);
    let doc = call!(app, ctx, get("/api/v1/openapi.json")).json.clone();
    let params = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has no parameters"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (path, want) in [
        (
            "/api/v1/sessions",
            &["nas_id", "username", "subscriber_id", "after_id", "limit"][..],
        ),
        (
            "/api/v1/sessions/history",
            &[
                "ip", "mac", "username", "nas_id", "at", "from", "to", "before", "limit",
            ],
        ),
        (
            "/api/v1/subscribers/{id}/sessions/history",
            &["id", "before", "limit"],
        ),
        ("/api/v1/subscribers/{id}/usage", &["id", "before", "limit"]),
    ] {
        let got = params(path);
        for name in want {
            assert!(
                got.iter().any(|g| g == name),
                "{path}: {name} missing from {got:?}"
            );
        }
    }
}
