//! Signed webhooks: registered through the admin API (in process), fanned out by the relay,
//! delivered by proisp-events' workers to real HTTP receivers on 127.0.0.1 whose
//! behaviour each test drives; signatures checked by the Standard Webhooks reference
//! library (PyPI `standardwebhooks`, events/tests/verify_webhooks.py).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use actix_web::test::{TestRequest, call_service, init_service, read_body};
use proisp_adminapi::admin::{self, NewAdmin};
use proisp_adminapi::config::Config;
use proisp_adminapi::jwt::JwtKey;
use proisp_adminapi::permission::Role;
use proisp_adminapi::state::AppState;
use proisp_events::config::DeliveryConfig;
use proisp_events::webhooks::Deliverer;
use proisp_store::webhook::Sender;
use tokio_util::sync::CancellationToken;

use super::receiver::{Mode, Received, Receiver};
use super::*;

const PASSWORD: &str = "s3cret-Admin-Passw0rd";

/// The test's stack: PostgreSQL, NATS, the admin API in process (as a superadmin), a
/// relay and delivery workers.
struct Stack {
    env: TestEnv,
    nats: PrivateNats,
    store: Store,
    state: actix_web::web::Data<AppState>,
    cancel: CancellationToken,
}

impl Stack {
    async fn start(allow_private: bool) -> Stack {
        let env = TestEnv::start().await;
        let nats = PrivateNats::start().await.expect("nats-server");
        let store = env.store().await;
        let mut config = Config::for_database(env.store_config());
        config.webhooks.allow_private_destinations = allow_private;
        // Superadmins need two-factor login by default; these tests are not about it.
        config.login.totp_required_roles = vec![];
        let state = AppState::connect(config, env.keys.clone(), JwtKey::from_bytes(&[0x5a; 32]))
            .await
            .expect("app state");
        for (name, role) in [
            ("root", Role::Superadmin),
            ("support", Role::Support),
            ("viewer", Role::Viewer),
        ] {
            admin::create(
                &state.db,
                &NewAdmin {
                    username: name.to_owned(),
                    password_hash: proisp_adminapi::password::hash(PASSWORD),
                    role,
                    totp_required: false,
                    allowed_networks: vec![],
                },
                async |_, _| Ok(()),
            )
            .await
            .unwrap();
        }
        Stack {
            env,
            nats,
            store,
            state: actix_web::web::Data::new(state),
            cancel: CancellationToken::new(),
        }
    }

    /// Starts the relay and the delivery workers (with `delivery`), until the stack drops.
    async fn run(&self, delivery: DeliveryConfig) {
        let relay = Relay {
            store: self.store.clone(),
            js: js(&self.nats).await,
            stream: stream_config(),
            config: RelayConfig {
                max_backoff: Duration::from_millis(200),
                ..RelayConfig::default()
            },
            ack_timeout: Duration::from_secs(2),
            metrics: Metrics::new(),
            state: Arc::new(State::default()),
        };
        let deliverer = Deliverer {
            store: self.store.clone(),
            keys: self.env.keys.clone(),
            sender: Sender::new(delivery.timeout, true).unwrap(),
            config: delivery,
            metrics: relay.metrics.clone(),
            wake: relay.state.deliveries.clone(),
        };
        tokio::spawn(deliverer.run(self.cancel.clone()));
        let cancel = self.cancel.clone();
        tokio::spawn(async move { relay.run(cancel).await });
    }

    /// `(webhook_id, state, count)` of the deliveries now.
    async fn states(&self) -> HashMap<(i64, String), i64> {
        let db = self.env.sql().await;
        db.query(
            "SELECT webhook_id, state, count(*) FROM webhook_deliveries GROUP BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect()
    }

    async fn count(&self, sql: &str, webhook: i64) -> i64 {
        let db = self.env.sql().await;
        db.query_one(sql, &[&webhook]).await.unwrap().get(0)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A schedule shrunk for tests: attempts of 300 ms, pauses of at most 100 ms.
fn quick(retry_for: Duration) -> DeliveryConfig {
    DeliveryConfig {
        concurrency: 2,
        timeout: Duration::from_millis(300),
        poll_interval: Duration::from_millis(50),
        first_retry_interval: Duration::from_millis(20),
        max_retry_interval: Duration::from_millis(100),
        retry_for,
        ..DeliveryConfig::default()
    }
}

/// Logs `name` in; its access token.
macro_rules! login {
    ($app:expr, $name:expr) => {{
        let req = TestRequest::post()
            .uri("/api/v1/auth/login")
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .set_json(json!({"username": $name, "password": PASSWORD}))
            .to_request();
        let v: Value =
            serde_json::from_slice(&read_body(call_service(&$app, req).await).await).unwrap();
        v["access_token"].as_str().expect("access token").to_owned()
    }};
}

/// Runs the reference verifier over `requests` (with tampered copies that must fail).
fn verify_with_standardwebhooks(requests: &[(String, Received)]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("var/venv/bin/python3");
    assert!(
        python.exists(),
        "{} is missing: run scripts/deps.sh (it installs standardwebhooks)",
        python.display()
    );
    let mut cases = Vec::new();
    for (secret, r) in requests {
        let headers = json!({
            "webhook-id": r.headers["webhook-id"],
            "webhook-timestamp": r.headers["webhook-timestamp"],
            "webhook-signature": r.headers["webhook-signature"],
        });
        cases.push(json!({"secret": secret, "headers": headers, "body": r.body, "valid": true}));
        let tampered = r.body.replacen("\"id\"", "\"id\" ", 1);
        cases.push(json!({"secret": secret, "headers": headers, "body": tampered, "valid": false}));
    }
    let file = std::env::temp_dir().join(format!("proisp-webhooks-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(root.join("events/tests/verify_webhooks.py"))
        .arg(&file)
        .output()
        .expect("run the verifier");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "standardwebhooks refused a signature: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("{} requests checked", cases.len()));
}

/// Creates a webhook for `events` at `url`; its id and secret.
macro_rules! register {
    ($app:expr, $token:expr, $url:expr, $events:expr) => {{
        let (status, body) = call!(
            $app,
            $token,
            TestRequest::post()
                .uri("/api/v1/webhooks")
                .set_json(json!({"url": $url, "events": $events}))
        );
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_i64().unwrap(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }};
}

/// The scenario: one receiver down (refusing connections), then answering 500,
/// then slower than the timeout, then healthy; every event reaches it in the end, and a
/// second receiver got every event at once all along.
#[actix_web::test]
async fn a_bad_endpoint_gets_everything_in_the_end_and_never_delays_a_good_one() {
    let stack = Stack::start(true).await;
    let app = init_service(proisp_adminapi::server::app(stack.state.clone())).await;
    let token = login!(app, "root");
    let bad = Receiver::down();
    let good = Receiver::up(Mode::Healthy).await;
    let (bad_id, bad_secret) = register!(app, token, bad.url(), ["subscriber.updated"]);
    let (good_id, good_secret) = register!(
        app,
        token,
        good.url(),
        ["subscriber.updated", "plan.changed"]
    );
    stack.run(quick(Duration::from_secs(600))).await;

    // Phase 1: the bad endpoint refuses connections.
    let first = append_updates(&stack.store, 20, 2).await;
    let plan = Event::about(
        ADMINAPI,
        "plan.changed",
        "home-50",
        &json!({"change": "deleted", "plan": {}}),
    );
    {
        let mut client = stack.store.client().await.unwrap();
        let tx = client.transaction().await.unwrap();
        outbox::append(&tx, std::slice::from_ref(&plan))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let n = first.len();
    let good_got_all = wait_until(PATIENCE, async || good.delivered_ids().len() == n + 1).await;
    assert!(
        good_got_all,
        "the healthy endpoint got {} of {}",
        good.delivered_ids().len(),
        n + 1
    );
    let refused = wait_until(PATIENCE, async || {
        stack
            .count(
                "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 \
                 AND state = 'pending' AND attempts >= 2 AND last_status IS NULL",
                bad_id,
            )
            .await
            == n as i64
    })
    .await;
    assert!(
        refused,
        "every delivery to the refusing endpoint was tried and failed, twice"
    );
    assert!(bad.seen().is_empty());

    // Phase 2: it answers 500.
    bad.listen(Mode::Fails).await;
    let failed = wait_until(PATIENCE, async || {
        stack
            .count(
                "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 \
                 AND state = 'pending' AND last_status = 500",
                bad_id,
            )
            .await
            == n as i64
    })
    .await;
    assert!(failed, "every delivery got a 500 and stays pending");

    // Phase 3: it hangs past the timeout; meanwhile new events reach the good one.
    bad.set(Mode::Hangs);
    let hung = wait_until(PATIENCE, async || {
        stack
            .count(
                "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 \
                 AND state = 'pending' AND last_error = 'timed out'",
                bad_id,
            )
            .await
            >= 4
    })
    .await;
    assert!(hung, "attempts to the hanging endpoint time out");
    let second = append_updates(&stack.store, 20, 1).await;
    let good_got_more = wait_until(PATIENCE, async || {
        good.delivered_ids().len() == n + 1 + second.len()
    })
    .await;
    assert!(
        good_got_more,
        "the healthy endpoint is not held up by a hanging one"
    );
    let hanging_now = bad.seen().iter().filter(|r| r.mode == Mode::Hangs).count();
    assert!(hanging_now >= 2, "the bad endpoint was hanging meanwhile");

    // Phase 4: healthy. Everything arrives.
    bad.set(Mode::Healthy);
    let all: HashSet<String> = first.iter().chain(&second).cloned().collect();
    // The receiver sees a request before the worker records its answer: wait for both.
    let healed = wait_until(PATIENCE, async || {
        bad.delivered_ids().into_iter().collect::<HashSet<_>>() == all
            && stack.states().await
                == HashMap::from([
                    ((bad_id, "delivered".to_owned()), all.len() as i64),
                    ((good_id, "delivered".to_owned()), all.len() as i64 + 1),
                ])
    })
    .await;
    assert!(
        healed,
        "the bad endpoint got {} of {}",
        bad.delivered_ids().len(),
        all.len()
    );
    let states = stack.states().await;
    assert_eq!(
        states.get(&(bad_id, "delivered".to_owned())),
        Some(&(all.len() as i64))
    );
    assert_eq!(
        states.get(&(good_id, "delivered".to_owned())),
        Some(&(all.len() as i64 + 1))
    );
    assert_eq!(states.len(), 2, "nothing pending or dead: {states:?}");

    // The good endpoint saw each event once; the bad one saw retries with the same id.
    let good_ids = good.delivered_ids();
    assert_eq!(
        good_ids.iter().collect::<HashSet<_>>().len(),
        good_ids.len()
    );
    assert!(bad.seen().len() > all.len());

    // The bodies are the events' CloudEvents, valid per the AsyncAPI document, and the
    // id header is the event id.
    let doc = validator::Document::load();
    for r in good.seen().iter().chain(&bad.seen()) {
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(r.headers["webhook-id"], v["id"].as_str().unwrap());
        assert_eq!(r.headers["content-type"], "application/json");
        if v["type"] == "net.proisp.subscriber.updated" {
            doc.validate("proisp.v1.subscriber.updated", &v);
        }
    }
    let mut signed: Vec<(String, Received)> = Vec::new();
    signed.extend(good.seen().into_iter().map(|r| (good_secret.clone(), r)));
    signed.extend(bad.seen().into_iter().map(|r| (bad_secret.clone(), r)));
    verify_with_standardwebhooks(&signed);
}

/// Past the retry period a delivery is dead; the API lists it, and redelivers it.
#[actix_web::test]
async fn dead_letters_are_listed_and_redelivered() {
    let stack = Stack::start(true).await;
    let app = init_service(proisp_adminapi::server::app(stack.state.clone())).await;
    let token = login!(app, "root");
    let receiver = Receiver::up(Mode::Fails).await;
    let (id, secret) = register!(app, token, receiver.url(), ["subscriber.updated"]);
    stack.run(quick(Duration::from_millis(300))).await;
    let ids = append_updates(&stack.store, 3, 1).await;
    let dead = wait_until(PATIENCE, async || {
        stack.states().await.get(&(id, "dead".to_owned())) == Some(&3)
    })
    .await;
    assert!(dead, "{:?}", stack.states().await);

    let (status, page) = call!(
        app,
        token,
        TestRequest::get().uri(&format!(
            "/api/v1/webhooks/{id}/deliveries?state=dead&limit=2"
        ))
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let before = page["next_before_id"].as_i64().expect("a next page");
    let (_, rest) = call!(
        app,
        token,
        TestRequest::get().uri(&format!(
            "/api/v1/webhooks/{id}/deliveries?state=dead&before_id={before}"
        ))
    );
    let items: Vec<Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(items.len(), 3);
    for d in &items {
        assert_eq!(d["state"], "dead");
        assert_eq!(d["last_status"], 500);
        assert!(d["attempts"].as_i64().unwrap() >= 2, "{d}");
        assert!(ids.contains(&d["event_id"].as_str().unwrap().to_owned()));
    }
    let (status, _) = call!(
        app,
        token,
        TestRequest::get().uri(&format!("/api/v1/webhooks/{id}/deliveries?state=lost"))
    );
    assert_eq!(status, 422);

    receiver.set(Mode::Healthy);
    let delivery = items[0]["id"].as_i64().unwrap();
    let (status, d) = call!(
        app,
        token,
        TestRequest::post().uri(&format!("/api/v1/webhooks/deliveries/{delivery}/redeliver"))
    );
    assert_eq!(status, 202, "{d}");
    assert_eq!(d["state"], "pending");
    let (status, _) = call!(
        app,
        token,
        TestRequest::post().uri("/api/v1/webhooks/deliveries/999999/redeliver")
    );
    assert_eq!(status, 404);
    let redelivered = wait_until(PATIENCE, async || {
        receiver.delivered_ids() == [items[0]["event_id"].as_str().unwrap()]
    })
    .await;
    assert!(redelivered);
    let done = wait_until(PATIENCE, async || {
        stack.states().await.get(&(id, "delivered".to_owned())) == Some(&1)
    })
    .await;
    assert!(done);

    // A test delivery: sent now, answered with its outcome.
    let (status, t) = call!(
        app,
        token,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
    );
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["state"], "delivered");
    assert_eq!(t["kind"], "webhook.test");
    assert_eq!(t["last_status"], 200);
    receiver.set(Mode::Fails);
    let (_, t) = call!(
        app,
        token,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
    );
    assert_eq!(t["state"], "dead");
    assert_eq!(t["last_error"], "answered 500 Internal Server Error");
    let tests: Vec<(String, Received)> = receiver
        .seen()
        .into_iter()
        .filter(|r| r.body.contains("net.proisp.webhook.test"))
        .map(|r| (secret.clone(), r))
        .collect();
    assert_eq!(tests.len(), 2);
    verify_with_standardwebhooks(&tests);
}

/// Registration refuses internal destinations unless allowed; delivery checks again,
/// names that resolve to them included.
#[actix_web::test]
async fn internal_destinations_are_refused_unless_allowed() {
    let stack = Stack::start(false).await;
    let app = init_service(proisp_adminapi::server::app(stack.state.clone())).await;
    let token = login!(app, "root");
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost:9/hook",
        "http://100.64.1.1/",
    ] {
        let (status, body) = call!(
            app,
            token,
            TestRequest::post()
                .uri("/api/v1/webhooks")
                .set_json(json!({"url": url, "events": ["session.stop"]}))
        );
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["field"], "url", "{url}");
    }
    let (status, _) = call!(app, token, TestRequest::get().uri("/api/v1/webhooks"));
    assert_eq!(status, 200);

    let allowing = Stack::start(true).await;
    let app = init_service(proisp_adminapi::server::app(allowing.state.clone())).await;
    let token = login!(app, "root");
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/x",
    ] {
        let (status, body) = call!(
            app,
            token,
            TestRequest::post()
                .uri("/api/v1/webhooks")
                .set_json(json!({"url": url, "events": ["session.stop"]}))
        );
        assert_eq!(status, 201, "{url}: {body}");
    }

    // At delivery time: neither the address nor a name for it reaches the receiver.
    let receiver = Receiver::up(Mode::Healthy).await;
    let strict = Sender::new(Duration::from_secs(2), false).unwrap();
    let secret = proisp_store::webhook::Secret::generate();
    for url in [
        receiver.url(),
        format!("http://localhost:{}/hook", receiver.port),
    ] {
        let outcome = strict.send(&url, &secret, "evt-1", "{}").await;
        assert!(!outcome.delivered(), "{url}");
        assert!(outcome.error.unwrap().contains("internal address"), "{url}");
    }
    assert!(receiver.seen().is_empty());
    let lenient = Sender::new(Duration::from_secs(2), true).unwrap();
    assert!(
        lenient
            .send(&receiver.url(), &secret, "evt-2", "{}")
            .await
            .delivered()
    );
    assert_eq!(receiver.seen().len(), 1);
}

/// The secret is shown once; never in a view, a list or the audit log. Bad bodies are
/// 422 at the field; support and viewers may not even list webhooks.
#[actix_web::test]
async fn the_secret_is_shown_once_and_bad_input_is_refused() {
    let stack = Stack::start(true).await;
    let app = init_service(proisp_adminapi::server::app(stack.state.clone())).await;
    let token = login!(app, "root");
    let (status, created) = call!(
        app,
        token,
        TestRequest::post().uri("/api/v1/webhooks").set_json(
            json!({"url": "https://192.0.2.10/hooks?t=1", "events": ["session.stop", "subscriber.suspended"], "enabled": false})
        )
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["enabled"], false);
    assert_eq!(
        created["events"],
        json!(["session.stop", "subscriber.suspended"])
    );
    let key = secret.trim_start_matches("whsec_").to_owned();

    let (status, patched) = call!(
        app,
        token,
        TestRequest::patch()
            .uri(&format!("/api/v1/webhooks/{id}"))
            .set_json(json!({"enabled": true, "events": ["session.stop"]}))
    );
    assert_eq!(status, 200, "{patched}");
    assert!(patched.get("secret").is_none());
    assert_eq!(patched["enabled"], true);
    let (status, rotated) = call!(
        app,
        token,
        TestRequest::patch()
            .uri(&format!("/api/v1/webhooks/{id}"))
            .set_json(json!({"rotate_secret": true}))
    );
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let new_key = new_secret.trim_start_matches("whsec_").to_owned();

    let (_, one) = call!(
        app,
        token,
        TestRequest::get().uri(&format!("/api/v1/webhooks/{id}"))
    );
    let (_, all) = call!(app, token, TestRequest::get().uri("/api/v1/webhooks"));
    let (_, audit) = call!(
        app,
        token,
        TestRequest::get().uri("/api/v1/audit?entity=webhook")
    );
    assert_eq!(one["url"], "https://192.0.2.10/hooks?t=1");
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["webhook.update", "webhook.update", "webhook.create"]
    );
    assert_eq!(audit["items"][0]["after"]["credential_changed"], true);
    for text in [one.to_string(), all.to_string(), audit.to_string()] {
        for s in [&secret, &key, &new_secret, &new_key] {
            assert!(!text.contains(s.as_str()), "a secret leaked: {text}");
        }
        assert!(!text.contains("whsec_"), "{text}");
    }
    let db = stack.env.sql().await;
    let stored: Vec<u8> = db
        .query_one("SELECT secret_enc FROM webhooks WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert!(!String::from_utf8_lossy(&stored).contains(&new_key));

    for (body, field) in [
        (
            json!({"url": "https://example.net/h", "events": ["session.nope"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://example.net/h", "events": []}),
            "events",
        ),
        (
            json!({"url": "ftp://example.net/h", "events": ["session.stop"]}),
            "url",
        ),
        (
            json!({"url": "https://u:p@example.net/h", "events": ["session.stop"]}),
            "url",
        ),
        (
            json!({"url": "not a url", "events": ["session.stop"]}),
            "url",
        ),
        (json!({"events": ["session.stop"]}), "url"),
        (
            json!({"url": "https://example.net/h", "events": "session.stop"}),
            "events",
        ),
        (
            json!({"url": "https://example.net/h", "events": ["session.stop"], "secret": "x"}),
            "secret",
        ),
    ] {
        let (status, answer) = call!(
            app,
            token,
            TestRequest::post()
                .uri("/api/v1/webhooks")
                .set_json(body.clone())
        );
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["field"].as_str().unwrap_or_default().contains(field),
            "{body}: {answer}"
        );
    }
    let (status, _) = call!(
        app,
        token,
        TestRequest::patch()
            .uri(&format!("/api/v1/webhooks/{id}"))
            .set_json(json!({"events": ["nope"]}))
    );
    assert_eq!(status, 422);
    let (status, _) = call!(
        app,
        token,
        TestRequest::get().uri("/api/v1/webhooks/424242")
    );
    assert_eq!(status, 404);

    for name in ["viewer", "support"] {
        let other = login!(app, name);
        for req in [
            TestRequest::get().uri("/api/v1/webhooks"),
            TestRequest::get().uri(&format!("/api/v1/webhooks/{id}")),
            TestRequest::post()
                .uri("/api/v1/webhooks")
                .set_json(json!({"url": "https://example.net/h", "events": ["session.stop"]})),
            TestRequest::delete().uri(&format!("/api/v1/webhooks/{id}")),
        ] {
            let (status, _) = call!(app, other, req);
            assert_eq!(status, 403, "{name}");
        }
    }

    let (status, _) = call!(
        app,
        token,
        TestRequest::delete().uri(&format!("/api/v1/webhooks/{id}"))
    );
    assert_eq!(status, 204);
    let (status, _) = call!(
        app,
        token,
        TestRequest::get().uri(&format!("/api/v1/webhooks/{id}"))
    );
    assert_eq!(status, 404);
}

/// The relay killed twice while publishing: every event is queued exactly once for the
/// webhook that wants it (the deliveries are inserted by the statement that deletes the
/// published rows), and all are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_twice_queues_every_event_once_per_webhook() {
    let env = TestEnv::start().await;
    let nats = PrivateNats::start().await.expect("nats-server");
    let store = env.store().await;
    let receiver = Receiver::up(Mode::Healthy).await;
    let secret = proisp_store::webhook::Secret::generate();
    let db = env.sql().await;
    let webhook: i64 = db
        .query_one(
            "INSERT INTO webhooks (url, events, secret_enc) \
             VALUES ($1, '{subscriber.updated}', $2) RETURNING id",
            &[&receiver.url(), &secret.seal(&env.keys)],
        )
        .await
        .unwrap()
        .get(0);
    // Not wanted by the webhook: never queued.
    db.execute(
        "INSERT INTO webhooks (url, events, enabled, secret_enc) \
         VALUES ($1, '{subscriber.updated}', false, $2)",
        &[&receiver.url(), &secret.seal(&env.keys)],
    )
    .await
    .unwrap();
    let ids = append_updates(&store, 40, 300).await;
    let js = js(&nats).await;
    let last = relay_killed_at(&env, &nats, &js, &store, &[3_000, 8_000]).await;
    all_events(&js, &store, ids.len()).await;
    drop(last);
    let queued: Vec<String> = db
        .query(
            "SELECT event_id FROM webhook_deliveries WHERE webhook_id = $1",
            &[&webhook],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        queued.len(),
        ids.len(),
        "an event queued twice, or not at all"
    );
    assert_eq!(
        queued.into_iter().collect::<HashSet<_>>(),
        ids.iter().cloned().collect::<HashSet<_>>()
    );
    let others: i64 = db
        .query_one(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_id <> $1",
            &[&webhook],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(others, 0, "a disabled webhook got deliveries");

    let cancel = CancellationToken::new();
    let deliverer = Deliverer {
        store: store.clone(),
        keys: env.keys.clone(),
        sender: Sender::new(Duration::from_secs(5), true).unwrap(),
        config: DeliveryConfig {
            concurrency: 16,
            ..quick(Duration::from_secs(600))
        },
        metrics: Metrics::new(),
        wake: Arc::default(),
    };
    tokio::spawn(deliverer.run(cancel.clone()));
    let delivered = wait_until(PATIENCE, async || {
        receiver.delivered_ids().len() >= ids.len()
    })
    .await;
    cancel.cancel();
    assert!(
        delivered,
        "{} of {} delivered",
        receiver.delivered_ids().len(),
        ids.len()
    );
    let got = receiver.delivered_ids();
    assert_eq!(got.len(), ids.len(), "an event delivered twice");
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect::<HashSet<_>>()
    );
}

/// Every kind the stream carries (the AsyncAPI document's `send` operations) can be asked
/// for by a webhook: a kind added to the document without being added to
/// `proisp_store::webhook::KINDS` fails here.
#[test]
fn webhooks_may_ask_for_every_kind_the_stream_carries() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("asyncapi.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut sent = 0;
    for op in doc["operations"].as_object().unwrap().values() {
        if op["action"] != "send" {
            continue;
        }
        let channel = op["channel"]["$ref"]
            .as_str()
            .unwrap()
            .trim_start_matches("#/channels/");
        let address = doc["channels"][channel]["address"].as_str().unwrap();
        let kind = address.strip_prefix("proisp.v1.").unwrap();
        assert!(
            proisp_store::webhook::KINDS.contains(&kind),
            "{kind} is on the stream but not in webhook::KINDS"
        );
        sent += 1;
    }
    assert!(sent >= 10, "{sent}");
}
