//! Admin API writes (in process) → events on the stream, through the outbox and a relay.

use actix_web::test::{TestRequest, call_service, init_service, read_body};
use proisp_adminapi::admin::{self, NewAdmin};
use proisp_adminapi::config::Config;
use proisp_adminapi::jwt::JwtKey;
use proisp_adminapi::permission::Role;
use proisp_adminapi::state::AppState;

use super::*;

const ADMIN_PASSWORD: &str = "s3cret-Admin-Passw0rd";
const SUBSCRIBER_PASSWORD: &str = "Sub-Secret-pw-7731";

#[actix_web::test]
async fn admin_writes_become_cloudevents_on_the_stream_once_committed() {
    let env = TestEnv::start().await;
    let nats = PrivateNats::start().await.expect("nats-server");
    let store = env.store().await;
    let state = AppState::connect(
        Config::for_database(env.store_config()),
        env.keys.clone(),
        JwtKey::from_bytes(&[0x5a; 32]),
    )
    .await
    .expect("app state");
    admin::create(
        &state.db,
        &NewAdmin {
            username: "root".to_owned(),
            password_hash: proisp_adminapi::password::hash(ADMIN_PASSWORD),
            role: Role::Admin,
            totp_required: false,
            allowed_networks: vec![],
        },
        async |_, _| Ok(()),
    )
    .await
    .unwrap();
    let app = init_service(proisp_adminapi::server::app(actix_web::web::Data::new(
        state,
    )))
    .await;
    let login = TestRequest::post()
        .uri("/api/v1/auth/login")
        .peer_addr("127.0.0.1:40000".parse().unwrap())
        .set_json(json!({"username": "root", "password": ADMIN_PASSWORD}))
        .to_request();
    let login: Value = serde_json::from_slice(&read_body(call_service(&app, login).await).await)
        .expect("login answer");
    let token = login["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();

    let (cancel, relay) = relay_in_process(&store, &nats).await;

    let plan = json!({"name": "home-50", "download_kbps": 50000, "upload_kbps": 10000,
                      "price_cents": 2500});
    let (status, p) = call!(
        app,
        token,
        TestRequest::post().uri("/api/v1/plans").set_json(plan)
    );
    assert_eq!(status, 201, "{p}");
    let plan_id = p["id"].as_i64().unwrap();
    let sub = json!({"username": "alice", "password": SUBSCRIBER_PASSWORD, "plan_id": plan_id});
    let (status, s) = call!(
        app,
        token,
        TestRequest::post()
            .uri("/api/v1/subscribers")
            .set_json(sub.clone())
    );
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_i64().unwrap();
    // A write that fails commits nothing, and so announces nothing.
    let (status, _) = call!(
        app,
        token,
        TestRequest::post().uri("/api/v1/subscribers").set_json(sub)
    );
    assert_eq!(status, 409);
    let path = |verb: &str| format!("/api/v1/subscribers/{id}{verb}");
    for (verb, code) in [("/suspend", 200), ("/resume", 200), ("/renew", 200)] {
        let (status, body) = call!(app, token, TestRequest::post().uri(&path(verb)));
        assert_eq!(status, code, "{verb}: {body}");
    }
    let (status, body) = call!(
        app,
        token,
        TestRequest::patch()
            .uri(&path(""))
            .set_json(json!({"name": "Alice A."}))
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call!(
        app,
        token,
        TestRequest::post()
            .uri(&path("/reset-password"))
            .set_json(json!({"password": "Another-Secret-pw-99"}))
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = call!(app, token, TestRequest::delete().uri(&path("")));
    assert_eq!(status, 204);

    let js = js(&nats).await;
    let events = all_events(&js, &store, 8).await;
    cancel.cancel();
    relay.await.unwrap();

    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "net.proisp.plan.changed",
            "net.proisp.subscriber.created",
            "net.proisp.subscriber.suspended",
            "net.proisp.subscriber.resumed",
            "net.proisp.subscriber.renewed",
            "net.proisp.subscriber.updated",
            "net.proisp.subscriber.updated",
            "net.proisp.subscriber.deleted",
        ]
    );
    let created = &events[1];
    assert_eq!(created["specversion"], "1.0");
    assert_eq!(created["source"], "/proisp/adminapi");
    assert_eq!(created["subject"], "alice");
    assert_eq!(created["datacontenttype"], "application/json");
    assert_eq!(created["data"]["id"], id);
    assert_eq!(created["data"]["plan"], "home-50");
    assert_eq!(events[2]["data"]["status"], "suspended");
    assert_eq!(events[3]["data"]["status"], "active");
    assert!(events[4]["data"]["expires_at"].is_string());
    assert_eq!(events[5]["data"]["name"], "Alice A.");
    assert_eq!(events[0]["subject"], "home-50");
    assert_eq!(events[0]["data"]["change"], "created");
    let raw = serde_json::to_string(&events).unwrap();
    for secret in [SUBSCRIBER_PASSWORD, "Another-Secret-pw-99", ADMIN_PASSWORD] {
        assert!(!raw.contains(secret), "an event holds a password");
    }
    assert_once_in_order(&events[1..7]);
    // The deletion carries the subscriber as it was at its last change.
    assert_eq!(events[7]["data"]["version"], events[6]["data"]["version"]);
}
