//! `GET /events/stream`: server-sent events read as a client reads them, chunk by chunk,
//! while changes are made behind the API's back (accounting written by the store, as
//! radiusd writes it): what the stream says comes from PostgreSQL.

use std::pin::Pin;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use proisp_adminapi::permission::Role;
use proisp_model::AcctStatus;
use proisp_store::{NewPlan, NewSubscriber};
use serde_json::Value;

use super::sessions::{nas, record};
use super::{Ctx, app, call, get, token, with_token};

/// Longest wait for an event: the server reads PostgreSQL every second.
const WAIT: Duration = Duration::from_secs(10);

/// An open stream and what has arrived of it.
struct Stream {
    body: BoxBody,
    buf: String,
}

impl Stream {
    /// The next event (`name`, its data), comments skipped; panics past [`WAIT`].
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if block.starts_with(':') {
                    continue;
                }
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or_else(|| panic!("no {name} in {block:?}"))
                        .to_owned()
                };
                let data = serde_json::from_str(&field("data: ")).unwrap();
                return (field("event: "), data);
            }
            let chunk = tokio::time::timeout(
                WAIT,
                std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_next(cx)),
            )
            .await
            .unwrap_or_else(|_| panic!("no event within {WAIT:?}; so far {:?}", self.buf))
            .expect("the stream ended")
            .unwrap();
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The first `name` event whose data satisfies `want`.
    async fn until(&mut self, name: &str, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (n, data) = self.next().await;
            if n == name && want(&data) {
                return data;
            }
        }
    }
}

#[actix_web::test]
async fn the_stream_follows_sessions_and_subscribers_from_postgresql() {
    let ctx = Ctx::new().await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    call!(app, ctx, get("/api/v1/events/stream")).error(401, "unauthorized", None);
    let t = token!(app, ctx, "vera");

    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 20_000, 5_000))
        .await
        .unwrap();
    store
        .create_subscriber(&NewSubscriber::new("ann", "pw", plan.id))
        .await
        .unwrap();
    let n = nas(&store, "n1", "192.0.2.1", 3799).await;

    let res = actix_web::test::call_service(
        &app,
        with_token(get("/api/v1/events/stream"), &t).to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let mut stream = Stream {
        body: res.into_body().boxed(),
        buf: String::new(),
    };

    // First what is, then what changes.
    let (name, figures) = stream.next().await;
    assert_eq!(name, "figures");
    assert_eq!(figures["subscribers"]["total"], 1, "{figures}");
    assert_eq!(figures["subscribers"]["active"], 1, "{figures}");
    assert_eq!(figures["online_sessions"], 0, "{figures}");
    assert!(figures["computed_at"].as_str().unwrap().ends_with('Z'));
    let (name, sessions) = stream.next().await;
    assert_eq!(name, "sessions");
    assert_eq!(sessions, serde_json::json!({"online": 0, "newest_id": 0}));

    // A session starts (written as radiusd writes it): both events follow.
    store
        .apply_accounting(&[record(AcctStatus::Start, n, "ann", "s1", 0)], 3)
        .await
        .unwrap();
    let f = stream.until("figures", |f| f["online_sessions"] == 1).await;
    assert_eq!(f["subscribers"]["total"], 1, "{f}");
    let s = stream.until("sessions", |s| s["online"] == 1).await;
    assert!(s["newest_id"].as_i64().unwrap() > 0, "{s}");

    // A suspension and a new subscriber, made behind the API's back.
    let sql = ctx.env.sql().await;
    sql.execute(
        "UPDATE subscribers SET status = 'suspended' WHERE username = 'ann'",
        &[],
    )
    .await
    .unwrap();
    store
        .create_subscriber(&NewSubscriber::new("bob", "pw", plan.id))
        .await
        .unwrap();
    let f = stream
        .until("figures", |f| f["subscribers"]["total"] == 2)
        .await;
    assert_eq!(f["subscribers"]["suspended"], 1, "{f}");

    // One session ends while another starts: the same count, a new newest id.
    store
        .apply_accounting(
            &[
                record(AcctStatus::Stop, n, "ann", "s1", 10),
                record(AcctStatus::Start, n, "bob", "s2", 0),
            ],
            3,
        )
        .await
        .unwrap();
    let s2 = stream
        .until("sessions", |x| x["newest_id"] != s["newest_id"])
        .await;
    assert_eq!(s2["online"], 1, "{s2}");
}

#[actix_web::test]
async fn a_token_that_cannot_read_gets_no_stream() {
    let ctx = Ctx::new().await;
    let app = app!(ctx);
    let r = call!(
        app,
        ctx,
        with_token(get("/api/v1/events/stream"), "not-a-token")
    );
    r.error(401, "unauthorized", None);
}
