//! Where a lane keeps the changes of a NAS that does not answer: PostgreSQL
//! (`coa_deferred`, through [`proisp_store::Store`]), so a restart of the process loses
//! none and any radiusd or adminapi can send them once the NAS shows life.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use proisp_radius::dynauth::Request;
use proisp_store::{DeferredChange, Store};

/// How long a claimed change is held off from other processes: longer than a lane takes
/// to send what it claims at once (twice its window), even under a rate cap of one a
/// second; a process that dies holding changes frees them when it runs out.
pub const LEASE: Duration = Duration::from_secs(300);

/// A change kept for a NAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The request.
    pub request: Request,
    /// When the change was made: of two for one session, the later wins.
    pub made: SystemTime,
}

/// Why keeping, claiming or settling failed (PostgreSQL away, usually).
pub type ParkError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed future of a [`Parking`] operation.
pub type Parked<'a, T> = Pin<Box<dyn Future<Output = Result<T, ParkError>> + Send + 'a>>;

/// Durable storage for the changes of unreachable NASes.
pub trait Parking: Send + Sync + 'static {
    /// Keeps `changes` for `nas_id`: each replaces the kept change of its session unless
    /// that one is newer, and is free for anyone to claim.
    fn keep<'a>(&'a self, nas_id: i64, changes: &'a [Kept]) -> Parked<'a, ()>;
    /// Takes up to `limit` kept changes for `nas_id`, oldest first, held off from others
    /// for [`LEASE`]; changes whose session has closed are dropped instead.
    fn claim(&self, nas_id: i64, limit: u32) -> Parked<'_, Vec<Kept>>;
    /// Forgets changes that were sent and answered, with every older one of their
    /// sessions, but not a newer one kept meanwhile.
    fn settle<'a>(&'a self, nas_id: i64, changes: &'a [Kept]) -> Parked<'a, ()>;
}

impl Parking for Store {
    fn keep<'a>(&'a self, nas_id: i64, changes: &'a [Kept]) -> Parked<'a, ()> {
        Box::pin(async move {
            let rows = changes
                .iter()
                .map(|k| row(nas_id, k))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(self.defer_changes(&rows).await?)
        })
    }

    fn claim(&self, nas_id: i64, limit: u32) -> Parked<'_, Vec<Kept>> {
        Box::pin(async move {
            let rows = self.claim_changes(nas_id, limit, LEASE).await?;
            let mut kept = Vec::with_capacity(rows.len());
            let mut unreadable = Vec::new();
            for r in rows {
                match Request::from_octets(&r.request) {
                    Ok(request) => kept.push(Kept {
                        request,
                        made: r.made_at,
                    }),
                    Err(e) => {
                        tracing::warn!(nas_id, error = %e, "a kept change cannot be read: dropped");
                        unreadable.push(r);
                    }
                }
            }
            self.settle_changes(&unreadable).await?;
            Ok(kept)
        })
    }

    fn settle<'a>(&'a self, nas_id: i64, changes: &'a [Kept]) -> Parked<'a, ()> {
        Box::pin(async move {
            let rows: Vec<DeferredChange> = changes
                .iter()
                .map(|k| DeferredChange {
                    nas_id,
                    acct_session_id: text(&k.request.acct_session_id),
                    username: text(&k.request.user_name),
                    request: Vec::new(),
                    made_at: k.made,
                })
                .collect();
            Ok(self.settle_changes(&rows).await?)
        })
    }
}

fn row(nas_id: i64, k: &Kept) -> Result<DeferredChange, ParkError> {
    Ok(DeferredChange {
        nas_id,
        acct_session_id: text(&k.request.acct_session_id),
        username: text(&k.request.user_name),
        request: k.request.to_octets()?,
        made_at: k.made,
    })
}

/// The text a session's identification is kept under: the NAS's octets, which are UTF-8
/// for every session in PostgreSQL (accounting stores them as text).
fn text(octets: &[u8]) -> String {
    String::from_utf8_lossy(octets).into_owned()
}
