//! `/subscribers/imports`: the CSV import as a job (`sql/0024_import_jobs.sql`).
//!
//! ```text
//! POST   /subscribers/imports              the file; 202 with the job at once
//! GET    /subscribers/imports              the latest imports, newest first
//! GET    /subscribers/imports/{id}         how far it got: rows checked or written,
//!                                          created, refused
//! GET    /subscribers/imports/{id}/errors  the refused rows, by row, a page at a time
//! DELETE /jobs/{id}                        cancels it (no part is written after)
//! ```
//!
//! The file is kept sealed under the deployment key (it holds passwords) until the job
//! ends. A runner reads it in parts of [`PART_ROWS`] and writes each part's subscribers,
//! audit row, events, refused rows and progress in one transaction, which also renews the
//! runner's lease; a runner that dies leaves a lease that runs out, and [`resume_orphans`]
//! on any adminapi takes the job over from the last part committed — nothing is created
//! or reported twice. With `all_or_nothing` the parts are only checked, then every row is
//! written in one transaction (the lease renewed beside it); a runner that dies then
//! starts the job over.

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Object;
use proisp_store::{ImportOutcome, Keyring, Label};
use zeroize::Zeroizing;

use super::dto::params::{ErrorPageQuery, RecentImportsQuery};
use super::import::{self, Csv};
use super::*;

/// What the uploaded file is sealed under: its own label, as it holds passwords.
const LABEL: Label = Label::new("proisp/import-file/v1");

/// Data rows per part: per transaction, per progress step.
const PART_ROWS: usize = 2_000;

/// How long a runner's lease lasts; renewed with every part.
const LEASE: Duration = Duration::from_secs(30);

/// Refused rows per page, at most.
const MAX_PAGE: i64 = 1_000;

/// Import subscribers from CSV as a job, with progress.
///
/// The file and its columns are those of `POST /subscribers/import` (at most 100,000
/// rows); its header is checked here, the rows by the job. Answers 202 at once with the
/// job (`Location: /api/v1/subscribers/imports/{job_id}`). The valid rows are written in
/// parts as the job goes, each part with its audit row; with `all_or_nothing=true` every
/// row is checked first and written together only if none is refused. A job whose
/// adminapi stops is taken over by another (or the same, restarted) where it ended.
#[utoipa::path(
    operation_id = "startSubscriberImport",
    tag = "subscribers",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 202, description = "The job that imports the file", body = ImportStarted,
         headers(("Location" = String, description = "/api/v1/subscribers/imports/{job_id}"))),
        (status = 400, description = "Not CSV, or malformed", body = ErrorBody),
        (status = 422, description = "Bad header, or too many rows", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/imports")]
pub(crate) async fn start_import(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    import::require_csv(&req)?;
    let bytes = body::read(payload, IMPORT_LIMIT).await?;
    let rows = import::read(&bytes)?.records.len();
    let sealed = state.store.keys().encrypt(LABEL, &bytes);
    let actor = session.actor();
    let row_count = i32::try_from(rows).unwrap_or(i32::MAX);
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let job_id: i64 = tx
        .query_one(
            "INSERT INTO jobs (kind, created_by, lease_until) \
             VALUES ('subscriber.import', $1, now() + make_interval(secs => $2)) RETURNING id",
            &[&actor.username, &LEASE.as_secs_f64()],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO import_jobs (job_id, body, all_or_nothing, rows, admin_id, client_ip) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &job_id,
            &sealed,
            &query.all_or_nothing,
            &row_count,
            &actor.admin_id,
            &actor.ip,
        ],
    )
    .await?;
    tx.commit().await?;
    actix_web::rt::spawn(run(state.clone(), job_id));
    Ok(HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/subscribers/imports/{job_id}"),
        ))
        .json(ImportStarted { job_id, rows }))
}

/// The columns [`view`] reads.
const VIEW_COLUMNS: &str = "j.id, j.state, i.all_or_nothing, i.rows, i.processed, i.created, \
     i.refused, i.committed, j.created_by, j.created_at, j.updated_at, j.finished_at \
     FROM jobs j JOIN import_jobs i ON i.job_id = j.id";

/// An import job as the API shows it, from a row of [`VIEW_COLUMNS`].
fn view(row: &tokio_postgres::Row) -> ImportJob {
    ImportJob {
        id: row.get(0),
        state: row.get(1),
        all_or_nothing: row.get(2),
        rows: row.get(3),
        processed: row.get(4),
        created: row.get(5),
        refused: row.get(6),
        committed: row.get(7),
        created_by: row.get(8),
        created_at: row.get::<_, SystemTime>(9).into(),
        updated_at: row.get::<_, SystemTime>(10).into(),
        finished_at: row.get::<_, Option<SystemTime>>(11).map(Timestamp::from),
    }
}

/// The latest imports, newest first (kept 30 days after they end).
#[utoipa::path(
    operation_id = "listSubscriberImports",
    tag = "subscribers",
    params(RecentImportsQuery),
    responses(
        (status = 200, description = "The latest imports", body = Vec<ImportJob>),
        (status = 422, description = "Bad limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/imports")]
pub(crate) async fn list_imports(
    state: web::Data<AppState>,
    session: Session,
    query: Query<RecentImportsQuery>,
) -> Result<web::Json<Vec<ImportJob>>, ApiError> {
    session.require(Permission::Read)?;
    let limit = match query.limit {
        None => 20,
        Some(n @ 1..=100) => i64::from(n),
        Some(_) => return Err(ApiError::invalid("limit", "must be 1 to 100")),
    };
    let client = state.db.get().await?;
    let rows = client
        .query(
            &format!("SELECT {VIEW_COLUMNS} ORDER BY j.id DESC LIMIT $1"),
            &[&limit],
        )
        .await?;
    Ok(web::Json(rows.iter().map(view).collect()))
}

/// An import job's progress.
#[utoipa::path(
    operation_id = "getSubscriberImport",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = ImportJob),
        (status = 404, description = "No such import", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/imports/{id}")]
pub(crate) async fn get_import(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<ImportJob>, ApiError> {
    session.require(Permission::Read)?;
    let client = state.db.get().await?;
    let row = client
        .query_opt(&format!("SELECT {VIEW_COLUMNS} WHERE j.id = $1"), &[&*id])
        .await?
        .ok_or(ApiError::NotFound { entity: "import" })?;
    Ok(web::Json(view(&row)))
}

/// An import job's refused rows, by row number, a page at a time.
#[utoipa::path(
    operation_id = "listSubscriberImportErrors",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Job id"), ErrorPageQuery),
    responses(
        (status = 200, description = "Refused rows", body = ImportErrorPage),
        (status = 404, description = "No such import", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/imports/{id}/errors")]
pub(crate) async fn import_errors(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    query: Query<ErrorPageQuery>,
) -> Result<web::Json<ImportErrorPage>, ApiError> {
    session.require(Permission::Read)?;
    let limit = match query.limit {
        None => 100,
        Some(n @ 1..=1000) => i64::from(n),
        Some(_) => return Err(ApiError::invalid("limit", "must be 1 to 1000")),
    };
    let after = i32::try_from(query.after.unwrap_or(0)).unwrap_or(i32::MAX);
    let client = state.db.get().await?;
    client
        .query_opt("SELECT 1 FROM import_jobs WHERE job_id = $1", &[&*id])
        .await?
        .ok_or(ApiError::NotFound { entity: "import" })?;
    let rows = client
        .query(
            "SELECT row, field, message FROM import_job_errors \
             WHERE job_id = $1 AND row > $2 ORDER BY row, field LIMIT $3",
            &[&*id, &after, &(limit.min(MAX_PAGE) + 1)],
        )
        .await?;
    let mut items: Vec<RowError> = rows
        .iter()
        .map(|r| RowError {
            row: usize::try_from(r.get::<_, i32>(0)).unwrap_or(0),
            field: r.get(1),
            message: r.get(2),
        })
        .collect();
    let more = items.len() > usize::try_from(limit).unwrap_or(0);
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next = more.then(|| items.last().map(|e| e.row)).flatten();
    Ok(web::Json(ImportErrorPage { items, next }))
}

/// Takes over one import job whose runner's lease ran out, if any, and runs it here.
pub async fn resume_orphans(state: &web::Data<AppState>) -> Result<(), StoreError> {
    let client = state.db.get().await?;
    let claimed = client
        .query_opt(
            "UPDATE jobs SET lease_until = now() + make_interval(secs => $1), updated_at = now() \
             WHERE id = (SELECT id FROM jobs WHERE state = 'running' AND lease_until < now() \
                         AND kind = 'subscriber.import' \
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
            &[&LEASE.as_secs_f64()],
        )
        .await?;
    if let Some(row) = claimed {
        let id: i64 = row.get(0);
        tracing::info!(job = id, "taking over an import whose runner stopped");
        actix_web::rt::spawn(run(state.clone(), id));
    }
    Ok(())
}

/// A job as its runner reads it.
struct Job {
    id: i64,
    csv: Csv,
    all_or_nothing: bool,
    processed: usize,
    actor: Actor,
}

/// Runs import `id` to its end. On an error it stops: the lease runs out and the job is
/// taken over where its last part ended.
async fn run(state: web::Data<AppState>, id: i64) {
    let result = match load(&state, id).await {
        Ok(Some(job)) if job.all_or_nothing => all_or_nothing(&state, job).await,
        Ok(Some(job)) => in_parts(&state, job).await,
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => tracing::info!(job = id, "import ended"),
        Err(e) => tracing::warn!(error = %e, job = id, "import stopped; it is taken over later"),
    }
}

/// The running job `id` with its file opened; `None` when it is not running.
async fn load(state: &AppState, id: i64) -> Result<Option<Job>, ApiError> {
    let client = state.db.get().await?;
    let Some(row) = client
        .query_opt(
            "SELECT i.body, i.all_or_nothing, i.processed, i.admin_id, i.client_ip, \
                 j.created_by \
             FROM jobs j JOIN import_jobs i ON i.job_id = j.id \
             WHERE j.id = $1 AND j.state = 'running' AND i.body IS NOT NULL",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let bytes = open(state.store.keys(), row.get(0))?;
    Ok(Some(Job {
        id,
        csv: import::read(&bytes)?,
        all_or_nothing: row.get(1),
        processed: usize::try_from(row.get::<_, i32>(2)).unwrap_or(0),
        actor: Actor {
            admin_id: row.get(3),
            ip: row.get(4),
            username: row.get(5),
        },
    }))
}

/// The file as uploaded, from what [`start_import`] sealed.
fn open(keys: &Keyring, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    keys.decrypt(LABEL, sealed)
}

/// The audit row's context of a part: the job and the part's rows.
fn context(job: &Job, part: &[(usize, Vec<String>)]) -> serde_json::Map<String, Value> {
    let mut context = serde_json::Map::new();
    context.insert("job_id".to_owned(), json!(job.id));
    context.insert("rows".to_owned(), json!(part.len()));
    context.insert(
        "first_row".to_owned(),
        json!(part.first().map_or(0, |r| r.0)),
    );
    context.insert("last_row".to_owned(), json!(part.last().map_or(0, |r| r.0)));
    context.insert("all_or_nothing".to_owned(), json!(job.all_or_nothing));
    context
}

/// Writes the valid rows part by part, each part with its progress.
async fn in_parts(state: &AppState, job: Job) -> Result<(), ApiError> {
    let plans = import::plans_by_name(state).await?;
    let records = job.csv.records.get(job.processed..).unwrap_or_default();
    let mut done = job.processed;
    for part in records.chunks(PART_ROWS) {
        let (valid, refused_here) = import::check(&job.csv, part, &plans)?;
        let stopped = Cell::new(false);
        let written = import::write(
            state,
            &job.actor,
            valid,
            ImportMode::ValidRows,
            (context(&job, part), refused_here.len()),
            async |tx: &Transaction<'_>, outcome: &ImportOutcome| {
                let errors: Vec<RowError> = refused_here
                    .iter()
                    .cloned()
                    .chain(import::refused(outcome))
                    .collect();
                let step = (done, part.len());
                let going = progress(tx, job.id, step, outcome, &errors).await?;
                stop_unless(going, &stopped)
            },
        )
        .await;
        if stopped.get() {
            return Ok(());
        }
        written?;
        done += part.len();
    }
    finish(state, job.id).await
}

/// Checks every row part by part, then writes them in one transaction if none is refused.
async fn all_or_nothing(state: &AppState, job: Job) -> Result<(), ApiError> {
    let mut client = state.db.get().await?;
    client
        .execute(
            "WITH gone AS (DELETE FROM import_job_errors WHERE job_id = $1) \
             UPDATE import_jobs SET processed = 0, refused = 0 WHERE job_id = $1",
            &[&job.id],
        )
        .await?;
    let plans = import::plans_by_name(state).await?;
    let mut valid = Vec::with_capacity(job.csv.records.len());
    let mut any_refused = false;
    let mut done = 0;
    for part in job.csv.records.chunks(PART_ROWS) {
        let (rows, mut errors) = import::check(&job.csv, part, &plans)?;
        let checked = state
            .store
            .import_subscribers(rows.clone(), ImportMode::CheckOnly)
            .await?;
        errors.extend(import::refused(&checked));
        any_refused |= !errors.is_empty();
        valid.extend(rows);
        let tx = client.transaction().await?;
        let step = (done, part.len());
        let going = progress(&tx, job.id, step, &ImportOutcome::default(), &errors).await?;
        if !going {
            return Ok(());
        }
        tx.commit().await?;
        done += part.len();
    }
    if !any_refused {
        let stopped = Cell::new(false);
        let write = import::write(
            state,
            &job.actor,
            valid,
            ImportMode::AllOrNothing,
            (context(&job, &job.csv.records), 0),
            async |tx: &Transaction<'_>, outcome: &ImportOutcome| {
                // Every row was checked already: counted as processed, none refused.
                let going = progress(tx, job.id, (done, 0), outcome, &[]).await?;
                stop_unless(going, &stopped)
            },
        );
        tokio::pin!(write);
        let mut tick = actix_web::rt::time::interval(LEASE / 3);
        tick.reset();
        let outcome = loop {
            tokio::select! {
                outcome = &mut write => break outcome,
                _ = tick.tick() => if let Err(e) = renew(&client, job.id).await {
                    tracing::debug!(error = %e, job = job.id, "lease not renewed");
                },
            }
        };
        if stopped.get() {
            return Ok(());
        }
        // Refused now (a repeat across parts, a name taken meanwhile): nothing written.
        let outcome = outcome?;
        if !outcome.errors.is_empty() {
            let errors: Vec<RowError> = import::refused(&outcome).collect();
            let tx = client.transaction().await?;
            let going =
                progress(&tx, job.id, (done, 0), &ImportOutcome::default(), &errors).await?;
            if !going {
                return Ok(());
            }
            tx.commit().await?;
        }
    }
    finish(state, job.id).await
}

/// Records in `tx` that the `rows` after the first `done` are done, with `outcome` and
/// `errors`, and renews the lease. False when this runner must stop and roll `tx` back:
/// the job was cancelled, or another runner (one that took over a lease this one let run
/// out) recorded these rows first. The job's row is locked last, so a cancel never waits
/// behind a part.
async fn progress(
    tx: &Transaction<'_>,
    id: i64,
    (done, rows): (usize, usize),
    outcome: &ImportOutcome,
    errors: &[RowError],
) -> Result<bool, StoreError> {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let error_rows: Vec<i32> = errors.iter().map(|e| count(e.row)).collect();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    tx.execute(
        "INSERT INTO import_job_errors (job_id, row, field, message) \
         SELECT $1, * FROM unnest($2::int4[], $3::text[], $4::text[])",
        &[&id, &error_rows, &fields, &messages],
    )
    .await?;
    let ours = tx
        .execute(
            "UPDATE import_jobs SET processed = processed + $2, created = created + $3, \
                 refused = refused + $4, committed = committed OR $3 > 0 \
             WHERE job_id = $1 AND processed = $5",
            &[
                &id,
                &count(rows),
                &count(outcome.created.len()),
                &count(errors.len()),
                &count(done),
            ],
        )
        .await?;
    if ours == 0 {
        return Ok(false);
    }
    Ok(tx
        .query_opt(
            "UPDATE jobs SET updated_at = now(), lease_until = now() + make_interval(secs => $2) \
             WHERE id = $1 AND state = 'running' RETURNING id",
            &[&id, &LEASE.as_secs_f64()],
        )
        .await?
        .is_some())
}

/// A part's journal: goes on when `going`, else marks the runner `stopped` and rolls the
/// part back.
fn stop_unless(going: bool, stopped: &Cell<bool>) -> Result<(), StoreError> {
    stopped.set(!going);
    if going {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            what: "import.runner".to_owned(),
        })
    }
}

/// Renews the lease of running job `id`.
async fn renew(client: &Object, id: i64) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE jobs SET lease_until = now() + make_interval(secs => $2) \
             WHERE id = $1 AND state = 'running'",
            &[&id, &LEASE.as_secs_f64()],
        )
        .await?;
    Ok(())
}

/// Ends job `id` (unless it was cancelled) and drops its file.
async fn finish(state: &AppState, id: i64) -> Result<(), ApiError> {
    let client = state.db.get().await?;
    client
        .execute(
            "WITH ended AS (UPDATE jobs SET state = 'done', finished_at = now(), \
                 updated_at = now() WHERE id = $1 AND state = 'running') \
             UPDATE import_jobs SET body = NULL WHERE job_id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}
