//! proisp-events: relays the event outbox to NATS JetStream (the default command),
//! tails the stream, and measures the relay's throughput.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures_util::StreamExt as _;
use metrics_exporter_prometheus::PrometheusBuilder;
use proisp_bootstrap::Sources;
use proisp_events::config::Config;
use proisp_events::http::{self, Endpoint};
use proisp_events::metrics::Metrics;
use proisp_events::relay::{Relay, State};
use proisp_events::tail::{self, From};
use proisp_events::webhooks::Deliverer;
use proisp_events::{connect_nats, jetstream, stream};
use proisp_store::outbox::{self, Event};
use proisp_store::webhook::Sender;
use proisp_store::{Keyring, Store};
use tokio_util::sync::CancellationToken;

/// ProISP's event relay: the PostgreSQL outbox to NATS JetStream.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); every key can also be set by a PROISP_* variable.
    #[arg(long, short, global = true, env = "PROISP_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration, say what is wrong, and exit: 0 when all is well, else 1.
    /// Connects to nothing.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Relay the outbox to JetStream (the default).
    Serve,
    /// Print the stream's events on SUBJECT (`proisp.v1.>`, `proisp.v1.subscriber.>`)
    /// live, one CloudEvent (JSON) a line. Needs only NATS.
    Tail {
        /// Subject filter.
        #[arg(default_value = "proisp.v1.>")]
        subject: String,
        /// NATS server URL.
        #[arg(long, env = "PROISP_NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// The stream's name.
        #[arg(long, default_value = "PROISP_EVENTS")]
        stream: String,
        /// Start with every event the stream still holds, not only new ones.
        #[arg(long)]
        all: bool,
    },
    /// Measure the relay: append EVENTS events (subject proisp.v1.bench.event, about
    /// SUBSCRIBERS subscribers in turn) to the outbox, then publish them all and print the
    /// rate. For a test stack: the events land in the stream. Stop the relay first (the
    /// bench takes the outbox lock).
    Bench {
        /// Events to relay.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Distinct subscribers they are about.
        #[arg(long, default_value_t = 10_000)]
        subscribers: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("events")
        .build()?;
    if let Some(Command::Tail {
        subject,
        nats_url,
        stream,
        all,
    }) = args.command
    {
        let from = if all { From::All } else { From::New };
        return runtime.block_on(run_tail(&nats_url, &stream, &subject, from));
    }
    let config = Config::load(&Sources::from_process(args.config.as_deref()))
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if args.check_config {
        store(&config)?;
        keys(&config)?;
        println!("configuration is valid");
        return Ok(());
    }
    proisp_bootstrap::log::init(&config.log)?;
    match args.command {
        Some(Command::Bench {
            events,
            subscribers,
        }) => runtime.block_on(bench(config, events, subscribers.max(1))),
        _ => runtime.block_on(serve(config)),
    }
}

/// The outbox's store. The relay reads nothing encrypted; the webhook workers open the
/// webhooks' secrets with [`keys`].
fn store(config: &Config) -> anyhow::Result<Store> {
    Store::connect_lazy(&config.database, Arc::new(Keyring::from_key(&[0; 32])))
        .map_err(|e| anyhow::anyhow!("database: {e}"))
}

/// The key webhook secrets are sealed with, if `key_file` is set.
fn keys(config: &Config) -> anyhow::Result<Option<Arc<Keyring>>> {
    config
        .key_file
        .as_ref()
        .map(|path| {
            Keyring::from_file(path)
                .map(Arc::new)
                .map_err(|e| anyhow::anyhow!("key_file: {e}"))
        })
        .transpose()
}

/// The webhook delivery workers, when delivery is on and the key is known.
fn deliverer(config: &Config, relay: &Relay) -> anyhow::Result<Option<Deliverer>> {
    if !config.delivery.enabled {
        tracing::info!("webhook delivery is off (delivery.enabled = false)");
        return Ok(None);
    }
    let Some(keys) = keys(config)? else {
        tracing::warn!("no key_file: webhooks are not delivered (events still reach the stream)");
        return Ok(None);
    };
    let sender = Sender::new(
        config.delivery.timeout,
        config.webhooks.allow_private_destinations,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(Deliverer {
        store: relay.store.clone(),
        keys,
        sender,
        config: config.delivery.clone(),
        metrics: relay.metrics.clone(),
        wake: relay.state.deliveries.clone(),
    }))
}

async fn relay(config: &Config, metrics: Metrics) -> anyhow::Result<(Relay, async_nats::Client)> {
    let nats = connect_nats(&config.nats.url)
        .await
        .with_context(|| format!("nats.url {}", config.nats.url))?;
    let relay = Relay {
        store: store(config)?,
        js: jetstream(nats.clone(), config.nats.ack_timeout),
        stream: config.stream.clone(),
        config: config.relay.clone(),
        ack_timeout: config.nats.ack_timeout,
        metrics,
        state: Arc::new(State::default()),
    };
    Ok((relay, nats))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .context("metrics recorder")?;
    let (relay, nats) = relay(&config, Metrics::new()).await?;
    let listener = tokio::net::TcpListener::bind(config.relay.listen)
        .await
        .with_context(|| format!("relay.listen {}", config.relay.listen))?;
    tracing::info!(listen = %config.relay.listen, nats = %config.nats.url,
        stream = %config.stream.name, "proisp-events relaying");
    let cancel = CancellationToken::new();
    let endpoint = Endpoint {
        store: relay.store.clone(),
        nats,
        state: relay.state.clone(),
        metrics: relay.metrics.clone(),
        prometheus,
    };
    let http = tokio::spawn(http::serve(listener, endpoint, cancel.clone()));
    let delivering = deliverer(&config, &relay)?.map(|d| tokio::spawn(d.run(cancel.clone())));
    let running = tokio::spawn({
        let (relay, cancel) = (relay.clone(), cancel.clone());
        async move { relay.run(cancel).await }
    });
    proisp_bootstrap::signal::shutdown().await;
    tracing::info!("stopping");
    cancel.cancel();
    let _ = running.await;
    if let Some(delivering) = delivering {
        let _ = delivering.await;
    }
    let _ = http.await;
    Ok(())
}

async fn run_tail(url: &str, stream: &str, subject: &str, from: From) -> anyhow::Result<()> {
    let nats = connect_nats(url)
        .await
        .with_context(|| format!("NATS at {url}"))?;
    let js = jetstream(nats, Duration::from_secs(5));
    let mut events = tail::subscribe(&js, stream, subject, from)
        .await
        .map_err(|e| anyhow::anyhow!("stream {stream}: {e}"))?;
    let mut out = std::io::stdout().lock();
    while let Some(message) = events.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("stream {stream}: {e}"))?;
        out.write_all(&message.payload)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

async fn bench(config: Config, events: u64, subscribers: u64) -> anyhow::Result<()> {
    let (relay, _nats) = relay(&config, Metrics::new()).await?;
    stream::ensure(&relay.js, &relay.stream)
        .await
        .context("creating the stream")?;
    // A session.stop-sized payload (about 400 octets in the envelope).
    let data = serde_json::json!({
        "Acct-Session-Id": "81e00001", "Acct-Unique-Session-Id": "0123456789abcdef",
        "NAS-IP-Address": "192.0.2.1", "Framed-IP-Address": "100.64.0.1",
        "Acct-Session-Time": 3600, "Acct-Terminate-Cause": "User-Request",
        "Acct-Input-Octets": 123_456_789_u64, "Acct-Output-Octets": 987_654_321_u64,
    });
    let start = Instant::now();
    let mut client = relay.store.client().await?;
    let mut appended = 0;
    while appended < events {
        let n = (events - appended).min(10_000);
        let chunk: Vec<Event> = (appended..appended + n)
            .map(|i| {
                let user = format!("bench{:07}", i % subscribers);
                Event::new("/proisp/bench", "bench.event", &user, &data)
            })
            .collect();
        let tx = client.transaction().await?;
        outbox::append(&tx, &chunk).await?;
        tx.commit().await?;
        appended += n;
    }
    let append_secs = start.elapsed().as_secs_f64();
    println!(
        "appended {events} events in {append_secs:.2} s ({:.0}/s, 10,000 a transaction)",
        events as f64 / append_secs
    );
    let start = Instant::now();
    let published = relay
        .drain(&CancellationToken::new())
        .await
        .context("relaying")?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "relayed {published} events into JetStream in {secs:.2} s: {:.0} events/s \
         (window {}, batch {})",
        published as f64 / secs,
        config.relay.window,
        config.relay.batch
    );
    Ok(())
}
