//! The REST API in process (actix_web::test) against real PostgreSQL and Redis.
//!
//! Every response goes through [`Ctx::finish`], which fails the test when a body holds a
//! known secret: an admin password, an argon2 hash, a TOTP secret, the keys.

mod activity;
mod admins;
mod audit;
mod auth;
mod commands;
mod console;
mod dashboard;
mod events;
mod http;
mod imports;
mod lookup;
mod nas;
mod openapi;
mod plans;
mod radius;
mod search;
mod sessions;
mod subscribers;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::web;
use proisp_adminapi::admin::{self, Admin, NewAdmin};
use proisp_adminapi::config::Config;
use proisp_adminapi::jwt::JwtKey;
use proisp_adminapi::password;
use proisp_adminapi::permission::Role;
use proisp_adminapi::state::AppState;
use proisp_testing::TestEnv;
use serde_json::Value;

/// The password of every test admin.
pub(crate) const PASSWORD: &str = "s3cret-Admin-Passw0rd";
/// The access-token key of every test server.
const JWT_KEY: [u8; 32] = [0x5a; 32];

/// One test's backends, server state and list of strings no response may contain.
pub(crate) struct Ctx {
    pub(crate) env: TestEnv,
    pub(crate) state: web::Data<AppState>,
    secrets: RefCell<Vec<String>>,
}

/// A response, read.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) json: Value,
    pub(crate) text: String,
}

impl Resp {
    /// Asserts the status and, for errors, the JSON error shape.
    pub(crate) fn expect(&self, status: u16) -> &Resp {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        if status >= 400 {
            let obj = self.json.as_object().expect("error body is an object");
            assert!(obj["error"].is_string(), "{}", self.text);
            assert!(obj["message"].is_string(), "{}", self.text);
            assert!(obj.contains_key("field"), "{}", self.text);
            assert_eq!(obj.len(), 3, "{}", self.text);
        }
        self
    }

    /// A header's value, which must be there and be text.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers))
    }

    /// Asserts an error code and field.
    pub(crate) fn error(&self, status: u16, code: &str, field: Option<&str>) {
        self.expect(status);
        assert_eq!(self.json["error"], code, "{}", self.text);
        assert_eq!(self.json["field"].as_str(), field, "{}", self.text);
    }
}

pub(crate) fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

impl Ctx {
    pub(crate) async fn new() -> Ctx {
        Ctx::with(|_| {}).await
    }

    pub(crate) async fn with(f: impl FnOnce(&mut Config)) -> Ctx {
        let env = TestEnv::start().await;
        let mut cfg = Config::for_database(env.store_config());
        cfg.redis = Some(env.cache_config());
        f(&mut cfg);
        let state = AppState::connect(cfg, env.keys.clone(), JwtKey::from_bytes(&JWT_KEY))
            .await
            .expect("app state");
        let key_hex = std::fs::read_to_string(&env.key_file)
            .unwrap()
            .trim()
            .to_owned();
        Ctx {
            env,
            state: web::Data::from(Arc::new(state)),
            secrets: RefCell::new(vec![
                PASSWORD.to_owned(),
                "$argon2".to_owned(),
                key_hex,
                "5a5a5a5a5a5a5a5a".to_owned(),
            ]),
        }
    }

    /// Adds a string no later response may contain.
    pub(crate) fn forbid(&self, secret: impl Into<String>) {
        self.secrets.borrow_mut().push(secret.into());
    }

    pub(crate) async fn admin(&self, name: &str, role: Role) -> Admin {
        self.admin_with(name, role, false, vec![]).await
    }

    pub(crate) async fn admin_with(
        &self,
        name: &str,
        role: Role,
        totp_required: bool,
        allowed_networks: Vec<ipnet::IpNet>,
    ) -> Admin {
        admin::create(
            &self.state.db,
            &NewAdmin {
                username: name.to_owned(),
                password_hash: password::hash(PASSWORD),
                role,
                totp_required,
                allowed_networks,
            },
            async |_, _| Ok(()),
        )
        .await
        .unwrap()
    }

    /// Reads a response and checks it holds no secret.
    pub(crate) async fn finish<B: MessageBody>(&self, res: ServiceResponse<B>) -> Resp {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = actix_web::test::read_body(res).await;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for s in self.secrets.borrow().iter() {
            assert!(
                !text.contains(s.as_str()),
                "a response holds a secret: {text}"
            );
        }
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text,
        }
    }
}

/// `call!(app, ctx, TestRequest)`: runs the request (from 127.0.0.1 unless it says
/// otherwise) and returns a [`Resp`].
macro_rules! call {
    ($app:expr, $ctx:expr, $req:expr) => {
        $ctx.finish(actix_web::test::call_service(&$app, $req.to_request()).await)
            .await
    };
}
pub(crate) use call;

/// `app!(ctx)`: the service under test.
macro_rules! app {
    ($ctx:expr) => {
        actix_web::test::init_service(proisp_adminapi::server::app($ctx.state.clone())).await
    };
}
pub(crate) use app;

/// A request from the default peer.
pub(crate) fn get(path: &str) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::get()
        .uri(path)
        .peer_addr(peer())
}

pub(crate) fn post(path: &str, body: Value) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::post()
        .uri(path)
        .peer_addr(peer())
        .set_json(body)
}

pub(crate) fn put(path: &str, body: Value) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::put()
        .uri(path)
        .peer_addr(peer())
        .set_json(body)
}

pub(crate) fn patch(path: &str, body: Value) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::patch()
        .uri(path)
        .peer_addr(peer())
        .set_json(body)
}

pub(crate) fn delete(path: &str) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::delete()
        .uri(path)
        .peer_addr(peer())
}

/// A POST without a body (suspend, resume, kick …).
pub(crate) fn post_empty(path: &str) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::post()
        .uri(path)
        .peer_addr(peer())
}

pub(crate) fn with_token(
    req: actix_web::test::TestRequest,
    token: &str,
) -> actix_web::test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

/// Logs `name` in with [`PASSWORD`] and returns the login response's JSON.
macro_rules! login {
    ($app:expr, $ctx:expr, $name:expr) => {{
        let r = call!(
            $app,
            $ctx,
            $crate::api::post(
                "/api/v1/auth/login",
                serde_json::json!({"username": $name, "password": $crate::api::PASSWORD})
            )
        );
        r.expect(200);
        r.json
    }};
}
pub(crate) use login;

/// An access token for `name`.
macro_rules! token {
    ($app:expr, $ctx:expr, $name:expr) => {{
        let j = $crate::api::login!($app, $ctx, $name);
        j["access_token"].as_str().unwrap().to_owned()
    }};
}
pub(crate) use token;
