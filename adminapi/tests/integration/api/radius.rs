//! End to end: a subscriber created through the API logs in through a real proisp-radiusd
//! (radclient from freeradius-utils) within a second, and is refused as soon as the API
//! suspends them — the cache contract (commit, Redis, invalidation) as the NAS sees it.

use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proisp_adminapi::permission::Role;
use proisp_store::{NewNas, NewPlan};
use proisp_testing::free_ports;
use serde_json::json;

use super::{Ctx, app, call, post, post_empty, token, with_token};

const SECRET: &str = "testing123";

/// proisp-radiusd from this workspace's target directory, built first if missing (the
/// workspace's test run builds it for radiusd's own tests).
fn radiusd_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/integration-… → target/<profile>/proisp-radiusd
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let bin = profile_dir.join("proisp-radiusd");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "proisp-radiusd"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p proisp-radiusd");
    }
    bin
}

/// Two distinct free UDP ports: the first socket is held while the second is chosen, so
/// the kernel cannot hand out one twice (radiusd refuses auth and acct on one port).
fn free_udp_ports() -> (u16, u16) {
    let first = UdpSocket::bind("127.0.0.1:0").unwrap();
    let second = UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        first.local_addr().unwrap().port(),
        second.local_addr().unwrap().port(),
    )
}

pub(crate) struct Radiusd(Child);

impl Drop for Radiusd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port for a radiusd's metrics and `/health` (start_radiusd's), known
/// before the admin API that checks it is made.
pub(crate) fn metrics_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_ports::<1>()[0]))
}

/// Starts radiusd on the test's database and Redis; returns it and its auth and
/// accounting addresses.
pub(crate) fn start_radiusd(ctx: &Ctx, metrics: SocketAddr) -> (Radiusd, SocketAddr, SocketAddr) {
    let (auth, acct) = free_udp_ports();
    let auth = SocketAddr::from(([127, 0, 0, 1], auth));
    let dir = std::env::temp_dir().join(format!(
        "adminapi-e2e-{}-{}",
        std::process::id(),
        auth.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let env = &ctx.env;
    let config = format!(
        "key_file = {:?}\n[listen]\nauth = \"{auth}\"\nacct = \"127.0.0.1:{acct}\"\n\
         metrics = \"{metrics}\"\nsockets = 1\n[database]\nurl = {:?}\n\
         [redis]\nurl = {:?}\nkey_prefix = {:?}\n[auth]\nreject_delay = \"0s\"\n\
         [accounting]\nspool_dir = {:?}\n",
        env.key_file,
        env.database_url,
        env.redis_url,
        env.key_prefix,
        dir.join("spool")
    );
    let path = dir.join("radiusd.toml");
    std::fs::write(&path, config).unwrap();
    let log_path = dir.join("radiusd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // radiusd tells systemd READY=1 once its sockets are bound: the test plays systemd.
    let notify_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&notify_path);
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let child = Command::new(radiusd_binary())
        .arg("--config")
        .arg(&path)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let radiusd = Radiusd(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut message = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        notify
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let len = notify.recv(&mut message).unwrap_or_else(|e| {
            panic!(
                "radiusd did not report ready ({e}); its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )
        });
        if String::from_utf8_lossy(&message[..len])
            .lines()
            .any(|l| l == "READY=1")
        {
            break;
        }
    }
    (radiusd, auth, SocketAddr::from(([127, 0, 0, 1], acct)))
}

/// radclient's answer to a PAP request: "Access-Accept", "Access-Reject" or "".
fn pap(addr: SocketAddr, user: &str, password: &str) -> String {
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "2"])
        .arg(addr.to_string())
        .arg("auth")
        .arg(SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient (freeradius-utils, installed by scripts/deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            format!(
                "User-Name = \"{user}\"\nUser-Password = \"{password}\"\nMessage-Authenticator = 0x00\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let out = String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned();
    ["Access-Accept", "Access-Reject"]
        .into_iter()
        .find(|c| out.contains(&format!("Received {c}")))
        .unwrap_or_default()
        .to_owned()
}

/// Retries `pap` until it answers `want`, for up to a second; returns the last answer.
/// Each try waits for radiusd's answer to it: that answer is the event waited for.
fn within_a_second(addr: SocketAddr, user: &str, password: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let got = pap(addr, user, password);
        if got == want || Instant::now() > deadline {
            return got;
        }
    }
}

#[actix_web::test]
async fn created_through_the_api_logs_in_and_suspended_is_refused_within_a_second() {
    let ctx = Ctx::new().await;
    ctx.forbid("e2e-Secret-pw1");
    ctx.admin("ops", Role::Admin).await;
    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 20_000, 5_000))
        .await
        .unwrap();
    store
        .create_nas(&NewNas::new(
            "bras",
            "127.0.0.1".parse().unwrap(),
            SECRET.as_bytes(),
        ))
        .await
        .unwrap();
    let (_radiusd, auth, _) = start_radiusd(&ctx, metrics_port());
    // Unknown to everyone yet: remembered negatively by radiusd and Redis.
    assert_eq!(pap(auth, "e2e-user", "e2e-Secret-pw1"), "Access-Reject");

    let app = app!(ctx);
    let t = token!(app, ctx, "ops");
    let body = json!({ "username": "e2e-user", "password": "e2e-Secret-pw1", "plan_id": plan.id });
    let r = call!(app, ctx, with_token(post("/api/v1/subscribers", body), &t));
    r.expect(201);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(
        within_a_second(auth, "e2e-user", "e2e-Secret-pw1", "Access-Accept"),
        "Access-Accept"
    );

    let suspend = post_empty(&format!("/api/v1/subscribers/{id}/suspend"));
    call!(app, ctx, with_token(suspend, &t)).expect(200);
    assert_eq!(
        within_a_second(auth, "e2e-user", "e2e-Secret-pw1", "Access-Reject"),
        "Access-Reject"
    );
}
