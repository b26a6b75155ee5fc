//! What every socket task shares: snapshots of the NAS and plan tables, the lookup chain,
//! the accounting writers, the store and the metric handles.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use proisp_shared::store::{Cache, CacheEvent, Invalidation, Store};
use tokio::sync::mpsc;

use crate::auth::PlanEntry;
use crate::config::Config;
use crate::lookup::Lookup;
use crate::metrics::Metrics;
use crate::nas_table::NasTable;
use crate::sessions::{CountTtl, SessionCounts};
use crate::writer::{WriterContext, Writers};

/// Plans by id, with their reply values computed.
pub(crate) type PlanTable = HashMap<i64, Arc<PlanEntry>>;

/// State shared by every task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) nas: ArcSwap<NasTable>,
    pub(crate) plans: ArcSwap<PlanTable>,
    pub(crate) lookup: Lookup,
    pub(crate) writers: Writers,
    pub(crate) counts: Arc<SessionCounts>,
    pub(crate) metrics: Metrics,
}

impl Shared {
    /// Loads the NAS and plan tables, opens the spool and starts the accounting writers;
    /// quota crossings they commit are sent to `crossings`.
    pub(crate) async fn load(
        config: Config,
        store: Store,
        redis: Option<Arc<dyn Cache>>,
        metrics: Metrics,
        crossings: mpsc::UnboundedSender<String>,
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
        );
        let writers = Writers::start(WriterContext {
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
            nas: ArcSwap::from_pointee(NasTable::default()),
            plans: ArcSwap::from_pointee(PlanTable::new()),
            lookup,
            writers,
            counts,
            metrics,
        };
        shared.reload_nas().await?;
        shared.reload_plans().await?;
        Ok(shared)
    }

    /// Reads the NAS table from PostgreSQL and swaps it in; packets in flight keep the
    /// snapshot they started with.
    pub(crate) async fn reload_nas(&self) -> anyhow::Result<()> {
        let table = NasTable::new(self.store.all_nas().await?);
        self.metrics.nas_clients.set(table.len() as f64);
        tracing::info!(clients = table.len(), "NAS table loaded");
        self.nas.store(Arc::new(table));
        Ok(())
    }

    /// Reads every plan from PostgreSQL and swaps the table in.
    pub(crate) async fn reload_plans(&self) -> anyhow::Result<()> {
        let plans: PlanTable = self
            .store
            .all_plans()
            .await?
            .into_iter()
            .map(|p| (p.id, Arc::new(PlanEntry::new(p))))
            .collect();
        tracing::info!(plans = plans.len(), "plans loaded");
        self.plans.store(Arc::new(plans));
        Ok(())
    }

    /// Reloads both tables, logging (not returning) failures: the old snapshot stays in
    /// force until a reload succeeds.
    pub(crate) async fn reload(&self) {
        if let Err(e) = self.reload_nas().await {
            tracing::error!(error = %e, "NAS table reload failed; keeping the previous one");
        }
        if let Err(e) = self.reload_plans().await {
            tracing::error!(error = %e, "plan reload failed; keeping the previous plans");
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
                        "invalidation channel lost; trusting cached entries only briefly"
                    );
                    self.lookup.set_connected(false);
                    self.counts.set_connected(false);
                }
                CacheEvent::Invalidate(Invalidation::Subscriber(name)) => self.lookup.forget(&name),
                CacheEvent::Invalidate(Invalidation::Plan(_)) => {
                    if let Err(e) = self.reload_plans().await {
                        tracing::error!(error = %e, "plan reload failed");
                    }
                }
                CacheEvent::Invalidate(Invalidation::Nas) => {
                    if let Err(e) = self.reload_nas().await {
                        tracing::error!(error = %e, "NAS table reload failed");
                    }
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
