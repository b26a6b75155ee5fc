//! Login, refresh rotation and reuse, logout, TOTP, limits, allow-lists.

use actix_web::test::TestRequest;
use proisp_adminapi::jwt::unix_now;
use proisp_adminapi::permission::Role;
use proisp_adminapi::totp;
use serde_json::json;

use super::{Ctx, PASSWORD, app, call, get, login, peer, post, token, with_token};

#[actix_web::test]
async fn login_refresh_rotation_reuse_and_logout() {
    let ctx = Ctx::new().await;
    let admin = ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);

    let first = login!(app, ctx, "alice");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 900);
    assert_eq!(first["totp_enrollment_required"], false);
    let access = first["access_token"].as_str().unwrap().to_owned();
    let refresh1 = first["refresh_token"].as_str().unwrap().to_owned();

    let me = call!(app, ctx, with_token(get("/api/v1/auth/me"), &access));
    me.expect(200);
    assert_eq!(me.json["id"], admin.id);
    assert_eq!(me.json["role"], "admin");
    assert!(
        me.json["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("plan_write"))
    );

    // Rotation: the refresh token works once and is replaced.
    let r = call!(
        app,
        ctx,
        post("/api/v1/auth/refresh", json!({"refresh_token": refresh1}))
    );
    r.expect(200);
    let refresh2 = r.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    let access2 = r.json["access_token"].as_str().unwrap().to_owned();
    call!(app, ctx, with_token(get("/api/v1/auth/me"), &access2)).expect(200);

    // Reuse of the old one revokes the family: the new one dies too.
    call!(
        app,
        ctx,
        post("/api/v1/auth/refresh", json!({"refresh_token": refresh1}))
    )
    .error(401, "token_revoked", None);
    call!(
        app,
        ctx,
        post("/api/v1/auth/refresh", json!({"refresh_token": refresh2}))
    )
    .error(401, "token_revoked", None);
    call!(
        app,
        ctx,
        post("/api/v1/auth/refresh", json!({"refresh_token": "made-up"}))
    )
    .error(401, "unauthorized", None);

    // Logout: the access token is refused from then on, and its refresh token too.
    let again = login!(app, ctx, "alice");
    let access3 = again["access_token"].as_str().unwrap().to_owned();
    let refresh3 = again["refresh_token"].as_str().unwrap().to_owned();
    let r = call!(
        app,
        ctx,
        with_token(post("/api/v1/auth/logout", json!({})), &access3)
    );
    assert_eq!(r.status, 204, "{}", r.text);
    call!(app, ctx, with_token(get("/api/v1/auth/me"), &access3)).error(401, "token_revoked", None);
    call!(
        app,
        ctx,
        post("/api/v1/auth/refresh", json!({"refresh_token": refresh3}))
    )
    .error(401, "token_revoked", None);
    // The reuse revoked the access tokens of the family as well; the first login's own
    // access token belongs to that family too.
    call!(app, ctx, with_token(get("/api/v1/auth/me"), &access2)).error(401, "token_revoked", None);
    call!(app, ctx, with_token(get("/api/v1/auth/me"), &access)).expect(401);
    // Another login of the same admin is untouched by this logout.
    let fourth = login!(app, ctx, "alice");
    let access4 = fourth["access_token"].as_str().unwrap().to_owned();
    call!(app, ctx, with_token(get("/api/v1/auth/me"), &access4)).expect(200);

    // The blacklist is in Redis: a second instance (fresh memory) refuses the token too.
    let raw: i64 = {
        let cache_cfg = ctx.env.cache_config();
        let cache = proisp_store::RedisCache::connect(&cache_cfg, ctx.state.keys.clone())
            .await
            .unwrap();
        let kv = proisp_adminapi::kv::Kv::redis(
            cache.client(),
            &cache_cfg.key_prefix,
            cache_cfg.command_timeout,
        );
        let claims = ctx.state.jwt.verify(&access3, unix_now()).unwrap();
        i64::from(
            kv.has_flag(&proisp_adminapi::session::revoked_key(&claims.jti))
                .await,
        )
    };
    assert_eq!(raw, 1);

    // Missing, malformed and forged tokens.
    call!(app, ctx, get("/api/v1/auth/me")).error(401, "unauthorized", None);
    call!(app, ctx, with_token(get("/api/v1/auth/me"), "a.b.c")).error(401, "unauthorized", None);
    let forged = proisp_adminapi::jwt::JwtKey::random()
        .sign(&ctx.state.jwt.verify(&access, unix_now()).unwrap());
    call!(app, ctx, with_token(get("/api/v1/auth/me"), &forged)).error(401, "unauthorized", None);

    // Login and logout are audited.
    let sql = ctx.env.sql().await;
    let actions: Vec<String> = sql
        .query(
            "SELECT action FROM audit_log WHERE admin_id = $1 ORDER BY id",
            &[&admin.id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        actions,
        // Every revoked refresh token presented is recorded, the family's second one and
        // the one logged out included.
        [
            "auth.login",
            "auth.refresh_reuse",
            "auth.refresh_reuse",
            "auth.login",
            "auth.logout",
            "auth.refresh_reuse",
            "auth.login"
        ]
    );
}

#[actix_web::test]
async fn failed_logins_back_off_per_user_and_address_and_never_lock_out_another_address() {
    let ctx = Ctx::with(|c| {
        c.login.failures_per_user_address = 3;
        c.login.failures_per_ip = 5;
    })
    .await;
    ctx.admin("root", Role::Superadmin).await;
    ctx.admin("carol", Role::Viewer).await;
    let app = app!(ctx);
    let attempt = |name: &str, pw: &str| {
        post(
            "/api/v1/auth/login",
            json!({"username": name, "password": pw}),
        )
    };
    let retry_after = |r: &super::Resp| -> u64 {
        r.headers
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };

    call!(app, ctx, attempt("root", "wrong")).error(401, "invalid_credentials", None);
    call!(app, ctx, attempt("nobody", PASSWORD)).error(401, "invalid_credentials", None);
    call!(app, ctx, attempt("ROOT", "wrong")).expect(401);
    call!(app, ctx, attempt("root", "wrong")).expect(401);
    // root has 3 failures from this address: that pair backs off (1 s first), refused
    // even with the right password.
    let r = call!(app, ctx, attempt("root", PASSWORD));
    r.error(429, "rate_limited", None);
    assert_eq!(retry_after(&r), 1);
    // The stranger has not locked the superadmin out: from another address root logs in.
    let elsewhere = attempt("root", PASSWORD).peer_addr("192.0.2.9:1000".parse().unwrap());
    call!(app, ctx, elsewhere).expect(200);
    // carol is fine from this address (4 failures from it so far)...
    call!(app, ctx, attempt("carol", PASSWORD)).expect(200);
    call!(app, ctx, attempt("carol", "wrong")).expect(401);
    // ...until the address has 5, whatever the names: then the address backs off.
    let r = call!(app, ctx, attempt("carol", PASSWORD));
    r.error(429, "rate_limited", None);
    assert_eq!(retry_after(&r), 1);
    // From another address carol logs in.
    let other = attempt("carol", PASSWORD).peer_addr("192.0.2.9:1000".parse().unwrap());
    call!(app, ctx, other).expect(200);

    // Failures are audited with the name tried.
    let sql = ctx.env.sql().await;
    let n: i64 = sql
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    // Malformed bodies are 422 naming the field; not JSON is 400.
    call!(
        app,
        ctx,
        post("/api/v1/auth/login", json!({"username": "bob"}))
    )
    .error(422, "invalid", Some("password"));
    let raw = TestRequest::post()
        .uri("/api/v1/auth/login")
        .peer_addr(peer())
        .insert_header(("content-type", "application/json"))
        .set_payload("{not json");
    call!(app, ctx, raw).error(400, "bad_request", None);
}

#[actix_web::test]
async fn totp_enrollment_then_required_at_login() {
    // superadmin requires TOTP by default.
    let ctx = Ctx::new().await;
    let root = ctx.admin("root", Role::Superadmin).await;
    let app = app!(ctx);

    let first = login!(app, ctx, "root");
    assert_eq!(first["totp_enrollment_required"], true);
    assert!(first["refresh_token"].is_null());
    let enroll = first["access_token"].as_str().unwrap().to_owned();
    call!(app, ctx, with_token(get("/api/v1/plans"), &enroll)).error(
        403,
        "totp_enrollment_required",
        None,
    );
    let me = call!(app, ctx, with_token(get("/api/v1/auth/me"), &enroll));
    me.expect(200);
    assert_eq!(me.json["totp_enrollment_required"], true);

    // Confirm before setup: nothing pending.
    call!(
        app,
        ctx,
        with_token(
            post("/api/v1/auth/totp/confirm", json!({"code": "123456"})),
            &enroll
        )
    )
    .error(409, "conflict", None);
    let setup = call!(
        app,
        ctx,
        with_token(post("/api/v1/auth/totp/setup", json!({})), &enroll)
    );
    setup.expect(200);
    let url = setup.json["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/ProISP:root?"), "{url}");
    let b32 = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap()
        .to_owned();
    // The secret is shown once, by setup: no other response may hold it.
    ctx.forbid(b32);

    let sealed: Vec<u8> = ctx
        .env
        .sql()
        .await
        .query_one(
            "SELECT totp_pending_enc FROM admins WHERE id = $1",
            &[&root.id],
        )
        .await
        .unwrap()
        .get(0);
    let secret = totp::open(&ctx.env.keys, &sealed).unwrap();
    let now = unix_now();

    call!(
        app,
        ctx,
        with_token(
            post("/api/v1/auth/totp/confirm", json!({"code": "000000x"})),
            &enroll
        )
    )
    .error(422, "invalid", Some("code"));
    // The code of the previous step is accepted (skew), so login can use the current one.
    let r = call!(
        app,
        ctx,
        with_token(
            post(
                "/api/v1/auth/totp/confirm",
                json!({"code": totp::code_at(&secret, now - 30)})
            ),
            &enroll
        )
    );
    assert_eq!(r.status, 204, "{}", r.text);
    call!(
        app,
        ctx,
        with_token(post("/api/v1/auth/totp/setup", json!({})), &enroll)
    )
    .error(409, "conflict", None);

    // Now login needs the code: without it, the right password fails like a wrong one.
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "root", "password": PASSWORD})
        )
    )
    .error(401, "invalid_credentials", None);
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "root", "password": PASSWORD, "totp": "999999"})
        )
    )
    .error(401, "invalid_credentials", None);
    let code = totp::code_at(&secret, now);
    let ok = call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "root", "password": PASSWORD, "totp": code})
        )
    );
    ok.expect(200);
    assert_eq!(ok.json["totp_enrollment_required"], false);
    assert!(ok.json["refresh_token"].is_string());
    let full = ok.json["access_token"].as_str().unwrap().to_owned();
    call!(app, ctx, with_token(get("/api/v1/plans"), &full)).expect(200);
    // A code works once.
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "root", "password": PASSWORD, "totp": code})
        )
    )
    .error(401, "invalid_credentials", None);
    let stored: Option<Vec<u8>> = ctx
        .env
        .sql()
        .await
        .query_one(
            "SELECT totp_secret_enc FROM admins WHERE id = $1",
            &[&root.id],
        )
        .await
        .unwrap()
        .get(0);
    let stored = stored.unwrap();
    assert!(
        !stored.windows(secret.len()).any(|w| w == &secret[..]),
        "encrypted at rest"
    );
}

#[actix_web::test]
async fn per_ip_rate_limit_answers_429_and_trusts_only_configured_proxies() {
    let ctx = Ctx::with(|c| {
        c.rate_limit.requests_per_minute = 3;
        c.http.trusted_proxies = vec!["10.0.0.0/24".parse().unwrap()];
    })
    .await;
    let app = app!(ctx);
    for _ in 0..3 {
        call!(app, ctx, get("/api/v1/auth/me")).expect(401);
    }
    let r = call!(app, ctx, get("/api/v1/auth/me"));
    r.error(429, "rate_limited", None);
    assert_eq!(r.headers.get("retry-after").unwrap(), "20");
    // X-Forwarded-For from an untrusted peer changes nothing.
    let spoofed = get("/api/v1/auth/me").insert_header(("X-Forwarded-For", "198.51.100.1"));
    call!(app, ctx, spoofed).expect(429);
    // Through the trusted proxy, each client has its own budget.
    let via_proxy = |client: &str| {
        get("/api/v1/auth/me")
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", client.to_owned()))
    };
    for _ in 0..3 {
        call!(app, ctx, via_proxy("198.51.100.1")).expect(401);
    }
    call!(app, ctx, via_proxy("198.51.100.1")).expect(429);
    call!(app, ctx, via_proxy("198.51.100.2")).expect(401);
    // /health is not limited.
    for _ in 0..5 {
        call!(app, ctx, get("/health")).expect(200);
    }
}

#[actix_web::test]
async fn allow_lists_global_and_per_admin() {
    let ctx = Ctx::with(|c| {
        c.http.allowed_networks = vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
    })
    .await;
    ctx.admin_with(
        "noc",
        Role::Viewer,
        false,
        vec!["10.1.0.0/16".parse().unwrap()],
    )
    .await;
    ctx.admin("desk", Role::Viewer).await;
    let app = app!(ctx);
    let outside = post(
        "/api/v1/auth/login",
        json!({"username": "desk", "password": PASSWORD}),
    )
    .peer_addr("192.0.2.1:1000".parse().unwrap());
    call!(app, ctx, outside).error(403, "address_not_allowed", None);
    // The admin's own list answers like a wrong password (no hint that it was right).
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "noc", "password": PASSWORD})
        )
    )
    .error(401, "invalid_credentials", None);
    let inside = post(
        "/api/v1/auth/login",
        json!({"username": "noc", "password": PASSWORD}),
    )
    .peer_addr("10.1.2.3:1000".parse().unwrap());
    let r = call!(app, ctx, inside);
    r.expect(200);
    let t = r.json["access_token"].as_str().unwrap().to_owned();
    // The token does not travel to another address.
    call!(app, ctx, with_token(get("/api/v1/plans"), &t)).error(403, "address_not_allowed", None);
    let _ = token!(app, ctx, "desk");
}

#[actix_web::test]
async fn disabled_admin_is_refused_at_once() {
    let ctx = Ctx::new().await;
    let a = ctx.admin("dave", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "dave");
    call!(app, ctx, with_token(get("/api/v1/plans"), &t)).expect(200);
    ctx.env
        .sql()
        .await
        .execute("UPDATE admins SET disabled = true WHERE id = $1", &[&a.id])
        .await
        .unwrap();
    call!(app, ctx, with_token(get("/api/v1/plans"), &t)).error(401, "unauthorized", None);
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "dave", "password": PASSWORD})
        )
    )
    .error(401, "invalid_credentials", None);
}

#[actix_web::test]
async fn a_failed_login_answers_the_same_whether_the_password_was_right() {
    let ctx = Ctx::with(|c| c.login.failures_per_user_address = 8).await;
    let root = ctx.admin("root", Role::Superadmin).await;
    ctx.admin_with(
        "noc",
        Role::Viewer,
        false,
        vec!["10.1.0.0/16".parse().unwrap()],
    )
    .await;
    let off = ctx.admin("off", Role::Viewer).await;
    ctx.env
        .sql()
        .await
        .execute(
            "UPDATE admins SET disabled = true WHERE id = $1",
            &[&off.id],
        )
        .await
        .unwrap();
    let secret = totp::generate();
    proisp_adminapi::admin::set_totp_pending(
        &ctx.state.db,
        root.id,
        Some(&totp::seal(&ctx.env.keys, &secret)),
        async |_, ()| Ok(()),
    )
    .await
    .unwrap();
    assert!(
        proisp_adminapi::admin::confirm_totp(&ctx.state.db, root.id, 1, async |_, ()| Ok(()))
            .await
            .unwrap()
    );
    let app = app!(ctx);
    let login = |body: serde_json::Value| post("/api/v1/auth/login", body);

    // The reference: a wrong password.
    let wrong = call!(
        app,
        ctx,
        login(json!({"username": "root", "password": "wrong"}))
    );
    wrong.error(401, "invalid_credentials", None);
    let same = |r: &super::Resp| {
        assert_eq!(r.status, wrong.status, "{}", r.text);
        assert_eq!(r.json, wrong.json);
        assert_eq!(
            r.headers.get("www-authenticate"),
            wrong.headers.get("www-authenticate")
        );
    };
    // The right password without the TOTP code, with a wrong code, from outside the
    // admin's allow-list, of a disabled admin: each the same answer...
    for body in [
        json!({"username": "root", "password": PASSWORD}),
        json!({"username": "root", "password": PASSWORD, "totp": ""}),
        json!({"username": "root", "password": PASSWORD, "totp": "000000"}),
        json!({"username": "noc", "password": PASSWORD}),
        json!({"username": "off", "password": PASSWORD}),
        json!({"username": "nobody", "password": PASSWORD}),
    ] {
        same(&call!(app, ctx, login(body)));
    }
    // ...and each counted as a failure of that name from this address.
    let reasons: Vec<String> = ctx
        .env
        .sql()
        .await
        .query(
            "SELECT after->>'reason' FROM audit_log WHERE action = 'auth.login_failed' \
             ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        reasons,
        [
            "password",
            "totp missing",
            "totp missing",
            "totp",
            "address not allowed",
            "disabled",
            "password"
        ]
    );
    for _ in 0..4 {
        call!(
            app,
            ctx,
            login(json!({"username": "root", "password": "wrong"}))
        )
        .expect(401);
    }
    // root's 8th failure from here: backing off, even with the right password and code.
    let code = totp::code_at(&secret, unix_now());
    call!(
        app,
        ctx,
        login(json!({"username": "root", "password": PASSWORD, "totp": code}))
    )
    .error(429, "rate_limited", None);
}

/// The `proisp_refresh` cookie's value in a response's `Set-Cookie`.
fn set_cookie(r: &super::Resp) -> String {
    let header = r.header("set-cookie");
    for attr in [
        "Path=/api/v1/auth/refresh",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
    ] {
        assert!(header.contains(attr), "{attr} missing: {header}");
    }
    let (pair, _) = header.split_once(';').unwrap();
    pair.strip_prefix("proisp_refresh=").unwrap().to_owned()
}

fn refresh_with_cookie(token: &str) -> TestRequest {
    post("/api/v1/auth/refresh", json!({}))
        .insert_header(("Cookie", format!("other=1; proisp_refresh={token}")))
}

#[actix_web::test]
async fn browser_sessions_keep_the_refresh_token_in_an_http_only_cookie() {
    let ctx = Ctx::new().await;
    ctx.admin("alice", Role::Admin).await;
    let app = app!(ctx);

    // A login that does not ask for the cookie gets none.
    let plain = call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": PASSWORD})
        )
    );
    plain.expect(200);
    assert!(!plain.headers.contains_key("set-cookie"));
    assert_eq!(plain.header("cache-control"), "no-store");

    let login = call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": PASSWORD, "refresh_cookie": true})
        )
    );
    login.expect(200);
    assert!(login.json["refresh_token"].is_null(), "{}", login.text);
    assert_eq!(login.json["refresh_expires_in"], 30 * 86400);
    let first = set_cookie(&login);
    assert!(login.header("set-cookie").contains("Max-Age=2592000"));

    // Refresh from the cookie: the successor goes back into the cookie, not the body.
    let r = call!(app, ctx, refresh_with_cookie(&first));
    r.expect(200);
    assert!(r.json["refresh_token"].is_null(), "{}", r.text);
    let second = set_cookie(&r);
    assert_ne!(first, second);
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    call!(app, ctx, with_token(get("/api/v1/auth/me"), &access)).expect(200);

    // Neither a body token nor a cookie: 401; a body token wins over a cookie.
    call!(app, ctx, post("/api/v1/auth/refresh", json!({}))).error(401, "unauthorized", None);
    call!(
        app,
        ctx,
        post("/api/v1/auth/refresh", json!({"refresh_token": "made-up"}))
            .insert_header(("Cookie", format!("proisp_refresh={second}")))
    )
    .error(401, "unauthorized", None);

    // The cookie's token rotates like any other: the old one presented again revokes the
    // family, the current one with it.
    call!(app, ctx, refresh_with_cookie(&first)).error(401, "token_revoked", None);
    call!(app, ctx, refresh_with_cookie(&second)).error(401, "token_revoked", None);

    // Logout revokes the family and tells the browser to drop the cookie.
    let login = call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": PASSWORD, "refresh_cookie": true})
        )
    );
    let third = set_cookie(&login);
    let access = login.json["access_token"].as_str().unwrap().to_owned();
    let out = call!(
        app,
        ctx,
        with_token(post("/api/v1/auth/logout", json!({})), &access)
    );
    assert_eq!(out.status, 204, "{}", out.text);
    assert_eq!(set_cookie(&out), "");
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    call!(app, ctx, refresh_with_cookie(&third)).error(401, "token_revoked", None);
}
