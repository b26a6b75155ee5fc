//! Metrics per RadSec listener (`listener="tls"` or `"tcp"`): connections accepted and
//! open, connections refused by reason and closed by reason. Their requests count in the
//! request metrics every transport shares.

use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};

/// Connections accepted.
const ACCEPTED: &str = "radius_stream_connections_total";
/// Connections open.
const OPEN: &str = "radius_stream_connections";
/// Connections refused before their first request, by reason.
const REFUSED: &str = "radius_stream_refused_total";
/// Connections closed after they were admitted, by reason.
const CLOSED: &str = "radius_stream_closed_total";
/// Packets received on admitted connections.
const REQUESTS: &str = "radius_stream_requests_total";

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// `max_connections` connections were open.
    ConnectionLimit,
    /// Its NAS held `max_connections_per_nas` connections.
    NasLimit,
    /// RADIUS/TCP from outside `tcp.allow`.
    NotAllowed,
    /// A configured proxy sent no valid PROXY header.
    ProxyHeader,
    /// The PROXY header and TLS handshake took longer than `handshake_timeout`.
    HandshakeTimeout,
    /// The TLS handshake failed: no client certificate, one the CA did not sign, expired,
    /// not TLS at all…
    Tls,
    /// Neither its certificate nor its address names a NAS.
    UnknownNas,
    /// Its address is a NAS's that names a certificate identity it did not present.
    WrongCertificate,
}

impl Refused {
    const ALL: [Refused; 8] = [
        Refused::ConnectionLimit,
        Refused::NasLimit,
        Refused::NotAllowed,
        Refused::ProxyHeader,
        Refused::HandshakeTimeout,
        Refused::Tls,
        Refused::UnknownNas,
        Refused::WrongCertificate,
    ];

    const fn label(self) -> &'static str {
        match self {
            Refused::ConnectionLimit => "connection_limit",
            Refused::NasLimit => "nas_limit",
            Refused::NotAllowed => "not_allowed",
            Refused::ProxyHeader => "proxy_header",
            Refused::HandshakeTimeout => "handshake_timeout",
            Refused::Tls => "tls",
            Refused::UnknownNas => "unknown_nas",
            Refused::WrongCertificate => "wrong_certificate",
        }
    }
}

/// Why an admitted connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closed {
    /// The peer closed it (or reset it).
    Peer,
    /// Nothing arrived for `idle_timeout`.
    Idle,
    /// A reply could not be written within `write_timeout`.
    WriteTimeout,
    /// A length outside 20–4096 octets: the stream cannot be framed any more.
    Framing,
    /// Its NAS left the table, or no longer matches its certificate.
    NasRemoved,
    /// radiusd is stopping.
    Shutdown,
}

impl Closed {
    const ALL: [Closed; 6] = [
        Closed::Peer,
        Closed::Idle,
        Closed::WriteTimeout,
        Closed::Framing,
        Closed::NasRemoved,
        Closed::Shutdown,
    ];

    const fn label(self) -> &'static str {
        match self {
            Closed::Peer => "peer",
            Closed::Idle => "idle",
            Closed::WriteTimeout => "write_timeout",
            Closed::Framing => "framing",
            Closed::NasRemoved => "nas_removed",
            Closed::Shutdown => "shutdown",
        }
    }
}

/// One listener's handles, registered when it starts.
#[derive(Debug)]
pub(super) struct ListenerMetrics {
    pub(super) accepted: Counter,
    pub(super) open: Gauge,
    pub(super) requests: Counter,
    refused: [Counter; Refused::ALL.len()],
    closed: [Counter; Closed::ALL.len()],
}

impl ListenerMetrics {
    pub(super) fn new(listener: &'static str) -> ListenerMetrics {
        describe_counter!(ACCEPTED, "RadSec/TCP connections accepted");
        describe_gauge!(OPEN, "RadSec/TCP connections open");
        describe_counter!(REFUSED, "RadSec/TCP connections refused, by reason");
        describe_counter!(CLOSED, "RadSec/TCP connections closed, by reason");
        describe_counter!(REQUESTS, "Packets received on RadSec/TCP connections");
        ListenerMetrics {
            accepted: counter!(ACCEPTED, "listener" => listener),
            open: gauge!(OPEN, "listener" => listener),
            requests: counter!(REQUESTS, "listener" => listener),
            refused: Refused::ALL
                .map(|r| counter!(REFUSED, "listener" => listener, "reason" => r.label())),
            closed: Closed::ALL
                .map(|c| counter!(CLOSED, "listener" => listener, "reason" => c.label())),
        }
    }

    pub(super) fn refused(&self, why: Refused) {
        self.refused[why as usize].increment(1);
    }

    pub(super) fn closed(&self, why: Closed) {
        self.closed[why as usize].increment(1);
    }
}
