//! NAS devices end to end: CRUD, the write-only secret, validation, conflicts,
//! permissions, audit, and the invalidation radiusd listens to.

use std::time::Duration;

use proisp_adminapi::permission::Role;
use proisp_model::{AcctRecord, AcctStatus};
use proisp_radius::secret::SharedSecret as _;
use proisp_store::{Cache as _, CacheEvent, Invalidation};
use serde_json::{Value, json};

use super::{Ctx, app, call, delete, get, patch, post, put, token, with_token};

/// The secret of every NAS these tests create; no response may contain it.
pub(crate) const NAS_SECRET: &str = "nas-Shared-s3cret-XYZ";

fn bras() -> Value {
    json!({
        "name": "bras-1",
        "address": "192.0.2.10",
        "secret": NAS_SECRET,
        "vendor": "mikrotik",
        "coa_port": 3799
    })
}

#[actix_web::test]
async fn nas_crud_secret_validation_conflicts_and_audit() {
    let ctx = Ctx::new().await;
    ctx.forbid(NAS_SECRET);
    ctx.forbid("rotated-Secret-456");
    ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "alice");
    let cache = ctx.env.cache().await;
    let mut events = cache.subscribe();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Connected)
    );

    let r = call!(app, ctx, with_token(post("/api/v1/nas", bras()), &t));
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(
        r.headers.get("location").unwrap().to_str().unwrap(),
        format!("/api/v1/nas/{id}")
    );
    assert_eq!(r.json["address"], "192.0.2.10");
    assert_eq!(r.json["secret_set"], true);
    assert_eq!(r.json["require_message_authenticator"], true);
    assert!(r.json.get("secret").is_none(), "{}", r.text);
    // radiusd hears of it.
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap(),
        Some(CacheEvent::Invalidate(Invalidation::Nas))
    );

    let got = call!(app, ctx, with_token(get(&format!("/api/v1/nas/{id}")), &t));
    got.expect(200);
    assert_eq!(got.json, r.json);
    let list = call!(app, ctx, with_token(get("/api/v1/nas"), &t));
    list.expect(200);
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);

    // A range, defaults.
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/nas",
                json!({"name": "pool", "address": "10.20.0.0/24", "secret": NAS_SECRET})
            ),
            &t
        )
    );
    r.expect(201);
    assert_eq!(r.json["address"], "10.20.0.0/24");
    assert_eq!(r.json["vendor"], "mikrotik");
    assert_eq!(r.json["coa_port"], 3799);
    let pool_id = r.json["id"].as_i64().unwrap();

    // 409 on a taken address; 422 naming the field.
    call!(app, ctx, with_token(post("/api/v1/nas", bras()), &t)).error(
        409,
        "conflict",
        Some("address"),
    );
    for (field, value, name) in [
        ("address", json!("192.0.2.300"), "address"),
        ("address", json!("10.20.0.1/24"), "address"),
        ("address", json!("10.0.0.0/33"), "address"),
        ("vendor", json!("huawei"), "vendor"),
        ("coa_port", json!(0), "coa_port"),
        ("coa_port", json!(70000), "coa_port"),
        ("coa_port", json!(-1), "coa_port"),
        ("name", json!(" "), "name"),
        ("secret", json!(""), "secret"),
        ("secret", json!("a\u{1}b"), "secret"),
        ("secret", json!("x".repeat(129)), "secret"),
        ("colour", json!("red"), "colour"),
    ] {
        let mut bad = bras();
        bad["address"] = json!("192.0.2.99");
        bad[field] = value;
        call!(app, ctx, with_token(post("/api/v1/nas", bad), &t)).error(422, "invalid", Some(name));
    }
    let mut no_secret = bras();
    no_secret.as_object_mut().unwrap().remove("secret");
    no_secret["address"] = json!("192.0.2.99");
    call!(app, ctx, with_token(post("/api/v1/nas", no_secret), &t)).error(
        422,
        "invalid",
        Some("secret"),
    );
    let list = call!(app, ctx, with_token(get("/api/v1/nas"), &t));
    assert_eq!(list.json["items"].as_array().unwrap().len(), 2);

    // 404s.
    call!(app, ctx, with_token(get("/api/v1/nas/999999"), &t)).error(404, "not_found", None);
    call!(app, ctx, with_token(put("/api/v1/nas/999999", bras()), &t)).error(
        404,
        "not_found",
        None,
    );
    call!(app, ctx, with_token(delete("/api/v1/nas/999999"), &t)).error(404, "not_found", None);

    // PATCH keeps the secret; PUT without one keeps it too; a new one replaces it.
    let store = ctx.env.store().await;
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{id}"),
                json!({"coa_port": 1700, "vendor": "cisco"})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["coa_port"], 1700);
    assert_eq!(r.json["vendor"], "cisco");
    let secret_of = |all: &[proisp_model::Nas]| {
        all.iter()
            .find(|n| n.id == id)
            .unwrap()
            .secret
            .as_bytes()
            .to_vec()
    };
    assert_eq!(
        secret_of(&store.all_nas().await.unwrap()),
        NAS_SECRET.as_bytes()
    );
    call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{id}"),
                json!({"address": "10.20.0.0/24"})
            ),
            &t
        )
    )
    .error(409, "conflict", Some("address"));
    call!(
        app,
        ctx,
        with_token(
            patch(&format!("/api/v1/nas/{id}"), json!({"coa_port": 0})),
            &t
        )
    )
    .error(422, "invalid", Some("coa_port"));
    let mut replaced = bras();
    replaced.as_object_mut().unwrap().remove("secret");
    replaced["name"] = json!("bras-1b");
    let r = call!(
        app,
        ctx,
        with_token(put(&format!("/api/v1/nas/{id}"), replaced), &t)
    );
    r.expect(200);
    assert_eq!(r.json["name"], "bras-1b");
    assert_eq!(r.json["coa_port"], 3799);
    assert_eq!(
        secret_of(&store.all_nas().await.unwrap()),
        NAS_SECRET.as_bytes()
    );
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{id}"),
                json!({"secret": "rotated-Secret-456"})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(
        secret_of(&store.all_nas().await.unwrap()),
        b"rotated-Secret-456"
    );

    // 409 while a session is open on it; 204 once there is none.
    store
        .apply_accounting(
            &[AcctRecord {
                status: AcctStatus::Start,
                nas_id: pool_id,
                acct_session_id: "s1".into(),
                username: "someone".into(),
                upload_octets: 0,
                download_octets: 0,
                session_time_secs: 0,
                received_at_ms: super::sessions::now_ms(),
                delay_secs: 0,
                framed_ip: None,
                calling_station_id: None,
                nas_port_id: None,
                terminate_cause: None,
            }],
            3,
        )
        .await
        .unwrap();
    call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/nas/{pool_id}")), &t)
    )
    .error(409, "conflict", None);
    let sql = ctx.env.sql().await;
    sql.execute("DELETE FROM sessions", &[]).await.unwrap();
    let r = call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/nas/{pool_id}")), &t)
    );
    assert_eq!(r.status, 204, "{}", r.text);
    call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/nas/{pool_id}")), &t)
    )
    .expect(404);
    assert_eq!(store.all_nas().await.unwrap().len(), 1);

    // Audit: every change, never the secret, and whether it changed.
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/audit?entity=nas&limit=20"), &t)
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
            "nas.delete",
            "nas.update",
            "nas.update",
            "nas.update",
            "nas.create",
            "nas.create"
        ]
    );
    assert_eq!(r.json["items"][1]["after"]["credential_changed"], true);
    assert_eq!(r.json["items"][2]["after"]["credential_changed"], false);
    let logged: String = sql
        .query_one(
            "SELECT coalesce(string_agg(before::text || ' ' || after::text, ' '), '') \
             FROM audit_log WHERE entity = 'nas'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!logged.contains(NAS_SECRET), "{logged}");
    assert!(!logged.contains("rotated-Secret-456"), "{logged}");
}

#[actix_web::test]
async fn nas_permissions() {
    let ctx = Ctx::new().await;
    ctx.forbid(NAS_SECRET);
    ctx.admin("alice", Role::Admin).await;
    ctx.admin("vera", Role::Viewer).await;
    ctx.admin("sam", Role::Support).await;
    let app = app!(ctx);
    let admin = token!(app, ctx, "alice");
    let viewer = token!(app, ctx, "vera");
    let support = token!(app, ctx, "sam");

    call!(app, ctx, get("/api/v1/nas")).error(401, "unauthorized", None);
    let r = call!(app, ctx, with_token(post("/api/v1/nas", bras()), &admin));
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    for t in [&viewer, &support] {
        call!(app, ctx, with_token(get("/api/v1/nas"), t)).expect(200);
        call!(app, ctx, with_token(get(&format!("/api/v1/nas/{id}")), t)).expect(200);
        let mut other = bras();
        other["address"] = json!("192.0.2.11");
        call!(app, ctx, with_token(post("/api/v1/nas", other), t)).error(403, "forbidden", None);
        call!(
            app,
            ctx,
            with_token(
                patch(&format!("/api/v1/nas/{id}"), json!({"coa_port": 1})),
                t
            )
        )
        .expect(403);
        call!(
            app,
            ctx,
            with_token(put(&format!("/api/v1/nas/{id}"), bras()), t)
        )
        .expect(403);
        call!(
            app,
            ctx,
            with_token(delete(&format!("/api/v1/nas/{id}")), t)
        )
        .expect(403);
    }
    let list = call!(app, ctx, with_token(get("/api/v1/nas"), &admin));
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["items"][0]["coa_port"], 3799);
}

#[actix_web::test]
async fn nas_coa_lane_limits() {
    let ctx = Ctx::new().await;
    ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "alice");
    let store = ctx.env.store().await;

    // Absent: the [coa] section's window, no rate cap.
    let r = call!(app, ctx, with_token(post("/api/v1/nas", bras()), &t));
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(r.json["coa_window"], Value::Null);
    assert_eq!(r.json["coa_rate"], Value::Null);

    // Set: shown, and what radiusd reads.
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{id}"),
                json!({"coa_window": 4, "coa_rate": 200})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["coa_window"], 4);
    assert_eq!(r.json["coa_rate"], 200);
    let lane = |all: Vec<proisp_model::Nas>| all.into_iter().find(|n| n.id == id).unwrap().coa_lane;
    assert_eq!(
        lane(store.all_nas().await.unwrap()),
        proisp_model::CoaLane {
            window: Some(4),
            rate: Some(200)
        }
    );

    // Out of range or not a number: 422 naming the field, nothing changed.
    for (field, bad) in [
        ("coa_window", json!(0)),
        ("coa_window", json!(1025)),
        ("coa_window", json!("8")),
        ("coa_rate", json!(0)),
        ("coa_rate", json!(100_001)),
        ("coa_rate", json!(-1)),
    ] {
        call!(
            app,
            ctx,
            with_token(
                patch(&format!("/api/v1/nas/{id}"), json!({ field: bad })),
                &t
            )
        )
        .error(422, "invalid", Some(field));
    }
    assert_eq!(lane(store.all_nas().await.unwrap()).window, Some(4));

    // Null: back to the defaults.
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{id}"),
                json!({"coa_window": null, "coa_rate": null})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(
        lane(store.all_nas().await.unwrap()),
        proisp_model::CoaLane::default()
    );
}

#[actix_web::test]
async fn nas_tls_identity_and_own_secret() {
    let ctx = Ctx::new().await;
    ctx.forbid(NAS_SECRET);
    ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "alice");
    let store = ctx.env.store().await;
    let tls_of = async |id: i64| {
        let all = store.all_nas().await.unwrap();
        let n = all.into_iter().find(|n| n.id == id).unwrap();
        (n.tls.identity, n.tls.own_secret)
    };

    // Absent: matched by address, signed with `radsec`.
    let r = call!(app, ctx, with_token(post("/api/v1/nas", bras()), &t));
    r.expect(201);
    let plain = r.json["id"].as_i64().unwrap();
    assert_eq!(r.json["tls_identity"], Value::Null);
    assert_eq!(r.json["tls_own_secret"], false);
    assert_eq!(r.json["tls_coa"], false);
    assert_eq!(tls_of(plain).await, (None, false));

    // Created with both; shown by GET and in the list; what radiusd reads.
    let mut with_tls = bras();
    with_tls["address"] = json!("192.0.2.20");
    with_tls["tls_identity"] = json!(" bras-2.isp.example ");
    with_tls["tls_own_secret"] = json!(true);
    with_tls["tls_coa"] = json!(true);
    let r = call!(app, ctx, with_token(post("/api/v1/nas", with_tls), &t));
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(r.json["tls_identity"], "bras-2.isp.example");
    assert_eq!(r.json["tls_own_secret"], true);
    assert_eq!(r.json["tls_coa"], true);
    let all = store.all_nas().await.unwrap();
    assert!(all.iter().any(|n| n.id == id && n.tls.coa));
    let got = call!(app, ctx, with_token(get(&format!("/api/v1/nas/{id}")), &t));
    got.expect(200);
    assert_eq!(got.json, r.json);
    let list = call!(app, ctx, with_token(get("/api/v1/nas"), &t));
    assert_eq!(list.json["items"][1], r.json);
    assert_eq!(
        tls_of(id).await,
        (Some("bras-2.isp.example".to_owned()), true)
    );

    // Unique: another NAS cannot claim it, on create or update (409 naming the field).
    let mut dup = bras();
    dup["address"] = json!("192.0.2.21");
    dup["tls_identity"] = json!("bras-2.isp.example");
    call!(app, ctx, with_token(post("/api/v1/nas", dup), &t)).error(
        409,
        "conflict",
        Some("tls_identity"),
    );
    call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{plain}"),
                json!({"tls_identity": "bras-2.isp.example"})
            ),
            &t
        )
    )
    .error(409, "conflict", Some("tls_identity"));

    // Empty, blank, longer than 255, control characters, wrong types: 422 naming it.
    for bad in [
        json!(""),
        json!("   "),
        json!("x".repeat(256)),
        json!("bras\u{0}3"),
        json!("bras\n3"),
        json!(7),
    ] {
        let mut body = bras();
        body["address"] = json!("192.0.2.22");
        body["tls_identity"] = bad.clone();
        call!(app, ctx, with_token(post("/api/v1/nas", body), &t)).error(
            422,
            "invalid",
            Some("tls_identity"),
        );
        call!(
            app,
            ctx,
            with_token(
                patch(&format!("/api/v1/nas/{id}"), json!({"tls_identity": bad})),
                &t
            )
        )
        .error(422, "invalid", Some("tls_identity"));
    }
    let mut body = bras();
    body["address"] = json!("192.0.2.22");
    body["tls_own_secret"] = json!("yes");
    call!(app, ctx, with_token(post("/api/v1/nas", body), &t)).error(
        422,
        "invalid",
        Some("tls_own_secret"),
    );
    // 255 characters is the limit, not past it.
    let longest = "y".repeat(255);
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{plain}"),
                json!({"tls_identity": longest})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["tls_identity"], longest.as_str());
    assert_eq!(tls_of(id).await.0.as_deref(), Some("bras-2.isp.example"));

    // Updated; PATCH leaves what it does not name; null clears; PUT without them resets.
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{id}"),
                json!({"tls_identity": "bras-2b.isp.example"})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["tls_identity"], "bras-2b.isp.example");
    assert_eq!(r.json["tls_own_secret"], true);
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{id}"),
                json!({"tls_own_secret": false})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["tls_identity"], "bras-2b.isp.example");
    assert_eq!(r.json["tls_own_secret"], false);
    assert_eq!(
        tls_of(id).await,
        (Some("bras-2b.isp.example".to_owned()), false)
    );
    let r = call!(
        app,
        ctx,
        with_token(
            patch(&format!("/api/v1/nas/{id}"), json!({"tls_identity": null})),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["tls_identity"], Value::Null);
    assert_eq!(tls_of(id).await, (None, false));
    // The identity given up is free for another NAS.
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/nas/{plain}"),
                json!({"tls_identity": "bras-2b.isp.example", "tls_own_secret": true})
            ),
            &t
        )
    );
    r.expect(200);
    let mut replaced = bras();
    replaced.as_object_mut().unwrap().remove("secret");
    let r = call!(
        app,
        ctx,
        with_token(put(&format!("/api/v1/nas/{plain}"), replaced), &t)
    );
    r.expect(200);
    assert_eq!(r.json["tls_identity"], Value::Null);
    assert_eq!(r.json["tls_own_secret"], false);

    // The audit log has the change, before and after.
    let r = call!(
        app,
        ctx,
        with_token(
            get(&format!(
                "/api/v1/audit?entity=nas&entity_id={id}&action=nas.update&limit=1"
            )),
            &t
        )
    );
    r.expect(200);
    let last = &r.json["items"][0];
    assert_eq!(last["before"]["tls_identity"], "bras-2b.isp.example");
    assert_eq!(last["after"]["tls_identity"], Value::Null);
    assert_eq!(last["after"]["credential_changed"], false);
}
