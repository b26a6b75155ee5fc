//! Changes that touch many sessions, run as jobs (`sql/0009_jobs.sql`): the request that
//! asks for one answers at once, the job runs beside the server and writes its progress
//! to PostgreSQL, where `GET /jobs/{id}` reads it.
//!
//! A job is run by the adminapi holding its lease. The runner renews the lease with every
//! progress write; a runner that dies (kill -9, a restart) leaves a lease that runs out,
//! and [`resume_orphans`] on any adminapi of the pair takes the job over and runs it again
//! from the start: a CoA setting the rate a session already has changes nothing, and the
//! counts start over with it. A cancelled job stops handing changes to the lanes at its
//! next progress write; what the lanes already took still goes out.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use actix_web::web;
use deadpool_postgres::Pool;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use proisp_coa::{Outcome, Target, session_key};
use proisp_model::{NasVendor, Plan};
use proisp_radius::dictionary::{mikrotik, vendor};
use proisp_radius::dynauth::Request;
use proisp_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::data::sessions;
use crate::dynauth::{self, coa_target, identify, lane_target};
use crate::state::AppState;

/// How long a runner's lease lasts; renewed at every progress write.
const LEASE: Duration = Duration::from_secs(30);

/// How often a running job writes its progress (and renews its lease, and looks for a
/// cancellation).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Changes a job has handed to the lanes and not heard back about; the lanes' windows
/// bound what is in flight to each NAS, this bounds what waits in them for one job.
const OUTSTANDING: usize = 4096;

/// What a job counted, in all and per NAS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Counts {
    /// Sessions the job is about.
    pub sessions: u64,
    /// ACKed.
    pub ack: u64,
    /// NAKed.
    pub nak: u64,
    /// No valid answer after every try.
    pub timeout: u64,
    /// The NAS is marked unreachable: the change waits in its lane for it to show life.
    pub deferred: u64,
    /// Not sent: the NAS is not a MikroTik or is a range (the session gets the rate at
    /// its next login), or a newer change for the session took its place, or the NAS
    /// rebooted first.
    pub skipped: u64,
    /// Socket or encoding errors.
    pub error: u64,
}

impl Counts {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Ack => self.ack += 1,
            Outcome::Nak { .. } => self.nak += 1,
            Outcome::Timeout { .. } => self.timeout += 1,
            Outcome::Deferred => self.deferred += 1,
            Outcome::Superseded | Outcome::Dropped => self.skipped += 1,
            _ => self.error += 1,
        }
    }
}

/// One NAS's part of a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NasCounts {
    /// The NAS.
    pub nas_id: i64,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// A job's progress as it runs.
#[derive(Debug, Default)]
struct Progress {
    totals: Counts,
    nas: BTreeMap<i64, Counts>,
}

impl Progress {
    fn count(&mut self, nas_id: i64, outcome: &Outcome) {
        self.totals.add(outcome);
        self.nas.entry(nas_id).or_default().add(outcome);
    }

    fn sessions(&mut self, nas_id: Option<i64>) {
        self.totals.sessions += 1;
        if let Some(nas_id) = nas_id {
            self.nas.entry(nas_id).or_default().sessions += 1;
        }
    }

    fn nas_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.nas
                .iter()
                .map(|(&nas_id, &counts)| {
                    serde_json::to_value(NasCounts { nas_id, counts }).unwrap_or_default()
                })
                .collect(),
        )
    }
}

/// Creates a `plan.apply` job for `plan_id` on behalf of `admin` and starts running it
/// here; returns its id.
pub async fn start_apply(
    state: &web::Data<AppState>,
    admin: &str,
    plan_id: i64,
) -> Result<i64, StoreError> {
    let client = state.db.get().await?;
    let row = client
        .query_one(
            "INSERT INTO jobs (kind, subject_id, created_by, lease_until) \
             VALUES ('plan.apply', $1, $2, now() + make_interval(secs => $3)) RETURNING id",
            &[&plan_id, &admin, &LEASE.as_secs_f64()],
        )
        .await?;
    let id: i64 = row.get(0);
    actix_web::rt::spawn(run_apply(state.clone(), id, plan_id));
    Ok(id)
}

/// How long an ended job (a plan's apply, an import with its refused rows) is kept; the
/// audit log keeps what it changed.
pub const JOB_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// Deletes jobs that ended more than `keep` ago, with an import's refused rows
/// (housekeeping); returns how many.
pub async fn purge_ended(db: &Pool, keep: Duration) -> Result<u64, StoreError> {
    let client = db.get().await?;
    Ok(client
        .execute(
            "DELETE FROM jobs WHERE state <> 'running' \
             AND finished_at < now() - make_interval(secs => $1)",
            &[&keep.as_secs_f64()],
        )
        .await?)
}

/// Takes over one job whose runner's lease ran out, if any, and runs it here.
pub async fn resume_orphans(state: &web::Data<AppState>) -> Result<(), StoreError> {
    let client = state.db.get().await?;
    let claimed = client
        .query_opt(
            "UPDATE jobs SET lease_until = now() + make_interval(secs => $1), \
                 totals = '{}', nas = '[]', updated_at = now() \
             WHERE id = (SELECT id FROM jobs WHERE state = 'running' AND lease_until < now() \
                         AND kind = 'plan.apply' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, subject_id",
            &[&LEASE.as_secs_f64()],
        )
        .await?;
    if let Some(row) = claimed {
        let (id, plan_id): (i64, i64) = (row.get(0), row.get(1));
        tracing::info!(
            job = id,
            plan = plan_id,
            "taking over a job whose runner stopped"
        );
        actix_web::rt::spawn(run_apply(state.clone(), id, plan_id));
    }
    Ok(())
}

/// Runs a `plan.apply` job to its end, writing progress as it goes.
async fn run_apply(state: web::Data<AppState>, id: i64, plan_id: i64) {
    let mut progress = Progress::default();
    let changes = match changes(&state, plan_id).await {
        Ok(changes) => changes,
        Err(e) => {
            // The lease runs out and another try takes it over.
            tracing::warn!(error = %e, job = id, "cannot list the plan's sessions; the job is retried");
            return;
        }
    };
    let mut pending = changes.into_iter();
    let mut waiting = FuturesUnordered::new();
    let mut tick = actix_web::rt::time::interval(PROGRESS_INTERVAL);
    tick.reset();
    let mut cancelled = false;
    loop {
        while !cancelled && waiting.len() < OUTSTANDING {
            let Some(change) = pending.next() else {
                break;
            };
            match change {
                Change::Skip { nas_id } => {
                    progress.sessions(nas_id);
                    progress.totals.skipped += 1;
                    if let Some(nas_id) = nas_id {
                        progress.nas.entry(nas_id).or_default().skipped += 1;
                    }
                }
                Change::Send {
                    target,
                    key,
                    request,
                    session,
                } => {
                    progress.sessions(Some(target.nas_id));
                    let state = state.clone();
                    waiting.push(async move {
                        let outcome = state.lanes.send(&target, Some(key.as_str()), request).await;
                        dynauth::record(&state.store, session.sent(&target, "admin"), &outcome)
                            .await;
                        (target.nas_id, outcome)
                    });
                }
            }
        }
        if waiting.is_empty() {
            break;
        }
        tokio::select! {
            Some((nas_id, outcome)) = waiting.next() => progress.count(nas_id, &outcome),
            _ = tick.tick() => match write(&state.db, id, &progress, None).await {
                Ok(true) => {}
                Ok(false) => cancelled = true,
                Err(e) => tracing::debug!(error = %e, job = id, "job progress not written"),
            },
        }
    }
    let end = if cancelled { "cancelled" } else { "done" };
    if let Err(e) = write(&state.db, id, &progress, Some(end)).await {
        tracing::warn!(error = %e, job = id, "the job's end is not written; it will run again");
    }
    tracing::info!(job = id, plan = plan_id, state = end, totals = ?progress.totals, "plan applied");
}

/// Writes `progress` and renews the lease (or ends the job as `end`); `Ok(false)` when
/// the job was cancelled meanwhile.
async fn write(
    db: &Pool,
    id: i64,
    progress: &Progress,
    end: Option<&str>,
) -> Result<bool, StoreError> {
    let client = db.get().await?;
    let totals = serde_json::to_value(progress.totals).unwrap_or_default();
    let row = client
        .query_opt(
            "UPDATE jobs SET totals = $2, nas = $3, updated_at = now(), \
                 lease_until = now() + make_interval(secs => $4), \
                 state = coalesce($5, state), \
                 finished_at = CASE WHEN $5::text IS NULL THEN NULL ELSE now() END \
             WHERE id = $1 AND state = 'running' RETURNING id",
            &[
                &id,
                &totals,
                &progress.nas_json(),
                &LEASE.as_secs_f64(),
                &end,
            ],
        )
        .await?;
    Ok(row.is_some())
}

/// What applying a plan does for one open session.
#[derive(Debug)]
enum Change {
    /// Nothing: the NAS is unknown, not a MikroTik (the rate is a MikroTik attribute) or
    /// a range; the session gets the rate at its next login.
    Skip {
        /// The NAS, when known.
        nas_id: Option<i64>,
    },
    /// A CoA-Request through the NAS's lane.
    Send {
        /// The NAS (boxed: a [`Target`] is large beside a skip).
        target: Box<Target>,
        /// The session, for the lane's newest-change-wins rule.
        key: String,
        /// The request.
        request: Request,
        /// Whose session it is, for its coa.result.
        session: Named,
    },
}

/// A session by its subscriber and Acct-Session-Id.
#[derive(Debug)]
struct Named {
    username: String,
    acct_session_id: String,
}

impl Named {
    /// Its CoA sent to `target` for `reason`.
    fn sent<'a>(&'a self, target: &'a Target, reason: &'a str) -> dynauth::Sent<'a> {
        dynauth::Sent {
            username: &self.username,
            acct_session_id: &self.acct_session_id,
            nas: &target.name,
            request: "coa",
            reason,
        }
    }
}

/// What applying plan `plan_id` does for each of its subscribers' open sessions: the rate
/// read now, so a job run again after a restart applies the plan as it is then.
async fn changes(state: &AppState, plan_id: i64) -> Result<Vec<Change>, StoreError> {
    let Some(plan) = state.store.plan(plan_id).await? else {
        return Ok(Vec::new());
    };
    let sessions = sessions::plan_live_sessions(&state.db, plan.id).await?;
    rate_changes(state, &plan, &sessions).await
}

/// Gives subscriber `username`'s open sessions their plan's rate now (the fair-usage rate
/// while their quota is spent): the CoA-Requests a plan's apply sends, for one subscriber
/// (billing's set_plan and reset_quota), sent and waited for. Returns what they counted.
pub(crate) async fn apply_to_subscriber(
    state: &AppState,
    username: &str,
) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    let sessions = sessions::subscriber_live_sessions(&state.db, username).await?;
    let Some(first) = sessions.first() else {
        return Ok(counts);
    };
    let Some(sub) = state.store.subscriber(&first.session.username).await? else {
        return Ok(counts);
    };
    let Some(plan) = state.store.plan(sub.plan_id).await? else {
        return Ok(counts);
    };
    let mut waiting = FuturesUnordered::new();
    for change in rate_changes(state, &plan, &sessions).await? {
        counts.sessions += 1;
        match change {
            Change::Skip { .. } => counts.skipped += 1,
            Change::Send {
                target,
                key,
                request,
                session,
            } => waiting.push(async move {
                let outcome = state.lanes.send(&target, Some(key.as_str()), request).await;
                dynauth::record(&state.store, session.sent(&target, "command"), &outcome).await;
                outcome
            }),
        }
    }
    while let Some(outcome) = waiting.next().await {
        counts.add(&outcome);
    }
    Ok(counts)
}

/// What giving `sessions` the rate of `plan` does for each.
async fn rate_changes(
    state: &AppState,
    plan: &Plan,
    sessions: &[sessions::PlanSession],
) -> Result<Vec<Change>, StoreError> {
    let full = plan.rate.to_mikrotik();
    let fup = plan.fup_rate.as_ref().map(|r| r.to_mikrotik());
    let nases: HashMap<i64, _> = state
        .store
        .all_nas()
        .await?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    Ok(sessions
        .iter()
        .map(|s| {
            let Some(nas) = nases.get(&s.session.nas_id) else {
                return Change::Skip { nas_id: None };
            };
            let addr = match coa_target(nas) {
                Ok(addr) if nas.vendor == NasVendor::Mikrotik => addr,
                _ => {
                    return Change::Skip {
                        nas_id: Some(nas.id),
                    };
                }
            };
            let rate = match (&fup, s.in_fair_usage) {
                (Some(f), true) => f.as_str(),
                _ => full.as_str(),
            };
            let request = identify(
                Request::coa(
                    s.session.username.as_str(),
                    s.session.acct_session_id.as_str(),
                )
                .with_vsa(vendor::MIKROTIK, mikrotik::RATE_LIMIT, rate),
                s.session.framed_ip,
            );
            Change::Send {
                target: Box::new(lane_target(nas, addr)),
                key: session_key(nas.id, &s.session.acct_session_id),
                request,
                session: Named {
                    username: s.session.username.clone(),
                    acct_session_id: s.session.acct_session_id.clone(),
                },
            }
        })
        .collect())
}
