//! What every socket task shares: snapshots of the NAS and plan tables, the lookup chain,
//! the accounting writers, the store and the metric handles: the pipeline's [`Backend`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use proisp_coa::{Client, Dispatcher};
use proisp_model::{Nas, Plan};
use proisp_store::{Cache, CacheEvent, Invalidation, Store};
use tokio::sync::mpsc;

use crate::acct::Record;
use crate::auth::{PlanEntry, PlanTable};
use crate::config::Config;
use crate::links::{Carrier, Links, coa_target};
use crate::lookup::{Found, Lookup, Unavailable};
use crate::metrics::Metrics;
use crate::nas_table::NasTable;
use crate::pipeline::Backend;
use crate::rejects::RejectLog;
use crate::sessions::{CountTtl, SessionCounts};
use crate::snapshot;
use crate::writer::{Durable, NotDurable, WriterContext, Writers};

/// State shared by every task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) nas: Arc<ArcSwap<NasTable>>,
    pub(crate) plans: ArcSwap<PlanTable>,
    pub(crate) lookup: Lookup,
    pub(crate) writers: Writers,
    pub(crate) counts: Arc<SessionCounts>,
    pub(crate) metrics: Metrics,
    /// The open RadSec connections of every NAS, for CoA- and Disconnect-Requests.
    pub(crate) links: Links,
    /// Every CoA- and Disconnect-Request, through a lane per NAS.
    pub(crate) lanes: Dispatcher<Carrier>,
    /// Recent Access-Rejects of known subscribers, for the admin console.
    pub(crate) rejects: RejectLog,
    /// Whether the tables were read from PostgreSQL (not from the snapshot of a start
    /// while it was down).
    tables_from_postgres: AtomicBool,
}

impl Shared {
    /// Loads the NAS and plan tables, opens the spool and starts the accounting writers;
    /// quota crossings they commit are sent to `crossings`.
    pub(crate) async fn load(
        config: Config,
        store: Store,
        redis: Option<Arc<dyn Cache>>,
        metrics: Metrics,
        crossings: mpsc::Sender<String>,
        rejects: RejectLog,
    ) -> anyhow::Result<Shared> {
        let counts = Arc::new(SessionCounts::new(
            CountTtl {
                connected: config.accounting.session_count_ttl,
                disconnected: config.accounting.session_count_ttl_disconnected,
            },
            config.auth.backend_timeout,
            redis.clone(),
        ));
        let lookup = Lookup::new(
            store.clone(),
            redis,
            config.cache.clone(),
            config.auth.backend_timeout,
            metrics.clone(),
            counts.clone(),
            config.floor_life(),
        );
        let links = Links::default();
        let nas = Arc::new(ArcSwap::from_pointee(NasTable::default()));
        let known = nas.clone();
        let lanes = Dispatcher::new(
            Carrier {
                links: links.clone(),
                client: Client::new(config.coa),
            },
            config.coa.lanes(),
        )
        .with_parking(Arc::new(store.clone()))
        .with_targets(Arc::new(move |id| {
            known.load().get(id).and_then(|n| coa_target(n))
        }));
        let writers = Writers::start(WriterContext {
            lanes: lanes.clone(),
            store: store.clone(),
            config: config.accounting.clone(),
            metrics: metrics.clone(),
            counts: counts.clone(),
            crossings,
        })
        .with_context(|| {
            format!(
                "accounting.spool_dir {}",
                config.accounting.spool_dir.display()
            )
        })?;
        let shared = Shared {
            config,
            store,
            nas,
            plans: ArcSwap::from_pointee(PlanTable::new()),
            lookup,
            writers,
            counts,
            metrics,
            links,
            lanes,
            rejects,
            tables_from_postgres: AtomicBool::new(false),
        };
        if let Err(e) = shared.load_tables().await {
            let dir = &shared.config.accounting.spool_dir;
            let (nas, plans) = snapshot::load(dir, shared.store.keys())
                .map_err(|s| anyhow::anyhow!("{e:#}; and no table snapshot to start from: {s}"))?;
            tracing::warn!(error = %format!("{e:#}"), nas = nas.len(), plans = plans.len(), "PostgreSQL unavailable: starting from the NAS and plan tables last read from it");
            shared.install_nas(nas);
            shared.install_plans(plans);
        }
        Ok(shared)
    }

    /// Reads both tables from PostgreSQL, installs them and keeps a snapshot of them on
    /// disk for a start while PostgreSQL is down.
    pub(crate) async fn load_tables(&self) -> anyhow::Result<()> {
        let nas = self
            .store
            .all_nas()
            .await
            .context("reading the NAS table")?;
        let plans = self.store.all_plans().await.context("reading the plans")?;
        let dir = &self.config.accounting.spool_dir;
        if let Err(e) = snapshot::save(dir, self.store.keys(), &nas, &plans) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot keep a snapshot of the NAS and plan tables");
        }
        self.install_nas(nas);
        self.install_plans(plans);
        self.tables_from_postgres.store(true, Ordering::Release);
        Ok(())
    }

    /// Reads the tables from PostgreSQL unless they came from it already (not from the
    /// snapshot of a start while it was down).
    pub(crate) async fn tables_from_postgres(&self) -> anyhow::Result<()> {
        if !self.tables_from_postgres.load(Ordering::Acquire) {
            self.load_tables().await?;
            tracing::info!("PostgreSQL answers: NAS and plan tables read from it");
        }
        Ok(())
    }

    fn install_nas(&self, nas: Vec<Nas>) {
        let table = NasTable::new(nas, &self.metrics.per_nas);
        self.metrics.nas_clients.set(table.len() as f64);
        tracing::info!(clients = table.len(), "NAS table loaded");
        self.nas.store(Arc::new(table));
    }

    fn install_plans(&self, plans: Vec<Plan>) {
        let plans: PlanTable = plans
            .into_iter()
            .map(|p| (p.id, Arc::new(PlanEntry::new(p))))
            .collect();
        tracing::info!(plans = plans.len(), "plans loaded");
        self.plans.store(Arc::new(plans));
    }

    /// Reloads both tables, logging (not returning) a failure: the old tables stay in
    /// force until a reload succeeds.
    pub(crate) async fn reload(&self) {
        if let Err(e) = self.load_tables().await {
            tracing::error!(error = %format!("{e:#}"), "NAS and plan reload failed; keeping the previous tables");
        }
    }

    /// Applies invalidation messages until the channel closes.
    pub(crate) async fn follow_invalidations(
        self: Arc<Self>,
        mut events: mpsc::Receiver<CacheEvent>,
    ) {
        while let Some(event) = events.recv().await {
            match event {
                CacheEvent::Connected => {
                    tracing::info!("invalidation channel connected");
                    self.lookup.set_connected(true);
                    self.counts.set_connected(true);
                    // Changes made while disconnected reached no message.
                    self.reload().await;
                }
                CacheEvent::Disconnected => {
                    tracing::warn!(
                        "Redis invalidation channel lost; changes now arrive through PostgreSQL's change feed"
                    );
                    self.lookup.set_connected(false);
                    self.counts.set_connected(false);
                }
                CacheEvent::Invalidate(Invalidation::Subscriber(name)) => self.lookup.forget(&name),
                CacheEvent::Invalidate(Invalidation::Plan(_) | Invalidation::Nas) => {
                    self.reload().await;
                }
                CacheEvent::Invalidate(Invalidation::Sessions(users)) => {
                    for user in &users {
                        self.counts.forget(user);
                    }
                }
                CacheEvent::Invalidate(Invalidation::AllSessions) => self.counts.clear(),
                CacheEvent::Invalidate(Invalidation::All) => {
                    self.lookup.clear();
                    self.counts.clear();
                    self.reload().await;
                }
            }
        }
    }
}

/// The real backends: the lookup chain and its caches, the session counts, the accounting
/// writers.
impl Backend for Shared {
    fn nas(&self) -> &ArcSwap<NasTable> {
        &self.nas
    }

    fn plans(&self) -> &ArcSwap<PlanTable> {
        &self.plans
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn cached(&self, name: &str, now: Instant) -> Option<Found> {
        self.lookup.cached_at(name, now)
    }

    fn cached_count(&self, name: &str, now: Instant) -> Option<u32> {
        self.counts.cached_at(name, now)
    }

    async fn find(&self, name: &str) -> Result<Found, Unavailable> {
        self.lookup.find(name).await
    }

    async fn count(&self, name: &str) -> u32 {
        self.counts.count(&self.store, name).await
    }

    async fn submit(&self, record: Record) -> Result<Durable, NotDurable> {
        self.writers.submit(record).await
    }

    fn wall_clock(&self) -> SystemTime {
        SystemTime::now()
    }

    fn rejects(&self) -> &RejectLog {
        &self.rejects
    }
}
