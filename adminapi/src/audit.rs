//! The audit log: who changed what, when, from where, with the entity before and after.
//!
//! Handlers call [`record`] after every successful change and every reveal or kick. Values
//! pass through [`redact`] first, so a password, secret, hash or token never lands in the
//! log even when a handler hands over a whole entity.

use std::net::IpAddr;
use std::time::SystemTime;

use deadpool_postgres::Pool;
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

/// Appends an entry.
pub async fn record(pool: &Pool, actor: &Actor, entry: Entry) -> Result<(), ApiError> {
    let client = pool.get().await?;
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

/// [`record`] for a change already committed: a failure is logged, not returned, since
/// answering "error" would make the client retry a change that happened.
pub async fn record_after_commit(pool: &Pool, actor: &Actor, entry: Entry) {
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
