//! `/subscribers/import`: the CSV import, with a per-row report, all or nothing on
//! request.

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

/// Import subscribers from CSV (`Content-Type: text/csv`, UTF-8, a header row first).
///
/// Columns, in any order: `username`, `password`, `plan` (a plan's name) — required —
/// and `status`, `expires_at`, `mac`, `ipv4`, `name`, `phone`, `email`, `address`. Values
/// follow the rules of `POST /subscribers`. Rows that fail are listed with their row
/// number (the header is row 1), column and reason; the others are created in one
/// transaction, or none at all with `all_or_nothing=true`. At most 100,000 rows.
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
    if !matches!(
        content_type.as_str(),
        "text/csv" | "application/csv" | "text/plain"
    ) {
        return Err(ApiError::BadRequest {
            message: "expected Content-Type: text/csv".to_owned(),
            field: None,
        });
    }
    let bytes = body::read(payload, IMPORT_LIMIT).await?;
    let records = csv::records(&bytes).map_err(|e| ApiError::BadRequest {
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
    let plans: std::collections::HashMap<String, i64> = state
        .store
        .all_plans()
        .await?
        .into_iter()
        .map(|p| (p.name, p.id))
        .collect();

    let rows = records.len();
    let mut errors = Vec::new();
    let mut valid = Vec::with_capacity(rows);
    for (row, cells) in records {
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

    let all_or_nothing = query.all_or_nothing;
    // Checked by the store even when a row already failed here, so the report is
    // complete (taken names and addresses, repeats within the file) in every mode.
    let mode = match (all_or_nothing, errors.is_empty()) {
        (false, _) => ImportMode::ValidRows,
        (true, true) => ImportMode::AllOrNothing,
        (true, false) => ImportMode::CheckOnly,
    };
    let actor = session.actor();
    let refused_here = errors.len();
    let outcome = state
        .store
        .import_subscribers_journaled(valid, mode, async |tx, outcome| {
            if outcome.created.is_empty() {
                return Ok(());
            }
            let entry = Entry {
                action: "subscriber.import",
                entity: "subscriber",
                entity_id: None,
                before: None,
                after: Some(json!({
                    "rows": rows,
                    "created": outcome.created.len(),
                    "refused": refused_here + outcome.errors.len(),
                    "all_or_nothing": all_or_nothing,
                    "ids": outcome.created.iter().take(10_000).map(|c| c.1).collect::<Vec<_>>(),
                })),
            };
            audit::record_in(tx, &actor, entry).await?;
            let ids: Vec<i64> = outcome.created.iter().map(|c| c.1).collect();
            let views: Vec<SubscriberView> =
                subscribers::subscriber_records_in(tx, &state.store, &ids)
                    .await?
                    .iter()
                    .map(SubscriberView::from)
                    .collect();
            events::subscribers(tx, "subscriber.created", &views).await
        })
        .await?;
    let created = outcome.created;
    errors.extend(outcome.errors.into_iter().map(|e| RowError {
        row: e.row,
        field: e.field,
        message: e.message,
    }));
    errors.sort_by_key(|e| e.row);
    let committed = !created.is_empty();
    let created: Vec<RowCreated> = created
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
