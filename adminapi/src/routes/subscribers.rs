//! `/subscribers`: CRUD (delete is soft), the filtered and searched list, suspend,
//! resume, renew, password reset and reveal, and the CSV import.
//!
//! Follows `plans.rs`. Permissions: `read` for lookups, `subscriber_write` for every
//! change but passwords, `password_reset` to set a new password (support desks have it),
//! `password_reveal` to read one (superadmins only; every use audited). No response
//! carries a password except the reveal and a reset that generated one; the audit log
//! never does (views hold no password, and [`audit::redact`] drops any key named like one).

mod csv;
mod dto;
pub(crate) mod import;
pub mod import_job;
pub(crate) mod passwords;
mod search;
mod status;
mod validate;

use std::net::Ipv4Addr;

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use deadpool_postgres::Transaction;
use ipnet::Ipv6Net;
use proisp_model::{MacAddr, Password, Status, Subscriber};
use proisp_radius::attr::Ipv6Prefix;
use proisp_store::{
    Entity, ImportMode, ImportRow, Journal, MAX_USERNAME_LEN, NewSubscriber, StoreError,
};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::{self, Actor, Entry};
use crate::body;
use crate::data::subscribers::{self, Cursor, SubscriberQuery, SubscriberRecord};
use crate::error::{ApiError, ErrorBody};
use crate::events;
use crate::password;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

use super::fields;
use dto::params::{ImportQuery, ListQuery};
pub use dto::*;
pub(crate) use search::{by_username, get_one, list};
pub(crate) use status::{change_status, renew, resume, suspend};
use validate::check_password;

/// Largest CSV body the import reads.
const IMPORT_LIMIT: usize = 32 * 1024 * 1024;
/// Most data rows one import may hold.
const IMPORT_MAX_ROWS: usize = 100_000;
/// Longest subscriber password, octets (RFC 2865 §5.2: User-Password holds 128).
const MAX_PASSWORD_LEN: usize = 128;
/// Length of a generated password: 12 of 56 symbols, about 70 bits.
const GENERATED_LEN: usize = 12;
/// No 0/O, 1/l/I: generated passwords are read out over the phone.
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub(crate) async fn load(state: &AppState, id: i64) -> Result<SubscriberRecord, ApiError> {
    subscribers::subscriber_record(&state.store, id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })
}

/// Records `entry` in a subscriber write's transaction `tx`, with the subscriber the write
/// returned read back there as the API shows it (contact details, plan name, `online`) as
/// `after`, and appends the event the action announces; returns that view for the answer.
pub(crate) async fn record_after(
    state: &AppState,
    tx: &Transaction<'_>,
    actor: &Actor,
    entry: Entry,
    sub: &Subscriber,
) -> Result<SubscriberView, StoreError> {
    let record = subscribers::subscriber_record_in(tx, &state.store, sub.id)
        .await?
        .ok_or(StoreError::NotFound {
            entity: Entity::Subscriber,
        })?;
    let view = SubscriberView::from(&record);
    let kind = events::subscriber_kind(entry.action);
    audit::record_in(tx, actor, entry.after(&view)).await?;
    if let Some(kind) = kind {
        events::subscribers(tx, kind, std::slice::from_ref(&view)).await?;
    }
    Ok(view)
}

/// The view [`record_after`] left, which every committed journaled write has.
fn journaled(view: Option<SubscriberView>) -> Result<SubscriberView, ApiError> {
    view.ok_or_else(|| ApiError::internal("a subscriber write committed without its journal"))
}

/// Create a subscriber; in force on every radiusd within a second.
#[utoipa::path(
    operation_id = "createSubscriber",
    tag = "subscribers",
    request_body = SubscriberInput,
    responses(
        (status = 201, description = "Created", body = SubscriberView),
        (status = 409, description = "Username or static address taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    session: Session,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let input: SubscriberInput = body::parse(req.into_inner())?;
    let actor = session.actor();
    let mut view = None;
    let sub = state
        .store
        .create_subscriber_journaled(&input.to_new(None)?, async |tx, sub| {
            let entry = Entry::new("subscriber.create", "subscriber", sub.id);
            view = Some(record_after(&state, tx, &actor, entry, sub).await?);
            Ok(())
        })
        .await?;
    let view = journaled(view)?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/subscribers/{}", sub.id)))
        .json(view))
}

async fn write(
    state: &AppState,
    session: &Session,
    current: &SubscriberRecord,
    input: &SubscriberInput,
) -> Result<SubscriberView, ApiError> {
    if input.password.is_some() {
        session.require(Permission::PasswordReset)?;
    }
    let actor = session.actor();
    write_as(state, &actor, current, input, "subscriber.update", nothing).await
}

/// Writes `input` over subscriber `current` on behalf of `actor`: the audit entry
/// `action` (`subscriber.update`, or `subscriber.renew` for a billing renewal) and its
/// event in the change's transaction, and `also` there too. What PUT and PATCH do and
/// billing's commands reuse.
pub(crate) async fn write_as(
    state: &AppState,
    actor: &Actor,
    current: &SubscriberRecord,
    input: &SubscriberInput,
    action: &'static str,
    also: impl Journal<SubscriberView>,
) -> Result<SubscriberView, ApiError> {
    let new = input.to_new(Some(&current.subscriber.password))?;
    let before = SubscriberView::from(current);
    let mut view = None;
    state
        .store
        .update_subscriber_journaled(&current.subscriber.username, &new, async |tx, sub| {
            let entry = Entry::new(action, "subscriber", sub.id).before(&before);
            let after = record_after(state, tx, actor, entry, sub).await?;
            also(tx, &after).await?;
            view = Some(after);
            Ok(())
        })
        .await?;
    journaled(view)
}

/// A journal that adds nothing to a write's transaction: the REST calls'.
pub(crate) async fn nothing(
    _tx: &Transaction<'_>,
    _view: &SubscriberView,
) -> Result<(), StoreError> {
    Ok(())
}

/// Replace a subscriber's settings (the password is kept unless given).
#[utoipa::path(
    operation_id = "replaceSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body = SubscriberInput,
    responses(
        (status = 200, description = "Updated", body = SubscriberView),
        (status = 409, description = "Conflict: a unique value is taken, or the change is refused in this state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[put("/subscribers/{id}")]
pub(crate) async fn replace(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let input: SubscriberInput = body::parse(req.into_inner())?;
    let current = load(&state, *id).await?;
    Ok(web::Json(write(&state, &session, &current, &input).await?))
}

/// Change some of a subscriber's settings (JSON merge patch, RFC 7396: `null` clears an
/// optional field).
#[utoipa::path(
    operation_id = "updateSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = SubscriberView),
        (status = 409, description = "Conflict: a unique value is taken, or the change is refused in this state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/subscribers/{id}")]
pub(crate) async fn update(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let patch = req.into_inner();
    if !patch.is_object() {
        return Err(ApiError::invalid("body", "a merge patch is a JSON object"));
    }
    let current = load(&state, *id).await?;
    let mut merged =
        serde_json::to_value(SubscriberInput::from(&current)).map_err(ApiError::internal)?;
    body::merge(&mut merged, patch);
    let input: SubscriberInput = body::parse(merged)?;
    Ok(web::Json(write(&state, &session, &current, &input).await?))
}

/// Delete a subscriber (soft: accounting history stays, the name becomes free, logins
/// are refused within a second).
#[utoipa::path(
    operation_id = "deleteSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 204, description = "Deleted"),
    ),
    security(("bearer" = []))
)]
#[delete("/subscribers/{id}")]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let current = load(&state, *id).await?;
    let actor = session.actor();
    let view = SubscriberView::from(&current);
    let entry = Entry::new("subscriber.delete", "subscriber", *id).before(&view);
    state
        .store
        .delete_subscriber_journaled(&current.subscriber.username, async |tx, _| {
            audit::record_in(tx, &actor, entry).await?;
            events::subscribers(tx, "subscriber.deleted", &[view]).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The JSON body limit (`http.body_limit`).
fn limit(state: &AppState) -> usize {
    state.config.http.body_limit
}

/// Optional JSON body: empty is `T::default()`-like via `{}`.
fn optional_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let v: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
            message: format!("malformed JSON: {e}"),
            field: None,
        })?
    };
    body::parse(v)
}
