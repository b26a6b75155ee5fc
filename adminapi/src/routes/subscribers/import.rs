//! `/subscribers/import`: the CSV import in one request, with a per-row report, all or
//! nothing on request; and the pieces the import as a job ([`super::import_job`]) shares
//! with it: reading the file, checking its rows, writing them with their audit row.

use std::collections::HashMap;

use proisp_store::ImportOutcome;

use super::*;

/// The CSV columns: `username`, `password` and `plan` (the plan's name) are required;
/// the others may be left out or empty.
const CSV_COLUMNS: [&str; 11] = [
    "username",
    "password",
    "plan",
    "status",
    "expires_at",
    "mac",
    "ipv4",
    "name",
    "phone",
    "email",
    "address",
];

/// A CSV file read and its header checked.
pub(super) struct Csv {
    /// The columns, lower case.
    header: Vec<String>,
    /// The data rows, each with its row number (the header is row 1).
    pub(super) records: Vec<(usize, Vec<String>)>,
}

/// 400 unless the request says it holds CSV.
pub(super) fn require_csv(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if matches!(
        content_type.as_str(),
        "text/csv" | "application/csv" | "text/plain"
    ) {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            message: "expected Content-Type: text/csv".to_owned(),
            field: None,
        })
    }
}

/// Reads `bytes` as an import file: 400 when it is not CSV, 422 for a bad header or too
/// many rows.
pub(super) fn read(bytes: &[u8]) -> Result<Csv, ApiError> {
    let records = csv::records(bytes).map_err(|e| ApiError::BadRequest {
        message: e.to_string(),
        field: None,
    })?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(ApiError::invalid(
            "body",
            "empty file: expected a header row",
        ));
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for (i, h) in header.iter().enumerate() {
        if !CSV_COLUMNS.contains(&h.as_str()) {
            return Err(ApiError::invalid(
                h.clone(),
                format!("unknown column; expected some of {}", CSV_COLUMNS.join(",")),
            ));
        }
        if header[..i].contains(h) {
            return Err(ApiError::invalid(h.clone(), "column appears twice"));
        }
    }
    for required in ["username", "password", "plan"] {
        if !header.iter().any(|h| h == required) {
            return Err(ApiError::invalid(required, "required column missing"));
        }
    }
    let records: Vec<(usize, Vec<String>)> = records.collect();
    if records.len() > IMPORT_MAX_ROWS {
        return Err(ApiError::invalid(
            "body",
            format!("at most {IMPORT_MAX_ROWS} rows per import"),
        ));
    }
    Ok(Csv { header, records })
}

/// The plans by name, as the `plan` column names them.
pub(super) async fn plans_by_name(state: &AppState) -> Result<HashMap<String, i64>, ApiError> {
    Ok(state
        .store
        .all_plans()
        .await?
        .into_iter()
        .map(|p| (p.name, p.id))
        .collect())
}

/// Checks `records` of `csv` by the rules of `POST /subscribers`: the rows to write and
/// the rows refused here (the store checks what needs the database: taken names and
/// addresses, repeats).
pub(super) fn check(
    csv: &Csv,
    records: &[(usize, Vec<String>)],
    plans: &HashMap<String, i64>,
) -> Result<(Vec<ImportRow>, Vec<RowError>), ApiError> {
    let header = &csv.header;
    let mut errors = Vec::new();
    let mut valid = Vec::with_capacity(records.len());
    for (row, cells) in records {
        let row = *row;
        let fail = |field: &str, message: String| RowError {
            row,
            field: field.to_owned(),
            message,
        };
        if cells.len() != header.len() {
            errors.push(fail(
                "row",
                format!("{} cells, the header has {}", cells.len(), header.len()),
            ));
            continue;
        }
        let cell = |name: &str| -> Option<String> {
            header
                .iter()
                .position(|h| h == name)
                .map(|i| cells[i].clone())
                .filter(|v| !v.trim().is_empty())
        };
        let plan_id = match cell("plan") {
            None => {
                errors.push(fail("plan", "required".to_owned()));
                continue;
            }
            Some(name) => match plans.get(name.trim()) {
                Some(id) => *id,
                None => {
                    errors.push(fail("plan", format!("no plan named {:?}", name.trim())));
                    continue;
                }
            },
        };
        let typed = || -> Result<NewSubscriber, ApiError> {
            let input = SubscriberInput {
                username: cell("username").unwrap_or_default(),
                password: cell("password"),
                status: cell("status")
                    .map_or_else(default_status, |s| s.trim().to_ascii_lowercase()),
                plan_id,
                expires_at: fields::parse_opt("expires_at", cell("expires_at").as_deref())?,
                mac: fields::parse_opt("mac", cell("mac").as_deref())?,
                ipv4: fields::parse_opt("ipv4", cell("ipv4").as_deref())?,
                ipv6_prefix: None,
                delegated_ipv6_prefix: None,
                simultaneous_use: 1,
                name: cell("name"),
                phone: cell("phone"),
                email: cell("email"),
                address: cell("address"),
            };
            input.to_new(None)
        };
        match typed() {
            Ok(subscriber) => valid.push(ImportRow { row, subscriber }),
            Err(ApiError::Invalid { field, message }) => errors.push(fail(&field, message)),
            Err(other) => return Err(other),
        }
    }
    Ok((valid, errors))
}

/// The store's refusals as the report lists them.
pub(super) fn refused(outcome: &ImportOutcome) -> impl Iterator<Item = RowError> + '_ {
    outcome.errors.iter().map(|e| RowError {
        row: e.row,
        field: e.field.clone(),
        message: e.message.clone(),
    })
}

/// Writes `valid` in `mode` with, in the same transaction, an audit row (`context` and
/// the counts as its `after`; `refused_here` rows were refused before the store saw
/// them), the `subscriber.created` events, and what `then` records.
pub(super) async fn write(
    state: &AppState,
    actor: &Actor,
    valid: Vec<ImportRow>,
    mode: ImportMode,
    (context, refused_here): (serde_json::Map<String, Value>, usize),
    then: impl Journal<ImportOutcome>,
) -> Result<ImportOutcome, StoreError> {
    state
        .store
        .import_subscribers_journaled(valid, mode, async move |tx, outcome| {
            if !outcome.created.is_empty() {
                let mut after = context;
                after.insert("created".to_owned(), json!(outcome.created.len()));
                after.insert(
                    "refused".to_owned(),
                    json!(refused_here + outcome.errors.len()),
                );
                after.insert(
                    "ids".to_owned(),
                    outcome
                        .created
                        .iter()
                        .take(10_000)
                        .map(|c| c.1)
                        .collect::<Vec<_>>()
                        .into(),
                );
                let entry = Entry {
                    action: "subscriber.import",
                    entity: "subscriber",
                    entity_id: None,
                    before: None,
                    after: Some(Value::Object(after)),
                };
                audit::record_in(tx, actor, entry).await?;
                let ids: Vec<i64> = outcome.created.iter().map(|c| c.1).collect();
                let views: Vec<SubscriberView> =
                    subscribers::subscriber_records_in(tx, &state.store, &ids)
                        .await?
                        .iter()
                        .map(SubscriberView::from)
                        .collect();
                events::subscribers(tx, "subscriber.created", &views).await?;
            }
            then(tx, outcome).await
        })
        .await
}

/// Import subscribers from CSV (`Content-Type: text/csv`, UTF-8, a header row first), in
/// this request.
///
/// Columns, in any order: `username`, `password`, `plan` (a plan's name) — required —
/// and `status`, `expires_at`, `mac`, `ipv4`, `name`, `phone`, `email`, `address`. Values
/// follow the rules of `POST /subscribers`. Rows that fail are listed with their row
/// number (the header is row 1), column and reason; the others are created in one
/// transaction, or none at all with `all_or_nothing=true`. At most 100,000 rows.
/// `POST /subscribers/imports` does the same as a job, with progress.
#[utoipa::path(
    operation_id = "importSubscribers",
    tag = "subscribers",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "What was created and what was refused", body = ImportReport),
        (status = 400, description = "Not CSV, or malformed", body = ErrorBody),
        (status = 422, description = "Bad header", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/import")]
pub(crate) async fn import(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<web::Json<ImportReport>, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    require_csv(&req)?;
    let bytes = body::read(payload, IMPORT_LIMIT).await?;
    let csv = read(&bytes)?;
    let plans = plans_by_name(&state).await?;
    let (valid, mut errors) = check(&csv, &csv.records, &plans)?;
    let rows = csv.records.len();
    let all_or_nothing = query.all_or_nothing;
    // Checked by the store even when a row already failed here, so the report is
    // complete (taken names and addresses, repeats within the file) in every mode.
    let mode = match (all_or_nothing, errors.is_empty()) {
        (false, _) => ImportMode::ValidRows,
        (true, true) => ImportMode::AllOrNothing,
        (true, false) => ImportMode::CheckOnly,
    };
    let mut context = serde_json::Map::new();
    context.insert("rows".to_owned(), json!(rows));
    context.insert("all_or_nothing".to_owned(), json!(all_or_nothing));
    let refused_here = errors.len();
    let outcome = write(
        &state,
        &session.actor(),
        valid,
        mode,
        (context, refused_here),
        async |_, _| Ok(()),
    )
    .await?;
    errors.extend(refused(&outcome));
    errors.sort_by_key(|e| e.row);
    let committed = !outcome.created.is_empty();
    let created: Vec<RowCreated> = outcome
        .created
        .into_iter()
        .map(|(row, id, username)| RowCreated { row, id, username })
        .collect();
    Ok(web::Json(ImportReport {
        rows,
        committed,
        created,
        errors,
    }))
}
