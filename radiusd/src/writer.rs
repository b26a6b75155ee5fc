//! The accounting writers: many requests, one transaction (DESIGN.md, accounting path).
//!
//! Each writer owns a queue and a spool file. It takes whatever has queued up (at most
//! `batch_size`), commits it with one statement, and only then lets the request tasks
//! answer. While PostgreSQL is unreachable the batch is appended to the spool with fsync
//! instead — still durable, still answered — and while the spool holds anything, new
//! batches go behind it, so records reach PostgreSQL in the order they arrived. Requests
//! are spread over the writers by user name (Accounting-On/Off by NAS), so one
//! subscriber's requests are applied in order and two writers rarely touch the same rows.
//!
//! Unreachable includes hung (DESIGN.md: "PostgreSQL slow or frozen"): a commit, and each
//! batch of a spool replay, has `commit_timeout`. A batch past it is spooled and
//! acknowledged like one whose connection was refused, and PostgreSQL counts as
//! unreachable for every writer: their batches go straight to the spool rather than each
//! waiting the deadline behind a server that does not answer, and one probe task asks
//! PostgreSQL every [`REPLAY_INTERVAL`] whether it answers again (within the same
//! deadline), after which each writer replays its spool in order. The statement given up
//! may still complete when PostgreSQL thaws, before or after the replay of the same
//! records; applying a record twice counts nothing twice (see `store::session`).
//!
//! A record PostgreSQL refuses for good (say, its NAS was deleted meanwhile) must not
//! block the records behind it, nor be lost once acknowledged: it goes to
//! `rejected.jsonl` in the spool directory for an operator, and is counted.
//!
//! With `acknowledge = "journal"` the spool is where every record goes first: an
//! appender task per writer appends each batch to the writer's journal with fsync and
//! answers at once, and the writer task applies the journal to PostgreSQL behind it, a
//! sealed segment at a time in batches of `batch_size` (big ones: whatever arrived while
//! the last segment was applied). When the oldest record waiting is older than
//! `journal_max_lag` the appender waits for the writer before it answers more, unless
//! PostgreSQL counts as unreachable: then the journal grows as the spool does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use proisp_coa::Dispatcher;
use proisp_model::AcctStatus;
use proisp_store::{Store, StoreError};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::acct::Record;
use crate::config::{AccountingConfig, Acknowledge};
use crate::flood::log_allowed;
use crate::journal::{self, Journal};
use crate::links::Carrier;
use crate::metrics::{MAX_WRITERS, Metrics};
use crate::sessions::SessionCounts;
use crate::spool::{self, Spool};

/// Queued requests per writer before submitters wait: back-pressure instead of memory.
const QUEUE_DEPTH: usize = 65_536;

/// How often PostgreSQL is asked whether it is back while it counts as unreachable, and
/// how often an idle writer with a non-empty spool replays it once it is.
const REPLAY_INTERVAL: Duration = Duration::from_secs(1);

/// Rate limit of the log lines about spool writes that fail (a full disk fails every
/// batch; the `not_durable` drops count them all).
static SPOOL_ERROR_LOG: AtomicI64 = AtomicI64::new(0);
static CROSSINGS_FULL_LOG: AtomicI64 = AtomicI64::new(0);

/// Journal (spool) file names: `writer-<N>.jsonl`, sealed segments `writer-<N>.<seq>.jsonl`.
const SPOOL_PREFIX: &str = "writer-";

/// How often an appender held back by the journal's lag looks again whether PostgreSQL
/// has meanwhile been found unreachable (then it stops waiting).
const LAG_RECHECK: Duration = Duration::from_millis(100);

/// The shortest time between two appends (fsyncs) of one journal: what arrives meanwhile
/// goes into the next one. Without it a writer under load fsyncs for every few records,
/// and the disk's fsyncs, not PostgreSQL, become the limit.
const APPEND_INTERVAL: Duration = Duration::from_millis(2);

/// How a record was made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durable {
    /// Committed to PostgreSQL.
    Committed,
    /// In the local spool (PostgreSQL unreachable), or among the rejected records.
    Spooled,
    /// In the writer's journal, to be applied behind the answer (`acknowledge = "journal"`).
    Journaled,
}

impl Durable {
    /// Its place in [`crate::metrics`]' `durability` labels.
    pub(crate) fn index(self) -> usize {
        match self {
            Durable::Committed => 0,
            Durable::Spooled => 1,
            Durable::Journaled => 2,
        }
    }
}

/// Neither PostgreSQL nor the spool took the record: it must not be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotDurable;

struct Job {
    record: Record,
    done: oneshot::Sender<Result<Durable, NotDurable>>,
}

/// Whether PostgreSQL counts as unreachable, shared by the writers and the probe task.
#[derive(Debug, Default)]
struct Reachability {
    down: AtomicBool,
    /// Wakes the probe task when `down` is set.
    lost: Notify,
}

impl Reachability {
    fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Marks PostgreSQL unreachable; true when it was not already.
    fn lose(&self) -> bool {
        let first = !self.down.swap(true, Ordering::AcqRel);
        if first {
            self.lost.notify_one();
        }
        first
    }
}

/// The writers' queues.
#[derive(Debug)]
pub(crate) struct Writers {
    queues: Vec<mpsc::Sender<Job>>,
}

/// What every writer needs.
pub(crate) struct WriterContext {
    /// The CoA lanes: accounting from a NAS is a sign of life, an Accounting-On a reboot.
    pub(crate) lanes: Dispatcher<Carrier>,
    pub(crate) store: Store,
    pub(crate) config: AccountingConfig,
    pub(crate) metrics: Metrics,
    pub(crate) counts: Arc<SessionCounts>,
    /// Users whose usage crossed their quota, for the fair-usage task (bounded: see
    /// [`crate::fup::CROSSINGS`]).
    pub(crate) crossings: mpsc::Sender<String>,
}

impl Writers {
    /// Opens the journals (adopting orphans) and starts the writer tasks.
    pub(crate) fn start(ctx: WriterContext) -> std::io::Result<Writers> {
        let count = ctx.config.writers.clamp(1, MAX_WRITERS);
        let dir = &ctx.config.spool_dir;
        let seal_at = ctx.config.batch_size.max(1) as u64;
        let mut journals = (0..count)
            .map(|i| Journal::open(dir, &format!("{SPOOL_PREFIX}{i}"), seal_at))
            .collect::<std::io::Result<Vec<_>>>()?;
        for (index, stem) in journal::stems(dir, SPOOL_PREFIX)? {
            if index >= count {
                let records = Journal::open(dir, &stem, seal_at)?.move_into(&mut journals[0])?;
                tracing::info!(
                    from = stem,
                    records,
                    "adopted the journal of a writer that no longer exists"
                );
            }
        }
        let rejected = Arc::new(std::sync::Mutex::new(Spool::open(dir, "rejected.jsonl")?));
        let ctx = Arc::new(ctx);
        let postgres = Arc::new(Reachability::default());
        tokio::spawn(probe(ctx.clone(), postgres.clone()));
        let mut queues = Vec::with_capacity(count);
        for (index, journal) in journals.into_iter().enumerate() {
            if !journal.is_empty() {
                tracing::info!(path = %journal.path().display(), records = journal.len(), "spooled accounting records to replay");
            }
            let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
            queues.push(tx);
            let lane = Arc::new(Lane {
                index,
                journal: std::sync::Mutex::new(journal),
                applied: Notify::new(),
                wake: Notify::new(),
            });
            let writer = Writer {
                ctx: ctx.clone(),
                lane: lane.clone(),
                rejected: rejected.clone(),
                postgres: postgres.clone(),
            };
            match ctx.config.acknowledge {
                Acknowledge::Commit => {
                    tokio::spawn(writer.run(rx));
                }
                Acknowledge::Journal => {
                    tokio::spawn(writer.apply_journal());
                    let appender = Appender {
                        ctx: ctx.clone(),
                        lane,
                        postgres: postgres.clone(),
                    };
                    tokio::spawn(appender.run(rx));
                }
            }
        }
        Ok(Writers { queues })
    }

    /// Queues `record` and waits until it is durable.
    pub(crate) async fn submit(&self, record: Record) -> Result<Durable, NotDurable> {
        let key = if record.record.status.is_nas_wide() {
            fnv1a(&record.record.nas_id.to_be_bytes())
        } else {
            fnv1a(record.record.username.as_bytes())
        };
        let queue = &self.queues[(key % self.queues.len() as u64) as usize];
        let (done, wait) = oneshot::channel();
        queue
            .send(Job { record, done })
            .await
            .map_err(|_| NotDurable)?;
        wait.await.unwrap_or(Err(NotDurable))
    }
}

/// FNV-1a, 64 bits: which writer a user's (or a NAS's) records go to. Fixed across
/// processes and builds, unlike a seeded hasher: a user's spooled records must be found
/// in the same writer's spool after a restart, or two writers would replay one session
/// side by side and race each other on its row.
fn fnv1a(octets: &[u8]) -> u64 {
    octets.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// While PostgreSQL counts as unreachable, asks it every [`REPLAY_INTERVAL`] whether it
/// answers within the commit deadline, and says so when it does.
async fn probe(ctx: Arc<WriterContext>, postgres: Arc<Reachability>) {
    loop {
        postgres.lost.notified().await;
        while postgres.is_down() {
            tokio::time::sleep(REPLAY_INTERVAL).await;
            if ctx
                .store
                .ping_within(ctx.config.commit_timeout)
                .await
                .is_ok()
            {
                postgres.down.store(false, Ordering::Release);
                tracing::info!("PostgreSQL answers again: replaying spooled accounting");
            }
        }
    }
}

/// A writer's journal, shared by the task that appends to it and the one that applies it.
struct Lane {
    index: usize,
    journal: std::sync::Mutex<Journal>,
    /// Told when a segment was applied (an appender may be waiting for the lag to fall).
    applied: Notify,
    /// Told when records were appended (the writer applies them).
    wake: Notify,
}

impl Lane {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_empty(&self) -> bool {
        self.journal().is_empty()
    }

    /// Runs `work` on the blocking pool: the journal's fsyncs, renames and reads must not
    /// hold a runtime thread that answers NASes meanwhile.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Lane) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let lane = self.clone();
        tokio::task::spawn_blocking(move || work(&lane))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Appends `records` with fsync; `durable` is what that makes them.
    fn append(
        &self,
        records: &[Record],
        metrics: &Metrics,
        durable: Durable,
    ) -> Result<Durable, NotDurable> {
        let mut journal = self.journal();
        match journal.append(records) {
            Ok(()) => {
                self.publish(&journal, metrics);
                Ok(durable)
            }
            Err(e) => {
                if log_allowed(&SPOOL_ERROR_LOG) {
                    tracing::error!(error = %e, path = %journal.path().display(), records = records.len(), "cannot spool accounting records; not acknowledging them (logged once a second)");
                }
                Err(NotDurable)
            }
        }
    }

    fn publish(&self, journal: &Journal, metrics: &Metrics) {
        if let Some(g) = metrics.spooled.get(self.index) {
            g.set(journal.len() as f64);
        }
        if let Some(g) = metrics.journal_lag.get(self.index) {
            g.set(journal.lag(std::time::Instant::now()).as_secs_f64());
        }
    }
}

/// With `acknowledge = "journal"`: takes a writer's queue, appends, answers.
struct Appender {
    ctx: Arc<WriterContext>,
    lane: Arc<Lane>,
    postgres: Arc<Reachability>,
}

impl Appender {
    async fn run(self, mut queue: mpsc::Receiver<Job>) {
        let batch_size = self.ctx.config.batch_size.max(1);
        let mut next_append = tokio::time::Instant::now();
        while let Some(job) = queue.recv().await {
            tokio::time::sleep_until(next_append).await;
            next_append = tokio::time::Instant::now() + APPEND_INTERVAL;
            let mut jobs = vec![job];
            while jobs.len() < batch_size {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.within_lag().await;
            let (records, dones): (Vec<Record>, Vec<_>) =
                jobs.into_iter().map(|j| (j.record, j.done)).unzip();
            let ctx = self.ctx.clone();
            let result = self
                .lane
                .blocking(move |lane| Ok(lane.append(&records, &ctx.metrics, Durable::Journaled)))
                .await
                .unwrap_or(Err(NotDurable));
            self.lane.wake.notify_one();
            for done in dones {
                let _ = done.send(result);
            }
        }
    }

    /// Waits while the journal is more than `journal_max_lag` behind and PostgreSQL
    /// counts as reachable.
    async fn within_lag(&self) {
        let max = self.ctx.config.journal_max_lag;
        loop {
            let applied = self.lane.applied.notified();
            tokio::pin!(applied);
            applied.as_mut().enable();
            if self.postgres.is_down() || self.lane.journal().lag(std::time::Instant::now()) <= max
            {
                return;
            }
            let _ = tokio::time::timeout(LAG_RECHECK, applied).await;
        }
    }
}

struct Writer {
    ctx: Arc<WriterContext>,
    lane: Arc<Lane>,
    rejected: Arc<std::sync::Mutex<Spool>>,
    postgres: Arc<Reachability>,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let batch_size = self.ctx.config.batch_size.max(1);
        let mut tick = tokio::time::interval(REPLAY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.publish();
        loop {
            let mut jobs = Vec::new();
            tokio::select! {
                job = queue.recv() => match job {
                    Some(job) => jobs.push(job),
                    None => break,
                },
                _ = tick.tick() => {}
            }
            while jobs.len() < batch_size {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if !self.lane.is_empty() && !self.postgres.is_down() {
                self.replay().await;
            }
            if !jobs.is_empty() {
                self.write(jobs).await;
            }
        }
    }

    /// Makes one batch durable and answers its submitters.
    async fn write(&mut self, jobs: Vec<Job>) {
        let (records, dones): (Vec<Record>, Vec<_>) =
            jobs.into_iter().map(|j| (j.record, j.done)).unzip();
        let result = if self.lane.is_empty() && !self.postgres.is_down() {
            match self.commit(&records).await {
                Ok(()) => Ok(Durable::Committed),
                Err(()) => self.spool_batch(&records),
            }
        } else {
            // Behind what is already spooled, to keep the order; or PostgreSQL is known
            // not to answer.
            self.spool_batch(&records)
        };
        for done in dones {
            // The submitter may have given up (shutdown); the record is durable anyway.
            let _ = done.send(result);
        }
    }

    fn spool_batch(&mut self, records: &[Record]) -> Result<Durable, NotDurable> {
        self.lane
            .append(records, &self.ctx.metrics, Durable::Spooled)
    }

    /// Applies `records` within the commit deadline.
    async fn apply(&self, records: &[Record]) -> Result<Vec<String>, StoreError> {
        let deadline = self.ctx.config.commit_timeout;
        let started = tokio::time::Instant::now();
        let result = self
            .ctx
            .store
            .apply_accounting_within(
                records.iter().map(|r| (&r.record, r.event_timestamp)),
                self.ctx.config.stale_after,
                deadline,
            )
            .await;
        if let Err(e) = &result
            && e.is_unavailable()
        {
            if started.elapsed() >= deadline {
                self.ctx.metrics.acct_commit_timeouts.increment(1);
            }
            if self.postgres.lose() {
                tracing::warn!(error = %e, writer = self.lane.index, "PostgreSQL unavailable: spooling accounting until it answers again");
            }
        }
        result
    }

    /// Commits `records`; `Err` when PostgreSQL is unreachable or did not answer in time
    /// (nothing is known to be committed). Records refused for good are set aside, see
    /// the module docs.
    async fn commit(&mut self, records: &[Record]) -> Result<(), ()> {
        match self.apply(records).await {
            Ok(crossed) => {
                self.committed(records, crossed);
                Ok(())
            }
            Err(e) if e.is_unavailable() => Err(()),
            Err(e) => {
                tracing::error!(error = %e, writer = self.lane.index, "a batch was refused; applying its records one by one");
                self.commit_one_by_one(records).await
            }
        }
    }

    async fn commit_one_by_one(&mut self, records: &[Record]) -> Result<(), ()> {
        for record in records {
            match self.apply(std::slice::from_ref(record)).await {
                Ok(crossed) => self.committed(std::slice::from_ref(record), crossed),
                // Those before are in; applying them again with the rest is harmless.
                Err(e) if e.is_unavailable() => return Err(()),
                Err(e) => self.reject(record, &e),
            }
        }
        Ok(())
    }

    fn reject(&self, record: &Record, error: &StoreError) {
        self.ctx.metrics.acct_rejected.increment(1);
        let r = &record.record;
        tracing::error!(
            error = %error,
            user = r.username,
            session = r.acct_session_id,
            nas_id = r.nas_id,
            "PostgreSQL refused an accounting record; kept in rejected.jsonl"
        );
        let mut rejected = self
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = rejected.append(std::slice::from_ref(record))
            && log_allowed(&SPOOL_ERROR_LOG)
        {
            tracing::error!(error = %e, path = %rejected.path().display(), "cannot keep the refused record (logged once a second)");
        }
    }

    /// After a commit: session counts, quota crossings.
    fn committed(&self, records: &[Record], crossed: Vec<String>) {
        let mut changed = Vec::new();
        let mut everybody = false;
        let mut heard = Vec::new();
        for Record { record: r, .. } in records {
            match r.status {
                AcctStatus::Start | AcctStatus::Stop => changed.push(r.username.clone()),
                AcctStatus::AccountingOn | AcctStatus::AccountingOff => {
                    everybody = true;
                    // Its sessions are closed: the changes waiting for them go too.
                    self.ctx.lanes.rebooted(r.nas_id);
                }
                AcctStatus::InterimUpdate => {}
            }
            if !heard.contains(&r.nas_id) {
                heard.push(r.nas_id);
            }
        }
        // Once per NAS of the batch: an unreachable NAS that sends accounting is back.
        for nas in heard {
            self.ctx.lanes.alive(nas);
        }
        if everybody {
            self.ctx.counts.all_changed();
        } else {
            changed.sort_unstable();
            changed.dedup();
            self.ctx.counts.changed(changed);
        }
        for user in crossed {
            // Never waits: a writer must not hold accounting for the fair-usage task.
            if let Err(TrySendError::Full(user)) = self.ctx.crossings.try_send(user) {
                self.ctx.metrics.fup_crossings_dropped.increment(1);
                if log_allowed(&CROSSINGS_FULL_LOG) {
                    tracing::warn!(
                        user,
                        "fair-usage queue full: this crossing's CoA is not sent (logged once a second; the user gets the fair-usage speed at the next login)"
                    );
                }
            }
        }
    }

    /// Replays the spool; leaves it for later when PostgreSQL fails again.
    async fn replay(&mut self) {
        let records = self.apply_segments().await;
        if records > 0 {
            tracing::info!(
                records,
                writer = self.lane.index,
                "spool replayed into PostgreSQL"
            );
        }
    }

    /// With `acknowledge = "journal"`: applies the journal whenever the appender adds to
    /// it (or every [`REPLAY_INTERVAL`], for what waited while PostgreSQL was away).
    async fn apply_journal(mut self) {
        let mut tick = tokio::time::interval(REPLAY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.lane.wake.notified() => {}
                _ = tick.tick() => {}
            }
            if !self.postgres.is_down() {
                self.apply_segments().await;
            }
        }
    }

    /// Commits the journal's segments oldest first, removing each once committed, until
    /// it is empty or PostgreSQL fails (what was committed of a segment is applied again
    /// with it later, harmlessly). Returns the records committed.
    async fn apply_segments(&mut self) -> usize {
        let mut committed = 0;
        loop {
            let next = self
                .lane
                .blocking(|lane| {
                    let Some(segment) = lane.journal().oldest()? else {
                        return Ok(None);
                    };
                    let records = spool::read_records(&segment.path)?;
                    Ok(Some((segment, records)))
                })
                .await;
            let (segment, records) = match next {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, writer = self.lane.index, "cannot seal or read the spool");
                    break;
                }
            };
            for chunk in records.chunks(self.ctx.config.batch_size.max(1)) {
                if self.commit(chunk).await.is_err() {
                    self.publish();
                    return committed;
                }
            }
            committed += records.len();
            let seq = segment.seq;
            if let Err(e) = self
                .lane
                .blocking(move |lane| lane.journal().applied(seq))
                .await
            {
                tracing::error!(error = %e, path = %segment.path.display(), "cannot remove a replayed spool segment");
                break;
            }
            self.lane.applied.notify_waiters();
            self.publish();
        }
        self.publish();
        committed
    }

    fn publish(&self) {
        self.lane.publish(&self.lane.journal(), &self.ctx.metrics);
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Write;
    use std::sync::Mutex;
    use std::time::Instant;

    use proisp_coa::{Client, LaneConfig};
    use proisp_model::AcctRecord;
    use proisp_store::{Keyring, StoreConfig};

    use super::*;
    use crate::links::Links;
    use crate::sessions::CountTtl;

    #[test]
    fn a_user_goes_to_the_same_writer_in_every_process() {
        // The published FNV-1a test vectors: the mapping cannot drift between builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// Log output, shared with the subscriber writing it.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Log {
        fn lines_with(&self, text: &str) -> usize {
            let log = self.0.lock().unwrap();
            String::from_utf8_lossy(&log)
                .lines()
                .filter(|l| l.contains(text))
                .count()
        }
    }

    /// A spool on /dev/full: every append fails as on a full disk.
    fn full_disk() -> Spool {
        let file = File::options().append(true).open("/dev/full").unwrap();
        Spool::on("/dev/full".into(), file)
    }

    fn record() -> Record {
        Record {
            record: AcctRecord {
                status: AcctStatus::InterimUpdate,
                nas_id: 1,
                acct_session_id: "s".into(),
                username: "u".into(),
                upload_octets: 1,
                download_octets: 2,
                session_time_secs: 60,
                received_at_ms: 1_800_000_000_000,
                delay_secs: 0,
                framed_ip: None,
                calling_station_id: None,
                nas_port_id: None,
                terminate_cause: None,
            },
            event_timestamp: None,
        }
    }

    /// A writer whose spool and rejected file are on a full disk, sending crossings to
    /// `crossings`, counting with `metrics`; its store never connects.
    fn writer(crossings: mpsc::Sender<String>, metrics: Metrics) -> Writer {
        // Never connected: nothing here reaches PostgreSQL.
        let store = Store::connect_lazy(
            &StoreConfig::new("postgres://nobody@127.0.0.1:1/none"),
            Arc::new(Keyring::from_key(&[1; 32])),
        )
        .unwrap();
        let ttl = Duration::from_secs(1);
        Writer {
            ctx: Arc::new(WriterContext {
                lanes: Dispatcher::new(
                    Carrier {
                        links: Links::default(),
                        client: Client::default(),
                    },
                    LaneConfig::default(),
                ),
                store,
                config: AccountingConfig::default(),
                metrics,
                counts: Arc::new(SessionCounts::new(
                    CountTtl {
                        connected: ttl,
                        disconnected: ttl,
                    },
                    ttl,
                    None,
                )),
                crossings,
            }),
            lane: Arc::new(Lane {
                index: 0,
                journal: Mutex::new(Journal::on(full_disk())),
                applied: Notify::new(),
                wake: Notify::new(),
            }),
            rejected: Arc::new(Mutex::new(full_disk())),
            postgres: Arc::default(),
        }
    }

    #[test]
    fn a_full_fair_usage_queue_drops_crossings_counted_without_waiting() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let prometheus = recorder.handle();
        let metrics = ::metrics::with_local_recorder(&recorder, Metrics::register);
        let (crossings, mut queued) = mpsc::channel(1);
        let writer = writer(crossings, metrics);
        writer.committed(&[], vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(queued.try_recv().unwrap(), "a");
        assert!(queued.try_recv().is_err());
        assert!(
            prometheus
                .render()
                .lines()
                .any(|l| l == "radius_fup_crossings_dropped_total 2"),
            "{}",
            prometheus.render()
        );
    }

    #[test]
    fn a_full_disk_is_logged_once_a_second_not_once_a_batch() {
        let (crossings, _) = mpsc::channel(1);
        let mut writer = writer(crossings, Metrics::register());
        let log = Log::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer({
                let log = log.clone();
                move || log.clone()
            })
            .finish();
        let started = Instant::now();
        let refused = StoreError::Invalid {
            field: "nas_id".into(),
            reason: "gone".into(),
        };
        let failed = tracing::subscriber::with_default(subscriber, || {
            let failed = (0..10_000)
                .filter(|_| writer.spool_batch(&[record()]) == Err(NotDurable))
                .count();
            for _ in 0..1_000 {
                writer.reject(&record(), &refused);
            }
            failed
        });
        // One line per wall-clock second touched: whole seconds elapsed, plus the two
        // partial ones at either end.
        let most = started.elapsed().as_secs() as usize + 2;
        assert_eq!(failed, 10_000, "every batch refused");
        let spool_lines = log.lines_with("cannot spool accounting records");
        assert!(
            (1..=most).contains(&spool_lines),
            "{spool_lines} lines, {most} at most"
        );
        assert_eq!(
            log.lines_with("No space left on device"),
            spool_lines + log.lines_with("cannot keep the refused record")
        );
        assert!(log.lines_with("cannot keep the refused record") <= most);
        // Each refused record is still named, once.
        assert_eq!(
            log.lines_with("PostgreSQL refused an accounting record"),
            1_000
        );
    }
}
