//! `/subscribers`: CRUD (delete is soft), the filtered and searched list, suspend,
//! resume, renew, password reset and reveal, and the CSV import.
//!
//! Follows `plans.rs`. Permissions: `read` for lookups, `subscriber_write` for every
//! change but passwords, `password_reset` to set a new password (support desks have it),
//! `password_reveal` to read one (superadmins only; every use audited). No response
//! carries a password except the reveal and a reset that generated one; the audit log
//! never does (views hold no password, and [`audit::redact`] drops any key named like one).

mod csv;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use proisp_shared::model::{MacAddr, Password, Status, Subscriber};
use proisp_shared::radius::attr::Ipv6Prefix;
use proisp_shared::store::{
    Cursor, ImportMode, ImportRow, MAX_USERNAME_LEN, NewSubscriber, StoreError, SubscriberQuery,
    SubscriberRecord,
};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::body;
use crate::error::{ApiError, ErrorBody};
use crate::password;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

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

/// A subscriber as created or replaced (PUT), and the shape PATCH merges into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriberInput {
    /// Login name: 1 to 253 octets, case-sensitive, no control characters or surrounding
    /// spaces; unique among live subscribers.
    #[schema(
        min_length = 1,
        max_length = 253,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F](?:[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?$"
    )]
    pub username: String,
    /// Required on create; on PUT and PATCH, absent keeps the current one. 1 to 128
    /// octets, not the username (or containing it), not one of the commonest passwords.
    /// Never shown again (see `reveal-password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    pub password: Option<String>,
    /// `active` (default), `suspended` or `disabled`.
    #[serde(default = "default_status")]
    #[schema(pattern = "^(active|suspended|disabled)$")]
    pub status: String,
    /// The plan's id.
    #[schema(minimum = 1)]
    pub plan_id: i64,
    /// End of the paid period: RFC 3339 (`2026-12-31T23:59:59Z`) or a date (`2026-12-31`,
    /// midnight UTC); absent: never expires.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// MAC binding, any common form (`4C:5E:0C:12:34:56`, `4c-5e-…`, `4c5e.0c12.3456`).
    #[serde(default)]
    pub mac: Option<String>,
    /// Static IPv4 address, unique among live subscribers.
    #[serde(default)]
    pub ipv4: Option<String>,
    /// Framed-IPv6-Prefix, `2001:db8:1::/64`.
    #[serde(default)]
    pub ipv6_prefix: Option<String>,
    /// Delegated-IPv6-Prefix, `2001:db8:100::/56`.
    #[serde(default)]
    pub delegated_ipv6_prefix: Option<String>,
    /// Sessions at once; 0 is unlimited (default 1).
    #[serde(default = "default_simultaneous_use")]
    #[schema(maximum = 2147483647)]
    pub simultaneous_use: u32,
    /// Full name.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Phone number: digits, spaces and `+-().`.
    #[serde(default)]
    #[schema(max_length = 32, pattern = r"^[0-9 +().-]*$")]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\u0000-\u001F\u007F-\u009F]+@[^\s\u0000-\u001F\u007F-\u009F]*\.[^\s\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub email: Option<String>,
    /// Postal or installation address.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub address: Option<String>,
}

fn default_status() -> String {
    Status::Active.as_str().to_owned()
}

const fn default_simultaneous_use() -> u32 {
    1
}

/// A subscriber as the API shows it: never the password.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriberView {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// `active`, `suspended` or `disabled`.
    pub status: String,
    /// The plan's id.
    pub plan_id: i64,
    /// The plan's name.
    pub plan: String,
    /// End of the paid period (RFC 3339 UTC); null: never.
    pub expires_at: Option<String>,
    /// MAC binding, `4C:5E:0C:12:34:56`.
    pub mac: Option<String>,
    /// Static IPv4 address.
    pub ipv4: Option<String>,
    /// Framed-IPv6-Prefix.
    pub ipv6_prefix: Option<String>,
    /// Delegated-IPv6-Prefix.
    pub delegated_ipv6_prefix: Option<String>,
    /// Sessions at once; 0 is unlimited.
    pub simultaneous_use: u32,
    /// Full name.
    pub name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Postal or installation address.
    pub address: Option<String>,
    /// Has an open session now.
    pub online: bool,
    /// Quota spent: on the fair-usage speed until then (RFC 3339 UTC).
    pub fup_until: Option<String>,
    /// Created (RFC 3339 UTC).
    pub created_at: String,
    /// Last changed (RFC 3339 UTC).
    pub updated_at: String,
    /// Changes with every write.
    pub version: i64,
}

/// A page of `GET /subscribers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberPage {
    /// Matches, by id (by address for an `ip` search).
    pub items: Vec<SubscriberView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

/// Query strings (in a module of their own: utoipa's expansion qualifies a params type
/// of the handler's own module, which `unused_qualifications` refuses).
pub mod params {
    use serde::Deserialize;
    use utoipa::IntoParams;

    /// Filters, search and paging of `GET /subscribers`; every filter given must hold.
    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct ListQuery {
        /// `active`, `suspended` or `disabled`.
        #[param(pattern = "^(active|suspended|disabled)$")]
        pub status: Option<String>,
        /// Plan id.
        pub plan_id: Option<i64>,
        /// Expiring before this time (RFC 3339 or a date).
        pub expires_before: Option<String>,
        /// With (true) or without (false) an open session.
        #[param(pattern = "^(true|false)$")]
        pub online: Option<String>,
        /// Substring (at least 3 characters) of the username, name or phone, any case.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub q: Option<String>,
        /// Substring (at least 3 characters) of the username.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub username: Option<String>,
        /// Substring (at least 3 characters) of the name.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub name: Option<String>,
        /// Substring (at least 3 characters) of the phone number.
        #[param(min_length = 3, max_length = 100, pattern = r"\S.+\S")]
        pub phone: Option<String>,
        /// Bound to this MAC (exact; any common form).
        pub mac: Option<String>,
        /// Static address inside this IPv4 prefix (`10.1.0.0/16`; a bare address is /32).
        /// Results are ordered by address.
        pub ip: Option<String>,
        /// The `next` of the previous page.
        pub after: Option<String>,
        /// Page size, 1 to 500 (default 50).
        #[param(minimum = 1, maximum = 500)]
        pub limit: Option<u32>,
    }

    /// Options of the CSV import.
    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct ImportQuery {
        /// When true, nothing is written if any row fails (one transaction); otherwise the
        /// valid rows are created and the others reported.
        #[serde(default)]
        pub all_or_nothing: bool,
    }
}

use params::{ImportQuery, ListQuery};

/// Body of `POST /subscribers/{id}/renew` (optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewInput {
    /// How many validity periods of the plan to add (1 to 120, default 1).
    #[schema(minimum = 1, maximum = 120)]
    #[serde(default = "default_periods")]
    pub periods: u32,
}

const fn default_periods() -> u32 {
    1
}

/// Body of `POST /subscribers/{id}/reset-password` (optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetInput {
    /// The new password (1 to 128 octets, not the username or one of the commonest
    /// passwords); absent: a random one is generated and returned once.
    #[schema(min_length = 1, max_length = 128)]
    #[serde(default)]
    pub password: Option<String>,
}

/// Answer of a password reset or reveal.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordAnswer {
    /// Subscriber id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// The password: in a reveal, and in a reset that generated it (shown only here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Whether the password was generated by this reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<bool>,
}

/// One refused row of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowError {
    /// The CSV row, the header being row 1 (as a spreadsheet numbers them).
    pub row: usize,
    /// The column at fault (`username`, `plan`, …), or `row` for the row's shape.
    pub field: String,
    /// Why.
    pub message: String,
}

/// One created row of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowCreated {
    /// The CSV row.
    pub row: usize,
    /// The new subscriber's id.
    pub id: i64,
    /// Its username.
    pub username: String,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    /// Whether anything was written (false: `all_or_nothing` and a row failed, or no
    /// valid rows).
    pub committed: bool,
    /// Subscribers created.
    pub created: Vec<RowCreated>,
    /// Rows refused, by row.
    pub errors: Vec<RowError>,
}

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

/// The store's errors for subscribers.
fn subscriber_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound {
            entity: "subscriber",
        },
        other => other.into(),
    }
}

async fn load(state: &AppState, id: i64) -> Result<SubscriberRecord, ApiError> {
    state
        .store
        .subscriber_record(id)
        .await
        .map_err(subscriber_error)?
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
        if !(1..=proisp_shared::store::MAX_PAGE).contains(&limit) {
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
    let (records, more) = state
        .store
        .list_subscribers(&q)
        .await
        .map_err(subscriber_error)?;
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
    let r = state
        .store
        .subscriber_record_by_name(&username)
        .await
        .map_err(subscriber_error)?
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
    let sub = state
        .store
        .create_subscriber(&input.to_new(None)?)
        .await
        .map_err(subscriber_error)?;
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
        .await
        .map_err(subscriber_error)?;
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
        .await
        .map_err(subscriber_error)?;
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
        .await
        .map_err(subscriber_error)?;
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
        .await
        .map_err(subscriber_error)?;
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

fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..GENERATED_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn no_store(answer: &PasswordAnswer) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(answer)
}

/// Set a new password: the one given, or a generated one returned in this response only.
#[utoipa::path(
    operation_id = "resetSubscriberPassword",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body(content = ResetInput, description = "Optional"),
    responses(
        (status = 200, description = "Reset; `password` only when generated", body = PasswordAnswer),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/reset-password")]
pub(crate) async fn reset_password(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::PasswordReset)?;
    let input: ResetInput = optional_body(&body::read(payload, limit(&state)).await?)?;
    let current = load(&state, *id).await?;
    let (password, generated) = match input.password {
        Some(p) => {
            check_password(&current.subscriber.username, &p)?;
            (p, false)
        }
        None => (generate_password(), true),
    };
    let sub = state
        .store
        .set_password(
            &current.subscriber.username,
            &Password::new(password.as_bytes()),
        )
        .await
        .map_err(subscriber_error)?;
    audit::record_after_commit(
        &state.db,
        &session.actor(),
        Entry::new("subscriber.password_reset", "subscriber", *id)
            .after(&json!({"username": sub.username, "generated": generated})),
    )
    .await;
    Ok(no_store(&PasswordAnswer {
        id: sub.id,
        username: sub.username,
        password: generated.then_some(password),
        generated: Some(generated),
    }))
}

/// Show a subscriber's password (its own permission; every reveal is audited).
#[utoipa::path(
    operation_id = "revealSubscriberPassword",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "The password", body = PasswordAnswer),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/reveal-password")]
pub(crate) async fn reveal_password(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::PasswordReveal)?;
    let current = load(&state, *id).await?;
    let s = &current.subscriber;
    // Audited before answering: a reveal that cannot be recorded is not made.
    audit::record(
        &state.db,
        &session.actor(),
        Entry::new("subscriber.password_reveal", "subscriber", *id)
            .after(&json!({"username": s.username})),
    )
    .await?;
    Ok(no_store(&PasswordAnswer {
        id: s.id,
        username: s.username.clone(),
        password: Some(String::from_utf8_lossy(s.password.as_bytes()).into_owned()),
        generated: None,
    }))
}

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
        .await
        .map_err(subscriber_error)?
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
        let input = SubscriberInput {
            username: cell("username").unwrap_or_default(),
            password: cell("password"),
            status: cell("status").map_or_else(default_status, |s| s.trim().to_ascii_lowercase()),
            plan_id,
            expires_at: cell("expires_at"),
            mac: cell("mac"),
            ipv4: cell("ipv4"),
            ipv6_prefix: None,
            delegated_ipv6_prefix: None,
            simultaneous_use: 1,
            name: cell("name"),
            phone: cell("phone"),
            email: cell("email"),
            address: cell("address"),
        };
        match input.to_new(None) {
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
    let outcome = state
        .store
        .import_subscribers(valid, mode)
        .await
        .map_err(subscriber_error)?;
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
    if committed {
        audit::record_after_commit(
            &state.db,
            &session.actor(),
            Entry {
                action: "subscriber.import",
                entity: "subscriber",
                entity_id: None,
                before: None,
                after: Some(json!({
                    "rows": rows,
                    "created": created.len(),
                    "refused": errors.len(),
                    "all_or_nothing": all_or_nothing,
                    "ids": created.iter().take(10_000).map(|c| c.id).collect::<Vec<_>>(),
                })),
            },
        )
        .await;
    }
    Ok(web::Json(ImportReport {
        rows,
        committed,
        created,
        errors,
    }))
}

#[cfg(test)]
mod tests {
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
