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
pub(crate) mod passwords;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use proisp_model::{MacAddr, Password, Status, Subscriber};
use proisp_radius::attr::Ipv6Prefix;
use proisp_store::{ImportMode, ImportRow, MAX_USERNAME_LEN, NewSubscriber};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::body;
use crate::data::subscribers::{self, Cursor, SubscriberQuery, SubscriberRecord};
use crate::error::{ApiError, ErrorBody};
use crate::password;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

use dto::params::{ImportQuery, ListQuery};
pub use dto::*;

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

/// RFC 3339 UTC, seconds.
fn rfc3339(secs: i64) -> String {
    let t = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// RFC 3339 or a bare date (midnight UTC) → seconds since the epoch.
fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    let s = s.trim();
    let full;
    let text = if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') {
        full = format!("{s}T00:00:00Z");
        full.as_str()
    } else {
        s
    };
    let t = humantime::parse_rfc3339_weak(text).map_err(|_| {
        ApiError::invalid(
            field,
            "expected an RFC 3339 time (2026-12-31T23:59:59Z) or a date (2026-12-31)",
        )
    })?;
    Ok(match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    })
}

fn parse_prefix(field: &str, s: &str) -> Result<Ipv6Prefix, ApiError> {
    let bad = || ApiError::invalid(field, "expected an IPv6 prefix such as 2001:db8:1::/64");
    let (addr, len) = s.trim().split_once('/').ok_or_else(bad)?;
    let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let p = Ipv6Prefix::new(addr, len).ok_or_else(bad)?;
    if p.is_empty() {
        return Err(ApiError::invalid(field, "::/0 is not a subscriber prefix"));
    }
    Ok(p)
}

/// `None` for an absent or blank optional text; too long or with control characters
/// (line breaks allowed in `address`) is 422.
fn text(field: &str, v: Option<&String>, max: usize) -> Result<Option<String>, ApiError> {
    let Some(v) = v.map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !(field == "address" && c == '\n'))
    {
        return Err(ApiError::invalid(field, "contains control characters"));
    }
    Ok(Some(v.to_owned()))
}

/// A password an admin chose for subscriber `username`: 1 to 128 octets, not easy to
/// guess ([`password::check_guessable`]).
fn check_password(username: &str, p: &str) -> Result<(), ApiError> {
    if p.is_empty() || p.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::invalid(
            "password",
            format!("1 to {MAX_PASSWORD_LEN} octets"),
        ));
    }
    password::check_guessable(username, p).map_err(|why| ApiError::invalid("password", why))
}

impl SubscriberInput {
    /// Validates and converts; `current` is the password kept when none is given.
    pub fn to_new(&self, current: Option<&Password>) -> Result<NewSubscriber, ApiError> {
        let u = &self.username;
        if u.is_empty() || u.len() > MAX_USERNAME_LEN {
            return Err(ApiError::invalid(
                "username",
                format!("1 to {MAX_USERNAME_LEN} octets"),
            ));
        }
        if u.trim() != u || u.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "username",
                "no control characters or leading/trailing spaces",
            ));
        }
        let password = match (&self.password, current) {
            (Some(p), _) => {
                check_password(u, p)?;
                Password::new(p.as_bytes())
            }
            (None, Some(p)) => p.clone(),
            (None, None) => return Err(ApiError::invalid("password", "required")),
        };
        let status = Status::parse(&self.status)
            .ok_or_else(|| ApiError::invalid("status", "must be active, suspended or disabled"))?;
        if self.plan_id <= 0 {
            return Err(ApiError::invalid("plan_id", "no such plan"));
        }
        let mac = self
            .mac
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| {
                m.parse::<MacAddr>()
                    .map_err(|e| ApiError::invalid("mac", e.to_string()))
            })
            .transpose()?;
        let ipv4 = self
            .ipv4
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                let ip: Ipv4Addr = a
                    .parse()
                    .map_err(|_| ApiError::invalid("ipv4", "expected an IPv4 address"))?;
                if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
                    return Err(ApiError::invalid("ipv4", "not a host address"));
                }
                Ok(ip)
            })
            .transpose()?;
        let prefix = |field: &str, v: &Option<String>| {
            v.as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(|p| parse_prefix(field, p))
                .transpose()
        };
        let phone = text("phone", self.phone.as_ref(), 32)?;
        if phone.as_deref().is_some_and(|p| {
            !p.chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        }) {
            return Err(ApiError::invalid(
                "phone",
                "digits, spaces and + - ( ) . only",
            ));
        }
        let email = text("email", self.email.as_ref(), 254)?;
        if email
            .as_deref()
            .is_some_and(|e| !matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !e.contains(' ')))
        {
            return Err(ApiError::invalid("email", "not an e-mail address"));
        }
        if i32::try_from(self.simultaneous_use).is_err() {
            return Err(ApiError::invalid("simultaneous_use", "too large"));
        }
        Ok(NewSubscriber {
            username: u.clone(),
            password,
            status,
            plan_id: self.plan_id,
            expires_at: self
                .expires_at
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .map(|e| parse_time("expires_at", e))
                .transpose()?,
            mac,
            ipv4,
            ipv6_prefix: prefix("ipv6_prefix", &self.ipv6_prefix)?,
            delegated_ipv6_prefix: prefix("delegated_ipv6_prefix", &self.delegated_ipv6_prefix)?,
            simultaneous_use: self.simultaneous_use,
            name: text("name", self.name.as_ref(), 200)?,
            phone,
            email,
            address: text("address", self.address.as_ref(), 500)?,
        })
    }
}

impl From<&SubscriberRecord> for SubscriberInput {
    fn from(r: &SubscriberRecord) -> SubscriberInput {
        let s = &r.subscriber;
        SubscriberInput {
            username: s.username.clone(),
            password: None,
            status: s.status.as_str().to_owned(),
            plan_id: s.plan_id,
            expires_at: s.expires_at.map(rfc3339),
            mac: s.mac.map(|m| m.to_string()),
            ipv4: s.ipv4.map(|a| a.to_string()),
            ipv6_prefix: s.ipv6_prefix.map(|p| p.to_string()),
            delegated_ipv6_prefix: s.delegated_ipv6_prefix.map(|p| p.to_string()),
            simultaneous_use: s.simultaneous_use,
            name: r.name.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            address: r.address.clone(),
        }
    }
}

impl From<&SubscriberRecord> for SubscriberView {
    fn from(r: &SubscriberRecord) -> SubscriberView {
        let s = &r.subscriber;
        SubscriberView {
            id: s.id,
            username: s.username.clone(),
            status: s.status.as_str().to_owned(),
            plan_id: s.plan_id,
            plan: r.plan_name.clone(),
            expires_at: s.expires_at.map(rfc3339),
            mac: s.mac.map(|m| m.to_string()),
            ipv4: s.ipv4.map(|a| a.to_string()),
            ipv6_prefix: s.ipv6_prefix.map(|p| p.to_string()),
            delegated_ipv6_prefix: s.delegated_ipv6_prefix.map(|p| p.to_string()),
            simultaneous_use: s.simultaneous_use,
            name: r.name.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            address: r.address.clone(),
            online: r.online,
            fup_until: s.fup_until.map(rfc3339),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            version: s.version,
        }
    }
}

async fn load(state: &AppState, id: i64) -> Result<SubscriberRecord, ApiError> {
    subscribers::subscriber_record(&state.store, id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })
}

/// The record after a write that returned `sub` (contact details and `online` read
/// back; the write is committed, so a failed read is reported as a 500, not retried).
async fn reload(state: &AppState, sub: &Subscriber) -> Result<SubscriberView, ApiError> {
    Ok(SubscriberView::from(&load(state, sub.id).await?))
}

fn min3(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v.map(|v| v.trim().to_owned()) {
        Some(v) if v.chars().count() < 3 => Err(ApiError::invalid(
            field,
            "at least 3 characters (trigram search)",
        )),
        Some(v) if v.chars().count() > 100 => {
            Err(ApiError::invalid(field, "at most 100 characters"))
        }
        other => Ok(other),
    }
}

impl ListQuery {
    fn to_store(&self) -> Result<SubscriberQuery, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=subscribers::MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be 1 to 500"));
        }
        let ipv4_within = self
            .ip
            .as_deref()
            .map(|s| {
                let bad =
                    || ApiError::invalid("ip", "expected an IPv4 address or prefix (10.1.0.0/16)");
                let (a, len) = match s.trim().split_once('/') {
                    Some((a, l)) => (a, l.parse::<u8>().map_err(|_| bad())?),
                    None => (s.trim(), 32),
                };
                let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
                if len > 32 {
                    return Err(bad());
                }
                Ok((a, len))
            })
            .transpose()?;
        let after = self
            .after
            .as_deref()
            .map(|s| {
                let parsed = if ipv4_within.is_some() {
                    s.parse().ok().map(Cursor::Ipv4)
                } else {
                    s.parse().ok().map(Cursor::Id)
                };
                parsed.ok_or_else(|| {
                    ApiError::invalid("after", "not a cursor of this search (use `next`)")
                })
            })
            .transpose()?;
        Ok(SubscriberQuery {
            status: self
                .status
                .as_deref()
                .map(|s| {
                    Status::parse(s).ok_or_else(|| {
                        ApiError::invalid("status", "must be active, suspended or disabled")
                    })
                })
                .transpose()?,
            plan_id: self.plan_id,
            expires_before: self
                .expires_before
                .as_deref()
                .map(|t| parse_time("expires_before", t))
                .transpose()?,
            online: match self.online.as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(_) => return Err(ApiError::invalid("online", "must be true or false")),
            },
            text: min3("q", self.q.clone())?,
            username: min3("username", self.username.clone())?,
            name: min3("name", self.name.clone())?,
            phone: min3("phone", self.phone.clone())?,
            mac: self
                .mac
                .as_deref()
                .map(|m| {
                    m.trim()
                        .parse::<MacAddr>()
                        .map_err(|e| ApiError::invalid("mac", e.to_string()))
                })
                .transpose()?,
            ipv4_within,
            after,
            limit,
        })
    }
}

/// List, filter and search subscribers (keyset pages).
#[utoipa::path(
    operation_id = "listSubscribers",
    tag = "subscribers",
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = SubscriberPage),
        (status = 422, description = "Invalid filter", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
    query: Query<ListQuery>,
) -> Result<web::Json<SubscriberPage>, ApiError> {
    session.require(Permission::Read)?;
    let q = query.to_store()?;
    let (records, more) = subscribers::list_subscribers(&state.store, &q).await?;
    let next = more
        .then(|| records.last())
        .flatten()
        .map(|r| match q.ipv4_within {
            Some(_) => r
                .subscriber
                .ipv4
                .map_or_else(String::new, |a| a.to_string()),
            None => r.subscriber.id.to_string(),
        });
    Ok(web::Json(SubscriberPage {
        items: records.iter().map(SubscriberView::from).collect(),
        next,
    }))
}

/// One subscriber.
#[utoipa::path(
    operation_id = "getSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "The subscriber", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::Read)?;
    Ok(web::Json(SubscriberView::from(&load(&state, *id).await?)))
}

/// One subscriber by exact username.
#[utoipa::path(
    operation_id = "getSubscriberByUsername",
    tag = "subscribers",
    params(("username" = String, Path, description = "Exact username (case-sensitive)")),
    responses(
        (status = 200, description = "The subscriber", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/by-username/{username}")]
pub(crate) async fn by_username(
    state: web::Data<AppState>,
    session: Session,
    username: web::Path<String>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::Read)?;
    if username.contains('\0') {
        return Err(body::nul_error("username"));
    }
    let r = subscribers::subscriber_record_by_name(&state.store, &username)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })?;
    Ok(web::Json(SubscriberView::from(&r)))
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
    let sub = state.store.create_subscriber(&input.to_new(None)?).await?;
    let view = reload(&state, &sub).await?;
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new("subscriber.create", "subscriber", sub.id).after(&view),
    )
    .await;
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
    let new = input.to_new(Some(&current.subscriber.password))?;
    let sub = state
        .store
        .update_subscriber(&current.subscriber.username, &new)
        .await?;
    let view = reload(state, &sub).await?;
    let before = SubscriberView::from(current);
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new("subscriber.update", "subscriber", sub.id)
            .before(&before)
            .after(&view),
    )
    .await;
    Ok(view)
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
    state
        .store
        .delete_subscriber(&current.subscriber.username)
        .await?;
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new("subscriber.delete", "subscriber", *id).before(&SubscriberView::from(&current)),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

async fn change_status(
    state: &AppState,
    session: &Session,
    id: i64,
    status: Status,
    action: &'static str,
) -> Result<SubscriberView, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let current = load(state, id).await?;
    let sub = state
        .store
        .set_status(&current.subscriber.username, status)
        .await?;
    let view = reload(state, &sub).await?;
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new(action, "subscriber", id)
            .before(&SubscriberView::from(&current))
            .after(&view),
    )
    .await;
    Ok(view)
}

/// Suspend: logins are refused (Reply-Message says why) until resumed. Open sessions
/// are not disconnected here (see the sessions' kick).
#[utoipa::path(
    operation_id = "suspendSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "Suspended", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/suspend")]
pub(crate) async fn suspend(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    Ok(web::Json(
        change_status(
            &state,
            &session,
            *id,
            Status::Suspended,
            "subscriber.suspend",
        )
        .await?,
    ))
}

/// Resume: back to active (from suspended or disabled).
#[utoipa::path(
    operation_id = "resumeSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "Active", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/resume")]
pub(crate) async fn resume(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    Ok(web::Json(
        change_status(&state, &session, *id, Status::Active, "subscriber.resume").await?,
    ))
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

/// Renew: extend the expiry by the plan's validity (`periods` times) from the later of
/// now and the current expiry.
#[utoipa::path(
    operation_id = "renewSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body(content = RenewInput, description = "Optional"),
    responses(
        (status = 200, description = "Renewed", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/renew")]
pub(crate) async fn renew(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let input: RenewInput = optional_body(&body::read(payload, limit(&state)).await?)?;
    if !(1..=120).contains(&input.periods) {
        return Err(ApiError::invalid("periods", "must be 1 to 120"));
    }
    let current = load(&state, *id).await?;
    let sub = state
        .store
        .renew_subscriber(&current.subscriber.username, input.periods)
        .await?;
    let view = reload(&state, &sub).await?;
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new("subscriber.renew", "subscriber", *id)
            .before(&SubscriberView::from(&current))
            .after(&view),
    )
    .await;
    Ok(web::Json(view))
}

#[cfg(test)]
mod tests {
    use super::passwords::generate_password;
    use super::*;

    #[test]
    fn times_in_and_out() {
        assert_eq!(parse_time("t", "1970-01-02").unwrap(), 86_400);
        assert_eq!(parse_time("t", "1970-01-01T00:01:00Z").unwrap(), 60);
        assert_eq!(rfc3339(86_400), "1970-01-02T00:00:00Z");
        assert!(parse_time("t", "tomorrow").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let ok = SubscriberInput {
            username: "alice".to_owned(),
            password: Some("pw".to_owned()),
            status: default_status(),
            plan_id: 1,
            expires_at: None,
            mac: Some("4c5e.0c12.3456".to_owned()),
            ipv4: None,
            ipv6_prefix: None,
            delegated_ipv6_prefix: None,
            simultaneous_use: 1,
            name: None,
            phone: None,
            email: None,
            address: None,
        };
        assert_eq!(
            ok.to_new(None).unwrap().mac.unwrap().to_string(),
            "4C:5E:0C:12:34:56"
        );
        let field = |f: fn(&mut SubscriberInput)| {
            let mut i = ok.clone();
            f(&mut i);
            match i.to_new(None).unwrap_err() {
                ApiError::Invalid { field, .. } => field,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(field(|i| i.username = " alice".into()), "username");
        assert_eq!(field(|i| i.password = None), "password");
        assert_eq!(field(|i| i.status = "gone".into()), "status");
        assert_eq!(field(|i| i.mac = Some("zz".into())), "mac");
        assert_eq!(field(|i| i.ipv4 = Some("10.0.0.256".into())), "ipv4");
        assert_eq!(
            field(|i| i.ipv6_prefix = Some("::/0".into())),
            "ipv6_prefix"
        );
        assert_eq!(field(|i| i.phone = Some("call me".into())), "phone");
        assert_eq!(field(|i| i.email = Some("nobody".into())), "email");
        assert_eq!(field(|i| i.expires_at = Some("soon".into())), "expires_at");
    }

    #[test]
    fn generated_passwords() {
        let p = generate_password();
        assert_eq!(p.len(), GENERATED_LEN);
        assert!(p.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(p, generate_password());
    }
}
