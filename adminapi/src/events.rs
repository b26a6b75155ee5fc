//! Events for billing and other services (issue 22): each subscriber and plan write
//! appends its event to the outbox ([`proisp_store::outbox`]) in its own transaction,
//! beside its audit entry, so the event exists if and only if the change committed.
//! `proisp-events` publishes them to NATS JetStream.
//!
//! Payloads are the API's views (a subscriber as `GET /subscribers/{id}` shows it, a plan
//! as `GET /plans/{id}`): never a password or a secret. `events/asyncapi.json` describes
//! them.

use deadpool_postgres::Transaction;
use proisp_store::StoreError;
use proisp_store::outbox::{self, ADMINAPI, Event};
use serde::Serialize;
use serde_json::json;

/// A view an event is about: its `subject` (a subscriber's username, a plan's name) and
/// its data.
pub trait Subject: Serialize {
    fn subject(&self) -> &str;
}

/// The event kind of an audited subscriber action, if it announces one.
pub fn subscriber_kind(action: &str) -> Option<&'static str> {
    Some(match action {
        "subscriber.create" | "subscriber.import" => "subscriber.created",
        "subscriber.update" | "subscriber.password_reset" | "subscriber.reset_quota" => {
            "subscriber.updated"
        }
        "subscriber.suspend" => "subscriber.suspended",
        "subscriber.resume" => "subscriber.resumed",
        "subscriber.delete" => "subscriber.deleted",
        "subscriber.renew" => "subscriber.renewed",
        _ => return None,
    })
}

/// The event of `kind` about each of `views`, appended in `tx`.
pub async fn subscribers(
    tx: &Transaction<'_>,
    kind: &str,
    views: &[impl Subject],
) -> Result<(), StoreError> {
    let events: Vec<Event> = views
        .iter()
        .map(|v| Event::new(ADMINAPI, kind, v.subject(), &data(v)))
        .collect();
    outbox::append(tx, &events).await.map(drop)
}

/// `plan.changed` (`change`: `created`, `updated` or `deleted`) with the plan as it is now
/// (as it was, for a deletion), appended in `tx`.
pub async fn plan(
    tx: &Transaction<'_>,
    change: &str,
    view: &impl Subject,
) -> Result<(), StoreError> {
    let data = json!({"change": change, "plan": data(view)});
    let event = Event::about(ADMINAPI, "plan.changed", view.subject(), &data);
    outbox::append(tx, &[event]).await.map(drop)
}

fn data(v: &impl Serialize) -> serde_json::Value {
    // The views hold no secret; redact anyway, as the audit log does, so a field added
    // to a view later cannot leak one.
    crate::audit::redact(serde_json::to_value(v).unwrap_or_default())
}
