//! Reads that a streaming replica may serve: [`Reads`] hands out the replica's [`Store`]
//! while the replica answers and is within `replica_max_lag` of the primary, and the
//! primary's otherwise, counting which it chose and why ([`ReadRoute`]).
//!
//! The replica's health is not checked per request: a task asks it once a second (the
//! [`LAG_SQL`] query, bounded by `connect_timeout`) and the request path reads the
//! result from two atomics. A replica that stopped between two checks is still noticed
//! on the request path: borrowing one of its connections fails, the replica is marked
//! down at once and the read goes to the primary. A replica whose connections all stay
//! busy for `connect_timeout` passes that read to the primary too, without counting as
//! down.
//!
//! Lag is PostgreSQL's own view of the replica: nothing received and not yet replayed
//! means no lag (an idle primary writes no transactions, so the time of the last replayed
//! one grows old although nothing is missing); otherwise it is the age of the last
//! replayed transaction, by the replica's clock against the primary's commit time (the
//! servers' clocks must agree, as NTP keeps them). "Nothing not yet replayed" is
//! `receive <= replay`, not `=`: a restarted replica reports as received the start of the
//! WAL segment it resumed streaming at, which lies behind what it has replayed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_postgres::{PoolError, TimeoutType};

use crate::{Store, StoreConfig, StoreError};

/// How often the replica's lag is measured: the bound is in seconds, so is the check.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The replica's lag in seconds (see the module docs); 0 on a server that is not in
/// recovery (a promoted replica is as current as a primary can be).
const LAG_SQL: &str = "SELECT CASE \
       WHEN NOT pg_is_in_recovery() THEN 0 \
       WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 \
       ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) \
     END::float8";

/// `lag_ms` while no measurement stands (never measured, or the replica is down).
const UNKNOWN: u64 = u64::MAX;

/// Where a read went, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRoute {
    /// The replica: it answers and is within the bound.
    Replica,
    /// The primary: the replica is further behind than `replica_max_lag`.
    Lagging,
    /// The primary: the replica does not answer (or has not answered yet).
    Down,
    /// The primary: every connection to the replica stayed busy for `connect_timeout`.
    Busy,
    /// The primary: no `replica_url` is configured.
    Unconfigured,
}

impl ReadRoute {
    /// Every route, in the order of [`ReadStats::served`].
    pub const ALL: [ReadRoute; 5] = [
        ReadRoute::Replica,
        ReadRoute::Lagging,
        ReadRoute::Down,
        ReadRoute::Busy,
        ReadRoute::Unconfigured,
    ];

    /// The server that served the read: `replica` or `primary`.
    pub const fn target(self) -> &'static str {
        match self {
            ReadRoute::Replica => "replica",
            ReadRoute::Lagging | ReadRoute::Down | ReadRoute::Busy | ReadRoute::Unconfigured => {
                "primary"
            }
        }
    }

    /// Why: `ok`, `lagging`, `down`, `busy` or `unconfigured`.
    pub const fn reason(self) -> &'static str {
        match self {
            ReadRoute::Replica => "ok",
            ReadRoute::Lagging => "lagging",
            ReadRoute::Down => "down",
            ReadRoute::Busy => "busy",
            ReadRoute::Unconfigured => "unconfigured",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A snapshot of the routing, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadStats {
    /// Whether a replica is configured at all.
    pub configured: bool,
    /// Whether the replica answered its last check.
    pub up: bool,
    /// Its lag at the last check; `None` while it is down or unmeasured.
    pub lag: Option<Duration>,
    /// Reads served so far by each route, in [`ReadRoute::ALL`]'s order.
    pub served: [(ReadRoute, u64); 5],
}

/// The replica's pool and what the checks found.
struct Replica {
    store: Store,
    max_lag: Duration,
    check_timeout: Duration,
    up: AtomicBool,
    lag_ms: AtomicU64,
}

impl Replica {
    /// The route a read takes by the last check.
    fn route(&self) -> ReadRoute {
        if !self.up.load(Ordering::Relaxed) {
            return ReadRoute::Down;
        }
        match self.lag_ms.load(Ordering::Relaxed) {
            UNKNOWN => ReadRoute::Down,
            ms if Duration::from_millis(ms) > self.max_lag => ReadRoute::Lagging,
            _ => ReadRoute::Replica,
        }
    }

    /// Records a check's outcome, logging changes of state (not every check).
    fn record(&self, lag: Result<Duration, String>) {
        let before = self.route();
        match lag {
            Ok(lag) => {
                let ms = u64::try_from(lag.as_millis()).unwrap_or(UNKNOWN - 1);
                self.lag_ms.store(ms, Ordering::Relaxed);
                self.up.store(true, Ordering::Relaxed);
            }
            Err(reason) => {
                self.mark_down();
                if before != ReadRoute::Down {
                    tracing::warn!(%reason, "PostgreSQL replica down: reads go to the primary");
                }
            }
        }
        match (before, self.route()) {
            (old, new) if old == new => {}
            (_, ReadRoute::Replica) => tracing::info!("PostgreSQL replica serves reads"),
            (_, ReadRoute::Lagging) => tracing::warn!(
                lag_ms = self.lag_ms.load(Ordering::Relaxed),
                max_lag_ms = self.max_lag.as_millis(),
                "PostgreSQL replica lags: reads go to the primary"
            ),
            _ => {}
        }
    }

    fn mark_down(&self) {
        self.up.store(false, Ordering::Relaxed);
        self.lag_ms.store(UNKNOWN, Ordering::Relaxed);
    }

    /// One check: the lag, or why the replica did not tell it in time; `None` when
    /// every connection stayed busy with reads (a busy replica is not a down one: the
    /// state stands until a check gets through).
    async fn check(&self) -> Option<Result<Duration, String>> {
        // The pool bounds the wait for a connection and a new connection's set-up by
        // connect_timeout; the query is bounded here, for a server that hangs.
        let client = match self.store.pool().get().await {
            Ok(client) => client,
            Err(PoolError::Timeout(TimeoutType::Wait)) => return None,
            Err(e) => return Some(Err(crate::error_chain(&e))),
        };
        let secs =
            match tokio::time::timeout(self.check_timeout, client.query_one(LAG_SQL, &[])).await {
                Err(_) => return Some(Err(format!("no answer within {:?}", self.check_timeout))),
                Ok(Err(e)) => return Some(Err(crate::error_chain(&e))),
                Ok(Ok(row)) => row.try_get::<_, f64>(0),
            };
        // A negative lag is clock skew between the servers: nothing is missing.
        Some(
            secs.map(|s| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX))
                .map_err(|e| crate::error_chain(&e)),
        )
    }
}

struct Inner {
    primary: Store,
    replica: Option<Replica>,
    served: [AtomicU64; 5],
}

/// The handle adminapi reads through: [`Reads::store`] is the replica's [`Store`] when it
/// is usable, else the primary's. Cheap to clone; the replica's check task ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Reads {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("replica", &self.inner.replica.is_some())
            .finish_non_exhaustive()
    }
}

impl Reads {
    /// Every read on `primary`: no replica configured, no task.
    pub fn primary_only(primary: Store) -> Reads {
        Reads::with(primary, None)
    }

    /// Reads routed between `primary` and the replica of `cfg.replica_url` (connected
    /// lazily: a replica down at start-up only sends reads to the primary), with the
    /// check task spawned on the current Tokio runtime. Without `replica_url`, the same
    /// as [`Reads::primary_only`]. A malformed replica URL or TLS file is an error naming
    /// the key.
    pub fn connect(primary: Store, cfg: &StoreConfig) -> Result<Reads, StoreError> {
        let Some(replica_cfg) = cfg.replica() else {
            return Ok(Reads::primary_only(primary));
        };
        // The primary's key: the replica holds the same ciphertexts.
        let keys = Arc::clone(primary.keys());
        let store = Store::connect_lazy(&replica_cfg, keys).map_err(|e| match e {
            StoreError::Invalid { field, reason } if field == "database_url" => {
                StoreError::invalid("replica_url", reason)
            }
            other => other,
        })?;
        let reads = Reads::with(
            primary,
            Some(Replica {
                store,
                max_lag: cfg.replica_max_lag,
                check_timeout: cfg.connect_timeout,
                up: AtomicBool::new(false),
                lag_ms: AtomicU64::new(UNKNOWN),
            }),
        );
        tokio::spawn(watch(Arc::downgrade(&reads.inner)));
        Ok(reads)
    }

    fn with(primary: Store, replica: Option<Replica>) -> Reads {
        Reads {
            inner: Arc::new(Inner {
                primary,
                replica,
                served: Default::default(),
            }),
        }
    }

    /// The store to read from now, counted under its [`ReadRoute`].
    pub async fn store(&self) -> &Store {
        let inner = &*self.inner;
        let (store, route) = match &inner.replica {
            None => (&inner.primary, ReadRoute::Unconfigured),
            Some(replica) => match replica.route() {
                ReadRoute::Replica => match replica.store.pool().get().await {
                    // The connection goes back to the pool idle, for the caller's query.
                    Ok(_) => (&replica.store, ReadRoute::Replica),
                    // Busy, not down: the next read may find a connection free.
                    Err(PoolError::Timeout(TimeoutType::Wait)) => (&inner.primary, ReadRoute::Busy),
                    Err(e) => {
                        replica.record(Err(crate::error_chain(&e)));
                        (&inner.primary, ReadRoute::Down)
                    }
                },
                route => (&inner.primary, route),
            },
        };
        inner.served[route.index()].fetch_add(1, Ordering::Relaxed);
        store
    }

    /// What the routing has done so far.
    pub fn stats(&self) -> ReadStats {
        let inner = &*self.inner;
        let replica = inner.replica.as_ref();
        let lag_ms = replica.map_or(UNKNOWN, |r| r.lag_ms.load(Ordering::Relaxed));
        ReadStats {
            configured: replica.is_some(),
            up: replica.is_some_and(|r| r.up.load(Ordering::Relaxed)),
            lag: (lag_ms != UNKNOWN).then(|| Duration::from_millis(lag_ms)),
            served: ReadRoute::ALL.map(|r| (r, inner.served[r.index()].load(Ordering::Relaxed))),
        }
    }
}

/// Measures the replica every [`CHECK_INTERVAL`] until the [`Reads`] is dropped.
async fn watch(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Some(replica) = &inner.replica else {
            return;
        };
        if let Some(lag) = replica.check().await {
            replica.record(lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keyring;

    fn replica(up: bool, lag_ms: u64) -> Replica {
        let keys = Arc::new(Keyring::from_key(&[1; 32]));
        Replica {
            store: Store::connect_lazy(&StoreConfig::new("postgres://127.0.0.1:1/x"), keys)
                .unwrap(),
            max_lag: Duration::from_secs(5),
            check_timeout: Duration::from_secs(1),
            up: AtomicBool::new(up),
            lag_ms: AtomicU64::new(lag_ms),
        }
    }

    #[test]
    fn routes_follow_the_last_check() {
        assert_eq!(replica(false, UNKNOWN).route(), ReadRoute::Down);
        assert_eq!(replica(true, 0).route(), ReadRoute::Replica);
        assert_eq!(replica(true, 5_000).route(), ReadRoute::Replica);
        assert_eq!(replica(true, 5_001).route(), ReadRoute::Lagging);
        let r = replica(true, 10);
        r.record(Err("refused".into()));
        assert_eq!(r.route(), ReadRoute::Down);
        r.record(Ok(Duration::from_secs(6)));
        assert_eq!(r.route(), ReadRoute::Lagging);
        r.record(Ok(Duration::ZERO));
        assert_eq!(r.route(), ReadRoute::Replica);
    }

    #[test]
    fn routes_name_their_target_and_reason() {
        let names: Vec<_> = ReadRoute::ALL.map(|r| (r.target(), r.reason())).to_vec();
        assert_eq!(
            names,
            [
                ("replica", "ok"),
                ("primary", "lagging"),
                ("primary", "down"),
                ("primary", "busy"),
                ("primary", "unconfigured"),
            ]
        );
        assert!(
            ReadRoute::ALL
                .iter()
                .enumerate()
                .all(|(i, r)| r.index() == i)
        );
    }
}
