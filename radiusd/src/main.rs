//! proisp-radiusd: ProISP's RADIUS server.
//!
//! Start-up: config → key file → PostgreSQL (schema check; PostgreSQL down is no reason
//! not to start) → Redis (optional) → accounting spool and writers → NAS and plan tables
//! (from the snapshot of the last ones read, while PostgreSQL is down) → auth and
//! accounting sockets → metrics port → READY to systemd. SIGHUP reloads the NAS and plan tables; SIGTERM (or Ctrl-C)
//! stops reading, answers what is in flight (every accounting request in flight is made
//! durable first) and exits 0.
#![deny(unsafe_code)]

mod acct;
mod auth;
mod config;
mod db;
mod dedup;
mod feed;
mod flood;
mod fup;
mod housekeeping;
mod http;
mod journal;
mod links;
mod lookup;
mod metrics;
#[allow(unsafe_code)]
mod mmsg;
mod nas_table;
mod pipeline;
mod proxy_v2;
mod radsec;
mod rejects;
mod server;
mod sessions;
mod snapshot;
mod spool;
mod state;
mod stats;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use proisp_bootstrap::Sources;
use proisp_store::{
    Cache, Keyring, RedisCache, RedisConfig, Store, pem_certificates, pem_private_key,
};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::http::Readiness;
use crate::metrics::Metrics;
use crate::rejects::RejectLog;
use crate::server::Port;
use crate::state::Shared;

/// How long SIGTERM waits for requests in flight before exiting anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// ProISP's RADIUS server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); every key can also be set by a PROISP_* variable.
    #[arg(long, short, env = "PROISP_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration and the files it names (the key file, PostgreSQL's and
    /// Redis's TLS files, RadSec's CA, certificate and key), say what is wrong, and exit:
    /// 0 when all is well, else 1. Connects to nothing.
    #[arg(long)]
    check_config: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(&Sources::from_process(args.config.as_deref()))
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if args.check_config {
        check_files(&config)?;
        println!("configuration is valid");
        return Ok(());
    }
    proisp_bootstrap::log::init(&config.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("radiusd")
        .build()?;
    runtime.block_on(run(config))
}

/// What `--check-config` reads beyond the settings, as start-up would: the key, the
/// database URL and its TLS files, Redis's TLS files, RadSec's certificates and key.
/// Connections are not tried (PostgreSQL or Redis being down is no configuration error,
/// and radiusd starts without them).
fn check_files(config: &Config) -> anyhow::Result<()> {
    let keys = Keyring::from_file(&config.key_file)
        .with_context(|| format!("key_file {}", config.key_file.display()))?;
    // Builds the pool without connecting: the URL parsed, the TLS files read.
    Store::connect_lazy(&config.database, Arc::new(keys))
        .map_err(|e| anyhow::anyhow!("database: {e}"))?;
    if let Some(redis) = &config.redis {
        check_redis_files(redis)?;
    }
    if let Some(radsec) = &config.radsec {
        radsec::Radsec::new(radsec.clone())?;
    }
    Ok(())
}

/// The PEM files of `[redis]`'s TLS keys, read as the Redis client reads them.
fn check_redis_files(redis: &RedisConfig) -> anyhow::Result<()> {
    for (key, path) in [
        ("redis.tls_ca", &redis.tls_ca),
        ("redis.tls_cert", &redis.tls_cert),
    ] {
        if let Some(path) = path {
            pem_certificates(key, path)?;
        }
    }
    if let Some(path) = &redis.tls_key {
        pem_private_key("redis.tls_key", path)?;
    }
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    let keys = Arc::new(
        Keyring::from_file(&config.key_file)
            .with_context(|| format!("key_file {}", config.key_file.display()))?,
    );
    // PostgreSQL down is no reason not to start: subscribers Redis knows are answered,
    // accounting is spooled, and the change feed's task checks the schema once
    // PostgreSQL answers. A schema known to be too old is.
    let store = Store::connect_lazy(&config.database, keys.clone())
        .map_err(|e| anyhow::anyhow!("database: {e}"))?;
    match tokio::time::timeout(config.database.connect_timeout, store.check_schema()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if !e.is_unavailable() => return Err(e).context("checking the schema"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "PostgreSQL unavailable at start-up; starting from the caches")
        }
        Err(_) => {
            tracing::warn!("PostgreSQL does not answer at start-up; starting from the caches")
        }
    }

    let redis: Option<Arc<dyn Cache>> = match &config.redis {
        Some(cache_config) => {
            let cache = RedisCache::connect(cache_config, keys.clone())
                .await
                .context("connecting to Redis")?;
            Some(Arc::new(cache))
        }
        None => {
            tracing::warn!(
                "no [redis] configured: auth runs from PostgreSQL and the in-process cache"
            );
            None
        }
    };
    let events = redis.as_ref().map(|r| r.subscribe());
    // Fair-usage changes made in SQL are put to Redis and announced through the store.
    let store = match &redis {
        Some(cache) => store.with_cache(cache.clone()),
        None => store,
    };

    let (metrics, prometheus) = Metrics::install()?;
    let (crossings_tx, crossings) = tokio::sync::mpsc::channel(fup::CROSSINGS);
    let reject_log = match &redis {
        Some(cache) => {
            let (log, queue) = RejectLog::new(rejects::QUEUE, &metrics);
            tokio::spawn(rejects::write(cache.clone(), queue, metrics.clone()));
            log
        }
        None => RejectLog::off(&metrics),
    };
    let shared =
        Arc::new(Shared::load(config, store, redis, metrics, crossings_tx, reject_log).await?);
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    if let Some(events) = events {
        tokio::spawn(shared.clone().follow_invalidations(events));
    }
    let cursor = feed::begin_at_start(&shared)
        .await
        .context("PostgreSQL answered")?;
    let mut feed = tokio::spawn(feed::follow(shared.clone(), cursor, cancel.clone()));
    tokio::spawn(fup::follow_crossings(shared.clone(), crossings));
    tokio::spawn(housekeeping::run(shared.clone(), cancel.clone()));
    tokio::spawn(stats::publish(shared.clone(), cancel.clone()));
    tokio::spawn(stats::count_minutes(shared.clone(), cancel.clone()));

    let readiness = Arc::new(Readiness::default());
    let metrics_listener = tokio::net::TcpListener::bind(shared.config.listen.metrics)
        .await
        .with_context(|| format!("listen.metrics {}", shared.config.listen.metrics))?;
    tokio::spawn(http::serve(
        metrics_listener,
        shared.clone(),
        prometheus,
        readiness.clone(),
        cancel.clone(),
    ));

    let count = shared.config.socket_count();
    let auth = server::bind(shared.config.listen.auth, count)
        .with_context(|| format!("listen.auth {}", shared.config.listen.auth))?;
    let acct = server::bind(shared.config.listen.acct, count)
        .with_context(|| format!("listen.acct {}", shared.config.listen.acct))?;
    let mut loops = tokio::task::JoinSet::new();
    let ports = auth
        .into_iter()
        .map(|s| (s, Port::Auth))
        .chain(acct.into_iter().map(|s| (s, Port::Acct)));
    for (socket, port) in ports {
        loops.spawn(server::serve(
            shared.clone(),
            Arc::new(socket),
            port,
            cancel.clone(),
            tracker.clone(),
        ));
    }
    let radsec = match shared.config.radsec.clone() {
        Some(config) => Some(start_radsec(&shared, config, &mut loops, &cancel, &tracker).await?),
        None => None,
    };
    readiness.sockets_bound.store(true, Ordering::Release);
    tracing::info!(auth = %shared.config.listen.auth, acct = %shared.config.listen.acct, sockets = count, metrics = %shared.config.listen.metrics, "proisp-radiusd ready");
    // Not under systemd (NOTIFY_SOCKET unset) this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let mut fatal = None;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the NAS and plan tables and the RadSec certificates");
                shared.reload().await;
                if let Some(radsec) = &radsec
                    && let Err(e) = radsec.reload()
                {
                    tracing::error!(error = %e, "RadSec certificate reload failed; keeping the previous ones");
                }
            }
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            ended = &mut feed => {
                fatal = ended.ok().flatten();
                break;
            }
        }
    }

    tracing::info!("shutting down: no new requests, answering those in flight");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    cancel.cancel();
    while loops.join_next().await.is_some() {}
    tracker.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; exiting anyway");
    }
    tracing::info!("stopped");
    match fatal {
        Some(e) => Err(e).context("PostgreSQL answered"),
        None => Ok(()),
    }
}

/// Reads the RadSec certificates and binds its listeners: RADIUS/TLS, and RADIUS/TCP
/// where configured.
async fn start_radsec(
    shared: &Arc<Shared>,
    config: config::RadsecConfig,
    loops: &mut tokio::task::JoinSet<()>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<Arc<radsec::Radsec>> {
    let mut listeners = vec![(config.listen, radsec::Transport::Tls, "radsec.listen")];
    if let Some(tcp) = &config.tcp {
        listeners.push((tcp.listen, radsec::Transport::Tcp, "radsec.tcp.listen"));
    }
    let radsec = Arc::new(radsec::Radsec::new(config)?);
    for (addr, transport, key) in listeners {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("{key} {addr}"))?;
        tracing::info!(%addr, ?transport, "RadSec listening");
        loops.spawn(radsec::serve(
            shared.clone(),
            radsec.clone(),
            listener,
            transport,
            cancel.clone(),
            tracker.clone(),
        ));
    }
    Ok(radsec)
}
