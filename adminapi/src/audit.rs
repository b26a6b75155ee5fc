//! The audit log: who changed what, when, from where, with the entity before and after.
//!
//! A change is recorded in the PostgreSQL transaction that makes it: handlers hand the
//! store's `*_journaled` writes (and adminapi's own admin writes) a [`Journal`] that calls
//! [`record_in`] before COMMIT, so the change and its entry are committed together or not
//! at all — an entry that cannot be written rolls the change back and the client gets an
//! error. Events that are not a row change, or that cannot be undone once they happened
//! (a failed login, a Disconnect-Request sent to a NAS), go through [`record`] (a reveal:
//! refused if it cannot be recorded) or [`record_event`] (logged if it cannot). Values pass
//! through [`redact`] first, so a password, secret, hash or token never lands in the log
//! even when a handler hands over a whole entity.

use std::net::IpAddr;
use std::time::SystemTime;

use deadpool_postgres::{GenericClient, Pool, Transaction};
use proisp_store::{Journal, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Who did it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The admin's id; `None` for failed logins of unknown names and operator commands.
    pub admin_id: Option<i64>,
    /// The admin's name (or the name tried).
    pub username: String,
    /// The client address.
    pub ip: Option<IpAddr>,
}

/// What was done.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `entity.verb`: `plan.create`, `plan.update`, `plan.delete`, `auth.login`, …
    pub action: &'static str,
    /// `plan`, `subscriber`, `nas`, `admin`, `session`.
    pub entity: &'static str,
    /// The entity's id or name.
    pub entity_id: Option<String>,
    /// Before the change (`None` for creations).
    pub before: Option<Value>,
    /// After the change (`None` for deletions).
    pub after: Option<Value>,
}

impl Entry {
    /// An entry with `entity_id` and no before/after.
    pub fn new(action: &'static str, entity: &'static str, id: impl ToString) -> Entry {
        Entry {
            action,
            entity,
            entity_id: Some(id.to_string()),
            before: None,
            after: None,
        }
    }

    /// With the state before.
    pub fn before(mut self, v: &impl Serialize) -> Entry {
        self.before = serde_json::to_value(v).ok();
        self
    }

    /// With the state after.
    pub fn after(mut self, v: &impl Serialize) -> Entry {
        self.after = serde_json::to_value(v).ok();
        self
    }
}

/// Key names whose values never enter the log, matched as substrings of the lowercased
/// key: `password`, `password_hash`, `secret`, `nas_secret`, `totp_secret`,
/// `refresh_token`, `access_token`, …
const SECRET_KEYS: &[&str] = &["password", "secret", "token", "hash", "totp", "key"];

/// `v` with every secret-looking key removed, at any depth.
pub fn redact(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| {
                    let k = k.to_ascii_lowercase();
                    !SECRET_KEYS.iter().any(|s| k.contains(s))
                })
                .map(|(k, v)| (k, redact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// Appends an entry through `client`: a pooled connection, or the transaction of the
/// change it records.
async fn insert(
    client: &impl GenericClient,
    actor: &Actor,
    entry: Entry,
) -> Result<(), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO audit_log (admin_id, admin_username, client_ip, action, entity, \
             entity_id, before, after) VALUES ($1, $2, $3::text::inet, $4, $5, $6, $7, $8)",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &actor.admin_id,
                &actor.username,
                &actor.ip.map(|ip| ip.to_string()),
                &entry.action,
                &entry.entity,
                &entry.entity_id,
                &entry.before.map(redact),
                &entry.after.map(redact),
            ],
        )
        .await?;
    Ok(())
}

/// Appends an entry in `tx`, the transaction of the change it records: the body of a
/// store [`Journal`]. A failure rolls the change back; it is
/// reported as an internal error (or unavailability), never as the client's fault, whatever
/// PostgreSQL said about the audit row.
pub async fn record_in(
    tx: &Transaction<'_>,
    actor: &Actor,
    entry: Entry,
) -> Result<(), StoreError> {
    let action = entry.action;
    insert(tx, actor, entry).await.map_err(|e| {
        let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
        let e = StoreError::from(e);
        if e.is_unavailable() {
            return e;
        }
        tracing::error!(error = %e, action, admin = %actor.username,
            "audit entry not written: the change is rolled back");
        StoreError::Database {
            code,
            message: format!("audit entry not written: {e}"),
        }
    })
}

/// Runs `write` in a transaction, then `journal` with what it wrote, then commits: for
/// adminapi's own tables, what the store's `*_journaled` writes do for its.
pub async fn transaction<T, W>(
    pool: &Pool,
    write: W,
    journal: impl Journal<T>,
) -> Result<T, ApiError>
where
    W: AsyncFnOnce(&Transaction<'_>) -> Result<T, ApiError>,
{
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let written = write(&tx).await?;
    journal(&tx, &written).await?;
    tx.commit().await?;
    Ok(written)
}

/// Appends an entry on its own, for an event that must not happen unrecorded (a password
/// reveal: the caller answers only once this returned).
pub async fn record(pool: &Pool, actor: &Actor, entry: Entry) -> Result<(), ApiError> {
    let client = pool.get().await?;
    insert(&client, actor, entry).await?;
    Ok(())
}

/// Appends an entry on its own for an event that already happened and cannot be undone (a
/// failed login counted, a Disconnect-Request sent): a failure is logged, not returned,
/// since answering "error" would hide what was done and invite a retry.
pub async fn record_event(pool: &Pool, actor: &Actor, entry: Entry) {
    let action = entry.action;
    if let Err(e) = record(pool, actor, entry).await {
        tracing::error!(error = %e, action, admin = %actor.username, "audit entry lost");
    }
}

/// One entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Record {
    /// Entry id (increasing).
    pub id: i64,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// The admin's id (null once the admin is deleted, or for unknown login names).
    pub admin_id: Option<i64>,
    /// The admin's name.
    pub admin_username: String,
    /// Client address.
    pub client_ip: Option<String>,
    /// `entity.verb`.
    pub action: String,
    /// Entity type.
    pub entity: String,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Before the change, secrets removed.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// After the change, secrets removed.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// Filters and paging of `GET /audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Only this admin's entries (id).
    pub admin_id: Option<i64>,
    /// Only entries on this entity type (`plan`, `subscriber`, …).
    pub entity: Option<String>,
    /// Only this entity id (with `entity`).
    pub entity_id: Option<String>,
    /// Only this action (`plan.update`).
    pub action: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Entries before this time (RFC 3339).
    pub until: Option<String>,
    /// Entries with an id below this (the `next_before` of the previous page).
    pub before_id: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn time(field: &str, v: Option<&str>) -> Result<Option<SystemTime>, ApiError> {
    v.map(|s| {
        humantime::parse_rfc3339_weak(s).map_err(|_| {
            ApiError::invalid(
                field,
                "expected an RFC 3339 time, e.g. 2026-11-02T10:00:00Z",
            )
        })
    })
    .transpose()
}

/// A page of entries, newest first, and the cursor of the next page.
pub async fn list(pool: &Pool, q: &Query) -> Result<(Vec<Record>, Option<i64>), ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 500"));
    }
    let since = time("since", q.since.as_deref())?;
    let until = time("until", q.until.as_deref())?;
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                    admin_id, admin_username, host(client_ip), action, entity, entity_id, \
                    before, after \
             FROM audit_log \
             WHERE ($1::int8 IS NULL OR admin_id = $1) \
               AND ($2::text IS NULL OR entity = $2) \
               AND ($3::text IS NULL OR entity_id = $3) \
               AND ($4::text IS NULL OR action = $4) \
               AND ($5::timestamptz IS NULL OR at >= $5) \
               AND ($6::timestamptz IS NULL OR at < $6) \
               AND ($7::int8 IS NULL OR id < $7) \
             ORDER BY id DESC LIMIT $8",
        )
        .await?;
    let rows = client
        .query(
            &stmt,
            &[
                &q.admin_id,
                &q.entity,
                &q.entity_id,
                &q.action,
                &since,
                &until,
                &q.before_id,
                &limit,
            ],
        )
        .await?;
    let records: Vec<Record> = rows
        .iter()
        .map(|r| Record {
            id: r.get(0),
            at: r.get(1),
            admin_id: r.get(2),
            admin_username: r.get(3),
            client_ip: r.get(4),
            action: r.get(5),
            entity: r.get(6),
            entity_id: r.get(7),
            before: r.get(8),
            after: r.get(9),
        })
        .collect();
    let next = (records.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| records.last().map(|r| r.id))
        .flatten();
    Ok((records, next))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_removed_at_any_depth() {
        let v = json!({
            "name": "home-50",
            "password": "pw",
            "nested": {"nas_secret": "s", "ok": 1, "list": [{"refresh_token": "t", "x": 2}]},
            "password_hash": "$argon2id$",
            "TOTP_Secret": "abc",
        });
        assert_eq!(
            redact(v),
            json!({"name": "home-50", "nested": {"ok": 1, "list": [{"x": 2}]}})
        );
    }
}
