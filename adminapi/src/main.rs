//! proisp-adminapi: the admin REST API (its own issue) and the operator commands that set
//! a deployment up: `migrate`, `seed` and `gen-key`.
#![forbid(unsafe_code)]

mod config;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use proisp_shared::store::seed::{DEFAULT_PLAN, SeedOptions};
use proisp_shared::store::{Cache as _, Invalidation, Keyring, RedisCache, Store};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogConfig, LogFormat};

/// ProISP admin API and operator commands.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML); every key can also come from PROISP_* variables.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations and print what was applied.
    Migrate,
    /// Create demo data: plans, NAS devices and subscribers user000001/pw000001 … .
    /// Idempotent: what exists is left alone.
    Seed {
        /// Subscribers user000001 … user{N:06}, passwords pw000001 … .
        #[arg(long, default_value_t = 1000)]
        subscribers: u64,
        /// NAS address to register (repeatable).
        #[arg(long = "nas", value_name = "ADDR", default_values_t = [IpAddr::from([127, 0, 0, 1])])]
        nas: Vec<IpAddr>,
        /// The NAS shared secret.
        #[arg(long, default_value = "testing123")]
        secret: String,
        /// The demo plan the subscribers are on (basic-10, home-50 with burst, fup-100
        /// with a quota and fair-usage speed).
        #[arg(long, default_value = DEFAULT_PLAN)]
        plan: String,
    },
    /// Print a new random key for passwords and NAS secrets at rest (the key-file format).
    GenKey,
}

fn init_logs(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proisp-adminapi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::GenKey = cli.command {
        println!("{}", Keyring::generate_hex());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref()).context("configuration")?;
    init_logs(&config.log);
    match cli.command {
        Command::Migrate => migrate(&config).await,
        Command::Seed {
            subscribers,
            nas,
            secret,
            plan,
        } => {
            let options = SeedOptions {
                subscribers,
                plan,
                nas,
                secret: secret.into_bytes(),
            };
            seed(&config, &options).await
        }
        Command::GenKey => Ok(()),
    }
}

fn keys(config: &Config) -> anyhow::Result<Arc<Keyring>> {
    let Some(path) = config.key_path() else {
        bail!(
            "no key file: set key_file (or PROISP_KEY_FILE); `proisp-adminapi gen-key` makes one"
        );
    };
    Ok(Arc::new(Keyring::from_file(&path)?))
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    // Migrations never decrypt anything: a throwaway key when none is configured.
    let keys = match config.key_path() {
        Some(path) => Arc::new(Keyring::from_file(&path)?),
        None => Arc::new(Keyring::from_key(&[0; 32])),
    };
    let store = Store::connect(&config.database, keys).await?;
    let before = store.schema_version().await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("schema is up to date at version {before}");
    }
    for version in applied {
        let name = Store::migrations()
            .iter()
            .find(|m| m.version == version)
            .map_or("", |m| m.name);
        println!("applied {name}");
    }
    Ok(())
}

async fn seed(config: &Config, options: &SeedOptions) -> anyhow::Result<()> {
    let keys = keys(config)?;
    let store = Store::connect(&config.database, keys.clone()).await?;
    store.check_schema().await?;
    let started = Instant::now();
    let report = store.seed(options).await?;
    let elapsed = started.elapsed();

    if report.plans_created.is_empty() {
        println!("plans: demo plans already present");
    } else {
        println!("plans: created {}", report.plans_created.join(", "));
    }
    for addr in &options.nas {
        let what = if report.nas_created.contains(addr) {
            "created"
        } else if report.nas_updated.contains(addr) {
            "secret updated"
        } else {
            "already present"
        };
        println!("nas {addr}: {what}");
    }
    if options.subscribers > 0 {
        println!(
            "subscribers user000001..user{:06} on {}: {} created, {} already present ({:.1} s)",
            options.subscribers,
            options.plan,
            report.subscribers_created,
            report.subscribers_present,
            elapsed.as_secs_f64()
        );
    }

    // Running radiusds may hold negative entries for the names just created.
    if let Some(redis) = &config.redis {
        let cache = RedisCache::connect(redis, keys).await?;
        match cache.publish(&Invalidation::All).await {
            Ok(()) => println!("published invalidation \"all\""),
            Err(e) => eprintln!("warning: could not publish the invalidation: {e}"),
        }
    }
    Ok(())
}
