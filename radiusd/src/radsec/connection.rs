//! One RadSec or RADIUS/TCP connection: admission (PROXY header, TLS handshake, NAS),
//! then its requests through an endpoint of its own until it closes, and this server's
//! CoA- and Disconnect-Requests to the NAS ([`super::dynauth`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use proisp_model::Nas;
use proisp_radius::header::{HEADER_LEN, MAX_PACKET_LEN};
use proisp_radius::profile::Profile;
use rustls::ProtocolVersion;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dynauth::Pending;
use super::metrics::{Closed, ListenerMetrics, Refused};
use super::tls::identities;
use super::{NasSlot, Radsec, Transport};
use crate::config::contains;
use crate::dedup::{Claim, Reply, Ticket};
use crate::flood::log_allowed;
use crate::metrics::DropReason;
use crate::nas_table::{Credentials, NasTable, Unknown};
use crate::pipeline::{Arrival, Deferred, Endpoint, Settings, Transmit};
use crate::proxy_v2::read_header;
use crate::state::Shared;

/// Requests a connection's duplicate cache remembers: its whole Identifier space
/// (RFC 6614 §2.5: the Identifier is per connection), four times over.
const DEDUP_CAPACITY: usize = 1024;

/// Octets of replies a connection's duplicate cache keeps.
const DEDUP_ARENA: usize = 16 << 10;

/// Free space a read asks for once the peer has sent something; a packet longer than
/// what is buffered gets room for all of it.
const READ_CHUNK: usize = 2048;

static UNKNOWN_PEER_LOG: AtomicI64 = AtomicI64::new(0);

/// What every connection of a listener shares.
#[derive(Debug, Clone)]
pub(super) struct Connection {
    pub(super) shared: Arc<Shared>,
    pub(super) radsec: Arc<Radsec>,
    pub(super) metrics: Arc<ListenerMetrics>,
    pub(super) transport: Transport,
    pub(super) cancel: CancellationToken,
    pub(super) tracker: TaskTracker,
}

/// Replies answered from memory, queued for the connection's next write.
impl Transmit for Vec<u8> {
    fn send(&mut self, reply: &[u8], _dst: SocketAddr) {
        self.extend_from_slice(reply);
    }
}

/// Who the peer is, once admitted.
struct Peer {
    /// Its address (the client's, behind a proxy).
    src: SocketAddr,
    /// Its certificate's identities (empty over RADIUS/TCP).
    names: Vec<String>,
    nas: Arc<Nas>,
    /// Classic RADIUS/TLS or TCP, or RADIUS/1.1 where ALPN chose it.
    profile: Profile,
    _slot: NasSlot,
}

impl Peer {
    fn credentials(&self) -> Credentials<'_> {
        credentials(&self.names, self.src)
    }
}

/// A certificate's identities and the address, or the address alone without one.
fn credentials(names: &[String], src: SocketAddr) -> Credentials<'_> {
    if names.is_empty() {
        Credentials::Address(src.ip())
    } else {
        Credentials::Certificate {
            names,
            addr: src.ip(),
        }
    }
}

impl Connection {
    /// Serves one accepted connection to its end.
    pub(super) async fn run(self, tcp: TcpStream, addr: SocketAddr) {
        self.metrics.accepted.increment(1);
        self.metrics.open.increment(1.0);
        let _ = tcp.set_nodelay(true);
        if let Err(why) = self.admit(tcp, addr).await {
            self.metrics.refused(why);
            tracing::debug!(%addr, reason = ?why, "connection refused");
        }
        self.metrics.open.decrement(1.0);
    }

    /// The handshake, then the requests; `Err` when the connection was refused.
    async fn admit(&self, mut tcp: TcpStream, addr: SocketAddr) -> Result<(), Refused> {
        let config = self.radsec.config();
        let deadline = tokio::time::Instant::now() + config.handshake_timeout;
        // The PROXY header comes from the proxies configured, and from nobody else: a NAS
        // could otherwise claim another's address.
        let src = if config.proxied(addr.ip()) {
            let header = match tokio::time::timeout_at(deadline, read_header(&mut tcp)).await {
                Err(_) => return Err(Refused::HandshakeTimeout),
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, reason = e.reason(), "bad PROXY header");
                    return Err(Refused::ProxyHeader);
                }
                Ok(Ok(header)) => header,
            };
            header.source(addr).ok_or(Refused::ProxyHeader)?
        } else {
            addr
        };
        match self.transport {
            Transport::Tcp => {
                let allowed = config
                    .tcp
                    .as_ref()
                    .is_some_and(|tcp| contains(&tcp.allow, src.ip()));
                if !allowed {
                    return Err(Refused::NotAllowed);
                }
                let peer = self.identify(src, Vec::new(), Profile::Classic)?;
                self.drive(tcp, peer).await;
            }
            Transport::Tls => {
                let acceptor = TlsAcceptor::from(self.radsec.tls.load_full());
                let stream = match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                    Err(_) => return Err(Refused::HandshakeTimeout),
                    Ok(Err(e)) => {
                        tracing::debug!(%src, error = %e, "TLS handshake failed");
                        return Err(Refused::Tls);
                    }
                    Ok(Ok(stream)) => stream,
                };
                let session = stream.get_ref().1;
                // RFC 9765 §3.1: RADIUS/1.1 when ALPN chose it, over TLS 1.3 only;
                // classic RADIUS/TLS when the peer offered no ALPN.
                let profile = Profile::from_alpn(session.alpn_protocol())
                    .filter(|p| {
                        *p == Profile::Classic
                            || session.protocol_version() == Some(ProtocolVersion::TLSv1_3)
                    })
                    .ok_or(Refused::Tls)?;
                let names = session
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(identities)
                    .unwrap_or_default();
                let peer = self.identify(src, names, profile)?;
                self.drive(stream, peer).await;
            }
        }
        Ok(())
    }

    /// The NAS the peer is, and one of its connection slots.
    fn identify(
        &self,
        src: SocketAddr,
        names: Vec<String>,
        profile: Profile,
    ) -> Result<Peer, Refused> {
        let table = self.shared.nas.load();
        let nas = table.identify(credentials(&names, src)).map_err(|e| {
            if log_allowed(&UNKNOWN_PEER_LOG) {
                tracing::warn!(%src, ?names, reason = ?e, "a connection that names no NAS (logged once a second)");
            }
            match e {
                Unknown::NoNas => Refused::UnknownNas,
                Unknown::WrongCertificate => Refused::WrongCertificate,
            }
        })?;
        let slot = self.radsec.admit_nas(nas.id).ok_or(Refused::NasLimit)?;
        tracing::debug!(%src, nas = %nas.name, %profile, "connection admitted");
        Ok(Peer {
            src,
            names,
            nas,
            profile,
            _slot: slot,
        })
    }

    /// Serves the requests of an admitted connection until it ends: each read's packets
    /// through the endpoint, replies written as they are ready; and sends the requests
    /// [`Links`](crate::links::Links) hands it, taking their answers out of what it reads.
    async fn drive<S>(&self, mut stream: S, peer: Peer)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = self.radsec.config();
        let (done, mut done_rx) = mpsc::unbounded_channel::<(Ticket, Option<Reply>)>();
        let mut endpoint: Option<Endpoint<Shared>> = None;
        let mut table: Arc<NasTable> = self.shared.nas.load_full();
        let mut nas = peer.nas.clone();
        let mut input = BytesMut::new();
        let mut output: Vec<u8> = Vec::new();
        let mut deferred: Vec<Deferred> = Vec::new();
        let mut in_flight = 0usize;
        let mut draining = false;
        let (_link, mut outbound) = self.shared.links.register(peer.nas.id);
        let mut pending = Pending::new(peer.profile);
        let idle = tokio::time::sleep(config.idle_timeout);
        tokio::pin!(idle);
        let closed = loop {
            if draining && in_flight == 0 {
                break Closed::Shutdown;
            }
            // No buffer until the peer has sent something (the first read takes a few
            // octets into a small one): an idle connection holds none.
            if input.capacity() > 0 && input.capacity() - input.len() < READ_CHUNK / 2 {
                input.reserve(READ_CHUNK);
            }
            tokio::select! {
                biased;
                () = self.cancel.cancelled(), if !draining => draining = true,
                Some((ticket, reply)) = done_rx.recv() => {
                    in_flight -= 1;
                    if let Some(endpoint) = endpoint.as_mut() {
                        endpoint.complete(ticket, reply.as_deref(), Instant::now());
                    }
                    if let Some(reply) = reply {
                        output.extend_from_slice(&reply);
                    }
                }
                Some(request) = outbound.recv(), if !draining => {
                    pending.send(request, &nas.secret, &mut output);
                }
                read = stream.read_buf(&mut input), if !draining => {
                    match read {
                        Ok(0) | Err(_) => break Closed::Peer,
                        Ok(_) => {}
                    }
                    idle.as_mut().reset(tokio::time::Instant::now() + config.idle_timeout);
                    let mut frames = match frames(&mut input) {
                        Ok(frames) => frames,
                        Err(()) => {
                            self.shared.metrics.drop(DropReason::Malformed);
                            break Closed::Framing;
                        }
                    };
                    pending.take_answers(&mut frames, &nas.secret, &self.shared.metrics);
                    if frames.is_empty() {
                        continue;
                    }
                    self.metrics.requests.increment(frames.len() as u64);
                    let current = self.shared.nas.load_full();
                    if !Arc::ptr_eq(&current, &table) {
                        let Ok(now_known) = current.identify(peer.credentials()) else {
                            break Closed::NasRemoved;
                        };
                        nas = now_known;
                        if let Some(endpoint) = endpoint.as_mut() {
                            endpoint.set_peer(nas.clone());
                        }
                        table = current;
                    }
                    let endpoint = endpoint.get_or_insert_with(|| {
                        Endpoint::for_connection(
                            self.shared.clone(),
                            nas.clone(),
                            peer.profile,
                            self.settings(),
                            Instant::now(),
                        )
                    });
                    let arrival = Arrival::new(Instant::now(), SystemTime::now());
                    endpoint.receive(
                        frames.iter().map(|f| (&f[..], peer.src)),
                        arrival,
                        &mut output,
                        &mut deferred,
                    );
                    in_flight += deferred.len();
                    self.spawn_deferred(&mut deferred, &done);
                    endpoint.record_latency(arrival.at.elapsed());
                }
                () = &mut idle, if !draining => break Closed::Idle,
            }
            if !output.is_empty() {
                let write = async {
                    stream.write_all(&output).await?;
                    stream.flush().await
                };
                match tokio::time::timeout(config.write_timeout, write).await {
                    Ok(Ok(())) => output.clear(),
                    Ok(Err(_)) => break Closed::Peer,
                    Err(_) => break Closed::WriteTimeout,
                }
            }
        };
        self.metrics.closed(closed);
        tracing::debug!(src = %peer.src, nas = %peer.nas.name, reason = ?closed, "connection closed");
        // TLS's close_notify, within the write deadline; the peer may be gone already.
        let _ = tokio::time::timeout(config.write_timeout, stream.shutdown()).await;
    }

    fn settings(&self) -> Settings {
        Settings {
            duplicate_window: self.shared.config.auth.duplicate_window,
            reject_delay: self.shared.config.auth.reject_delay,
            dedup_capacity: DEDUP_CAPACITY,
            dedup_arena: DEDUP_ARENA,
        }
    }

    /// Runs each piece of deferred work in a task of its own; what it returns comes back
    /// to the connection's task to be recorded and written (also when the task ends
    /// otherwise: see [`Claim`]).
    fn spawn_deferred(
        &self,
        deferred: &mut Vec<Deferred>,
        done: &mpsc::UnboundedSender<(Ticket, Option<Reply>)>,
    ) {
        for Deferred {
            ticket,
            arrived,
            stats,
            work,
            ..
        } in deferred.drain(..)
        {
            let shared = self.shared.clone();
            let claim = Claim::new(ticket, done.clone());
            self.tracker.spawn(async move {
                claim.finish(work.run(&*shared, arrived, stats.as_deref()).await);
            });
        }
    }
}

/// Takes the whole packets off the front of `input` (RFC 6613 §2.1: a packet's Length
/// frames it). `Err` for a Length outside 20–4096 octets: the stream has lost its framing.
fn frames(input: &mut BytesMut) -> Result<Vec<Bytes>, ()> {
    let mut frames = Vec::new();
    while input.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([input[2], input[3]]));
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
            return Err(());
        }
        if input.len() < len {
            input.reserve(len - input.len());
            break;
        }
        frames.push(input.split_to(len).freeze());
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_framed_by_their_length_and_a_bad_length_ends_the_stream() {
        let mut packet = vec![1u8, 7, 0, 20];
        packet.extend_from_slice(&[0; 16]);
        let mut input = BytesMut::new();
        input.extend_from_slice(&packet);
        input.extend_from_slice(&packet[..10]);
        let got = frames(&mut input).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0][..], &packet[..]);
        assert_eq!(input.len(), 10);
        input.extend_from_slice(&packet[10..]);
        assert_eq!(frames(&mut input).unwrap().len(), 1);
        assert!(input.is_empty());

        input.extend_from_slice(&[1, 7, 0, 19]);
        assert!(frames(&mut input).is_err());
        let mut long = BytesMut::from(&[1u8, 7, 0x10, 0x01][..]);
        assert!(frames(&mut long).is_err());
    }
}
