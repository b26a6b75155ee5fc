//! The auth and accounting sockets: the driver of the request pipeline
//! ([`crate::pipeline`]).
//!
//! N UDP sockets share each port through SO_REUSEPORT; the kernel hashes each source
//! address and port to one of them, so a NAS's retransmissions reach the socket that saw
//! the original and each socket keeps its own duplicate cache (its own
//! [`Endpoint`]). Each socket is driven by one task that takes up to 32 requests per
//! `recvmmsg`, hands them to its endpoint, sends the replies it answered from memory with
//! one `sendmmsg`, and gives each piece of deferred work (a lookup in Redis or
//! PostgreSQL, an Accounting-Request made durable first, a reject delay) a task of its
//! own, so a slow backend never holds up the socket.
//!
//! A consequence: one NAS sending everything from one source port is answered by one
//! socket task, so by one core at a time (well over 100,000 requests/s here); many NASes,
//! or a NAS using several ports, spread over every socket.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dedup::{Claim, Done, Reply, Ticket};
use crate::mmsg::{BATCH, RecvBatch, SendBatch};
pub(crate) use crate::pipeline::Port;
use crate::pipeline::{Arrival, Deferred, Endpoint, Settings, Transmit};
use crate::state::Shared;

/// Requests remembered per socket for duplicate detection: 12 MiB of entries, the whole
/// `duplicate_window` (5 s) at up to 52,000 requests/s per socket; the oldest answered go
/// first past that (requests in flight stay until answered or given up).
const DEDUP_CAPACITY: usize = 1 << 18;

/// Octets of replies kept per socket for retransmissions: about as many replies as
/// [`DEDUP_CAPACITY`] at an Access-Accept's usual 100–150 octets.
const DEDUP_ARENA: usize = 32 << 20;

/// Socket receive buffer: a burst of requests (a NAS reboot) must queue, not drop.
const RECV_BUFFER: usize = 8 << 20;

/// Binds `count` sockets to `addr` with SO_REUSEPORT.
pub(crate) fn bind(addr: SocketAddr, count: usize) -> std::io::Result<Vec<UdpSocket>> {
    (0..count.max(1))
        .map(|_| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_reuse_port(true)?;
            if addr.is_ipv6() {
                // Accept IPv4 too on [::] (NASes on either family).
                socket.set_only_v6(false)?;
            }
            // The kernel may cap it (net.core.rmem_max); a smaller buffer still works.
            let _ = socket.set_recv_buffer_size(RECV_BUFFER);
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            UdpSocket::from_std(socket.into())
        })
        .collect()
}

impl Transmit for SendBatch {
    fn send(&mut self, reply: &[u8], dst: SocketAddr) {
        self.push(reply, dst);
    }
}

/// What one socket's task owns and shares while it serves.
struct Server {
    endpoint: Endpoint<Shared>,
    socket: Arc<UdpSocket>,
    replies: SendBatch,
    /// The deferred work of the current batch, spawned once the batch is through.
    deferred: Vec<Deferred>,
    /// Where deferred work reports what it returned. Unbounded, but bounded in effect:
    /// a report is queued only by work holding a duplicate-cache entry in flight, and
    /// those are never more than the cache's entries (see `crate::pipeline`).
    done: Done,
    tracker: TaskTracker,
}

/// Serves one socket until cancelled: batches of requests in, batches of replies out.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    port: Port,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let (done, mut done_rx) = mpsc::unbounded_channel::<(Ticket, Option<Reply>)>();
    let settings = Settings {
        duplicate_window: shared.config.auth.duplicate_window,
        reject_delay: shared.config.auth.reject_delay,
        dedup_capacity: DEDUP_CAPACITY,
        dedup_arena: DEDUP_ARENA,
    };
    let mut this = Server {
        endpoint: Endpoint::new(shared, port, settings, Instant::now()),
        replies: SendBatch::new(socket.as_fd()),
        socket,
        deferred: Vec::with_capacity(BATCH),
        done,
        tracker,
    };
    let mut batch = RecvBatch::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some((ticket, reply)) = done_rx.recv() => {
                this.endpoint.complete(ticket, reply.as_deref(), Instant::now());
            }
            ready = this.socket.readable() => {
                if let Err(e) = ready {
                    tracing::warn!(error = %e, "socket not readable");
                    continue;
                }
                // Requests answered meanwhile by their own tasks: a retransmission in
                // this batch gets the reply.
                let now = Instant::now();
                while let Ok((ticket, reply)) = done_rx.try_recv() {
                    this.endpoint.complete(ticket, reply.as_deref(), now);
                }
                let received = this
                    .socket
                    .try_io(Interest::READABLE, || batch.recv(this.socket.as_fd()));
                let count = match received {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        continue;
                    }
                };
                let arrival = Arrival::new(Instant::now(), SystemTime::now());
                let datagrams = (0..count).filter_map(|i| match batch.get(i) {
                    (datagram, Some(src)) => Some((datagram, src)),
                    (_, None) => None,
                });
                this.endpoint
                    .receive(datagrams, arrival, &mut this.replies, &mut this.deferred);
                this.spawn_deferred();
                this.endpoint.record_latency(arrival.at.elapsed());
                this.flush().await;
            }
        }
    }
}

impl Server {
    /// Runs each piece of the batch's deferred work in a task of its own, reports what it
    /// returns to the endpoint (also when the task ends otherwise: see [`Claim`]), then
    /// sends it.
    fn spawn_deferred(&mut self) {
        for Deferred {
            ticket,
            dst,
            arrived,
            stats,
            work,
        } in self.deferred.drain(..)
        {
            let shared = self.endpoint.backend().clone();
            let socket = self.socket.clone();
            let claim = Claim::new(ticket, self.done.clone());
            self.tracker.spawn(async move {
                let Some(reply) = work.run(&*shared, arrived, stats.as_deref()).await else {
                    claim.finish(None);
                    return;
                };
                // Reported before it leaves: a copy the NAS sends once it has this reply
                // finds it in the cache (the socket task takes reports in before it
                // receives), rather than dropped as in progress. A reply that could not
                // be sent is replayed to the retransmission.
                claim.finish(Some(reply.clone()));
                if let Err(e) = socket.send_to(&reply, dst).await {
                    tracing::debug!(error = %e, %dst, "send failed");
                }
            });
        }
    }

    /// Sends the batch's replies.
    async fn flush(&mut self) {
        while !self.replies.is_empty() {
            let socket = &self.socket;
            let replies = &mut self.replies;
            match socket
                .async_io(Interest::WRITABLE, || replies.send(socket.as_fd()))
                .await
            {
                Ok(()) => break,
                // One reply could not be sent (it was skipped); the rest go on.
                Err(e) => tracing::debug!(error = %e, "send failed"),
            }
        }
        self.replies.clear();
    }
}
