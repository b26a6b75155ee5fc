//! proisp-events against real PostgreSQL (proisp_testing) and a private nats-server with
//! JetStream: admin API writes in process (`api`), billing's commands (`commands`), the relay
//! as a child process under faults (`faults`), webhooks delivered to real HTTP receivers
//! (`webhooks`). Every event a test receives is validated against
//! events/asyncapi.json (`schema`).

// Shared by the modules below (textual scope).
/// Sends `req` with the token; returns the status and the JSON body.
macro_rules! call {
    ($app:expr, $token:expr, $req:expr) => {{
        let req = $req
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .insert_header(("Authorization", format!("Bearer {}", $token)))
            .to_request();
        let res = call_service(&$app, req).await;
        let status = res.status().as_u16();
        let body = read_body(res).await;
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    }};
}

mod api;
mod commands;
mod faults;
mod receiver;
mod schema;
mod validator;
mod webhooks;

use std::collections::{HashMap, HashSet};
use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use proisp_events::config::{RelayConfig, StreamConfig};
use proisp_events::metrics::Metrics;
use proisp_events::relay::{Relay, State};
use proisp_events::tail::{self, From};
use proisp_events::{connect_nats, jetstream};
use proisp_store::Store;
use proisp_store::outbox::{self, ADMINAPI, Event};
use proisp_testing::{PrivateNats, TestEnv, free_ports, wait_until};
use serde_json::{Value, json};

/// How long a test waits for a signal before it fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// A stream configuration of the test's own (the defaults, a short ack timeout).
fn stream_config() -> StreamConfig {
    StreamConfig::default()
}

/// JetStream on the private server.
async fn js(nats: &PrivateNats) -> async_nats::jetstream::Context {
    js_at(&nats.url()).await
}

/// JetStream at `url`.
async fn js_at(url: &str) -> async_nats::jetstream::Context {
    let client = connect_nats(url).await.expect("connect to NATS");
    jetstream(client, Duration::from_secs(2))
}

/// A relay in this process, publishing until the token is cancelled.
async fn relay_in_process(
    store: &Store,
    nats: &PrivateNats,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    relay_at(store, &nats.url()).await
}

/// A relay in this process connected to `url`, publishing until the token is cancelled.
async fn relay_at(
    store: &Store,
    url: &str,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let relay = Relay {
        store: store.clone(),
        js: js_at(url).await,
        stream: stream_config(),
        config: RelayConfig {
            max_backoff: Duration::from_millis(200),
            ..RelayConfig::default()
        },
        ack_timeout: Duration::from_secs(2),
        metrics: Metrics::new(),
        state: Arc::new(State::default()),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn({
        let cancel = cancel.clone();
        async move { relay.run(cancel).await }
    });
    (cancel, task)
}

/// The relay binary as a child process, with its metrics port.
struct RelayProcess {
    child: Child,
    port: u16,
}

impl RelayProcess {
    fn start(env: &TestEnv, nats: &PrivateNats) -> RelayProcess {
        let [port] = free_ports::<1>();
        let child = Command::new(env!("CARGO_BIN_EXE_proisp-events"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("PROISP_DATABASE_URL", &env.database_url)
            .env("PROISP_NATS_URL", nats.url())
            .env("PROISP_NATS__ACK_TIMEOUT", "2s")
            .env("PROISP_RELAY__LISTEN", format!("127.0.0.1:{port}"))
            .env("PROISP_RELAY__MAX_BACKOFF", "200ms")
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start proisp-events");
        RelayProcess { child, port }
    }

    /// `GET path` on the metrics port: (status line, body); `None` if nothing answers.
    async fn get(&self, path: &'static str) -> Option<(String, String)> {
        let port = self.port;
        tokio::task::spawn_blocking(move || http_get(port, path))
            .await
            .ok()
            .flatten()
    }

    /// Waits until `/health` answers `role`.
    async fn wait_role(&self, role: &str) {
        let up = wait_until(PATIENCE, async || {
            self.get("/health")
                .await
                .is_some_and(|(status, body)| status.contains("200") && body.trim() == role)
        })
        .await;
        assert!(up, "relay on port {} never became {role}", self.port);
    }

    /// SIGKILL, as a crash.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET path` on 127.0.0.1:`port` (blocking): (status line, body).
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_owned(), body.to_owned()))
}

/// The relay binary killed -9 each time the stream holds one of `stops` events (while
/// the outbox still holds some: in the middle of publishing), then a last one started and
/// returned running.
async fn relay_killed_at(
    env: &TestEnv,
    nats: &PrivateNats,
    js: &async_nats::jetstream::Context,
    store: &Store,
    stops: &[u64],
) -> RelayProcess {
    for &stop_at in stops {
        let mut relay = RelayProcess::start(env, nats);
        assert!(
            wait_until(PATIENCE, async || stream_len(js).await >= stop_at).await,
            "the relay published fewer than {stop_at}"
        );
        relay.kill();
        assert!(
            outbox_depth(store).await > 0,
            "killed after it had finished"
        );
    }
    RelayProcess::start(env, nats)
}

/// Messages in the stream now.
async fn stream_len(js: &async_nats::jetstream::Context) -> u64 {
    match js.get_stream(&stream_config().name).await {
        Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Rows left in the outbox.
async fn outbox_depth(store: &Store) -> i64 {
    proisp_events::http::outbox_depth(store)
        .await
        .expect("outbox depth")
        .0
}

/// Every event in the stream, from the first, once `n` are there and the outbox is
/// empty; each validated against the AsyncAPI document. Fails if more than `n` are.
async fn all_events(js: &async_nats::jetstream::Context, store: &Store, n: usize) -> Vec<Value> {
    let drained = wait_until(PATIENCE, async || outbox_depth(store).await == 0).await;
    assert!(
        drained,
        "the outbox was not drained: {} rows left",
        outbox_depth(store).await
    );
    let events = validator::receive(js, &stream_config().name, "proisp.v1.>", n, PATIENCE).await;
    assert_eq!(
        stream_len(js).await,
        n as u64,
        "the stream holds more events than written"
    );
    events
}

/// Asserts each id appears once and, per subscriber, `data.version` only grows.
fn assert_once_in_order(events: &[Value]) {
    let mut ids = HashSet::new();
    let mut last: HashMap<&str, i64> = HashMap::new();
    for e in events {
        assert!(
            ids.insert(e["id"].as_str().unwrap()),
            "event {} twice",
            e["id"]
        );
        let (user, version) = (
            e["subject"].as_str().unwrap(),
            e["data"]["version"].as_i64().unwrap(),
        );
        if let Some(prev) = last.insert(user, version) {
            assert!(prev < version, "{user}: version {version} after {prev}");
        }
    }
}

/// `subscriber.updated` for `user` at `version`, with a payload the schema accepts.
fn update_event(user: &str, version: i64) -> Event {
    let data = json!({
        "id": 1, "username": user, "status": "active", "plan_id": 1, "plan": "home-50",
        "expires_at": null, "mac": null, "ipv4": null, "ipv6_prefix": null,
        "delegated_ipv6_prefix": null, "simultaneous_use": 1, "name": null, "phone": null,
        "email": null, "address": null, "online": false, "fup_until": null,
        "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z",
        "version": version,
    });
    Event::new(ADMINAPI, "subscriber.updated", user, &data)
}

/// Appends `per_user` updates of each of `users` subscribers, interleaved, in
/// transactions of 5,000; returns the ids.
async fn append_updates(store: &Store, users: usize, per_user: usize) -> Vec<String> {
    let events: Vec<Event> = (0..per_user)
        .flat_map(|v| (0..users).map(move |u| update_event(&format!("user{u:04}"), v as i64)))
        .collect();
    let mut client = store.client().await.unwrap();
    for chunk in events.chunks(5000) {
        let tx = client.transaction().await.unwrap();
        outbox::append(&tx, chunk).await.unwrap();
        tx.commit().await.unwrap();
    }
    events.into_iter().map(|e| e.id).collect()
}
