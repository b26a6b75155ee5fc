//! The dashboard: exact counts from the trigger-kept counters, online sessions, top users
//! of the month, the 30 s cache, permissions.

use proisp_adminapi::permission::Role;
use proisp_model::AcctStatus;
use proisp_store::{AuthStats, Cache as _, NewPlan, NewSubscriber};
use serde_json::{Value, json};

use super::sessions::{nas, record};
use super::{Ctx, app, call, get, token, with_token};

/// Counts come from the trigger-kept `subscriber_counts` (sql/0004), checked here against
/// bulk changes made behind the API's back.
#[actix_web::test]
async fn dashboard_counts_top_users_and_cache() {
    let ctx = Ctx::new().await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    call!(app, ctx, get("/api/v1/dashboard")).error(401, "unauthorized", None);
    let t = token!(app, ctx, "vera");

    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 20_000, 5_000))
        .await
        .unwrap();
    for i in 0..12 {
        store
            .create_subscriber(&NewSubscriber::new(format!("u{i:02}"), "pw", plan.id))
            .await
            .unwrap();
    }
    let sql = ctx.env.sql().await;
    // Bulk changes, as an import or a sweep would make them.
    sql.execute(
        "UPDATE subscribers SET status = 'suspended' WHERE username IN ('u00', 'u01', 'u02')",
        &[],
    )
    .await
    .unwrap();
    sql.execute(
        "UPDATE subscribers SET status = 'disabled' WHERE username = 'u03'",
        &[],
    )
    .await
    .unwrap();
    sql.execute(
        "UPDATE subscribers SET deleted_at = now() WHERE username IN ('u04', 'u00')",
        &[],
    )
    .await
    .unwrap();
    // Accounting touches subscribers too (fair usage), which the counters ignore.
    sql.execute("UPDATE subscribers SET fup_until = now()", &[])
        .await
        .unwrap();
    let n = nas(&store, "n1", "192.0.2.1", 3799).await;
    let mut batch = Vec::new();
    for (i, user) in ["u05", "u06", "u07"].iter().enumerate() {
        let sid = format!("s{i}");
        batch.push(record(AcctStatus::Start, n, user, &sid, 0));
        batch.push(record(
            AcctStatus::InterimUpdate,
            n,
            user,
            &sid,
            1_000_000 * (u64::try_from(i).unwrap() + 1),
        ));
    }
    store.apply_accounting(&batch, 3).await.unwrap();

    let r = call!(app, ctx, with_token(get("/api/v1/dashboard"), &t));
    r.expect(200);
    assert_eq!(
        r.json["subscribers"],
        json!({"active": 7, "suspended": 2, "disabled": 1, "total": 10}),
        "{}",
        r.text
    );
    assert_eq!(r.json["online"]["sessions"], 3);
    assert_eq!(r.json["online"]["open_sessions_started_last_hour"], 3);
    let top = r.json["top_users"]["items"].as_array().unwrap();
    let names: Vec<&str> = top
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["u07", "u06", "u05"]);
    assert_eq!(top[0]["download_octets"], 3_000_000);
    assert_eq!(top[0]["upload_octets"], 300_000);
    assert_eq!(top[0]["total_octets"], 3_300_000);
    assert!(
        r.json["top_users"]["period_start"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00Z")
    );
    // No radiusd published counts yet; two do now (as each does every 10 s).
    assert_eq!(r.json["auth"]["available"], true);
    assert_eq!(r.json["auth"]["radiusd_instances"], 0);
    let cache = ctx.env.cache().await;
    let ttl = std::time::Duration::from_secs(30);
    for (instance, accepts, rejects) in [("a", 120, 7), ("b", 30, 3)] {
        cache
            .put_auth_stats(instance, AuthStats { accepts, rejects }, ttl)
            .await
            .unwrap();
    }
    // Refreshing replaces the cached figures: the check below compares with these.
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/dashboard?refresh=true"), &t)
    );
    assert_eq!(r.json["auth"]["accepts_per_minute"], 150);
    assert_eq!(r.json["auth"]["rejects_per_minute"], 10);
    assert_eq!(r.json["auth"]["radiusd_instances"], 2);

    // Cached: a change is not seen until the cache is refreshed.
    sql.execute("DELETE FROM subscribers WHERE username = 'u11'", &[])
        .await
        .unwrap();
    let again = call!(app, ctx, with_token(get("/api/v1/dashboard"), &t));
    again.expect(200);
    assert_eq!(again.json["computed_at"], r.json["computed_at"]);
    assert_eq!(again.json["subscribers"]["total"], 10);
    let fresh = call!(
        app,
        ctx,
        with_token(get("/api/v1/dashboard?refresh=true"), &t)
    );
    fresh.expect(200);
    assert_eq!(fresh.json["subscribers"]["total"], 9);
    assert_eq!(fresh.json["subscribers"]["active"], 6);
    assert_eq!(fresh.json["age_secs"], 0);
    call!(
        app,
        ctx,
        with_token(get("/api/v1/dashboard?refresh=maybe"), &t)
    )
    .expect(422);

    // The counters agree with a full count.
    let exact: Vec<(String, i64)> = sql
        .query(
            "SELECT status, count(*) FROM subscribers WHERE deleted_at IS NULL \
             GROUP BY status ORDER BY status",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let shown = &fresh.json["subscribers"];
    for (status, n) in exact {
        assert_eq!(shown[status.as_str()], Value::from(n), "{status}");
    }
}
