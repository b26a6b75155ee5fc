//! Billing's commands end to end: CloudEvents published on `proisp.v1.command.subscriber.*`
//! → adminapi's JetStream consumer (in process) → the change, its audit row and its
//! `command.result` in one transaction → the relay → the result on PROISP_EVENTS; the
//! Disconnect- and CoA-Requests the commands send reach a fake NAS.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use actix_web::web;
use proisp_adminapi::config::Config;
use proisp_adminapi::jwt::JwtKey;
use proisp_adminapi::state::AppState;
use proisp_model::{AcctRecord, AcctStatus, Status};
use proisp_radius::header::Code;
use proisp_store::{NewNas, NewPlan, NewSubscriber};
use proisp_testing::FakeNas;
use proisp_testing::fake_nas::Answer;

use super::*;

const NAS_SECRET: &str = "nas-Secret-0042";

/// A command's CloudEvent.
fn command(id: &str, username: &str, data: Value) -> Vec<u8> {
    json!({
        "specversion": "1.0", "id": id, "source": "/billing", "type": "net.example.billing",
        "subject": username, "datacontenttype": "application/json", "data": data,
    })
    .to_string()
    .into_bytes()
}

/// Publishes `payload` on `proisp.v1.command.subscriber.<name>` and waits for the
/// stream's acknowledgement.
async fn publish(js: &async_nats::jetstream::Context, name: &str, payload: Vec<u8>) {
    js.publish(
        format!("proisp.v1.command.subscriber.{name}"),
        payload.into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stream ack");
}

/// The command results on the stream, each validated, until `want` says enough.
struct Results {
    messages: async_nats::jetstream::consumer::pull::Ordered,
    doc: validator::Document,
    seen: Vec<Value>,
}

impl Results {
    /// The next result event.
    async fn next(&mut self) -> Value {
        let m = tokio::time::timeout(PATIENCE, self.messages.next())
            .await
            .unwrap_or_else(|_| panic!("no command result; seen {:#?}", self.seen))
            .expect("stream ended")
            .expect("message");
        let v: Value = serde_json::from_slice(&m.payload).expect("a JSON event");
        self.doc.validate(m.subject.as_str(), &v);
        self.seen.push(v.clone());
        v
    }

    /// The result data of the next event, which must be about `command_id`.
    async fn of(&mut self, command_id: &str) -> Value {
        let e = self.next().await;
        assert_eq!(e["data"]["command_id"], command_id, "{e}");
        e["data"].clone()
    }
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn start(nas_id: i64, user: &str, sid: &str) -> AcctRecord {
    AcctRecord {
        status: AcctStatus::Start,
        nas_id,
        acct_session_id: sid.into(),
        username: user.into(),
        upload_octets: 0,
        download_octets: 0,
        session_time_secs: 0,
        received_at_ms: 0,
        delay_secs: 0,
        framed_ip: Some(Ipv4Addr::new(100, 64, 0, 9)),
        calling_station_id: None,
        nas_port_id: None,
        terminate_cause: None,
    }
}

/// Subscriber `username` on plan `plan_id`, online (session `s-1`) on a fake NAS that
/// answers `answer`.
async fn online(store: &Store, username: &str, plan_id: i64, answer: Answer) -> FakeNas {
    store
        .create_subscriber(&NewSubscriber::new(username, "pw-online-1", plan_id))
        .await
        .unwrap();
    let nas = FakeNas::start("127.0.0.1", NAS_SECRET.as_bytes(), answer);
    let mut n = NewNas::new("nas1", "127.0.0.1".parse().unwrap(), NAS_SECRET.as_bytes());
    n.coa_port = nas.port();
    let nas_id = store.create_nas(&n).await.unwrap().id;
    let mut session = start(nas_id, username, "s-1");
    session.received_at_ms = now_ms();
    store.apply_accounting(&[session], 3).await.unwrap();
    nas
}

#[actix_web::test]
async fn commands_apply_once_answer_on_the_stream_and_survive_hostile_input() {
    let env = TestEnv::start().await;
    let nats = PrivateNats::start().await.expect("nats-server");
    let store = env.store().await;
    let mut cfg = Config::for_database(env.store_config());
    cfg.commands.nats_url = Some(nats.url());
    cfg.redis = Some(env.cache_config());
    let state = AppState::connect(cfg, env.keys.clone(), JwtKey::from_bytes(&[0x5a; 32]))
        .await
        .expect("app state");
    let state = web::Data::new(state);

    let mut plan = NewPlan::new("basic", 10_000, 2_000);
    plan.quota_bytes = Some(1 << 40);
    let basic = store.create_plan(&plan).await.unwrap();
    store
        .create_plan(&NewPlan::new("fast", 100_000, 20_000))
        .await
        .unwrap();
    let nas = online(&store, "alice", basic.id, Answer::Ack).await;

    // The relay narrows PROISP_EVENTS to the event subjects; the consumer then creates
    // PROISP_COMMANDS beside it.
    let (cancel, relay) = relay_in_process(&store, &nats).await;
    let consumer = {
        let state = state.clone();
        let url = nats.url();
        actix_web::rt::spawn(async move {
            proisp_adminapi::commands::consumer::run(&state, &url).await;
        })
    };
    let js = js(&nats).await;
    let ready = wait_until(PATIENCE, async || {
        js.get_stream("PROISP_COMMANDS").await.is_ok()
            && js.get_stream("PROISP_EVENTS").await.is_ok()
    })
    .await;
    assert!(ready, "PROISP_COMMANDS or PROISP_EVENTS was not created");
    let events = js
        .get_stream("PROISP_EVENTS")
        .await
        .unwrap()
        .cached_info()
        .clone();
    assert!(
        !events.config.subjects.iter().any(|s| s == "proisp.v1.>"),
        "{:?}",
        events.config.subjects
    );
    let mut results = Results {
        messages: tail::subscribe(&js, "PROISP_EVENTS", "proisp.v1.command.result", From::All)
            .await
            .expect("ordered consumer"),
        doc: validator::Document::load(),
        seen: Vec::new(),
    };

    // Suspend an online subscriber: the Disconnect-Request reaches the NAS, the
    // subscriber is suspended where radiusd reads it, the result says ok.
    publish(&js, "suspend", command("cmd-1", "alice", json!({}))).await;
    assert_eq!(
        results.of("cmd-1").await,
        json!({"command_id": "cmd-1", "ok": true})
    );
    nas.until(|seen| !seen.requests.is_empty()).await;
    let seen = nas.seen();
    assert_eq!(seen.requests.len(), 1);
    assert_eq!(seen.requests[0].code, Code::DisconnectRequest);
    assert_eq!(seen.requests[0].user, "alice");
    assert_eq!(seen.requests[0].session, "s-1");
    let alice = store.subscriber("alice").await.unwrap().unwrap();
    assert_eq!(alice.status, Status::Suspended);
    // Where radiusd looks first (then PostgreSQL, above): its next Access-Request is
    // refused as suspended.
    let cache = env.cache().await;
    match proisp_testing::cached(&cache, "alice").await.unwrap() {
        proisp_store::CacheLookup::Hit(sub) => assert_eq!(sub.status, Status::Suspended),
        other => panic!("alice not in Redis: {other:?}"),
    }
    let client = store.client().await.unwrap();
    let audit = client
        .query_one(
            "SELECT count(*), min(admin_username) FROM audit_log \
             WHERE action = 'subscriber.suspend'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(audit.get::<_, i64>(0), 1);
    assert_eq!(
        audit.get::<_, Option<String>>(1).as_deref(),
        Some("billing")
    );

    // The same command again: nothing changes, the first result is repeated.
    publish(&js, "suspend", command("cmd-1", "alice", json!({}))).await;
    let again = results.next().await;
    assert_eq!(again["data"], json!({"command_id": "cmd-1", "ok": true}));
    assert_ne!(again["id"], results.seen[0]["id"], "a new event");
    let after = store.subscriber("alice").await.unwrap().unwrap();
    assert_eq!(
        after.version, alice.version,
        "the replay changed the subscriber"
    );
    assert_eq!(nas.seen().requests.len(), 1, "the replay sent a Disconnect");

    // Hostile input: each gets its error result, nothing changes, the consumer goes on.
    let hostile: [(&str, Vec<u8>, &str, &str); 8] = [
        ("resume", b"{this is not json".to_vec(), "", "malformed"),
        (
            "resume",
            command("cmd-2", "nobody", json!({})),
            "cmd-2",
            "not_found",
        ),
        (
            "set_plan",
            command("cmd-3", "alice", json!({"plan": "gold"})),
            "cmd-3",
            "not_found",
        ),
        (
            "renew",
            command(
                "cmd-4",
                "alice",
                json!({"expires_at": "2001-01-01T00:00:00Z"}),
            ),
            "cmd-4",
            "invalid",
        ),
        (
            "set_plan",
            command("cmd-5", "alice", json!({"plan": 5})),
            "cmd-5",
            "invalid",
        ),
        (
            "explode",
            command("cmd-6", "alice", json!({})),
            "cmd-6",
            "invalid",
        ),
        (
            "resume",
            br#"{"specversion":"1.0","subject":"alice"}"#.to_vec(),
            "",
            "malformed",
        ),
        // PostgreSQL's text holds no NUL: refused before it is looked up.
        (
            "set_plan",
            command("cmd-12", "alice", json!({"plan": "g\u{0}"})),
            "cmd-12",
            "malformed",
        ),
    ];
    for (name, payload, id, code) in hostile {
        publish(&js, name, payload).await;
        let r = results.next().await["data"].clone();
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["error"]["code"], code, "{name}: {r}");
        if id.is_empty() {
            // No readable id: the stream sequence names it.
            assert!(r["command_id"].as_str().unwrap().starts_with("seq-"), "{r}");
        } else {
            assert_eq!(r["command_id"], id, "{r}");
        }
    }
    // 10 MB: refused by NATS before it reaches the stream; 100 KiB: by the stream's limit.
    let huge = command("cmd-7", "alice", json!({"pad": "x".repeat(10 << 20)}));
    let refused = match js
        .publish("proisp.v1.command.subscriber.resume", huge.into())
        .await
    {
        Err(_) => true,
        Ok(ack) => ack.await.is_err(),
    };
    assert!(refused, "a 10 MB command was taken");
    let big = command("cmd-8", "alice", json!({"pad": "x".repeat(100 << 10)}));
    let ack = js
        .publish("proisp.v1.command.subscriber.resume", big.into())
        .await
        .expect("publish")
        .await;
    assert!(ack.is_err(), "a 100 KiB command was stored: {ack:?}");
    assert_eq!(
        store.subscriber("alice").await.unwrap().unwrap().version,
        alice.version,
        "a refused command changed the subscriber"
    );

    // Still consuming: set_plan sends the new plan's rate to the open session, resume
    // and renew apply.
    publish(
        &js,
        "set_plan",
        command("cmd-9", "alice", json!({"plan": "fast"})),
    )
    .await;
    assert_eq!(results.of("cmd-9").await["ok"], true);
    nas.until(|seen| seen.requests.len() >= 2).await;
    let coa = nas.seen().requests[1].clone();
    assert_eq!(coa.code, Code::CoaRequest);
    let fast = store.plan_by_name("fast").await.unwrap().unwrap();
    assert_eq!(coa.rate_limit, Some(fast.rate.to_mikrotik()));
    publish(&js, "resume", command("cmd-10", "alice", json!({}))).await;
    assert_eq!(results.of("cmd-10").await["ok"], true);
    let expiry = "2099-01-31T23:59:59Z";
    publish(
        &js,
        "renew",
        command("cmd-11", "alice", json!({"expires_at": expiry})),
    )
    .await;
    assert_eq!(results.of("cmd-11").await["ok"], true);
    let alice = store.subscriber("alice").await.unwrap().unwrap();
    assert_eq!(alice.status, Status::Active);
    assert_eq!(alice.expires_at, Some(4_073_587_199));
    assert_eq!(alice.plan_id, fast.id);
    let recorded: HashMap<String, String> = client
        .query("SELECT command_id, source FROM commands", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(recorded.len(), 12, "{recorded:?}");
    assert!(recorded.values().all(|s| s == "nats"));

    consumer.abort();
    cancel.cancel();
    relay.await.unwrap();
}

#[actix_web::test]
async fn nats_users_may_do_only_their_part() {
    let env = TestEnv::start().await;
    let nats = PrivateNats::start_with_users()
        .await
        .expect("nats-server with users");
    let store = env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("basic", 10_000, 2_000))
        .await
        .unwrap();
    store
        .create_subscriber(&NewSubscriber::new("dave", "pw-dave-1", plan.id))
        .await
        .unwrap();
    let mut cfg = Config::for_database(env.store_config());
    cfg.commands.nats_url = Some(nats.url_as("adminapi"));
    let state = AppState::connect(cfg, env.keys.clone(), JwtKey::from_bytes(&[0x5a; 32]))
        .await
        .expect("app state");
    let state = web::Data::new(state);

    // Without credentials nothing connects.
    assert!(
        async_nats::connect(nats.url()).await.is_err(),
        "an anonymous client was let in"
    );
    let (cancel, relay) = relay_at(&store, &nats.url_as("relay")).await;
    let consumer = {
        let state = state.clone();
        let url = nats.url_as("adminapi");
        actix_web::rt::spawn(async move {
            proisp_adminapi::commands::consumer::run(&state, &url).await;
        })
    };
    let billing = js_at(&nats.url_as("billing")).await;
    // Once the relay and the consumer made their streams, a command is taken.
    let ready = wait_until(PATIENCE, async || {
        let sent = billing
            .publish(
                "proisp.v1.command.subscriber.suspend",
                command("c-1", "dave", json!({})).into(),
            )
            .await;
        match sent {
            Ok(ack) => ack.await.is_ok() && billing.get_stream("PROISP_EVENTS").await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    assert!(ready, "billing could not reach the streams");

    // Billing: a command goes through and its result is read through a consumer on
    // PROISP_EVENTS.
    let mut results = Results {
        messages: tail::subscribe(
            &billing,
            "PROISP_EVENTS",
            "proisp.v1.command.result",
            From::All,
        )
        .await
        .expect("billing's consumer on PROISP_EVENTS"),
        doc: validator::Document::load(),
        seen: Vec::new(),
    };
    publish(&billing, "suspend", command("c-2", "dave", json!({}))).await;
    let mut ids = Vec::new();
    while !ids.contains(&"c-2".to_owned()) {
        let r = results.next().await;
        ids.push(r["data"]["command_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        store.subscriber("dave").await.unwrap().unwrap().status,
        Status::Suspended
    );

    // Billing may not publish an event, nor read PROISP_COMMANDS; the relay may not
    // publish a command.
    let forged = json!({"specversion": "1.0", "id": "forged", "subject": "dave"}).to_string();
    let events_before = stream_messages(&billing, "PROISP_EVENTS").await;
    let refused = match billing
        .publish("proisp.v1.session.stop", forged.clone().into())
        .await
    {
        Err(_) => true,
        Ok(ack) => ack.await.is_err(),
    };
    assert!(refused, "billing published proisp.v1.session.stop");
    assert!(
        billing.get_stream("PROISP_COMMANDS").await.is_err(),
        "billing read PROISP_COMMANDS"
    );
    let relay_js = js_at(&nats.url_as("relay")).await;
    let refused = match relay_js
        .publish(
            "proisp.v1.command.subscriber.resume",
            command("c-3", "dave", json!({})).into(),
        )
        .await
    {
        Err(_) => true,
        Ok(ack) => ack.await.is_err(),
    };
    assert!(refused, "the relay published a command");
    assert_eq!(
        stream_messages(&billing, "PROISP_EVENTS").await,
        events_before
    );
    assert_eq!(
        store.subscriber("dave").await.unwrap().unwrap().status,
        Status::Suspended,
        "the relay's command was applied"
    );

    consumer.abort();
    cancel.cancel();
    relay.await.unwrap();
}

/// Messages in stream `name` now, as `js` sees it.
async fn stream_messages(js: &async_nats::jetstream::Context, name: &str) -> u64 {
    let mut s = js.get_stream(name).await.expect("stream info");
    s.info().await.expect("stream info").state.messages
}

/// The `session.kick` audit rows written for billing's commands: one per
/// Disconnect-Request whose outcome was known.
async fn kicks(store: &Store) -> i64 {
    let client = store.client().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'session.kick' \
             AND admin_username = 'billing'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn effects_pending(store: &Store, command_id: &str) -> bool {
    let client = store.client().await.unwrap();
    client
        .query_one(
            "SELECT effects_pending FROM commands WHERE command_id = $1",
            &[&command_id],
        )
        .await
        .unwrap()
        .get(0)
}

/// adminapi dies after a suspend committed and before its Disconnect-Request was
/// answered: the command is delivered again (never acknowledged), and the adminapi that
/// gets it sends the Disconnect the first one could not finish. Housekeeping finishes a
/// command left pending the same way, and sends no Disconnect once the subscriber was
/// resumed.
#[actix_web::test]
async fn a_suspend_whose_adminapi_died_after_the_commit_still_disconnects() {
    let env = TestEnv::start().await;
    let nats = PrivateNats::start().await.expect("nats-server");
    let store = env.store().await;
    let basic = store
        .create_plan(&NewPlan::new("basic", 10_000, 2_000))
        .await
        .unwrap();
    let nas = online(&store, "dave", basic.id, Answer::Silence).await;

    let mut cfg = Config::for_database(env.store_config());
    cfg.commands.nats_url = Some(nats.url());
    cfg.commands.ack_wait = Duration::from_secs(1);
    let consumer = |state: web::Data<AppState>| {
        let url = nats.url();
        actix_web::rt::spawn(async move {
            proisp_adminapi::commands::consumer::run(&state, &url).await;
        })
    };
    let first = AppState::connect(
        cfg.clone(),
        env.keys.clone(),
        JwtKey::from_bytes(&[0x5a; 32]),
    )
    .await
    .expect("app state");
    let first_consumer = consumer(web::Data::new(first));
    let js = js(&nats).await;
    let ready = wait_until(PATIENCE, async || {
        js.get_stream("PROISP_COMMANDS").await.is_ok()
    })
    .await;
    assert!(ready, "PROISP_COMMANDS was not created");

    // The NAS does not answer: the first adminapi is inside the Disconnect when it dies.
    publish(&js, "suspend", command("crash-1", "dave", json!({}))).await;
    nas.until(|seen| !seen.requests.is_empty()).await;
    first_consumer.abort();
    assert!(
        first_consumer.await.is_err(),
        "the consumer was not stopped"
    );
    let dave = store.subscriber("dave").await.unwrap().unwrap();
    assert_eq!(dave.status, Status::Suspended, "committed before it died");
    assert!(effects_pending(&store, "crash-1").await);
    assert_eq!(kicks(&store).await, 0);

    // Another adminapi gets the command again and finishes it.
    nas.set_answer(Answer::Ack);
    let second = web::Data::new(
        AppState::connect(cfg, env.keys.clone(), JwtKey::from_bytes(&[0x5a; 32]))
            .await
            .expect("app state"),
    );
    let second_consumer = consumer(second.clone());
    let finished = wait_until(PATIENCE, async || !effects_pending(&store, "crash-1").await).await;
    assert!(
        finished,
        "the redelivered command did not finish its effects"
    );
    assert_eq!(kicks(&store).await, 1, "one Disconnect, sent by the second");
    assert!(
        nas.seen()
            .requests
            .iter()
            .all(|r| r.code == Code::DisconnectRequest && r.session == "s-1")
    );
    let dave_after = store.subscriber("dave").await.unwrap().unwrap();
    assert_eq!(dave_after.version, dave.version, "applied once");

    // Left pending (as by an adminapi that died with no redelivery to come: a REST
    // command) for longer than housekeeping waits: finished by housekeeping, with a
    // Disconnect while dave is suspended and without one once he was resumed.
    let client = store.client().await.unwrap();
    let age = "UPDATE commands SET effects_pending = true, \
               created_at = now() - interval '2 minutes' WHERE command_id = 'crash-1'";
    for resumed in [false, true] {
        if resumed {
            store.set_status("dave", Status::Active).await.unwrap();
        }
        client.execute(age, &[]).await.unwrap();
        let finished = proisp_adminapi::commands::finish_pending(&second)
            .await
            .unwrap();
        assert_eq!(finished, 1);
        assert!(!effects_pending(&store, "crash-1").await);
        assert_eq!(kicks(&store).await, 2, "resumed: {resumed}");
    }
    second_consumer.abort();
}

#[actix_web::test]
async fn with_postgres_down_a_command_waits_and_is_applied_when_it_is_back() {
    let env = TestEnv::start().await;
    let mut pg = proisp_testing::PrivatePostgres::start()
        .await
        .expect("private PostgreSQL");
    let (admin, conn) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    actix_web::rt::spawn(conn);
    admin
        .batch_execute("CREATE DATABASE proisp_commands")
        .await
        .unwrap();
    drop(admin);
    let db = proisp_testing::with_database(&pg.url("postgres"), "proisp_commands");
    let store = Store::connect(
        &proisp_store::StoreConfig::new(db.clone()),
        env.keys.clone(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let plan = store
        .create_plan(&NewPlan::new("basic", 10_000, 2_000))
        .await
        .unwrap();
    store
        .create_subscriber(&NewSubscriber::new("erin", "pw-erin-1", plan.id))
        .await
        .unwrap();
    let nats = PrivateNats::start().await.expect("nats-server");
    let mut cfg = Config::for_database(proisp_store::StoreConfig::new(db));
    cfg.commands.nats_url = Some(nats.url());
    cfg.commands.nak_delay = Duration::from_millis(200);
    let state = AppState::connect(cfg, env.keys.clone(), JwtKey::from_bytes(&[0x5a; 32]))
        .await
        .expect("app state");
    let state = web::Data::new(state);
    let consumer = {
        let state = state.clone();
        let url = nats.url();
        actix_web::rt::spawn(async move {
            proisp_adminapi::commands::consumer::run(&state, &url).await;
        })
    };
    let js = js(&nats).await;
    let ready = wait_until(PATIENCE, async || {
        js.get_stream("PROISP_COMMANDS").await.is_ok()
    })
    .await;
    assert!(ready, "PROISP_COMMANDS was not created");

    pg.stop().await;
    publish(&js, "suspend", command("pg-1", "erin", json!({}))).await;
    // Delivered and handed back, again and again: never acknowledged while PostgreSQL
    // is away.
    let stream = js.get_stream("PROISP_COMMANDS").await.unwrap();
    let redelivered = wait_until(PATIENCE, async || {
        stream
            .consumer_info("proisp-commands")
            .await
            .is_ok_and(|i| i.num_redelivered >= 1)
    })
    .await;
    assert!(redelivered, "the command was not handed back");
    let info = stream.consumer_info("proisp-commands").await.unwrap();
    assert_eq!(
        info.ack_floor.stream_sequence, 0,
        "acknowledged without PostgreSQL"
    );

    pg.restart().await.expect("PostgreSQL back");
    let applied = wait_until(PATIENCE, async || {
        store
            .subscriber("erin")
            .await
            .is_ok_and(|s| s.is_some_and(|s| s.status == Status::Suspended))
    })
    .await;
    assert!(
        applied,
        "the command was not applied once PostgreSQL was back"
    );
    let acked = wait_until(PATIENCE, async || {
        stream
            .consumer_info("proisp-commands")
            .await
            .is_ok_and(|i| i.ack_floor.stream_sequence == 1)
    })
    .await;
    assert!(acked, "the command was not acknowledged after its commit");
    let client = store.client().await.unwrap();
    let results: i64 = client
        .query_one(
            "SELECT count(*) FROM event_outbox WHERE subject = 'proisp.v1.command.result'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(results, 1, "one result, once");
    consumer.abort();
}

#[tokio::test]
async fn an_events_stream_on_all_of_proisp_v1_is_narrowed_in_place() {
    let nats = PrivateNats::start().await.expect("nats-server");
    let js = js(&nats).await;
    let commands = proisp_adminapi::commands::consumer::stream_config(&Default::default());
    let mut old = proisp_events::stream::config(&stream_config());
    old.subjects = vec!["proisp.v1.>".to_owned()];
    js.create_stream(old).await.unwrap();
    js.publish("proisp.v1.subscriber.updated", "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(
        js.create_stream(commands.clone()).await.is_err(),
        "JetStream took overlapping streams"
    );

    proisp_events::stream::ensure(&js, &stream_config())
        .await
        .expect("the relay's update");
    let info = js
        .get_stream(&stream_config().name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.subjects, proisp_events::stream::SUBJECTS);
    assert_eq!(info.state.messages, 1, "the stream's events were kept");
    js.create_stream(commands)
        .await
        .expect("the commands' stream beside the narrowed one");
}
