//! Reads from a streaming replica: a private primary, a replica made by pg_basebackup and
//! connected as `proisp_readonly` (sql/roles/readonly.sql), and the REST API in process.
//! The replica is proved to serve a list by pausing its replay: the list misses a write
//! the primary has. Past the lag bound, or with the replica stopped (at once) or frozen
//! (once its check times out), lists come from the primary, and the metrics count why.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use proisp_adminapi::admin::{self, NewAdmin};
use proisp_adminapi::config::Config;
use proisp_adminapi::jwt::JwtKey;
use proisp_adminapi::password;
use proisp_adminapi::permission::Role;
use proisp_adminapi::state::AppState;
use proisp_store::{Keyring, ReadRoute, Store, StoreConfig};
use proisp_testing::{PrivatePostgres, wait_until, with_database};
use serde_json::{Value, json};

use crate::api::{PASSWORD, get, post, with_token};

/// A primary with a migrated `proisp` database and the read-only role, and its replica.
struct Cluster {
    primary: PrivatePostgres,
    replica: PrivatePostgres,
    primary_url: String,
    /// The replica's `proisp` database, as `proisp_readonly`.
    replica_url: String,
    keys: Arc<Keyring>,
}

impl Cluster {
    async fn start() -> Cluster {
        let primary = PrivatePostgres::start().await.unwrap();
        let admin = sql(&primary.url("postgres")).await;
        admin.batch_execute("CREATE DATABASE proisp").await.unwrap();
        let primary_url = with_database(&primary.url("postgres"), "proisp");
        let keys = Arc::new(Keyring::from_key(&[9; 32]));
        let store = Store::connect(&StoreConfig::new(primary_url.clone()), keys.clone())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let role = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/roles/readonly.sql"),
        )
        .unwrap();
        sql(&primary_url).await.batch_execute(&role).await.unwrap();
        let replica = primary.start_replica().await.unwrap();
        let replica_url = format!(
            "postgres://proisp_readonly@127.0.0.1:{}/proisp",
            replica.port()
        );
        Cluster {
            primary,
            replica,
            primary_url,
            replica_url,
            keys,
        }
    }

    /// An API server reading from the replica within `max_lag`, and an admin's token.
    async fn server(&self, max_lag: Duration) -> Server {
        let cfg = Config::for_database(StoreConfig {
            pool_size: 4,
            connect_timeout: Duration::from_secs(2),
            replica_url: Some(self.replica_url.clone()),
            replica_max_lag: max_lag,
            ..StoreConfig::new(self.primary_url.clone())
        });
        let state = AppState::connect(cfg, self.keys.clone(), JwtKey::from_bytes(&[0x5a; 32]))
            .await
            .unwrap();
        let state = web::Data::from(Arc::new(state));
        let name = format!("root{}", max_lag.as_secs());
        admin::create(
            &state.db,
            &NewAdmin {
                username: name.clone(),
                password_hash: password::hash(PASSWORD),
                role: Role::Admin,
                totp_required: false,
                allowed_networks: vec![],
            },
            async |_, _| Ok(()),
        )
        .await
        .unwrap();
        let mut server = Server {
            state,
            token: String::new(),
        };
        let login = server
            .call(post(
                "/api/v1/auth/login",
                json!({"username": name, "password": PASSWORD}),
            ))
            .await;
        assert_eq!(login.0, 200, "{}", login.1);
        server.token = login.1["access_token"].as_str().unwrap().to_owned();
        let up = wait_until(Duration::from_secs(20), async || {
            server.state.reads.stats().up
        })
        .await;
        assert!(up, "the replica never answered its check");
        server
    }
}

async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

struct Server {
    state: web::Data<AppState>,
    token: String,
}

impl Server {
    /// Runs `req` (with the token, once there is one): the status and the JSON body.
    async fn call(&self, req: actix_web::test::TestRequest) -> (u16, Value) {
        let app =
            actix_web::test::init_service(proisp_adminapi::server::app(self.state.clone())).await;
        let req = if self.token.is_empty() {
            req
        } else {
            with_token(req, &self.token)
        };
        let res = actix_web::test::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let body = actix_web::test::read_body(res).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// GET `path`, which must answer 200.
    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.call(get(path)).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The usernames of the subscriber list.
    async fn usernames(&self) -> Vec<String> {
        self.ok("/api/v1/subscribers?limit=100").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["username"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Creates subscriber `name` on plan `plan`; its id.
    async fn create(&self, name: &str, plan: i64) -> i64 {
        let (status, body) = self
            .call(post(
                "/api/v1/subscribers",
                json!({"username": name, "password": "Secret-pw1-x", "plan_id": plan}),
            ))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// Reads served so far by `route`.
    fn served(&self, route: ReadRoute) -> u64 {
        let stats = self.state.reads.stats();
        stats
            .served
            .iter()
            .find(|(r, _)| *r == route)
            .map_or(0, |(_, n)| *n)
    }

    /// `/metrics`' line for `series`, its value.
    async fn metric(&self, series: &str) -> Option<f64> {
        let app =
            actix_web::test::init_service(proisp_adminapi::server::app(self.state.clone())).await;
        let res = actix_web::test::call_service(&app, get("/metrics").to_request()).await;
        let text = String::from_utf8_lossy(&actix_web::test::read_body(res).await).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }
}

#[actix_web::test]
async fn lists_come_from_the_replica_within_the_bound_and_from_the_primary_past_it() {
    let cluster = Cluster::start().await;
    // One server tolerates any lag (so a stale answer proves the replica served it),
    // the other falls back after a second.
    let lenient = cluster.server(Duration::from_secs(3600)).await;
    let strict = cluster.server(Duration::from_secs(1)).await;
    let (status, plan) = strict
        .call(post(
            "/api/v1/plans",
            json!({"name": "home", "download_kbps": 10000, "upload_kbps": 5000}),
        ))
        .await;
    assert_eq!(status, 201, "{plan}");
    let plan = plan["id"].as_i64().unwrap();
    let alice = strict.create("alice", plan).await;
    cluster
        .replica
        .wait_replayed(&cluster.primary)
        .await
        .unwrap();

    assert_eq!(lenient.usernames().await, ["alice"]);
    // Every read-only route works on a SELECT-only session of a hot standby.
    for path in [
        "/api/v1/plans".to_owned(),
        "/api/v1/nas".to_owned(),
        "/api/v1/sessions".to_owned(),
        "/api/v1/audit".to_owned(),
        "/api/v1/dashboard?refresh=true".to_owned(),
        format!("/api/v1/subscribers/{alice}/sessions/history"),
        format!("/api/v1/subscribers/{alice}/usage"),
    ] {
        lenient.ok(&path).await;
    }
    assert_eq!(lenient.served(ReadRoute::Replica), 8);
    assert_eq!(
        lenient
            .metric("proisp_db_reads_total{target=\"replica\",reason=\"ok\"}")
            .await,
        Some(8.0)
    );
    assert_eq!(lenient.metric("proisp_db_replica_up").await, Some(1.0));
    let on_replica: i64 = sql(&cluster.replica.url("proisp"))
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'proisp_readonly'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(on_replica >= 1, "no proisp_readonly session on the replica");

    cluster.replica.pause_replay().await.unwrap();
    let bob = strict.create("bob", plan).await;
    // A single subscriber by id is the primary's: a client reads its own write.
    let (status, body) = lenient
        .call(get(&format!("/api/v1/subscribers/{bob}")))
        .await;
    assert_eq!(status, 200, "{body}");
    // The lenient server's list is the paused replica's: no bob yet.
    assert_eq!(lenient.usernames().await, ["alice"]);

    // The strict server sees the lag pass its bound and lists from the primary.
    let mut names = Vec::new();
    let fell_back = wait_until(Duration::from_secs(20), async || {
        names = strict.usernames().await;
        names.len() == 2
    })
    .await;
    assert!(fell_back, "the list never came from the primary: {names:?}");
    assert!(strict.served(ReadRoute::Lagging) >= 1);
    assert!(
        strict
            .metric("proisp_db_reads_total{target=\"primary\",reason=\"lagging\"}")
            .await
            .is_some_and(|n| n >= 1.0)
    );
    assert!(
        strict
            .metric("proisp_db_replica_lag_seconds")
            .await
            .is_some_and(|lag| lag > 1.0)
    );

    cluster.replica.resume_replay().await.unwrap();
    let before = strict.served(ReadRoute::Replica);
    let back = wait_until(Duration::from_secs(20), async || {
        strict.usernames().await;
        strict.served(ReadRoute::Replica) > before
    })
    .await;
    assert!(
        back,
        "reads never returned to the replica after it caught up"
    );
    assert_eq!(strict.usernames().await, ["alice", "bob"]);
}

#[actix_web::test]
async fn with_the_replica_stopped_lists_answer_from_the_primary() {
    let mut cluster = Cluster::start().await;
    let server = cluster.server(Duration::from_secs(5)).await;
    assert!(server.usernames().await.is_empty());
    assert_eq!(server.served(ReadRoute::Replica), 1);

    cluster.replica.stop().await;
    // Straight away, before the next check: the failed borrow sends the read on.
    assert!(server.usernames().await.is_empty());
    assert_eq!(server.served(ReadRoute::Down), 1);
    assert!(!server.state.reads.stats().up);
    assert_eq!(server.metric("proisp_db_replica_up").await, Some(0.0));
    assert!(server.usernames().await.is_empty());
    assert_eq!(
        server
            .metric("proisp_db_reads_total{target=\"primary\",reason=\"down\"}")
            .await,
        Some(2.0)
    );
    assert_eq!(server.served(ReadRoute::Replica), 1);
}

#[actix_web::test]
async fn a_frozen_replica_is_found_down_by_its_check_and_passed_over() {
    let cluster = Cluster::start().await;
    let server = cluster.server(Duration::from_secs(5)).await;
    assert!(server.usernames().await.is_empty());
    assert_eq!(server.served(ReadRoute::Replica), 1);

    // A hang, not a refusal: the check's query gets no answer within connect_timeout.
    let frozen = cluster.replica.freeze().unwrap();
    let down = wait_until(Duration::from_secs(20), async || {
        !server.state.reads.stats().up
    })
    .await;
    assert!(down, "a frozen replica still counts as up");
    assert!(server.usernames().await.is_empty());
    assert_eq!(server.served(ReadRoute::Down), 1);

    drop(frozen);
    let up = wait_until(Duration::from_secs(20), async || {
        server.state.reads.stats().up
    })
    .await;
    assert!(up, "the thawed replica never came back");
    assert!(server.usernames().await.is_empty());
    assert_eq!(server.served(ReadRoute::Replica), 2);
}
