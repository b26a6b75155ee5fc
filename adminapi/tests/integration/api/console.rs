//! The web console: its page and headers in process, then the whole console in a real
//! browser — Debian's chromium, headless, driven by Playwright under node's test runner
//! (adminapi/console/e2e/console.test.mjs) — against a real server on a loopback port,
//! with a real proisp-radiusd that radclient (the NAS) logs the subscriber in through
//! (its Access-Reject then shows on the subscriber's page) and a fake NAS that
//! acknowledges the kick.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proisp_adminapi::console::ASSETS;
use proisp_adminapi::data::seed::{SeedOptions, seed, seed_password, seed_username};
use proisp_adminapi::permission::Role;
use proisp_adminapi::server;

use proisp_radius::header::Code;

use super::nas::NAS_SECRET;
use super::radius::{metrics_port, start_radiusd};
use proisp_testing::fake_nas::Answer;

use super::sessions::{fake_nas, nas};
use super::{Ctx, PASSWORD, app, call, get};

/// Subscribers seeded (the 100,000); the browser finds one among them.
const SUBSCRIBERS: u64 = 100_000;
/// The whole browser run, start to end: past it the run is killed and the test fails.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

#[actix_web::test]
async fn the_page_has_a_strict_policy_whether_built_or_not() {
    let ctx = Ctx::new().await;
    let app = app!(ctx);
    let r = call!(app, ctx, get("/"));
    r.expect(200);
    let csp = r.header("content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(!r.text.contains("<script>"), "no inline script: {}", r.text);
    if ASSETS.is_empty() {
        assert!(r.text.contains("make console"), "{}", r.text);
        return;
    }
    // Every file is served with its type; the hashed ones are cached for good.
    for asset in ASSETS {
        let r = call!(app, ctx, get(asset.path));
        r.expect(200);
        assert_eq!(r.header("content-type"), asset.content_type);
        let cache = r.header("cache-control");
        assert_eq!(
            cache.contains("immutable"),
            asset.path.starts_with("/assets/"),
            "{}: {cache}",
            asset.path
        );
    }
    // Anything else outside the API is still a JSON 404.
    call!(app, ctx, get("/assets/nothing.js")).error(404, "not_found", None);
}

#[actix_web::test]
async fn in_a_real_browser_with_radiusd_and_a_nas() {
    assert!(
        !ASSETS.is_empty(),
        "proisp-adminapi was built without the console: `make console` builds it (make test \
         does)"
    );
    let node_modules = console_dir().join("node_modules/playwright-core");
    assert!(
        node_modules.is_dir(),
        "{} is missing: `make console` runs npm ci",
        node_modules.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: scripts/deps.sh (run by make test) installs Debian's chromium"
    );

    // The dashboard's backend health checks the radiusd started below.
    let metrics = metrics_port();
    let ctx = Ctx::with(|c| c.dashboard.radiusd_health = vec![metrics]).await;
    ctx.admin("support-lead", Role::Admin).await;
    ctx.admin("root", Role::Superadmin).await;
    ctx.admin("watcher", Role::Viewer).await;
    let store = ctx.env.store().await;
    seed(
        &store,
        &SeedOptions {
            subscribers: SUBSCRIBERS,
            nas: Vec::new(),
            ..SeedOptions::default()
        },
    )
    .await
    .unwrap();
    let target = seed_username(61_234);
    let target_plan = store.subscriber(&target).await.unwrap().unwrap().plan_id;
    // The NAS: radclient on 127.0.0.1 plays its RADIUS client, and a fake Dynamic
    // Authorization server acknowledges the console's kick; radiusd between them.
    let fake = fake_nas("127.0.0.1", Answer::Ack);
    nas(&store, "bras", "127.0.0.1", fake.port()).await;
    let (_radiusd, auth, acct) = start_radiusd(&ctx, metrics);

    let state = ctx.state.clone();
    let srv = actix_web::HttpServer::new(move || server::app(state.clone()))
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
    let addr = srv.addrs()[0];
    let srv = srv.run();
    let handle = srv.handle();
    actix_web::rt::spawn(srv);

    // CONSOLE_SHOTS=$PWD/docs/console renews the README's screenshots.
    let shots = std::env::var_os("CONSOLE_SHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"),
        PathBuf::from,
    );
    let mut browser = tokio::process::Command::new("node")
        .current_dir(console_dir())
        .args(["--test", "--test-reporter=spec", "e2e/console.test.mjs"])
        .env("CONSOLE_URL", format!("http://{addr}"))
        .env("CONSOLE_ADMIN", "support-lead")
        .env("CONSOLE_ROOT", "root")
        .env("CONSOLE_VIEWER", "watcher")
        .env("CONSOLE_PASSWORD", PASSWORD)
        .env("CONSOLE_SEARCH", &target)
        .env("CONSOLE_TARGET", &target)
        .env("CONSOLE_TARGET_PASSWORD", seed_password(61_234))
        .env("CONSOLE_TARGET_PLAN", target_plan.to_string())
        .env("RADIUS_AUTH", auth.to_string())
        .env("RADIUS_ACCT", acct.to_string())
        .env("RADIUS_SECRET", NAS_SECRET)
        .env("CONSOLE_SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .spawn()
        .expect("run node (Debian's nodejs)");
    let status = tokio::time::timeout(BROWSER_DEADLINE, browser.wait()).await;
    handle.stop(false).await;
    let status = status
        .unwrap_or_else(|_| panic!("the browser run took more than {BROWSER_DEADLINE:?}"))
        .unwrap();
    assert!(status.success(), "the browser test failed: {status}");

    // What the browser did is in the database.
    let sub = store.subscriber(&target).await.unwrap().unwrap();
    assert_eq!(sub.status.as_str(), "suspended");
    let made = store.subscriber("made-in-browser").await.unwrap();
    assert!(made.is_some(), "the subscriber the form created");
    // On a connection of its own: the server's pool may hold connections that its
    // stopped worker's runtime drove.
    let sql = ctx.env.sql().await;
    let enrolled: bool = sql
        .query_one(
            "SELECT totp_secret_enc IS NOT NULL FROM admins WHERE username = 'root'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(enrolled, "root enrolled in TOTP");
    let changed: String = sql
        .query_one(
            "SELECT role FROM admins WHERE username = 'browser-admin'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        changed, "viewer",
        "the admin the superadmin made, then changed"
    );
    let edited = sql
        .query_one(
            "SELECT name, phone FROM subscribers WHERE username = $1",
            &[&target],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            edited.get::<_, Option<String>>(0),
            edited.get::<_, Option<String>>(1)
        ),
        (
            Some("Edited In Browser".to_owned()),
            Some("+1 555 0199".to_owned())
        ),
        "the edit form's change"
    );
    for (name, imported) in [("csv-one", true), ("csv-two", false), ("csv-three", true)] {
        let found = store.subscriber(name).await.unwrap();
        assert_eq!(found.is_some(), imported, "{name} of the CSV import");
    }
    let plan = store.plan_by_name("browser-plan").await.unwrap();
    let plan = plan.expect("the plan the form created");
    assert_eq!(plan.rate.to_mikrotik(), "5M/20M 0/0 0/0 0/0 3 1M/2500k");
    let kick = fake.next(Duration::ZERO).expect("the NAS got the kick");
    assert_eq!(kick.code, Code::DisconnectRequest);
    assert_eq!(
        (kick.user.as_str(), kick.session.as_str()),
        (target.as_str(), "e2e-1")
    );
    let coa = fake
        .next(Duration::ZERO)
        .expect("the NAS got the plan's CoA");
    assert_eq!(coa.code, Code::CoaRequest);
    assert_eq!(coa.session, "e2e-1");
}
