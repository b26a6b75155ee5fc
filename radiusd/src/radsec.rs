//! RadSec: RADIUS over TLS (RFC 6614) on 2083/tcp and, for trusted networks only, RADIUS
//! over plain TCP (RFC 6613) — the transports HAProxy balances over a radiusd pair.
//!
//! Each connection is served by a task of its own ([`connection`]): the PROXY header from
//! a configured proxy, the TLS handshake (a client certificate verified against the
//! configured CA), the NAS the certificate or the address names, then the same request
//! pipeline as a UDP socket ([`crate::pipeline`]) with an endpoint of the connection's own
//! (its duplicate cache: the Identifier space is per connection). Requests are read as
//! they come, many in flight, answered in any order.
//!
//! Bounds: `max_connections` over every listener (a connection past it is closed at once),
//! `max_connections_per_nas`, a deadline on the PROXY header and handshake together, an
//! idle timeout, and a deadline on every write (a peer that never reads is cut). The TLS
//! configuration is read again on SIGHUP; connections open keep theirs.
//!
//! A connection also carries CoA- and Disconnect-Requests to its NAS when the NAS asks
//! for them there ([`dynauth`], [`crate::links`]).

mod connection;
mod dynauth;
mod metrics;
mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use proisp_radius::profile::{ALPN_RADIUS_1_0, ALPN_RADIUS_1_1};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::metrics::{ListenerMetrics, Refused};
pub(crate) use self::tls::TlsError;
use crate::config::RadsecConfig;
use crate::state::Shared;

/// The application protocols offered, most preferred first (RFC 9765 §3.1): a peer
/// offering none speaks classic RADIUS/TLS.
const ALPN: &[&[u8]] = &[ALPN_RADIUS_1_1, ALPN_RADIUS_1_0];

/// How long the accept loop waits after an error accepting (out of descriptors: a busy
/// loop would not free any).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The transport a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// RADIUS/TLS (RFC 6614).
    Tls,
    /// RADIUS/TCP without TLS (RFC 6613), from trusted networks.
    Tcp,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Tls => "tls",
            Transport::Tcp => "tcp",
        }
    }
}

/// What every RadSec connection shares: the settings, the TLS configuration in force and
/// the connection limits.
#[derive(Debug)]
pub(crate) struct Radsec {
    config: RadsecConfig,
    tls: ArcSwap<ServerConfig>,
    /// One permit per connection open, over every listener.
    slots: Arc<Semaphore>,
    /// Connections open per NAS id.
    per_nas: Mutex<HashMap<i64, usize>>,
}

impl Radsec {
    /// Reads the certificates and key `config` names.
    pub(crate) fn new(config: RadsecConfig) -> Result<Radsec, TlsError> {
        let tls = tls::server_config(&config, ALPN)?;
        Ok(Radsec {
            slots: Arc::new(Semaphore::new(config.max_connections)),
            per_nas: Mutex::new(HashMap::new()),
            tls: ArcSwap::new(tls),
            config,
        })
    }

    /// The settings.
    pub(crate) fn config(&self) -> &RadsecConfig {
        &self.config
    }

    /// Reads the certificates, key and CA again (SIGHUP): new connections use them,
    /// connections open keep what they negotiated. On error the configuration in force
    /// stays.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        self.tls.store(tls::server_config(&self.config, ALPN)?);
        Ok(())
    }

    /// Takes one of NAS `id`'s connection slots, unless it holds them all.
    fn admit_nas(self: &Arc<Self>, id: i64) -> Option<NasSlot> {
        let mut per_nas = self.per_nas.lock().unwrap_or_else(PoisonError::into_inner);
        let open = per_nas.entry(id).or_insert(0);
        if *open >= self.config.max_connections_per_nas {
            return None;
        }
        *open += 1;
        Some(NasSlot {
            radsec: self.clone(),
            id,
        })
    }
}

/// A connection's hold on one of its NAS's slots, given back when dropped.
#[derive(Debug)]
struct NasSlot {
    radsec: Arc<Radsec>,
    id: i64,
}

impl Drop for NasSlot {
    fn drop(&mut self) {
        let mut per_nas = self
            .radsec
            .per_nas
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = per_nas.get_mut(&self.id) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                per_nas.remove(&self.id);
            }
        }
    }
}

/// Accepts connections on `listener` until cancelled, each served by a task of its own.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    radsec: Arc<Radsec>,
    listener: TcpListener,
    transport: Transport,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let metrics = Arc::new(ListenerMetrics::new(transport.label()));
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, listener = transport.label(), "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = radsec.slots.clone().try_acquire_owned() else {
            metrics.refused(Refused::ConnectionLimit);
            continue;
        };
        let connection = connection::Connection {
            shared: shared.clone(),
            radsec: radsec.clone(),
            metrics: metrics.clone(),
            transport,
            cancel: cancel.clone(),
            tracker: tracker.clone(),
        };
        tracker.spawn(async move {
            connection.run(tcp, addr).await;
            drop(permit);
        });
    }
}
