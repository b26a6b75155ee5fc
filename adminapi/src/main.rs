//! proisp-adminapi: the admin REST API (`serve`), the operator commands that set a
//! deployment up: `migrate`, `create-admin`, `seed`, `gen-key` and `check-config`, and the
//! weekly `security-report` its timer runs.
#![forbid(unsafe_code)]

use std::io::Read as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use ipnet::IpNet;
use proisp_adminapi::admin::{self, NewAdmin};
use proisp_adminapi::audit::{self, Actor, Entry};
use proisp_adminapi::config::Config;
use proisp_adminapi::data::seed::{self, DEFAULT_PLAN, SeedOptions};
use proisp_adminapi::jwt::JwtKey;
use proisp_adminapi::permission::Role;
use proisp_adminapi::report::Report;
use proisp_adminapi::state::AppState;
use proisp_adminapi::{password, server};
use proisp_bootstrap::Sources;
use proisp_store::{
    Cache as _, Invalidation, Keyring, RedisCache, Store, pem_certificates, pem_private_key,
};
use zeroize::Zeroizing;

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
    /// Serve the REST API (http.listen, 127.0.0.1:8080 by default).
    Serve,
    /// Apply pending database migrations and print what was applied.
    Migrate,
    /// Create an admin. The password is read from --password-file or standard input
    /// (first line), never from the command line, where `ps` would show it.
    CreateAdmin {
        /// Login name.
        #[arg(long)]
        username: String,
        /// superadmin, admin, support or viewer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// File holding the password (first line).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Require TOTP two-factor login whatever the role's policy.
        #[arg(long)]
        totp_required: bool,
        /// Networks the admin may log in from (repeatable); default: any.
        #[arg(long = "allow", value_name = "CIDR")]
        allow: Vec<IpNet>,
    },
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
        /// The RadSec client certificate identity (its DNS name or common name) of the
        /// first NAS.
        #[arg(long, value_name = "NAME")]
        tls_identity: Option<String>,
        /// The demo plan the subscribers are on (basic-10, home-50 with burst, fup-100
        /// with a quota and fair-usage speed).
        #[arg(long, default_value = DEFAULT_PLAN)]
        plan: String,
    },
    /// Print a new random key for passwords and NAS secrets at rest (the key-file format).
    GenKey,
    /// Check the configuration and the files it names (the key, the token key), say what
    /// is wrong, and exit: 0 when all is well, else 1. Connects to nothing.
    CheckConfig,
    /// Print the security report from the audit log (failed admin logins, refresh-token
    /// reuse, new and changed admins, allow-list changes), or mail it through sendmail
    /// when security_report.mail_to (or --mail-to) is set.
    SecurityReport {
        /// Days to look back over (default: security_report.days, 7).
        #[arg(long)]
        days: Option<u32>,
        /// Mail it to this address instead of printing it.
        #[arg(long, value_name = "ADDRESS")]
        mail_to: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "one of superadmin, admin, support, viewer".to_owned())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // actix's System: a Tokio runtime that actix-web's server also needs.
    match actix_web::rt::System::new().block_on(run(cli)) {
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
    let config =
        Config::load(&Sources::from_process(cli.config.as_deref())).context("configuration")?;
    proisp_bootstrap::log::init(&config.log)?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::CreateAdmin {
            username,
            role,
            password_file,
            totp_required,
            allow,
        } => {
            let password = read_password(password_file.as_deref())?;
            create_admin(&config, username, role, &password, totp_required, allow).await
        }
        Command::Seed {
            subscribers,
            nas,
            secret,
            tls_identity,
            plan,
        } => {
            let options = SeedOptions {
                subscribers,
                plan,
                nas,
                secret: secret.into_bytes(),
                tls_identity,
            };
            seed(&config, &options).await
        }
        Command::GenKey => Ok(()),
        Command::CheckConfig => check_config(&config),
        Command::SecurityReport { days, mail_to } => security_report(&config, days, mail_to).await,
    }
}

/// `security-report`: reads the audit log, then prints or mails.
async fn security_report(
    config: &Config,
    days: Option<u32>,
    mail_to: Option<String>,
) -> anyhow::Result<()> {
    let settings = &config.security_report;
    // The audit log holds nothing encrypted: no key needed.
    let store = Store::connect(&config.database, Arc::new(Keyring::from_key(&[0; 32]))).await?;
    let client = store.pool().get().await.context("database")?;
    let client: &tokio_postgres::Client = &client;
    let report = Report::read(client, days.unwrap_or(settings.days))
        .await
        .context("reading the audit log")?;
    match mail_to.as_ref().or(settings.mail_to.as_ref()) {
        Some(to) => {
            report.mail(&settings.sendmail, to)?;
            println!("{} mailed to {to}", report.subject());
        }
        None => print!("{}", report.render()),
    }
    Ok(())
}

/// `check-config`: reads what `serve` reads before it connects: the keys, the database
/// URLs (primary and replica) and their TLS files, Redis's TLS files.
fn check_config(config: &Config) -> anyhow::Result<()> {
    let keys = keys(config).context("key_file")?;
    if let Some(path) = &config.tokens.jwt_key_file {
        JwtKey::from_file(path)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("tokens.jwt_key_file {}", path.display()))?;
    }
    // Builds the pools without connecting: the URLs parsed, the TLS files read.
    Store::connect_lazy(&config.database, keys.clone())
        .map_err(|e| anyhow::anyhow!("database: {e}"))?;
    if let Some(replica) = config.database.replica() {
        Store::connect_lazy(&replica, keys)
            .map_err(|e| anyhow::anyhow!("database replica: {e}"))?;
    }
    if let Some(redis) = &config.redis {
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
    }
    println!("configuration is valid");
    Ok(())
}

fn keys(config: &Config) -> anyhow::Result<Arc<Keyring>> {
    let Some(path) = &config.key_file else {
        bail!(
            "no key file: set key_file (or PROISP_KEY_FILE, or pass the secret.key credential); \
             `proisp-adminapi gen-key` makes one"
        );
    };
    Ok(Arc::new(Keyring::from_file(path)?))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let keys = keys(&config)?;
    let jwt = match &config.tokens.jwt_key_file {
        Some(path) => JwtKey::from_file(path).map_err(anyhow::Error::msg)?,
        None => {
            tracing::warn!(
                "no tokens.jwt_key_file: access tokens are signed with a random key, die with \
                 this process and are refused by any other adminapi instance"
            );
            JwtKey::random()
        }
    };
    let state = AppState::connect(config, keys, jwt).await?;
    state.store.check_schema().await?;
    server::serve(state).await
}

/// The first line of `file`, or of standard input.
fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    match file {
        Some(path) => {
            *text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the password from standard input")?;
        }
    }
    let line = text.lines().next().unwrap_or_default();
    Ok(Zeroizing::new(line.to_owned()))
}

async fn create_admin(
    config: &Config,
    username: String,
    role: Role,
    password: &str,
    totp_required: bool,
    allowed_networks: Vec<IpNet>,
) -> anyhow::Result<()> {
    if let Err(why) = password::check_policy(&username, password) {
        bail!("password {why}");
    }
    let keys = match &config.key_file {
        Some(path) => Arc::new(Keyring::from_file(path)?),
        None => Arc::new(Keyring::from_key(&[0; 32])),
    };
    let store = Store::connect(&config.database, keys).await?;
    store.check_schema().await?;
    let pool = store.pool().clone();
    let hash = password::hash(password);
    let new = NewAdmin {
        username,
        password_hash: hash,
        role,
        totp_required,
        allowed_networks,
    };
    let actor = Actor {
        admin_id: None,
        username: "proisp-adminapi create-admin".to_owned(),
        ip: None,
    };
    let created = admin::create(&pool, &new, async |tx, created| {
        let after = serde_json::json!({
            "id": created.id, "username": created.username, "role": created.role,
            "totp_required": created.totp_required,
        });
        let entry = Entry {
            after: Some(after),
            ..Entry::new("admin.create", "admin", created.id)
        };
        audit::record_in(tx, &actor, entry).await
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.body().message))?;
    println!(
        "created admin {} ({}) with id {}",
        created.username, created.role, created.id
    );
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    // Migrations never decrypt anything: a throwaway key when none is configured.
    let keys = match &config.key_file {
        Some(path) => Arc::new(Keyring::from_file(path)?),
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
    let report = seed::seed(&store, options).await?;
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
