//! Admin management end to end: CRUD, validation, the self and last-superadmin rules,
//! token revocation, superadmin-only access, audit without secrets.

use proisp_adminapi::admin::{self, Changes};
use proisp_adminapi::error::ApiError;
use proisp_adminapi::permission::Role;
use serde_json::{Value, json};

use super::{Ctx, app, call, delete, get, patch, post, token, with_token};

/// The password given to admins created through the API.
const NEW_PASSWORD: &str = "Initial-Passw0rd-7x";
/// The password a PATCH sets.
const CHANGED_PASSWORD: &str = "Changed-Passw0rd-9k";

/// A context where superadmins log in without TOTP.
async fn ctx() -> Ctx {
    let ctx = Ctx::with(|c| c.login.totp_required_roles.clear()).await;
    ctx.forbid(NEW_PASSWORD);
    ctx.forbid(CHANGED_PASSWORD);
    ctx
}

/// An access token for `name` with `password`.
macro_rules! token_for {
    ($app:expr, $ctx:expr, $name:expr, $password:expr) => {{
        let r = call!(
            $app,
            $ctx,
            post(
                "/api/v1/auth/login",
                json!({"username": $name, "password": $password})
            )
        );
        r.expect(200);
        r.json["access_token"].as_str().unwrap().to_owned()
    }};
}

fn bob() -> Value {
    json!({"username": "bob", "password": NEW_PASSWORD, "role": "admin"})
}

#[actix_web::test]
async fn admins_crud_validation_revocation_and_audit() {
    let ctx = ctx().await;
    let root = ctx.admin("root", Role::Superadmin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "root");

    let r = call!(app, ctx, with_token(post("/api/v1/admins", bob()), &t));
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(
        r.headers.get("location").unwrap().to_str().unwrap(),
        format!("/api/v1/admins/{id}")
    );
    assert_eq!(r.json["username"], "bob");
    assert_eq!(r.json["role"], "admin");
    assert_eq!(r.json["disabled"], false);
    assert_eq!(r.json["totp_enabled"], false);
    assert_eq!(r.json["totp_required"], false);
    assert_eq!(r.json["allowed_networks"], json!([]));
    assert!(r.json["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.json["created_at"].as_str().unwrap().len(), 20);
    let keys: Vec<&str> = r
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.iter()
            .all(|k| !k.contains("password") && !k.contains("secret")),
        "{keys:?}"
    );

    let got = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/admins/{id}")), &t)
    );
    got.expect(200);
    assert_eq!(got.json, r.json);
    let list = call!(app, ctx, with_token(get("/api/v1/admins"), &t));
    list.expect(200);
    let doc = call!(app, ctx, get("/api/v1/openapi.json"));
    let paths = &doc.json["paths"];
    for m in ["get", "post"] {
        assert!(paths["/api/v1/admins"][m].is_object(), "{m}");
    }
    for m in ["get", "patch", "delete"] {
        assert!(paths["/api/v1/admins/{id}"][m].is_object(), "{m}");
    }
    assert!(paths["/api/v1/admins/{id}/reset-totp"]["post"].is_object());
    let names: Vec<&str> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "bob"]);

    // The new admin logs in with the password given.
    let b = call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "bob", "password": NEW_PASSWORD})
        )
    );
    b.expect(200);
    let bob_access = b.json["access_token"].as_str().unwrap().to_owned();
    let bob_refresh = b.json["refresh_token"].as_str().unwrap().to_owned();
    call!(app, ctx, with_token(get("/api/v1/plans"), &bob_access)).expect(200);

    // 409 on a taken name; 422 naming the field.
    call!(app, ctx, with_token(post("/api/v1/admins", bob()), &t)).error(
        409,
        "conflict",
        Some("username"),
    );
    for (key, value, field) in [
        ("password", json!("short"), "password"),
        // Not the username, nor containing it (any case, reversed), nor a common one.
        ("password", json!("CAROL-is-my-name"), "password"),
        ("password", json!("lorac-backwards-1"), "password"),
        ("password", json!("Password123456!"), "password"),
        ("password", json!("winniethepooh"), "password"),
        ("password", json!("nul\u{0}in-the-middle"), "password"),
        ("username", json!("bob smith"), "username"),
        ("username", json!(""), "username"),
        ("role", json!("root"), "role"),
        (
            "allowed_networks",
            json!(["10.0.0.0/33"]),
            "allowed_networks[0]",
        ),
        (
            "allowed_networks",
            json!(["10.0.0.0/8", "10.1.2.3/16"]),
            "allowed_networks[1]",
        ),
        ("totp_required", json!("yes"), "totp_required"),
        ("password_hash", json!("$argon2id$"), "password_hash"),
    ] {
        let mut bad = bob();
        bad["username"] = json!("carol");
        bad[key] = value;
        call!(app, ctx, with_token(post("/api/v1/admins", bad), &t)).error(
            422,
            "invalid",
            Some(field),
        );
    }
    call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/admins",
                json!({"username": "carol", "role": "admin"})
            ),
            &t
        )
    )
    .error(422, "invalid", Some("password"));
    call!(
        app,
        ctx,
        with_token(patch(&format!("/api/v1/admins/{id}"), json!({})), &t)
    )
    .error(422, "invalid", Some("body"));
    call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/admins/{id}"),
                json!({"password": "short"})
            ),
            &t
        )
    )
    .error(422, "invalid", Some("password"));
    // Nothing half-written.
    let list = call!(app, ctx, with_token(get("/api/v1/admins"), &t));
    assert_eq!(list.json["items"].as_array().unwrap().len(), 2);

    // 404s.
    call!(app, ctx, with_token(get("/api/v1/admins/999999"), &t)).error(404, "not_found", None);
    call!(app, ctx, with_token(get("/api/v1/admins/abc"), &t)).error(404, "not_found", None);
    call!(
        app,
        ctx,
        with_token(
            patch("/api/v1/admins/999999", json!({"disabled": true})),
            &t
        )
    )
    .error(404, "not_found", None);
    call!(
        app,
        ctx,
        with_token(post("/api/v1/admins/999999/reset-totp", json!({})), &t)
    )
    .error(404, "not_found", None);
    call!(app, ctx, with_token(delete("/api/v1/admins/999999"), &t)).error(404, "not_found", None);

    // A settings-only change keeps bob logged in.
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/admins/{id}"),
                json!({"totp_required": true, "allowed_networks": ["127.0.0.0/8", "::1/128"]})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["totp_required"], true);
    assert_eq!(
        r.json["allowed_networks"],
        json!(["127.0.0.0/8", "::1/128"])
    );
    call!(app, ctx, with_token(get("/api/v1/plans"), &bob_access)).expect(200);

    // A new role logs bob out at once: access and refresh tokens.
    let r = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/admins/{id}"),
                json!({"role": "support", "allowed_networks": []})
            ),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["role"], "support");
    assert_eq!(r.json["allowed_networks"], json!([]));
    call!(app, ctx, with_token(get("/api/v1/plans"), &bob_access)).error(
        401,
        "token_revoked",
        None,
    );
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": bob_refresh})
        )
    )
    .expect(401);

    // A new password: the old one stops working, the new one works.
    call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/admins/{id}"),
                json!({"password": CHANGED_PASSWORD})
            ),
            &t
        )
    )
    .expect(200);
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "bob", "password": NEW_PASSWORD})
        )
    )
    .error(401, "invalid_credentials", None);
    let b = call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "bob", "password": CHANGED_PASSWORD})
        )
    );
    b.expect(200);
    // totp_required: bob's token is enrollment-only until he sets TOTP up.
    assert_eq!(b.json["totp_enrollment_required"], true);

    // reset-totp clears both the confirmed and the pending secret.
    let sql = ctx.env.sql().await;
    sql.execute(
        "UPDATE admins SET totp_secret_enc = $2, totp_pending_enc = $2 WHERE id = $1",
        &[&id, &vec![7u8; 40]],
    )
    .await
    .unwrap();
    let got = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/admins/{id}")), &t)
    );
    assert_eq!(got.json["totp_enabled"], true);
    let r = call!(
        app,
        ctx,
        with_token(
            post(&format!("/api/v1/admins/{id}/reset-totp"), json!({})),
            &t
        )
    );
    r.expect(200);
    assert_eq!(r.json["totp_enabled"], false);
    let row = sql
        .query_one(
            "SELECT totp_secret_enc IS NULL AND totp_pending_enc IS NULL FROM admins WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));

    // DELETE disables, logs out, keeps the row; a disabled admin's token is refused.
    let b = call!(
        app,
        ctx,
        with_token(
            patch(
                &format!("/api/v1/admins/{id}"),
                json!({"totp_required": false})
            ),
            &t
        )
    );
    b.expect(200);
    let bob_access = token_for!(app, ctx, "bob", CHANGED_PASSWORD);
    call!(app, ctx, with_token(get("/api/v1/plans"), &bob_access)).expect(200);
    let r = call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/admins/{id}")), &t)
    );
    assert_eq!(r.status, 204, "{}", r.text);
    call!(app, ctx, with_token(get("/api/v1/plans"), &bob_access)).expect(401);
    let got = call!(
        app,
        ctx,
        with_token(get(&format!("/api/v1/admins/{id}")), &t)
    );
    got.expect(200);
    assert_eq!(got.json["disabled"], true);
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "bob", "password": CHANGED_PASSWORD})
        )
    )
    .error(401, "invalid_credentials", None);
    // Deleting again is harmless; enabling again lets bob back in.
    let r = call!(
        app,
        ctx,
        with_token(delete(&format!("/api/v1/admins/{id}")), &t)
    );
    assert_eq!(r.status, 204, "{}", r.text);
    call!(
        app,
        ctx,
        with_token(
            patch(&format!("/api/v1/admins/{id}"), json!({"disabled": false})),
            &t
        )
    )
    .expect(200);
    let _ = token_for!(app, ctx, "bob", CHANGED_PASSWORD);

    // Audit: every change, by root, before/after without a hash or secret.
    let r = call!(
        app,
        ctx,
        with_token(
            get(&format!("/api/v1/audit?entity=admin&admin_id={}", root.id)),
            &t
        )
    );
    r.expect(200);
    let items = r.json["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .filter(|a| a.starts_with("admin."))
        .collect();
    assert_eq!(
        actions,
        [
            "admin.update",
            "admin.delete",
            "admin.delete",
            "admin.update",
            "admin.reset_totp",
            "admin.update",
            "admin.update",
            "admin.update",
            "admin.create",
        ]
    );
    let admin_items: Vec<&Value> = items
        .iter()
        .filter(|i| i["action"].as_str().unwrap().starts_with("admin."))
        .collect();
    let entity_id = id.to_string();
    assert!(
        admin_items
            .iter()
            .all(|i| i["entity_id"] == entity_id.as_str())
    );
    assert_eq!(admin_items[8]["before"], Value::Null);
    assert_eq!(admin_items[8]["after"]["username"], "bob");
    assert_eq!(admin_items[6]["before"]["role"], "admin");
    assert_eq!(admin_items[6]["after"]["role"], "support");
    assert_eq!(admin_items[5]["after"]["new_credential_set"], true);
    assert_eq!(admin_items[4]["before"]["two_factor_enabled"], true);
    assert_eq!(admin_items[4]["after"]["two_factor_enabled"], false);
    assert_eq!(admin_items[7]["after"]["two_factor_required"], true);
    assert_eq!(admin_items[7]["after"]["allowed_networks"][1], "::1/128");
    assert_eq!(admin_items[2]["after"]["disabled"], true);
    let logged: String = sql
        .query_one(
            "SELECT string_agg(coalesce(before::text, '') || coalesce(after::text, ''), ' ') \
             FROM audit_log WHERE action LIKE 'admin.%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for secret in [
        "$argon2",
        NEW_PASSWORD,
        CHANGED_PASSWORD,
        "password",
        "secret",
    ] {
        assert!(!logged.contains(secret), "{secret} in {logged}");
    }
}

#[actix_web::test]
async fn admin_management_is_superadmin_only() {
    let ctx = ctx().await;
    let root = ctx.admin("root", Role::Superadmin).await;
    for (name, role) in [
        ("a", Role::Admin),
        ("s", Role::Support),
        ("v", Role::Viewer),
    ] {
        ctx.admin(name, role).await;
    }
    let app = app!(ctx);
    call!(app, ctx, get("/api/v1/admins")).error(401, "unauthorized", None);
    let one = format!("/api/v1/admins/{}", root.id);
    for name in ["a", "s", "v"] {
        let t = token!(app, ctx, name);
        call!(app, ctx, with_token(get("/api/v1/admins"), &t)).error(403, "forbidden", None);
        call!(app, ctx, with_token(get(&one), &t)).error(403, "forbidden", None);
        call!(app, ctx, with_token(post("/api/v1/admins", bob()), &t)).error(
            403,
            "forbidden",
            None,
        );
        call!(
            app,
            ctx,
            with_token(patch(&one, json!({"role": "viewer"})), &t)
        )
        .error(403, "forbidden", None);
        call!(
            app,
            ctx,
            with_token(post(&format!("{one}/reset-totp"), json!({})), &t)
        )
        .error(403, "forbidden", None);
        call!(app, ctx, with_token(delete(&one), &t)).error(403, "forbidden", None);
    }
    // Nothing changed, nothing audited.
    let sql = ctx.env.sql().await;
    let n: i64 = sql
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'admin.%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let r = admin::by_id(&ctx.state.db, root.id).await.unwrap().unwrap();
    assert_eq!(r.role, Role::Superadmin);
    assert!(!r.disabled);
    assert!(
        admin::by_username(&ctx.state.db, "bob")
            .await
            .unwrap()
            .is_none()
    );
}

#[actix_web::test]
async fn own_account_and_last_superadmin_are_protected() {
    let ctx = ctx().await;
    let root = ctx.admin("root", Role::Superadmin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "root");
    let me = format!("/api/v1/admins/{}", root.id);

    // Not your own role or state…
    call!(
        app,
        ctx,
        with_token(patch(&me, json!({"role": "admin"})), &t)
    )
    .error(409, "conflict", Some("role"));
    call!(
        app,
        ctx,
        with_token(patch(&me, json!({"disabled": true})), &t)
    )
    .error(409, "conflict", Some("disabled"));
    call!(app, ctx, with_token(delete(&me), &t)).error(409, "conflict", Some("disabled"));
    // …but your own settings, and a role you already have.
    call!(
        app,
        ctx,
        with_token(
            patch(&me, json!({"role": "superadmin", "totp_required": false})),
            &t
        )
    )
    .expect(200);
    call!(app, ctx, with_token(get("/api/v1/admins"), &t)).expect(200);

    // The last enabled superadmin cannot be demoted or disabled by anyone.
    for changes in [
        Changes {
            role: Some(Role::Admin),
            ..Changes::default()
        },
        Changes {
            disabled: Some(true),
            ..Changes::default()
        },
    ] {
        let err = admin::update(&ctx.state.db, root.id, &changes, async |_, _| Ok(()))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
        assert!(err.to_string().contains("last enabled superadmin"), "{err}");
    }

    // With a second superadmin, each may demote the other — but not both at once.
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/admins",
                json!({"username": "root2", "password": NEW_PASSWORD, "role": "superadmin"})
            ),
            &t
        )
    );
    r.expect(201);
    let root2 = r.json["id"].as_i64().unwrap();
    let disable = Changes {
        disabled: Some(true),
        ..Changes::default()
    };
    let (p1, p2) = (ctx.state.db.clone(), ctx.state.db.clone());
    let (c1, c2) = (disable.clone(), disable.clone());
    let root_id = root.id;
    let a =
        actix_web::rt::spawn(
            async move { admin::update(&p1, root_id, &c1, async |_, _| Ok(())).await },
        );
    let b =
        actix_web::rt::spawn(
            async move { admin::update(&p2, root2, &c2, async |_, _| Ok(())).await },
        );
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a.is_ok() != b.is_ok(), "exactly one succeeds: {a:?} {b:?}");
    let sql = ctx.env.sql().await;
    let n: i64 = sql
        .query_one(
            "SELECT count(*) FROM admins WHERE role = 'superadmin' AND NOT disabled",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // Through the API: root2 demotes root once both are enabled, then root2 is the last.
    sql.execute("UPDATE admins SET disabled = false", &[])
        .await
        .unwrap();
    let t = token!(app, ctx, "root");
    let t2 = token_for!(app, ctx, "root2", NEW_PASSWORD);
    let r = call!(
        app,
        ctx,
        with_token(patch(&me, json!({"role": "admin"})), &t2)
    );
    r.expect(200);
    assert_eq!(r.json["role"], "admin");
    // root's session ends at once; logged in again, root is a plain admin.
    call!(app, ctx, with_token(get("/api/v1/admins"), &t)).error(401, "token_revoked", None);
    let t = token!(app, ctx, "root");
    call!(app, ctx, with_token(get("/api/v1/admins"), &t)).error(403, "forbidden", None);
    let err = admin::update(&ctx.state.db, root2, &disable, async |_, _| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
}
