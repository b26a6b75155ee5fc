//! The Dynamic Authorization client (RFC 5176): sends a CoA- or Disconnect-Request to a NAS
//! and reports how it answered.
//!
//! The protocol lives in the sans-IO [`proisp_radius::dynauth`]; this module adds the
//! socket, the timer and the retransmissions. Each [`Client::send`] uses its own UDP socket,
//! `connect`ed to the NAS so the kernel drops datagrams from any other address, and a random
//! Identifier. When no valid answer arrives within the timeout it resends the very same
//! octets — same Identifier, same Request Authenticator — so a NAS that did act on the
//! first copy recognises a duplicate (RFC 5080 §2.2.1). Replies that fail verification are
//! logged at debug level and ignored rather than believed, and the first valid one ends the
//! exchange: an ACK or NAK is final, never retried (RFC 5176 §3.5).
//!
//! ```no_run
//! # async fn kick() {
//! use proisp_coa::{Client, ClientConfig, Outcome};
//! use proisp_radius::dynauth::Request;
//! use proisp_radius::secret::Secret;
//!
//! let client = Client::new(ClientConfig::default());
//! let request = Request::disconnect("user000001", "81a00001");
//! let secret = Secret::new(b"testing123");
//! match client.send("192.0.2.10:3799".parse().unwrap(), &secret, &request).await {
//!     Outcome::Ack => {}
//!     other => eprintln!("kick failed: {other}"),
//! }
//! # }
//! ```
#![forbid(unsafe_code)]

mod lanes;
pub mod park;

pub use lanes::{
    DEFAULT_PROBE_INTERVAL, DEFAULT_UNREACHABLE_AFTER, DEFAULT_WINDOW, Dispatcher, LaneConfig,
    LaneHealth, Sending, Target, Targets, Transport, session_key,
};

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

use proisp_radius::dynauth::{self, ErrorCause, Request, Response};
use proisp_radius::encode::EncodeError;
use proisp_radius::header::MAX_PACKET_LEN;
use proisp_radius::secret::Secret;

/// How long to wait for an answer to one copy of a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Retransmissions after the first copy: three tries in all.
pub const DEFAULT_RETRIES: u32 = 2;

/// Timing of a [`Client`]; the `[coa]` section of both binaries' configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// How long to wait for an answer after each copy (default 1 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Copies sent after the first when no answer came (default 2); the exchange gives up
    /// after `(retries + 1) × timeout`.
    pub retries: u32,
    /// Requests in flight to one NAS at once (default 32), unless its entry sets its own.
    pub window: u32,
    /// Exchanges in a row that time out before a NAS is marked unreachable and its changes
    /// wait for it (default 5).
    pub unreachable_after: u32,
    /// How often an unreachable NAS gets one waiting change as a probe (default 30 s).
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
}

impl ClientConfig {
    /// The [`Dispatcher`]'s part.
    pub fn lanes(&self) -> LaneConfig {
        LaneConfig {
            window: self.window,
            unreachable_after: self.unreachable_after,
            probe_interval: self.probe_interval,
        }
    }
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            window: DEFAULT_WINDOW,
            unreachable_after: DEFAULT_UNREACHABLE_AFTER,
            probe_interval: DEFAULT_PROBE_INTERVAL,
        }
    }
}

/// How an exchange ended, for the caller to act on and to log (`Display`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The NAS sent a Disconnect-ACK or CoA-ACK.
    Ack,
    /// The NAS sent a Disconnect-NAK or CoA-NAK.
    Nak {
        /// Why, if the NAK says (see [`ErrorCause`]).
        error_cause: Option<ErrorCause>,
    },
    /// No valid answer after every try.
    Timeout {
        /// Copies sent.
        tries: u32,
        /// Replies that arrived but failed verification; more than zero usually means the
        /// NAS holds another secret.
        ignored: u32,
    },
    /// The socket failed: no route, or the NAS's host refused the port (an ICMP port
    /// unreachable is reported on a connected UDP socket).
    Io(io::Error),
    /// The request cannot be encoded: a value too long for its attribute.
    Encode(EncodeError),
    /// Not sent yet: the NAS is marked unreachable ([`Dispatcher`]); the change waits in
    /// its lane and goes out when the NAS shows life.
    Deferred,
    /// Not sent: a newer change for the same session took its place in the lane.
    Superseded,
    /// Not sent: the NAS rebooted (Accounting-On), and the session with it.
    Dropped,
}

impl Outcome {
    /// Whether the NAS acted on the request.
    pub fn is_ack(&self) -> bool {
        matches!(self, Outcome::Ack)
    }

    /// Whether the NAS did not answer: a timeout, or the network saying nothing listens
    /// there now (ICMP port or host unreachable: a router rebooting, its CoA server not
    /// up yet). Its lane counts these towards marking it unreachable, and keeps the change.
    pub fn unanswered(&self) -> bool {
        match self {
            Outcome::Timeout { .. } => true,
            Outcome::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
            ),
            _ => false,
        }
    }
}

impl Outcome {
    /// A short stable name for events and labels: `ack`, `nak`, `timeout`, `io_error`,
    /// `encode_error`, `deferred`, `superseded`, `dropped`.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Ack => "ack",
            Outcome::Nak { .. } => "nak",
            Outcome::Timeout { .. } => "timeout",
            Outcome::Io(_) => "io_error",
            Outcome::Encode(_) => "encode_error",
            Outcome::Deferred => "deferred",
            Outcome::Superseded => "superseded",
            Outcome::Dropped => "dropped",
        }
    }

    /// The NAK's Error-Cause (RFC 5176 §3.6), if it named one.
    pub fn error_cause(&self) -> Option<u32> {
        match self {
            Outcome::Nak {
                error_cause: Some(cause),
            } => Some(cause.0),
            _ => None,
        }
    }
}

impl From<Response> for Outcome {
    fn from(response: Response) -> Outcome {
        match response {
            Response::Ack => Outcome::Ack,
            Response::Nak { error_cause } => Outcome::Nak { error_cause },
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ack => f.write_str("ACK"),
            Outcome::Nak {
                error_cause: Some(cause),
            } => write!(f, "NAK: {cause}"),
            Outcome::Nak { error_cause: None } => f.write_str("NAK without Error-Cause"),
            Outcome::Timeout { tries, ignored: 0 } => write!(f, "no answer after {tries} tries"),
            Outcome::Timeout { tries, ignored } => write!(
                f,
                "no valid answer after {tries} tries ({ignored} replies failed verification: \
                 wrong secret?)"
            ),
            Outcome::Io(e) => write!(f, "socket error: {e}"),
            Outcome::Encode(e) => write!(f, "request cannot be encoded: {e}"),
            Outcome::Deferred => f.write_str("deferred: the NAS is unreachable"),
            Outcome::Superseded => f.write_str("superseded by a newer change"),
            Outcome::Dropped => f.write_str("dropped: the NAS rebooted"),
        }
    }
}

/// Sends CoA- and Disconnect-Requests. Cheap to clone and share: it holds only its
/// configuration, and every [`Client::send`] has its own socket.
#[derive(Debug, Clone, Default)]
pub struct Client {
    config: ClientConfig,
}

impl Client {
    /// A client with this timing.
    pub fn new(config: ClientConfig) -> Client {
        Client { config }
    }

    /// Its timing.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends `request` to the NAS at `target` (its address and CoA port, usually 3799),
    /// signed with the NAS's `secret`, and waits for the answer, retransmitting on timeout.
    ///
    /// Returns on the first verified ACK or NAK, or after `retries + 1` copies went
    /// unanswered; never panics, whatever the NAS (or anyone spoofing it) sends.
    pub async fn send(&self, target: SocketAddr, secret: &Secret, request: &Request) -> Outcome {
        let mut out = BytesMut::new();
        let wire = match request.encode(&mut out, rand::random(), secret) {
            Ok(wire) => wire,
            Err(e) => return Outcome::Encode(e),
        };
        let socket = match connect(target).await {
            Ok(socket) => socket,
            Err(e) => return Outcome::Io(e),
        };
        let tries = self.config.retries.saturating_add(1);
        let mut exchange = Exchange {
            socket: &socket,
            target,
            request: wire,
            secret,
            buf: vec![0; MAX_PACKET_LEN],
            ignored: 0,
        };
        for attempt in 1..=tries {
            if attempt > 1 {
                tracing::debug!(nas = %target, attempt, "no answer to the CoA client, resending");
            }
            let deadline = Instant::now() + self.config.timeout;
            match exchange.attempt(deadline).await {
                Ok(Some(response)) => return response.into(),
                Ok(None) => {}
                Err(e) => return Outcome::Io(e),
            }
        }
        Outcome::Timeout {
            tries,
            ignored: exchange.ignored,
        }
    }
}

/// A UDP socket on an ephemeral port of `target`'s address family, connected to it.
async fn connect(target: SocketAddr) -> io::Result<UdpSocket> {
    let local = match target {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    Ok(socket)
}

/// The state of one [`Client::send`] between tries.
struct Exchange<'a> {
    socket: &'a UdpSocket,
    target: SocketAddr,
    /// The encoded request, resent unchanged on every try.
    request: &'a [u8],
    secret: &'a Secret,
    /// Receive buffer: one datagram of at most 4096 octets (RFC 2865 §3).
    buf: Vec<u8>,
    /// Replies that failed verification so far.
    ignored: u32,
}

impl Exchange<'_> {
    /// Sends the request once and waits until `deadline` for a valid answer; `None` on
    /// timeout. Invalid replies do not extend the deadline, so a flood of them cannot hold
    /// the exchange open.
    async fn attempt(&mut self, deadline: Instant) -> io::Result<Option<Response>> {
        self.socket.send(self.request).await?;
        loop {
            let Ok(received) = timeout_at(deadline, self.socket.recv(&mut self.buf)).await else {
                return Ok(None);
            };
            let reply = self.buf.get(..received?).unwrap_or_default();
            match dynauth::decode_response(self.request, reply, self.secret) {
                Ok(response) => return Ok(Some(response)),
                Err(e) => {
                    self.ignored = self.ignored.saturating_add(1);
                    tracing::debug!(
                        nas = %self.target,
                        reason = e.reason(),
                        error = %e,
                        "ignoring a reply to the CoA client",
                    );
                }
            }
        }
    }
}
