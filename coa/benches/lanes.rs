//! The per-NAS lanes against NAS on the loopback that answer real RFC 5176 packets
//! (issue 23's measurements, figures in bench/RESULTS.md):
//!
//! - `one`: changes a second to one NAS that answers at once;
//! - `cycle`: 30,000 sessions on 10 NAS, one of which never answers: how long until every
//!   live session has its new rate, and until the dead NAS's changes are all deferred.
//!
//! `cargo bench -p proisp-coa --bench lanes` (a plain harness: one run of each, printed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use futures_util::future::join_all;
use proisp_coa::{Client, ClientConfig, Dispatcher, Outcome, Target};
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::{Kind, Request};
use proisp_radius::encode::Encoder;
use proisp_radius::header::MAX_PACKET_LEN;
use proisp_radius::packet::Packet;
use proisp_radius::secret::Secret;
use tokio::net::UdpSocket;

const SECRET: &[u8] = b"testing123";

/// A NAS on 127.0.0.1 answering every request with its ACK, or nothing at all.
async fn nas(answers: bool) -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    let addr = socket.local_addr().expect("address");
    tokio::spawn(async move {
        let mut buf = vec![0; MAX_PACKET_LEN];
        let mut out = BytesMut::with_capacity(MAX_PACKET_LEN);
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            if !answers {
                continue;
            }
            let Ok(request) = Packet::decode(&buf[..len]) else {
                continue;
            };
            let Some(kind) = Kind::of_request(request.code()) else {
                continue;
            };
            out.clear();
            let mut enc = Encoder::reply(&mut out, &request, kind.ack_code());
            enc.message_authenticator();
            if let Ok(reply) = enc.finish(SECRET) {
                let _ = socket.send_to(reply, from).await;
            }
        }
    });
    addr
}

fn target(nas_id: i64, addr: SocketAddr) -> Target {
    Target {
        nas_id,
        name: format!("nas-{nas_id}"),
        addr: Some(addr),
        secret: Secret::new(SECRET),
        window: None,
        rate: None,
        stream: false,
    }
}

fn change(session: &str) -> Request {
    Request::coa("user", session).with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, "8M/8M")
}

/// The default timing: 1 s per try, three tries, a window of 32, unreachable after 5.
fn dispatcher() -> Dispatcher<Client> {
    let config = ClientConfig::default();
    Dispatcher::new(Client::new(config), config.lanes())
}

async fn one() {
    let lanes = dispatcher();
    let to = target(1, nas(true).await);
    let n = 30_000;
    let sessions: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let started = Instant::now();
    let outcomes = join_all(sessions.iter().map(|s| lanes.send(&to, Some(s), change(s)))).await;
    let took = started.elapsed();
    let acked = outcomes.iter().filter(|o| o.is_ack()).count();
    println!(
        "one: {acked}/{n} ACKed by one NAS in {:.2} s: {:.0} changes/s (window 32)",
        took.as_secs_f64(),
        acked as f64 / took.as_secs_f64()
    );
}

async fn cycle() {
    let lanes = dispatcher();
    let mut targets = Vec::new();
    // NAS 1 never answers; its sessions are asked for first.
    targets.push(target(1, nas(false).await));
    for id in 2..=10 {
        targets.push(target(id, nas(true).await));
    }
    let per_nas = 3_000;
    let started = Instant::now();
    let runs = targets.iter().map(|to| {
        let lanes = &lanes;
        async move {
            let sessions: Vec<String> =
                (0..per_nas).map(|i| format!("{}-{i}", to.nas_id)).collect();
            let outcomes =
                join_all(sessions.iter().map(|s| lanes.send(to, Some(s), change(s)))).await;
            (to.nas_id, started.elapsed(), outcomes)
        }
    });
    let done = join_all(runs).await;
    let live_done = done
        .iter()
        .filter(|(id, _, _)| *id != 1)
        .map(|(_, at, _)| *at)
        .max()
        .unwrap_or_default();
    let live_acked: usize = done
        .iter()
        .filter(|(id, _, _)| *id != 1)
        .map(|(_, _, o)| o.iter().filter(|o| o.is_ack()).count())
        .sum();
    let (_, dead_at, dead) = &done[0];
    let deferred = dead
        .iter()
        .filter(|o| matches!(o, Outcome::Deferred))
        .count();
    println!(
        "cycle: 30,000 sessions on 10 NAS, one dead: {live_acked}/27000 live ACKed in {:.2} s; \
         the dead NAS's {deferred}/3000 deferred after {:.2} s",
        live_done.as_secs_f64(),
        dead_at.as_secs_f64()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        one().await;
        cycle().await;
    });
}
