//! `/webhooks`: signed webhooks (issue 22). proisp-events delivers every event whose kind
//! a webhook lists, signed as Standard Webhooks specifies, retried for a day, then
//! dead-lettered where these routes list and redeliver it.
//!
//! The signing secret (`whsec_` + base64 of 32 random octets) is shown once: in the answer
//! to the create, and to an update that rotates it. It is stored encrypted under the
//! deployment key ([`proisp_store::webhook::Secret`]), and never appears in a view, a list,
//! the audit log or a log line.
//!
//! Destinations are checked against server-side request forgery: a URL whose host is, or
//! resolves to, a loopback, private, link-local or other internal address is refused (422
//! at `url`) unless `webhooks.allow_private_destinations` is set; proisp-events checks
//! again at every attempt.
//!
//! Every route needs [`Permission::WebhookManage`] (superadmins and admins): a webhook
//! sends subscriber data out of the network, and its URL may carry the receiver's token.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use proisp_store::outbox::{ADMINAPI, Event};
use proisp_store::webhook::{self, KINDS, Secret, Sender};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::body;
use crate::data::webhooks::{self as data, Delivery, DeliveryQuery, NewWebhook, Webhook};
use crate::error::{ApiError, ErrorBody};
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// How long a test delivery may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Kinds a webhook may list, at most.
const MAX_KINDS: usize = 64;

/// A webhook as created (POST).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where deliveries go: an `http` or `https` URL, at most 2048 characters, without a
    /// user name or password. Internal addresses are refused unless the deployment allows
    /// them.
    #[schema(max_length = 2048)]
    pub url: String,
    /// The event kinds to deliver (`session.stop`, `subscriber.suspended`, …), 1 to 64.
    #[schema(min_items = 1, max_items = 64)]
    pub events: Vec<String>,
    /// Deliver (default true). Off: nothing is queued, and pending deliveries wait.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

/// A change to a webhook (PATCH): the fields given replace the current ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// A new URL.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New event kinds.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 64)]
    pub events: Option<Vec<String>>,
    /// Deliver or not.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Make a new signing secret; the answer shows it, once. The old one stops signing at
    /// once.
    #[serde(default)]
    pub rotate_secret: bool,
}

/// A webhook as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
    /// The event kinds delivered.
    pub events: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// When created, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When last changed, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> WebhookView {
        WebhookView {
            id: w.id,
            url: w.url.clone(),
            events: w.events.clone(),
            enabled: w.enabled,
            created_at: Timestamp::from(w.created_at),
            updated_at: Timestamp::from(w.updated_at),
        }
    }
}

/// A webhook and its signing secret: the answer to a create, or to an update that rotated
/// the secret. The only place the secret is ever shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` + base64 of the key: give it to the receiver to verify
    /// `webhook-signature` (any Standard Webhooks library takes it as it is). Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `GET /webhooks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Every webhook, by id.
    pub items: Vec<WebhookView>,
}

/// One delivery of an event to a webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Id (for redelivery).
    pub id: i64,
    /// The webhook.
    pub webhook_id: i64,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub event_id: String,
    /// The event's kind (`session.stop`; `webhook.test` for a test).
    pub kind: String,
    /// `pending` (waiting or retrying), `delivered` or `dead` (out of retries).
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When the next attempt is due, while pending.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// The last answer's HTTP status, if the endpoint answered.
    pub last_status: Option<i32>,
    /// Why the last attempt failed (a status, a timeout, a refused connection).
    pub last_error: Option<String>,
    /// When it was delivered.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<Timestamp>,
    /// When it was queued.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The CloudEvent delivered (the request's body).
    #[schema(value_type = Object)]
    pub event: Value,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> DeliveryView {
        DeliveryView {
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id.clone(),
            kind: d.kind.clone(),
            state: d.state.clone(),
            attempts: d.attempts,
            next_attempt_at: (d.state == "pending").then(|| Timestamp::from(d.next_attempt_at)),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at.map(Timestamp::from),
            created_at: Timestamp::from(d.created_at),
            event: d.event.clone(),
        }
    }
}

/// The audit log's view of a delivery: without the event (its data is logged where it
/// happened).
fn audited(d: &Delivery) -> Value {
    json!({"id": d.id, "webhook_id": d.webhook_id, "event_id": d.event_id, "kind": d.kind,
           "state": d.state, "attempts": d.attempts, "last_status": d.last_status})
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Deliveries, newest first.
    pub items: Vec<DeliveryView>,
    /// Pass as `before_id` for the next page; null on the last.
    pub next_before_id: Option<i64>,
}

/// Checks a URL and the destination it names.
async fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    let parsed =
        webhook::parse_url(url.trim()).map_err(|e| ApiError::invalid("url", e.to_string()))?;
    webhook::check_destination(&parsed, state.config.webhooks.allow_private_destinations)
        .await
        .map_err(|e| ApiError::invalid("url", e.to_string()))?;
    Ok(parsed.to_string())
}

/// The kinds, each known, without repeats, in the order given.
fn checked_kinds(events: &[String]) -> Result<Vec<String>, ApiError> {
    if events.is_empty() || events.len() > MAX_KINDS {
        return Err(ApiError::invalid("events", "1 to 64 event kinds"));
    }
    let mut seen = BTreeSet::new();
    let mut kinds = Vec::with_capacity(events.len());
    for (i, kind) in events.iter().enumerate() {
        if !KINDS.contains(&kind.as_str()) {
            return Err(ApiError::invalid(
                format!("events[{i}]"),
                format!("unknown event kind; one of {}", KINDS.join(", ")),
            ));
        }
        if seen.insert(kind.as_str()) {
            kinds.push(kind.clone());
        }
    }
    Ok(kinds)
}

/// Every webhook.
#[utoipa::path(
    operation_id = "listWebhooks",
    tag = "webhooks",
    responses((status = 200, description = "Webhooks by id", body = WebhookList)),
    security(("bearer" = []))
)]
#[get("/webhooks")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<WebhookList>, ApiError> {
    session.require(Permission::WebhookManage)?;
    let items = data::list(&state.db).await?;
    Ok(web::Json(WebhookList {
        items: items.iter().map(WebhookView::from).collect(),
    }))
}

/// One webhook.
#[utoipa::path(
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 200, description = "The webhook", body = WebhookView)),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<WebhookView>, ApiError> {
    session.require(Permission::WebhookManage)?;
    let client = state.db.get().await?;
    Ok(web::Json(WebhookView::from(
        &data::get(&client, *id).await?,
    )))
}

/// Register a webhook. The answer holds its signing secret, shown this once.
#[utoipa::path(
    operation_id = "createWebhook",
    tag = "webhooks",
    request_body = WebhookInput,
    responses(
        (status = 201, description = "Created; `secret` is shown only here", body = WebhookWithSecret),
        (status = 422, description = "Invalid field: an unknown event kind, a URL that is not http(s), or an internal destination", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    session: Session,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::WebhookManage)?;
    let input: WebhookInput = body::parse(req.into_inner())?;
    let events = checked_kinds(&input.events)?;
    let url = checked_url(&state, &input.url).await?;
    let new = NewWebhook {
        url,
        events,
        enabled: input.enabled,
    };
    let secret = Secret::generate();
    let actor = session.actor();
    let created = data::create(&state.db, &new, &secret.seal(&state.keys), async |tx, w| {
        let entry = Entry::new("webhook.create", "webhook", w.id).after(&WebhookView::from(w));
        audit::record_in(tx, &actor, entry).await
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/webhooks/{}", created.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(WebhookWithSecret {
            webhook: WebhookView::from(&created),
            secret: Some(secret.text().to_string()),
        }))
}

/// Change a webhook: its URL, kinds or enabled flag, and rotate its secret
/// (`"rotate_secret": true`: the answer shows the new one, once).
#[utoipa::path(
    operation_id = "updateWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "Updated; `secret` only when rotated", body = WebhookWithSecret),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/webhooks/{id}")]
pub(crate) async fn update(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::WebhookManage)?;
    let patch: WebhookPatch = body::parse(req.into_inner())?;
    let current = data::get(&state.db.get().await?, *id).await?;
    let events = match &patch.events {
        Some(events) => checked_kinds(events)?,
        None => current.events.clone(),
    };
    let url = match &patch.url {
        Some(url) => checked_url(&state, url).await?,
        None => current.url.clone(),
    };
    let new = NewWebhook {
        url,
        events,
        enabled: patch.enabled.unwrap_or(current.enabled),
    };
    let secret = patch.rotate_secret.then(Secret::generate);
    let sealed = secret.as_ref().map(|s| s.seal(&state.keys));
    let before = WebhookView::from(&current);
    let actor = session.actor();
    let updated = data::update(
        &state.db,
        current.id,
        &new,
        sealed.as_deref(),
        async |tx, w| {
            let mut entry = Entry::new("webhook.update", "webhook", w.id)
                .before(&before)
                .after(&WebhookView::from(w));
            // Whether the secret changed is worth knowing; never its value.
            if let Some(Value::Object(after)) = entry.after.as_mut() {
                after.insert(
                    "credential_changed".to_owned(),
                    Value::Bool(patch.rotate_secret),
                );
            }
            audit::record_in(tx, &actor, entry).await
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(WebhookWithSecret {
            webhook: WebhookView::from(&updated),
            secret: secret.map(|s| s.text().to_string()),
        }))
}

/// Delete a webhook and its deliveries.
#[utoipa::path(
    operation_id = "deleteWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []))
)]
#[delete("/webhooks/{id}")]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::WebhookManage)?;
    let actor = session.actor();
    data::delete(&state.db, *id, async |tx, gone| {
        let entry =
            Entry::new("webhook.delete", "webhook", gone.id).before(&WebhookView::from(gone));
        audit::record_in(tx, &actor, entry).await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a `webhook.test` CloudEvent to the webhook now, signed like every delivery, and
/// answer with what came of the attempt (`delivered`, or `dead` with `last_error`; a dead
/// test can be redelivered).
#[utoipa::path(
    operation_id = "testWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 200, description = "The test delivery's outcome", body = DeliveryView)),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/test")]
pub(crate) async fn test(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<DeliveryView>, ApiError> {
    session.require(Permission::WebhookManage)?;
    let hook = data::get(&state.db.get().await?, *id).await?;
    let secret = Secret::open(&state.keys, &hook.secret_enc)?;
    let data = json!({"webhook_id": hook.id, "message": "a test delivery from ProISP"});
    let event = Event::about(
        ADMINAPI,
        webhook::TEST_KIND,
        &format!("webhook/{}", hook.id),
        &data,
    );
    let sender = Sender::new(
        TEST_TIMEOUT,
        state.config.webhooks.allow_private_destinations,
    )?;
    let outcome = sender
        .send(&hook.url, &secret, &event.id, &event.json)
        .await;
    let actor = session.actor();
    let delivery = data::record_test(
        &state.db,
        hook.id,
        &event.id,
        &event.json,
        outcome.status.map(i32::from),
        outcome.error.as_deref(),
        async |tx, d| {
            let entry = Entry::new("webhook.test", "webhook", hook.id).after(&audited(d));
            audit::record_in(tx, &actor, entry).await
        },
    )
    .await?;
    Ok(web::Json(DeliveryView::from(&delivery)))
}

/// A webhook's deliveries, newest first: `?state=dead` for the dead letters.
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), DeliveryQuery),
    responses((status = 200, description = "A page", body = DeliveryPage)),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}/deliveries")]
pub(crate) async fn deliveries(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    q: web::Query<DeliveryQuery>,
) -> Result<web::Json<DeliveryPage>, ApiError> {
    session.require(Permission::WebhookManage)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 500"));
    }
    if let Some(s) = q.state.as_deref()
        && !matches!(s, "pending" | "delivered" | "dead")
    {
        return Err(ApiError::invalid(
            "state",
            "must be pending, delivered or dead",
        ));
    }
    let items = data::deliveries(&state.db, *id, q.state.as_deref(), q.before_id, limit).await?;
    let next_before_id = (items.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| items.last().map(|d| d.id))
        .flatten();
    Ok(web::Json(DeliveryPage {
        items: items.iter().map(DeliveryView::from).collect(),
        next_before_id,
    }))
}

/// Queue a delivered or dead delivery again, at once, with a fresh retry period.
#[utoipa::path(
    operation_id = "redeliverWebhookDelivery",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued", body = DeliveryView),
        (status = 409, description = "Still pending", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/deliveries/{id}/redeliver")]
pub(crate) async fn redeliver(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::WebhookManage)?;
    let actor = session.actor();
    let delivery = data::redeliver(&state.db, *id, async |tx, d| {
        let entry = Entry::new("webhook.redeliver", "webhook_delivery", d.id).after(&audited(d));
        audit::record_in(tx, &actor, entry).await
    })
    .await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(&delivery)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_checked_and_deduplicated() {
        let kinds =
            |k: &[&str]| checked_kinds(&k.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            kinds(&["session.stop", "plan.changed", "session.stop"]).unwrap(),
            ["session.stop", "plan.changed"]
        );
        let err = kinds(&["session.stop", "session.nope"]).unwrap_err();
        assert_eq!(err.body().field.as_deref(), Some("events[1]"));
        assert!(kinds(&[]).is_err());
        assert!(kinds(&["webhook.test"]).is_err());
    }
}
