//! proisp-loadtest: the RADIUS load generator behind every ProISP speed claim, and the
//! null server that calibrates it. See `proisp-loadtest --help` and bench/README.md.
#![forbid(unsafe_code)]

mod acct;
mod acked;
mod auth;
mod cli;
mod engine;
mod gso;
mod null_server;
mod radsec;
mod report;
mod schedule;
mod stats;
mod subscribers;
mod table;
mod workload;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use proisp_radius::secret::Secret;

use crate::acct::{AcctWorkload, Phase};
use crate::auth::AuthWorkload;
use crate::cli::{
    Cli, Command, LoadArgs, RadsecLoadArgs, TargetArgs, TlsArgs, Transport, UserArgs,
};
use crate::engine::{Load, Outcome, RunConfig};
use crate::report::Report;
use crate::subscribers::Subscribers;
use crate::table::IDS;

/// Exit status of a run that completed but saw bad replies or unexpected answers.
const EXIT_BAD_REPLIES: u8 = 3;

/// The closed loop's concurrency when neither --rate nor --concurrency is given.
const DEFAULT_CONCURRENCY: usize = 64;

/// Requests in flight per socket the defaults aim for: well below 256, so identifiers
/// freed by timeouts rest before reuse.
const PER_SOCKET: usize = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Auth(args) => auth_command(args),
        Command::Acct(args) => acct_command(args),
        Command::NullServer(args) => null_server_command(args).map(|()| true),
        Command::Idle(args) => idle_command(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_BAD_REPLIES),
        Err(e) => {
            eprintln!("proisp-loadtest: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Stops with clap's usage-error format and exit status 2.
fn usage_error(message: String) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

fn subscribers(args: &UserArgs) -> anyhow::Result<Subscribers> {
    match &args.users_file {
        Some(path) => Subscribers::from_file(path),
        None => Ok(Subscribers::Pattern {
            first: args.first_user,
            count: args.users,
        }),
    }
}

/// The shared secret: as given, or the customary one of the transport.
fn secret(target: &TargetArgs) -> Secret {
    let default = match target.transport {
        Transport::Udp => "testing123",
        // RFC 6614 §2.3: inside TLS the secret protects nothing; "radsec" is customary.
        Transport::Radsec => "radsec",
    };
    Secret::new(target.secret.as_deref().unwrap_or(default).as_bytes())
}

/// The server: as given, or the transport's port for `udp_port` on 127.0.0.1.
fn server(target: &TargetArgs, udp_port: u16) -> SocketAddr {
    let port = match target.transport {
        Transport::Udp => udp_port,
        Transport::Radsec => 2083,
    };
    target
        .server
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)))
}

/// How a run reaches its server: the UDP engine, or RadSec connections.
enum Transporter {
    Udp,
    Radsec(radsec::LoadConfig),
}

impl Transporter {
    /// Runs `workload` as `cfg` says.
    fn run<W: workload::Workload>(
        &self,
        cfg: &RunConfig,
        workload: &W,
    ) -> anyhow::Result<(Outcome, Option<radsec::RadsecOutcome>)> {
        match self {
            Transporter::Udp => Ok((engine::run(cfg, workload)?, None)),
            Transporter::Radsec(radsec) => {
                let (outcome, r) = radsec::run(cfg, radsec, workload)?;
                Ok((outcome, Some(r)))
            }
        }
    }
}

/// The run configuration and transport of an auth or acct command.
fn setup(
    target: &TargetArgs,
    load: &LoadArgs,
    tls: &TlsArgs,
    rs: &RadsecLoadArgs,
    udp_port: u16,
    default_duration: Duration,
) -> anyhow::Result<(RunConfig, Transporter)> {
    let server = server(target, udp_port);
    match target.transport {
        Transport::Udp => Ok((run_config(load, server, default_duration), Transporter::Udp)),
        Transport::Radsec => {
            let refused = [
                (load.concurrency.is_some(), "--concurrency"),
                (load.sockets.is_some(), "--sockets"),
                (load.retries > 0, "--retries"),
                (load.fallback.is_some(), "--fallback"),
                (load.no_gso, "--no-gso"),
            ];
            if let Some((_, name)) = refused.iter().find(|(given, _)| *given) {
                usage_error(format!(
                    "{name} is for UDP; with --transport radsec a closed loop keeps \
                     --connections × --pipeline requests in flight, and TCP needs no retries"
                ));
            }
            let connector = connector(tls, server)?;
            let (connections, pipeline) = (rs.connections as usize, rs.pipeline as usize);
            let model = match load.rate {
                Some(rate) => Load::Open { rate },
                None => Load::Closed {
                    concurrency: connections * pipeline,
                },
            };
            let duration = match (load.duration, load.rate, load.requests) {
                (Some(d), _, _) => d,
                // As over UDP: long enough for the requests at the rate.
                (None, Some(rate), Some(n)) => Duration::from_secs_f64((n as f64 + 0.5) / rate),
                (None, _, _) => default_duration,
            };
            let cfg = RunConfig {
                server,
                load: model,
                duration,
                requests: load.requests,
                timeout: load.timeout,
                retries: 0,
                fallback: None,
                sockets: connections,
                progress: !load.quiet && duration >= Duration::from_secs(3),
            };
            let radsec = radsec::LoadConfig {
                connector,
                connections,
                pipeline,
                threads: threads(tls),
                handshakes: tls.handshakes as usize,
            };
            Ok((cfg, Transporter::Radsec(radsec)))
        }
    }
}

fn threads(tls: &TlsArgs) -> usize {
    match tls.threads {
        Some(t) => t as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// The TLS side of a RadSec command: the files must be given, and load.
fn connector(tls: &TlsArgs, server: SocketAddr) -> anyhow::Result<radsec::Connector> {
    let (Some(ca), Some(cert), Some(key)) = (&tls.ca, &tls.cert, &tls.key) else {
        usage_error("RadSec needs --ca, --cert and --key (scripts/pki.sh makes a set)".to_owned());
    };
    Ok(radsec::Connector {
        server,
        name: radsec::server_name(tls.server_name.as_deref(), server)?,
        tls: radsec::client_config(ca, cert, key, &tls.alpn)?,
        timeout: tls.connect_timeout,
    })
}

/// Turns the load options into a run configuration, applying the documented defaults.
fn run_config(load: &LoadArgs, server: SocketAddr, default_duration: Duration) -> RunConfig {
    if load.no_gso {
        gso::disable();
    }
    let model = match (load.rate, load.concurrency) {
        (Some(rate), _) => Load::Open { rate },
        (None, Some(c)) => Load::Closed {
            concurrency: c as usize,
        },
        (None, None) => Load::Closed {
            concurrency: DEFAULT_CONCURRENCY,
        },
    };
    let duration = match (load.duration, model, load.requests) {
        (Some(d), _, _) => d,
        // Long enough for the requests at the rate, with half a slot to spare.
        (None, Load::Open { rate }, Some(n)) => Duration::from_secs_f64((n as f64 + 0.5) / rate),
        (None, _, _) => default_duration,
    };
    let sockets = match (load.sockets, model) {
        (Some(s), _) => s as usize,
        (None, Load::Closed { concurrency }) => concurrency
            .div_ceil(PER_SOCKET)
            .clamp(concurrency.min(4), 1024),
        (None, Load::Open { rate }) => {
            let in_flight = rate * load.timeout.as_secs_f64() * f64::from(load.retries + 1);
            ((in_flight / (IDS as f64 * 0.8)).ceil() as usize).clamp(4, 64)
        }
    };
    if let Load::Closed { concurrency } = model
        && concurrency > sockets * (IDS - 1)
    {
        usage_error(format!(
            "--concurrency {concurrency} needs at least {} sockets (255 requests in flight \
             per socket); raise --sockets",
            concurrency.div_ceil(IDS - 1)
        ));
    }
    if load.fallback.is_some() && load.retries == 0 {
        usage_error(
            "--fallback takes the retransmissions: give --retries (how many the NAS makes)"
                .to_owned(),
        );
    }
    RunConfig {
        server,
        load: model,
        duration,
        requests: load.requests,
        timeout: load.timeout,
        retries: load.retries,
        fallback: load.fallback,
        sockets,
        progress: !load.quiet && duration >= Duration::from_secs(3),
    }
}

fn print(report: &Report, json: bool) -> anyhow::Result<bool> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{}", report.table());
    }
    Ok(report.all_ok())
}

fn auth_command(args: cli::AuthArgs) -> anyhow::Result<bool> {
    let (cfg, transport) = setup(
        &args.target,
        &args.load,
        &args.tls,
        &args.radsec,
        1812,
        Duration::from_secs(10),
    )?;
    let workload = AuthWorkload {
        secret: secret(&args.target),
        method: args.method,
        message_authenticator: !args.no_message_authenticator,
        require_reply_message_authenticator: args.require_message_authenticator,
        subscribers: subscribers(&args.users)?,
        wrong_password_percent: args.wrong_password_percent,
        expect_reject: args.expect_reject,
        nas_ip: args.target.nas_ip,
    };
    check_first_request(&workload)?;
    let (outcome, radsec) = transport.run(&cfg, &workload)?;
    let report = Report::new(
        "auth",
        workload::Workload::describe(&workload),
        &cfg,
        &outcome,
    )
    .over(radsec);
    print(&report, args.load.json)
}

fn acct_command(args: cli::AcctArgs) -> anyhow::Result<bool> {
    let subscribers = subscribers(&args.users)?;
    let mut workload = AcctWorkload {
        secret: secret(&args.target),
        subscribers,
        interims: args.interims,
        interim_interval: args.interim_interval,
        octets_per_interim: args.octets_per_interim,
        nas_ip: args.target.nas_ip,
        run_id: rand::random(),
        phase: Phase::Sessions,
        acked: args
            .acked_log
            .as_deref()
            .map(acked::AckedLog::create)
            .transpose()?,
    };
    if !args.storm {
        let (cfg, transport) = setup(
            &args.target,
            &args.load,
            &args.tls,
            &args.radsec,
            1813,
            Duration::from_secs(10),
        )?;
        check_first_request(&workload)?;
        let (outcome, radsec) = transport.run(&cfg, &workload)?;
        if let Some(log) = &workload.acked {
            log.finish()?;
        }
        let report = Report::new(
            "acct",
            workload::Workload::describe(&workload),
            &cfg,
            &outcome,
        )
        .over(radsec);
        return print(&report, args.load.json);
    }

    // The storm: the reboot's Accounting-On first, answered (or timed out) before the
    // Starts, as a NAS sends it.
    workload.phase = Phase::AccountingOn;
    let (mut on_cfg, on_transport) = setup(
        &args.target,
        &args.load,
        &args.tls,
        &args.radsec,
        1813,
        Duration::from_secs(10),
    )?;
    on_cfg.load = Load::Closed { concurrency: 1 };
    on_cfg.duration = args.load.timeout * (args.load.retries + 1);
    on_cfg.requests = Some(1);
    on_cfg.sockets = 1;
    on_cfg.progress = false;
    let on_transport = match on_transport {
        Transporter::Radsec(mut r) => {
            r.connections = 1;
            r.pipeline = 1;
            Transporter::Radsec(r)
        }
        udp => udp,
    };
    let (on, on_radsec) = on_transport.run(&on_cfg, &workload)?;
    let on_report = Report::new(
        "acct",
        workload::Workload::describe(&workload),
        &on_cfg,
        &on,
    )
    .over(on_radsec);

    workload.phase = Phase::StormStarts;
    let mut load = args.load;
    // Every Start once; a storm ends when they are all answered, so its duration is only
    // a cap.
    load.requests = Some(load.requests.map_or(workload.subscribers.len(), |n| {
        n.min(workload.subscribers.len())
    }));
    let (cfg, transport) = setup(
        &args.target,
        &load,
        &args.tls,
        &args.radsec,
        1813,
        Duration::from_secs(600),
    )?;
    let (outcome, radsec) = transport.run(&cfg, &workload)?;
    let mut report = Report::new(
        "acct",
        workload::Workload::describe(&workload),
        &cfg,
        &outcome,
    )
    .over(radsec);
    report.accounting_on = Some(Box::new(on_report));
    if let Some(log) = &workload.acked {
        log.finish()?;
    }
    print(&report, load.json)
}

/// Builds request 0 once before the run, so a problem with the arguments (a password
/// too long to hide, one MS-CHAPv2 cannot hash) is reported as such, not mid-run.
fn check_first_request<W: workload::Workload>(workload: &W) -> anyhow::Result<()> {
    let mut buf = bytes::BytesMut::new();
    workload
        .encode(0, 0, &mut buf)
        .context("cannot build the first request")?;
    Ok(())
}

fn idle_command(args: cli::IdleArgs) -> anyhow::Result<bool> {
    let cfg = radsec::IdleConfig {
        connector: connector(&args.tls, args.server)?,
        connections: args.connections as usize,
        hold: args.hold,
        threads: threads(&args.tls),
        handshakes: args.tls.handshakes as usize,
        progress: !args.quiet,
    };
    let report = radsec::idle(&cfg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.table());
    }
    Ok(report.ok)
}

fn null_server_command(args: cli::NullServerArgs) -> anyhow::Result<()> {
    if args.no_gso {
        gso::disable();
    }
    let threads = match args.threads {
        Some(t) => t as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    null_server::NullServer {
        listen: args.listen,
        secret: Secret::new(args.secret.as_bytes()),
        threads,
        duration: args.duration,
    }
    .run()
}
