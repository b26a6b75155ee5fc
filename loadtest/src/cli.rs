//! The command line.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::auth::Method;

/// RADIUS load generator for ProISP benchmarks: Access-Requests and Accounting-Requests,
/// open loop (fixed rate, latency from the scheduled send time) or closed loop (fixed
/// concurrency), every reply verified.
///
/// Exit status: 0 when the run completed and every reply verified and was as expected;
/// 1 on an error that stopped the run; 2 for bad arguments; 3 when the run completed but
/// saw bad replies (failed verification) or unexpected answers (an accept for a wrong
/// password, a reject for a right one), or (RadSec) connections that failed or were
/// lost. Timeouts alone do not fail a run: they are a measurement, reported with the rest.
#[derive(Debug, Parser)]
#[command(name = "proisp-loadtest", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Access-Requests (PAP, CHAP or MS-CHAPv2) as a MikroTik PPPoE server sends them.
    Auth(AuthArgs),
    /// Accounting sessions (Start, Interim-Updates, Stop) or a NAS-reboot storm.
    Acct(AcctArgs),
    /// A responder that accepts everything with a signed reply and no lookup, to
    /// calibrate the generator and show this machine's ceiling; on a CoA port it plays a
    /// NAS that ACKs every CoA- and Disconnect-Request.
    NullServer(NullServerArgs),
    /// RadSec connections opened and held idle for a while, then closed: how many the
    /// server keeps open (read its memory while they are held).
    Idle(IdleArgs),
}

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Transport {
    /// RADIUS over UDP (RFC 2865, RFC 2866).
    Udp,
    /// RadSec: RADIUS over TLS over TCP (RFC 6614), mutual TLS, by default to port 2083.
    Radsec,
}

/// The server and how to reach it.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The RADIUS server, `address:port` (default port 1812 for auth, 1813 for acct, 2083
    /// with --transport radsec).
    #[arg(long, short = 's')]
    pub(crate) server: Option<SocketAddr>,
    /// The shared secret (default testing123; with --transport radsec, radsec as RFC 6614
    /// §2.3 has it).
    #[arg(long, value_parser = non_empty)]
    pub(crate) secret: Option<String>,
    /// How requests travel.
    #[arg(long, short = 't', value_enum, default_value_t = Transport::Udp)]
    pub(crate) transport: Transport,
    /// NAS-IP-Address of the simulated NAS.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) nas_ip: Ipv4Addr,
}

/// Who logs in.
#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    /// Subscribers `user%06d` / `pw%06d` numbered from --first-user (the data layer's seed
    /// command creates these).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) users: u64,
    /// Number of the first subscriber.
    #[arg(long, default_value_t = 1)]
    pub(crate) first_user: u64,
    /// Read `name password` pairs (one per line) from this file instead.
    #[arg(long, conflicts_with_all = ["users", "first_user"])]
    pub(crate) users_file: Option<PathBuf>,
}

/// The client side of RadSec's mutual TLS.
#[derive(Debug, Args)]
#[command(next_help_heading = "RadSec")]
pub(crate) struct TlsArgs {
    /// CA certificate(s), PEM, the server's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// The NAS's client certificate (chain), PEM.
    #[arg(long, value_name = "FILE")]
    pub(crate) cert: Option<PathBuf>,
    /// The client certificate's private key, PEM (PKCS#8, SEC1 or PKCS#1).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the --server address).
    #[arg(long, value_name = "NAME")]
    pub(crate) server_name: Option<String>,
    /// Offer this ALPN protocol (repeat for several, in order of preference): radius/1.1
    /// and radius/1.0 (RFC 9765). Connections on which the server selects radius/1.1
    /// speak RADIUS/1.1: a Token in place of the Identifier and authenticators, no
    /// Message-Authenticator, User-Password in clear inside TLS; the report names the
    /// protocol selected.
    #[arg(long, value_name = "PROTOCOL", value_parser = non_empty_alpn)]
    pub(crate) alpn: Vec<String>,
    /// How long TCP connect and TLS handshake may take together.
    #[arg(long, default_value = "5s", value_parser = timeout)]
    pub(crate) connect_timeout: Duration,
    /// Handshakes in progress at a time while the connections are opened.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) handshakes: u32,
    /// Threads driving the connections (default: one per CPU).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) threads: Option<u32>,
}

/// How many RadSec connections carry the load.
#[derive(Debug, Args)]
#[command(next_help_heading = "RadSec")]
pub(crate) struct RadsecLoadArgs {
    /// TLS connections, opened before the clock starts.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub(crate) connections: u32,
    /// Requests in flight per connection (Identifiers 0..255 per connection; replies may
    /// come in any order). Without --rate the load is a closed loop of connections ×
    /// pipeline; with --rate, the most in flight per connection.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=255))]
    pub(crate) pipeline: u32,
}

/// How the load is offered and when the run ends.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Open loop: send this many requests per second on a fixed schedule, whatever the
    /// server does; latency counts from each request's scheduled time.
    #[arg(long, short = 'r', conflicts_with = "concurrency", value_parser = rate)]
    pub(crate) rate: Option<f64>,
    /// Closed loop: keep this many requests in flight, each reply releasing the next
    /// (for maximum throughput; latency counts from the actual send). The default when
    /// neither --rate nor --concurrency is given is a closed loop of 64.
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u32).range(1..=65_280))]
    pub(crate) concurrency: Option<u32>,
    /// How long to send: `10s`, `500ms`, `2m`, or plain seconds. Default 10 s; in an open
    /// loop with --requests, as long as the requests take at --rate.
    #[arg(long, short = 'd', value_parser = duration)]
    pub(crate) duration: Option<Duration>,
    /// Stop after this many requests (the run also ends when --duration is up).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) requests: Option<u64>,
    /// How long a request waits for its reply before it counts as timed out.
    #[arg(long, default_value = "2s", value_parser = timeout)]
    pub(crate) timeout: Duration,
    /// Retransmit an unanswered request this many times (same Identifier and octets, as
    /// a NAS does) before it counts as timed out. Off by default: a load test reports
    /// timeouts rather than hiding them behind retries.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub(crate) retries: u32,
    /// A second server, as a NAS lists a backup: every retransmission goes there instead
    /// of to --server, as a NAS moves on to its next server after a timeout (needs
    /// --retries; UDP only). A send --server refuses (ICMP port unreachable) leaves the
    /// request waiting, so its retry goes to the fallback too.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub(crate) fallback: Option<SocketAddr>,
    /// Source UDP sockets (each has 256 Identifiers). Default: enough for the
    /// concurrency, or for the rate over the timeout, at least 4 and at most 64.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) sockets: Option<u32>,
    /// Send datagrams one system call each instead of in UDP GSO batches (the server
    /// receives separate datagrams either way; GSO only saves the generator's CPU).
    #[arg(long)]
    pub(crate) no_gso: bool,
    /// Print the result as JSON on stdout instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress line on stderr.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

/// `proisp-loadtest auth`.
#[derive(Debug, Args)]
pub(crate) struct AuthArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) users: UserArgs,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// How the password travels.
    #[arg(long, short = 'm', value_enum, default_value_t = Method::Pap)]
    pub(crate) method: Method,
    /// Send no Message-Authenticator (old NAS firmware). On by default, first in the
    /// packet, as BlastRADIUS (CVE-2024-3596) mitigations require.
    #[arg(long)]
    pub(crate) no_message_authenticator: bool,
    /// Count replies without a Message-Authenticator as bad (FreeRADIUS before 3.2.5
    /// does not send one).
    #[arg(long)]
    pub(crate) require_message_authenticator: bool,
    /// Percentage of requests (spread evenly) that carry a wrong password and must be
    /// rejected.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) wrong_password_percent: u8,
    /// Every request must be rejected, right password or not: the subscribers are
    /// suspended, disabled or expired. An Access-Accept is then an unexpected answer (a
    /// wrong accept) and fails the run.
    #[arg(long)]
    pub(crate) expect_reject: bool,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    #[command(flatten)]
    pub(crate) radsec: RadsecLoadArgs,
}

/// `proisp-loadtest acct`.
#[derive(Debug, Args)]
pub(crate) struct AcctArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) users: UserArgs,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Interim-Updates per session between Start and Stop.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub(crate) interims: u64,
    /// Simulated seconds between Interim-Updates (Acct-Session-Time grows by this).
    #[arg(long, default_value_t = 300)]
    pub(crate) interim_interval: u32,
    /// Download octets per Interim-Update (upload: an eighth). The default passes 4 GiB by
    /// the third update, so Gigawords are exercised.
    #[arg(long, default_value_t = 1536 << 20)]
    pub(crate) octets_per_interim: u64,
    /// A NAS reboot: one Accounting-On, then every subscriber's Start at once (with the
    /// closed loop's concurrency or the open loop's rate); ends when all are answered.
    #[arg(long)]
    pub(crate) storm: bool,
    /// Write one line per verified Accounting-Response to this file, tab-separated:
    /// Acct-Session-Id, User-Name, status (start, interim, stop), step (updates so far)
    /// and the upload and download octets the request carried. What the server
    /// acknowledged, for a check of what it stored (scripts/faults.sh); a reply counted
    /// twice (to a retransmission) gives two lines.
    #[arg(long, value_name = "FILE")]
    pub(crate) acked_log: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    #[command(flatten)]
    pub(crate) radsec: RadsecLoadArgs,
}

/// `proisp-loadtest null-server`.
#[derive(Debug, Args)]
pub(crate) struct NullServerArgs {
    /// Address to answer on; repeat for several (say, 1812 and 1813, or the CoA port 3799
    /// of several fake NAS: 127.0.0.1:3799, 127.0.0.2:3799 …).
    #[arg(long, short = 'l', default_value = "127.0.0.1:1812")]
    pub(crate) listen: Vec<SocketAddr>,
    /// The shared secret replies are signed with.
    #[arg(long, default_value = "testing123", value_parser = non_empty)]
    pub(crate) secret: String,
    /// Sockets (SO_REUSEPORT) and threads per address. Default: one per CPU.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) threads: Option<u32>,
    /// Stop after this long (default: run until killed).
    #[arg(long, short = 'd', value_parser = duration)]
    pub(crate) duration: Option<Duration>,
    /// Send replies one system call each instead of in UDP GSO batches per client.
    #[arg(long)]
    pub(crate) no_gso: bool,
}

/// `proisp-loadtest idle`.
#[derive(Debug, Args)]
pub(crate) struct IdleArgs {
    /// The RadSec server, `address:port`.
    #[arg(long, short = 's', default_value = "127.0.0.1:2083")]
    pub(crate) server: SocketAddr,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) connections: u32,
    /// How long to hold them once all have been tried (at most an hour).
    #[arg(long, default_value = "30s", value_parser = hold)]
    pub(crate) hold: Duration,
    /// Print the result as JSON on stdout instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the shared secret must not be empty".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

fn non_empty_alpn(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 255 {
        Err("an ALPN protocol name has 1 to 255 octets".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

fn hold(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d > Duration::from_secs(3600) {
        return Err("the hold time is at most 1h".into());
    }
    Ok(d)
}

fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of requests per second"))?;
    if !(r.is_finite() && r > 0.0 && r <= 10_000_000.0) {
        return Err("the rate must be above 0 and at most 10,000,000 requests per second".into());
    }
    Ok(r)
}

fn timeout(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(60) {
        return Err("the timeout must be between 1ms and 60s".into());
    }
    Ok(d)
}

/// Parses `10`, `10s`, `1.5s`, `500ms`, `250us`, `2m` or `1h`.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 10s, 500ms or 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}` (use us, ms, s, m or h)"
            ));
        }
    };
    let secs = value * scale;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0 * 7.0) {
        return Err(format!("`{s}` must be above zero and at most a week"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(duration("0s").is_err());
        assert!(duration("ten").is_err());
        assert!(duration("5 fortnights").is_err());
        assert!(duration("-1s").is_err());
        assert!(timeout("0.5ms").is_err());
        assert!(timeout("2m").is_err());
    }

    #[test]
    fn rates_must_be_positive_and_sane() {
        assert_eq!(rate("1500"), Ok(1500.0));
        assert_eq!(rate("0.5"), Ok(0.5));
        for bad in ["0", "-5", "inf", "NaN", "1e9", "fast"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_and_concurrency_exclude_each_other() {
        let err = Cli::try_parse_from([
            "proisp-loadtest",
            "auth",
            "--rate",
            "100",
            "--concurrency",
            "5",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let ok = Cli::try_parse_from(["proisp-loadtest", "auth", "-m", "chap", "-r", "10"]);
        assert!(ok.is_ok());
    }

    #[test]
    fn the_fault_suite_options_parse() {
        let cli = Cli::try_parse_from(["proisp-loadtest", "auth", "--expect-reject"]).unwrap();
        assert!(matches!(cli.command, Command::Auth(a) if a.expect_reject));
        let cli =
            Cli::try_parse_from(["proisp-loadtest", "acct", "--acked-log", "/tmp/a.tsv"]).unwrap();
        assert!(
            matches!(cli.command, Command::Acct(a) if a.acked_log == Some(PathBuf::from("/tmp/a.tsv")))
        );
    }
}
