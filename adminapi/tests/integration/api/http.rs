//! Answers of the HTTP layer: a known path with another method (405 and `Allow`), a body
//! over the limit (413), a NUL character in any string input (422 naming the field, never
//! PostgreSQL's own message) — all in the JSON error shape.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proisp_adminapi::permission::Role;
use serde_json::json;

use super::{Ctx, app, call, get, peer, post, token, with_token};

fn request(method: Method, path: &str) -> TestRequest {
    TestRequest::default()
        .method(method)
        .uri(path)
        .peer_addr(peer())
}

#[actix_web::test]
async fn a_known_path_with_another_method_answers_405_with_allow() {
    let ctx = Ctx::new().await;
    let app = app!(ctx);
    for (method, path, allow) in [
        (Method::TRACE, "/api/v1/plans", "GET, POST"),
        (Method::TRACE, "/api/v1/plans/7", "GET, PUT, PATCH, DELETE"),
        (Method::TRACE, "/api/v1/subscribers/import", "POST"),
        (Method::DELETE, "/api/v1/auth/login", "POST"),
        (Method::OPTIONS, "/api/v1/openapi.json", "GET"),
        (Method::POST, "/health", "GET"),
        (Method::HEAD, "/metrics", "GET"),
    ] {
        let r = call!(app, ctx, request(method.clone(), path));
        if method == Method::HEAD {
            assert_eq!(r.status, 405, "{path}");
        } else {
            r.error(405, "method_not_allowed", None);
        }
        assert_eq!(r.headers.get("allow").unwrap(), allow, "{method} {path}");
    }
    call!(app, ctx, request(Method::TRACE, "/api/v1/nothing")).error(404, "not_found", None);
    call!(app, ctx, request(Method::GET, "/nothing")).error(404, "not_found", None);
}

#[actix_web::test]
async fn a_body_over_the_limit_answers_413() {
    let ctx = Ctx::new().await;
    ctx.admin("ada", Role::Admin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "ada");
    let big = "x".repeat(10 * 1024 * 1024);
    let r = call!(
        app,
        ctx,
        with_token(post("/api/v1/plans", json!({"name": big})), &t)
    );
    r.error(413, "payload_too_large", None);
    call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "ada", "password": big})
        )
    )
    .error(413, "payload_too_large", None);
    let raw = |path: &str| {
        with_token(request(Method::POST, path), &t)
            .insert_header(("content-type", "application/json"))
            .set_payload(format!("{{\"password\": \"{big}\"}}"))
    };
    for path in [
        "/api/v1/subscribers/1/renew",
        "/api/v1/subscribers/1/reset-password",
    ] {
        call!(app, ctx, raw(path)).error(413, "payload_too_large", None);
    }
}

#[actix_web::test]
async fn nul_in_any_string_input_is_422_naming_the_field() {
    let ctx = Ctx::with(|c| c.login.totp_required_roles.clear()).await;
    ctx.admin("ada", Role::Superadmin).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "ada");
    let check = |r: &super::Resp, field: &str| {
        r.error(422, "invalid", Some(field));
        assert_eq!(r.json["message"], "must not contain NUL characters");
    };
    for (path, field) in [
        ("/api/v1/subscribers?q=abc%00def", "q"),
        ("/api/v1/subscribers?username=abc%00", "username"),
        ("/api/v1/subscribers?status=active&name=%00%00%00", "name"),
        ("/api/v1/sessions?username=x%00", "username"),
        ("/api/v1/audit?entity=sub%00scriber", "entity"),
        ("/api/v1/audit?action=%00", "action"),
        ("/api/v1/subscribers/by-username/a%00b", "username"),
    ] {
        check(&call!(app, ctx, with_token(get(path), &t)), field);
    }
    // A history cursor is ours, base64: one with a NUL inside is not one we made.
    let cursor = URL_SAFE_NO_PAD.encode("1:1:a\0b");
    let path = format!("/api/v1/subscribers/1/sessions/history?before={cursor}");
    let r = call!(app, ctx, with_token(get(&path), &t));
    r.error(422, "invalid", Some("before"));
    for (path, body, field) in [
        (
            "/api/v1/plans",
            json!({"name": "a\u{0}", "download_kbps": 1, "upload_kbps": 1}),
            "name",
        ),
        (
            "/api/v1/nas",
            json!({"name": "n", "address": "192.0.2.1", "secret": "s\u{0}"}),
            "secret",
        ),
        (
            "/api/v1/admins",
            json!({"username": "x", "password": "p", "role": "admin", "allowed_networks": ["\u{0}"]}),
            "allowed_networks[0]",
        ),
    ] {
        check(&call!(app, ctx, with_token(post(path, body), &t)), field);
    }
    let r = call!(
        app,
        ctx,
        post(
            "/api/v1/auth/login",
            json!({"username": "ada\u{0}", "password": "x"})
        )
    );
    check(&r, "username");
}
