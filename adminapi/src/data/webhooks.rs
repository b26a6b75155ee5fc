//! Webhooks and their deliveries (sql/0017_webhooks.sql): adminapi registers endpoints,
//! lists deliveries, records test deliveries and redeliveries; proisp-events delivers.

use std::time::SystemTime;

use deadpool_postgres::{GenericClient, Pool, Transaction};
use proisp_store::Journal;
use serde::Deserialize;
use serde_json::Value;
use tokio_postgres::Row;
use utoipa::IntoParams;

use crate::audit;
use crate::error::ApiError;

/// A webhook as stored.
#[derive(Clone)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
    /// The event kinds it gets.
    pub events: Vec<String>,
    /// Off: nothing is queued for it and its pending deliveries wait.
    pub enabled: bool,
    /// The signing secret, sealed ([`proisp_store::webhook::Secret::seal`]).
    pub secret_enc: Vec<u8>,
    /// When created.
    pub created_at: SystemTime,
    /// When last changed.
    pub updated_at: SystemTime,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, url, events, enabled, secret_enc, created_at, updated_at";

impl From<&Row> for Webhook {
    fn from(r: &Row) -> Webhook {
        Webhook {
            id: r.get(0),
            url: r.get(1),
            events: r.get(2),
            enabled: r.get(3),
            secret_enc: r.get(4),
            created_at: r.get(5),
            updated_at: r.get(6),
        }
    }
}

/// What a create or an update writes.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Checked URL.
    pub url: String,
    /// Checked kinds.
    pub events: Vec<String>,
    /// Enabled.
    pub enabled: bool,
}

/// Every webhook, by id.
pub async fn list(pool: &Pool) -> Result<Vec<Webhook>, ApiError> {
    let client = pool.get().await?;
    let rows = client
        .query(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY id"), &[])
        .await?;
    Ok(rows.iter().map(Webhook::from).collect())
}

/// Webhook `id`.
pub async fn get(client: &impl GenericClient, id: i64) -> Result<Webhook, ApiError> {
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"),
            &[&id],
        )
        .await?
        .map(|r| Webhook::from(&r))
        .ok_or(ApiError::NotFound { entity: "webhook" })
}

/// Inserts a webhook with the sealed secret, journaled.
pub async fn create(
    pool: &Pool,
    new: &NewWebhook,
    secret_enc: &[u8],
    journal: impl Journal<Webhook>,
) -> Result<Webhook, ApiError> {
    audit::transaction(
        pool,
        async |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO webhooks (url, events, enabled, secret_enc) \
                         VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
                    ),
                    &[&new.url, &new.events, &new.enabled, &secret_enc],
                )
                .await?;
            Ok(Webhook::from(&row))
        },
        journal,
    )
    .await
}

/// Replaces webhook `id`'s settings (and its secret, when `secret_enc` is given), journaled.
pub async fn update(
    pool: &Pool,
    id: i64,
    new: &NewWebhook,
    secret_enc: Option<&[u8]>,
    journal: impl Journal<Webhook>,
) -> Result<Webhook, ApiError> {
    audit::transaction(
        pool,
        async |tx| {
            tx.query_opt(
                &format!(
                    "UPDATE webhooks SET url = $2, events = $3, enabled = $4, \
                     secret_enc = coalesce($5, secret_enc), updated_at = now() \
                     WHERE id = $1 RETURNING {COLUMNS}"
                ),
                &[&id, &new.url, &new.events, &new.enabled, &secret_enc],
            )
            .await?
            .map(|r| Webhook::from(&r))
            .ok_or(ApiError::NotFound { entity: "webhook" })
        },
        journal,
    )
    .await
}

/// Deletes webhook `id` and its deliveries, journaled with the webhook as it was.
pub async fn delete(pool: &Pool, id: i64, journal: impl Journal<Webhook>) -> Result<(), ApiError> {
    audit::transaction(
        pool,
        async |tx| {
            tx.query_opt(
                &format!("DELETE FROM webhooks WHERE id = $1 RETURNING {COLUMNS}"),
                &[&id],
            )
            .await?
            .map(|r| Webhook::from(&r))
            .ok_or(ApiError::NotFound { entity: "webhook" })
        },
        journal,
    )
    .await
    .map(drop)
}

/// One delivery as stored.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Id.
    pub id: i64,
    /// Its webhook.
    pub webhook_id: i64,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event's kind.
    pub kind: String,
    /// The CloudEvent delivered.
    pub event: Value,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When the next attempt is due (pending).
    pub next_attempt_at: SystemTime,
    /// The last answer's status.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<SystemTime>,
    /// When it was queued.
    pub created_at: SystemTime,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, kind, event, state, attempts, \
    next_attempt_at, last_status, last_error, delivered_at, created_at";

impl From<&Row> for Delivery {
    fn from(r: &Row) -> Delivery {
        Delivery {
            id: r.get(0),
            webhook_id: r.get(1),
            event_id: r.get(2),
            kind: r.get(3),
            event: r.get(4),
            state: r.get(5),
            attempts: r.get(6),
            next_attempt_at: r.get(7),
            last_status: r.get(8),
            last_error: r.get(9),
            delivered_at: r.get(10),
            created_at: r.get(11),
        }
    }
}

/// Filters and paging of a webhook's deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `delivered` or `dead`.
    #[param(pattern = "^(pending|delivered|dead)$")]
    pub state: Option<String>,
    /// Deliveries with an id below this (the `next_before_id` of the previous page).
    pub before_id: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A page of webhook `webhook_id`'s deliveries (in `state`, if given), newest first, below
/// `before_id`.
pub async fn deliveries(
    pool: &Pool,
    webhook_id: i64,
    state: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Delivery>, ApiError> {
    let client = pool.get().await?;
    get(&client, webhook_id).await?;
    let rows = client
        .query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                 WHERE webhook_id = $1 AND ($2::text IS NULL OR state = $2) \
                   AND ($3::int8 IS NULL OR id < $3) \
                 ORDER BY id DESC LIMIT $4"
            ),
            &[&webhook_id, &state, &before_id, &limit],
        )
        .await?;
    Ok(rows.iter().map(Delivery::from).collect())
}

/// Records a test delivery's one attempt (`delivered` or `dead`: a test is not retried
/// unless an admin redelivers it), journaled.
pub async fn record_test(
    pool: &Pool,
    webhook_id: i64,
    event_id: &str,
    event_json: &str,
    status: Option<i32>,
    error: Option<&str>,
    journal: impl Journal<Delivery>,
) -> Result<Delivery, ApiError> {
    audit::transaction(
        pool,
        async |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO webhook_deliveries (webhook_id, event_id, kind, event, \
                           state, attempts, first_attempt_at, last_status, last_error, \
                           delivered_at) \
                         VALUES ($1, $2, $3, $4::text::json, \
                                 CASE WHEN $6::text IS NULL THEN 'delivered' ELSE 'dead' END, \
                                 1, now(), $5, $6, \
                                 CASE WHEN $6::text IS NULL THEN now() END) \
                         RETURNING {DELIVERY_COLUMNS}"
                    ),
                    &[
                        &webhook_id,
                        &event_id,
                        &proisp_store::webhook::TEST_KIND,
                        &event_json,
                        &status,
                        &error,
                    ],
                )
                .await?;
            Ok(Delivery::from(&row))
        },
        journal,
    )
    .await
}

/// Queues delivery `id` again at once with a fresh retry period; refused (409) while it is
/// still pending. Journaled.
pub async fn redeliver(
    pool: &Pool,
    id: i64,
    journal: impl Journal<Delivery>,
) -> Result<Delivery, ApiError> {
    audit::transaction(
        pool,
        async |tx: &Transaction<'_>| {
            let current = tx
                .query_opt(
                    &format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 \
                         FOR UPDATE"
                    ),
                    &[&id],
                )
                .await?
                .map(|r| Delivery::from(&r))
                .ok_or(ApiError::NotFound { entity: "delivery" })?;
            if current.state == "pending" {
                return Err(ApiError::Conflict {
                    message: "the delivery is still pending: it is retried on its own".to_owned(),
                    field: None,
                });
            }
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, \
                         next_attempt_at = now(), first_attempt_at = NULL, delivered_at = NULL, \
                         updated_at = now() WHERE id = $1 RETURNING {DELIVERY_COLUMNS}"
                    ),
                    &[&id],
                )
                .await?;
            Ok(Delivery::from(&row))
        },
        journal,
    )
    .await
}
