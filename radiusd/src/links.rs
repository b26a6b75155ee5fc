//! The open connections of every NAS, for the requests radiusd sends it: CoA- and
//! Disconnect-Requests (RFC 5176) over the NAS's own RadSec connection.
//!
//! A NAS behind NAT or behind HAProxy has no address radiusd can reach by UDP. RFC 6614
//! §2.5 and draft-ietf-radext-radiusdtls-bis let a server send Dynamic Authorization
//! requests over the connection the NAS opened when both ends are configured for it: here,
//! a NAS with `tls_coa`.
//!
//! Every admitted connection registers a [`Link`] under its NAS's id, whether or not the
//! NAS has `tls_coa` today: the sender checks the NAS table in force, so the setting takes
//! effect on connections already open. [`Links::send`] hands a request to the newest
//! connection of the NAS still open; the connection's task writes it and matches the
//! answer to it (`radsec::dynauth`).
//!
//! One copy only: a request on a reliable transport is not retransmitted on the same
//! connection (RFC 6613 §2.6.1), so the sender waits once, as long as it is told.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use std::net::SocketAddr;

use proisp_coa::{Client, Outcome, Sending, Target, Transport};
use proisp_model::Nas;
use proisp_radius::dynauth::Request;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout_at};

/// Requests queued to one connection before its task takes them: more wait for room.
const QUEUE: usize = 32;

/// A request for a connection to send, and where its outcome goes. Dropped unanswered,
/// it tells the sender the request was never written.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// What to send.
    pub(crate) request: Request,
    /// Where the outcome goes once the request was written.
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// The open connections of every NAS, for sending them requests. Clones share them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Links {
    registry: Arc<Mutex<Registry>>,
}

#[derive(Debug, Default)]
struct Registry {
    /// The id the next registration gets.
    next: u64,
    /// NAS id → its connections, oldest first.
    by_nas: HashMap<i64, Vec<(u64, mpsc::Sender<Outbound>)>>,
}

impl Links {
    /// Registers a connection of NAS `nas`: requests for it arrive on the receiver until
    /// the [`Link`] is dropped.
    pub(crate) fn register(&self, nas: i64) -> (Link, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let id = registry.next;
        registry.next += 1;
        registry.by_nas.entry(nas).or_default().push((id, tx));
        let link = Link {
            registry: self.registry.clone(),
            nas,
            id,
        };
        (link, rx)
    }

    /// The connections of NAS `nas` still open, newest first.
    fn newest_first(&self, nas: i64) -> Vec<mpsc::Sender<Outbound>> {
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        registry.by_nas.get(&nas).map_or_else(Vec::new, |links| {
            links
                .iter()
                .rev()
                .filter(|(_, tx)| !tx.is_closed())
                .map(|(_, tx)| tx.clone())
                .collect()
        })
    }

    /// Sends `request` over the newest open connection of NAS `nas` and waits up to `wait`
    /// for the answer; a connection that closes before writing it passes the request to
    /// the next. `None` when no connection wrote it: the caller may send it by UDP.
    ///
    /// A connection that closes after writing it answers [`Outcome::Io`]: the NAS may have
    /// acted on the request, so it is not sent again.
    pub(crate) async fn send(
        &self,
        nas: i64,
        request: &Request,
        wait: Duration,
    ) -> Option<Outcome> {
        let deadline = Instant::now() + wait;
        for link in self.newest_first(nas) {
            let (reply, answer) = oneshot::channel();
            let outbound = Outbound {
                request: request.clone(),
                reply,
            };
            match timeout_at(deadline, link.send(outbound)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => continue,
                Err(_) => {
                    return Some(Outcome::Io(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "the RadSec connection took no request in time",
                    )));
                }
            }
            match timeout_at(deadline, answer).await {
                Ok(Ok(outcome)) => return Some(outcome),
                Ok(Err(_)) => continue,
                Err(_) => {
                    return Some(Outcome::Timeout {
                        tries: 1,
                        ignored: 0,
                    });
                }
            }
        }
        None
    }
}

/// A connection's registration in [`Links`], removed when dropped.
#[derive(Debug)]
pub(crate) struct Link {
    registry: Arc<Mutex<Registry>>,
    nas: i64,
    id: u64,
}

impl Drop for Link {
    fn drop(&mut self) {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(links) = registry.by_nas.get_mut(&self.nas) {
            links.retain(|(id, _)| *id != self.id);
            if links.is_empty() {
                registry.by_nas.remove(&self.nas);
            }
        }
    }
}

/// Where `nas`'s CoA- and Disconnect-Requests go: its CoA port when it is one address,
/// its RadSec connection when it takes requests there (`tls_coa`); `None` for a NAS
/// configured as a range without RadSec CoA, which nothing can reach.
pub(crate) fn coa_target(nas: &Nas) -> Option<Target> {
    let full = if nas.network.is_ipv4() { 32 } else { 128 };
    let addr = (nas.prefix_len == full).then(|| SocketAddr::new(nas.network, nas.coa_port));
    (addr.is_some() || nas.tls.coa).then(|| Target {
        nas_id: nas.id,
        name: nas.name.clone(),
        addr,
        secret: nas.secret.clone(),
        window: nas.coa_lane.window,
        rate: nas.coa_lane.rate,
        stream: nas.tls.coa,
    })
}

/// How radiusd's CoA lanes reach a NAS: over its RadSec connection when it takes requests
/// there (`tls_coa`) and has one open, by UDP to its CoA port otherwise.
#[derive(Debug)]
pub(crate) struct Carrier {
    pub(crate) links: Links,
    pub(crate) client: Client,
}

impl Transport for Carrier {
    fn send<'a>(&'a self, nas: &'a Target, request: &'a Request) -> Sending<'a> {
        Box::pin(async move {
            if nas.stream {
                // One copy, with as much patience as UDP has over all its tries: a request
                // is not retransmitted on a reliable connection (RFC 6613 §2.6.1).
                let config = self.client.config();
                let wait = config
                    .timeout
                    .saturating_mul(config.retries.saturating_add(1));
                if let Some(outcome) = self.links.send(nas.nas_id, request, wait).await {
                    return outcome;
                }
            }
            Transport::send(&self.client, nas, request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(3);

    fn request() -> Request {
        Request::disconnect("fup1", "d-1")
    }

    #[tokio::test]
    async fn the_newest_open_connection_takes_the_request() {
        let links = Links::default();
        assert!(links.send(1, &request(), WAIT).await.is_none());
        let (_old, mut old_rx) = links.register(1);
        let (_new, mut new_rx) = links.register(1);
        let (_other, _other_rx) = links.register(2);
        let nas = tokio::spawn(async move {
            let outbound = new_rx.recv().await.unwrap();
            assert_eq!(outbound.request, request());
            outbound.reply.send(Outcome::Ack).unwrap();
        });
        let outcome = links.send(1, &request(), WAIT).await;
        assert!(matches!(outcome, Some(Outcome::Ack)), "{outcome:?}");
        nas.await.unwrap();
        assert!(old_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_connection_that_ends_before_writing_passes_the_request_on() {
        let links = Links::default();
        let (_old, mut old_rx) = links.register(1);
        let (new, mut new_rx) = links.register(1);
        let nas = tokio::spawn(async move {
            // The newest connection ends with the request still queued.
            let _ = new_rx.recv().await;
            drop(new);
            drop(new_rx);
            let outbound = old_rx.recv().await.unwrap();
            outbound
                .reply
                .send(Outcome::Nak { error_cause: None })
                .unwrap();
            old_rx
        });
        let outcome = links.send(1, &request(), WAIT).await;
        assert!(matches!(outcome, Some(Outcome::Nak { .. })), "{outcome:?}");
        let old_rx = nas.await.unwrap();
        // Every connection gone: nothing to send over.
        drop(old_rx);
        assert!(links.send(1, &request(), WAIT).await.is_none());
    }

    #[tokio::test]
    async fn an_unregistered_connection_is_not_used() {
        let links = Links::default();
        let (link, _rx) = links.register(7);
        drop(link);
        assert!(links.send(7, &request(), WAIT).await.is_none());
        assert!(links.registry.lock().unwrap().by_nas.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_request_times_out_once() {
        let links = Links::default();
        let (_link, mut rx) = links.register(1);
        let request = request();
        let (outcome, outbound) = tokio::join!(links.send(1, &request, WAIT), rx.recv());
        assert!(
            matches!(outcome, Some(Outcome::Timeout { tries: 1, .. })),
            "{outcome:?}"
        );
        // The connection learns its sender gave up: the Identifier is free again.
        assert!(outbound.unwrap().reply.is_closed());
    }
}
