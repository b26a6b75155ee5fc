//! `/nas`: NAS devices (RADIUS clients), following the pattern of [`super::plans`].
//!
//! The shared secret is write-only: it is accepted on create and update and never
//! returned — a view says `"secret_set": true` instead — and it never reaches the audit log
//! (the views carry no secret, and [`audit::redact`] would drop it anyway). Writes go through
//! [`proisp_store::Store`]'s `create_nas_journaled`/`update_nas_journaled`/
//! `delete_nas_journaled`, which write the audit entry in their transaction and publish the
//! NAS invalidation after it: every radiusd reloads its NAS table within a second, no
//! restart.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use ipnet::IpNet;
use proisp_model::{CoaLane, Nas, NasTls, NasVendor};
use proisp_radius::secret::Secret;
use proisp_store::{MAX_COA_RATE, MAX_COA_WINDOW, NewNas, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroize as _;

use crate::audit::{self, Entry};
use crate::body;
use crate::data::sessions;
use crate::error::{ApiError, ErrorBody};
use crate::permission::Permission;
use crate::routes::fields::{self, Text};
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// Longest shared secret accepted, octets. RFC 2865 sets no limit, but NASes do (RouterOS
/// and IOS accept well under this) and User-Password hiding only mixes the first MD5 block.
const MAX_SECRET_LEN: usize = 128;

/// A NAS as created or replaced (PUT), and the shape PATCH merges into.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NasInput {
    /// A name for logs and the API, 1 to 64 characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// The NAS's address (`192.0.2.10`, `2001:db8::1`) or a range of NASes sharing the
    /// secret (`10.20.0.0/24`, host bits clear). Packets are matched to the longest prefix.
    #[serde(with = "fields::text")]
    #[schema(value_type = String)]
    pub address: Address,
    /// The RADIUS shared secret, 1 to 128 octets. Required on create; on PUT and PATCH
    /// leave it out to keep the current one. Never returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub secret: Option<String>,
    /// `mikrotik`, `cisco`, `juniper`, `accel-ppp` or `other`.
    #[serde(default = "default_vendor")]
    #[schema(pattern = "^(mikrotik|cisco|juniper|accel-ppp|other)$")]
    pub vendor: String,
    /// UDP port of the NAS's Dynamic Authorization server (RFC 5176), 1 to 65535.
    #[serde(default = "default_coa_port")]
    #[schema(minimum = 1, maximum = 65535)]
    pub coa_port: u32,
    /// Refuse Access-Requests without a valid Message-Authenticator (BlastRADIUS,
    /// CVE-2024-3596); turn off only for gear that cannot send one.
    #[serde(default = "default_true")]
    pub require_message_authenticator: bool,
    /// The identity the NAS's RadSec client certificate carries (a DNS, URI or IP
    /// subjectAltName, or the subject's common name), 1 to 255 characters; absent or null:
    /// a RadSec connection is matched to this NAS by its source address.
    #[serde(default)]
    #[schema(max_length = 255)]
    pub tls_identity: Option<String>,
    /// Over RadSec, sign with this NAS's own secret rather than the customary `radsec`.
    #[serde(default)]
    pub tls_own_secret: bool,
    /// Send CoA and Disconnect-Requests over the NAS's RadSec connection while it has one
    /// (the NAS must accept them there), by UDP to `coa_port` otherwise.
    #[serde(default)]
    pub tls_coa: bool,
    /// CoA and Disconnect-Requests in flight to this NAS at once, 1 to 1024; absent or
    /// null: the `[coa]` section's window (32 by default).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1024)]
    pub coa_window: Option<u32>,
    /// At most this many CoA and Disconnect-Requests started a second, 1 to 100000;
    /// absent or null: no cap (the window alone paces them).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000)]
    pub coa_rate: Option<u32>,
}

fn default_vendor() -> String {
    NasVendor::Mikrotik.as_str().to_owned()
}

fn default_coa_port() -> u32 {
    u32::from(proisp_radius::dynauth::DEFAULT_PORT)
}

fn default_true() -> bool {
    true
}

/// `value`, when given, within 1 to `max`.
fn bounded(value: Option<u32>, field: &str, max: u32) -> Result<Option<u32>, ApiError> {
    match value {
        Some(v) if !(1..=max).contains(&v) => {
            Err(ApiError::invalid(field, format!("must be 1 to {max}")))
        }
        _ => Ok(value),
    }
}

/// A NAS as the API shows it: everything but the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NasView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// One address (`192.0.2.10`) or a range (`10.20.0.0/24`).
    #[serde(serialize_with = "fields::text::serialize")]
    #[schema(value_type = String)]
    pub address: Address,
    /// The make.
    pub vendor: String,
    /// Dynamic Authorization port.
    pub coa_port: u16,
    /// Message-Authenticator required in Access-Requests.
    pub require_message_authenticator: bool,
    /// The identity its RadSec client certificate carries, if it is known by one.
    pub tls_identity: Option<String>,
    /// Over RadSec, packets are signed with its own secret rather than `radsec`.
    pub tls_own_secret: bool,
    /// CoA and Disconnect-Requests go over its RadSec connection while it has one.
    pub tls_coa: bool,
    /// Its CoA lane's window, if it sets its own.
    pub coa_window: Option<u32>,
    /// Its CoA lane's rate cap (requests a second), if any.
    pub coa_rate: Option<u32>,
    /// Always true: a NAS cannot exist without a secret, and the secret is never shown.
    pub secret_set: bool,
    /// Changes with every write.
    pub version: i64,
    /// How CoA reaches it now (in answers; never in the audit log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coa_health: Option<CoaHealth>,
}

/// How CoA and Disconnect-Requests reach a NAS: what PostgreSQL keeps for it, and this
/// adminapi's own lane to it (each adminapi and radiusd has its own; radiusd's are in its
/// metrics, `proisp_coa_lane_*`).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct CoaHealth {
    /// Changes kept in PostgreSQL until the NAS answers again, by any process.
    pub kept: i64,
    /// When the oldest of them was made, RFC 3339 UTC.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub oldest_kept_at: Option<Timestamp>,
    /// This adminapi has marked the NAS unreachable: its requests timed out in a row.
    pub unreachable: bool,
    /// Changes waiting in this adminapi's lane.
    pub queued: u64,
    /// Requests sent by this adminapi and not answered yet.
    pub in_flight: u64,
    /// ACKs this adminapi got since it started.
    pub ack: u64,
    /// NAKs this adminapi got since it started.
    pub nak: u64,
    /// Requests of this adminapi that timed out for good since it started.
    pub timeout: u64,
}

impl CoaHealth {
    /// Every NAS's health, by id.
    async fn all(state: &AppState) -> Result<HashMap<i64, CoaHealth>, ApiError> {
        let mut all: HashMap<i64, CoaHealth> = HashMap::new();
        for lane in state.lanes.health() {
            all.insert(
                lane.nas_id,
                CoaHealth {
                    unreachable: lane.unreachable,
                    queued: lane.queued,
                    in_flight: lane.in_flight,
                    ack: lane.ack,
                    nak: lane.nak,
                    timeout: lane.timeout,
                    ..CoaHealth::default()
                },
            );
        }
        for kept in state.store.deferred_counts().await.map_err(nas_error)? {
            let health = all.entry(kept.nas_id).or_default();
            health.kept = kept.changes;
            health.oldest_kept_at = Some(Timestamp::from(kept.oldest));
        }
        Ok(all)
    }
}

/// `nas` as an answer shows it: with its [`CoaHealth`].
async fn viewed(state: &AppState, nas: &Nas) -> Result<NasView, ApiError> {
    let mut health = CoaHealth::all(state).await?;
    Ok(NasView {
        coa_health: Some(health.remove(&nas.id).unwrap_or_default()),
        ..NasView::from(nas)
    })
}

/// `GET /nas`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NasList {
    /// Every NAS, by id.
    pub items: Vec<NasView>,
}

/// A NAS's address: one host (written bare, `192.0.2.10`) or a range of NASes
/// (`10.20.0.0/24`, host bits clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address(IpNet);

impl Address {
    /// The NAS's: its network and prefix length.
    fn of(n: &Nas) -> Address {
        Address(IpNet::new(n.network, n.prefix_len).unwrap_or_else(|_| IpNet::from(n.network)))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Text for Address {
    /// `192.0.2.10`, `2001:db8::1`, `10.0.0.0/24`.
    fn parse_text(s: &str) -> Result<Address, String> {
        let bad = || "an IPv4 or IPv6 address, or a network in CIDR form (10.20.0.0/24)".to_owned();
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                Some(l.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (s.parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(full);
        if len > full {
            return Err(format!("prefix length at most {full}"));
        }
        let net = IpNet::new(addr, len).map_err(|_| bad())?;
        if net.network() != addr {
            return Err(format!(
                "{s} has host bits set; the network is {}",
                net.trunc()
            ));
        }
        Ok(Address(net))
    }
}

impl From<&Nas> for NasView {
    fn from(n: &Nas) -> NasView {
        NasView {
            id: n.id,
            name: n.name.clone(),
            address: Address::of(n),
            vendor: n.vendor.as_str().to_owned(),
            coa_port: n.coa_port,
            require_message_authenticator: n.require_message_authenticator,
            tls_identity: n.tls.identity.clone(),
            tls_own_secret: n.tls.own_secret,
            tls_coa: n.tls.coa,
            coa_window: n.coa_lane.window,
            coa_rate: n.coa_lane.rate,
            secret_set: true,
            version: n.version,
            coa_health: None,
        }
    }
}

impl From<&Nas> for NasInput {
    fn from(n: &Nas) -> NasInput {
        NasInput {
            name: n.name.clone(),
            address: Address::of(n),
            secret: None,
            vendor: n.vendor.as_str().to_owned(),
            coa_port: u32::from(n.coa_port),
            require_message_authenticator: n.require_message_authenticator,
            tls_identity: n.tls.identity.clone(),
            tls_own_secret: n.tls.own_secret,
            tls_coa: n.tls.coa,
            coa_window: n.coa_lane.window,
            coa_rate: n.coa_lane.rate,
        }
    }
}

impl NasInput {
    /// Validates and converts; `current` supplies the secret when the input has none.
    fn to_new(&self, current: Option<&Nas>) -> Result<NewNas, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "name",
                "1 to 64 characters, no control characters",
            ));
        }
        let (network, prefix_len) = (self.address.0.addr(), self.address.0.prefix_len());
        let vendor = NasVendor::parse(&self.vendor).ok_or_else(|| {
            ApiError::invalid(
                "vendor",
                "must be mikrotik, cisco, juniper, accel-ppp or other",
            )
        })?;
        let coa_port = u16::try_from(self.coa_port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ApiError::invalid("coa_port", "must be 1 to 65535"))?;
        let secret = match (&self.secret, current) {
            (Some(s), _) => {
                if s.is_empty() || s.len() > MAX_SECRET_LEN {
                    return Err(ApiError::invalid(
                        "secret",
                        format!("1 to {MAX_SECRET_LEN} octets"),
                    ));
                }
                if s.chars().any(char::is_control) {
                    return Err(ApiError::invalid(
                        "secret",
                        "no control characters (a NAS cannot type them)",
                    ));
                }
                Secret::new(s.as_bytes())
            }
            (None, Some(n)) => n.secret.clone(),
            (None, None) => return Err(ApiError::invalid("secret", "required")),
        };
        let identity = match self.tls_identity.as_deref().map(str::trim) {
            None => None,
            Some(id) if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) => {
                return Err(ApiError::invalid(
                    "tls_identity",
                    "1 to 255 characters, no control characters",
                ));
            }
            Some(id) => Some(id.to_owned()),
        };
        Ok(NewNas {
            name: name.to_owned(),
            network,
            prefix_len,
            secret,
            vendor,
            coa_port,
            require_message_authenticator: self.require_message_authenticator,
            tls: NasTls {
                identity,
                own_secret: self.tls_own_secret,
                coa: self.tls_coa,
            },
            coa_lane: CoaLane {
                window: bounded(self.coa_window, "coa_window", MAX_COA_WINDOW)?,
                rate: bounded(self.coa_rate, "coa_rate", MAX_COA_RATE)?,
            },
        })
    }

    /// Clears the secret from memory once it has been handed to the store.
    fn wipe(&mut self) {
        if let Some(s) = self.secret.as_mut() {
            s.zeroize();
        }
    }
}

/// The store's errors in the API's spelling: the address conflict names `address`.
fn nas_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { what } if what == "nas.network" => ApiError::Conflict {
            message: "another NAS has this address".to_owned(),
            field: Some("address".to_owned()),
        },
        StoreError::Invalid { field, reason } if field == "network" || field == "prefix_len" => {
            ApiError::invalid("address", reason)
        }
        other => other.into(),
    }
}

/// NAS `id` with its secret (for updates and kicks; never serialised).
pub(crate) async fn load(state: &AppState, id: i64) -> Result<Nas, ApiError> {
    state
        .store
        .all_nas()
        .await
        .map_err(nas_error)?
        .into_iter()
        .find(|n| n.id == id)
        .ok_or(ApiError::NotFound { entity: "nas" })
}

/// Every NAS device.
#[utoipa::path(
    operation_id = "listNas",
    tag = "nas",
    responses(
        (status = 200, description = "NAS devices by id", body = NasList),
    ),
    security(("bearer" = []))
)]
#[get("/nas")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<NasList>, ApiError> {
    session.require(Permission::Read)?;
    let all = state
        .reads
        .store()
        .await
        .all_nas()
        .await
        .map_err(nas_error)?;
    let mut health = CoaHealth::all(&state).await?;
    Ok(web::Json(NasList {
        items: all
            .iter()
            .map(|n| NasView {
                coa_health: Some(health.remove(&n.id).unwrap_or_default()),
                ..NasView::from(n)
            })
            .collect(),
    }))
}

/// One NAS device.
#[utoipa::path(
    operation_id = "getNas",
    tag = "nas",
    params(("id" = i64, Path, description = "NAS id")),
    responses(
        (status = 200, description = "The NAS", body = NasView),
    ),
    security(("bearer" = []))
)]
#[get("/nas/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<NasView>, ApiError> {
    session.require(Permission::Read)?;
    Ok(web::Json(viewed(&state, &load(&state, *id).await?).await?))
}

/// Add a NAS device. radiusd answers it within a second, without a restart.
#[utoipa::path(
    operation_id = "createNas",
    tag = "nas",
    request_body = NasInput,
    responses(
        (status = 201, description = "Created", body = NasView),
        (status = 409, description = "Address taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/nas")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    session: Session,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::NasWrite)?;
    let mut input: NasInput = body::parse(req.into_inner())?;
    let new = input.to_new(None);
    input.wipe();
    let actor = session.actor();
    let nas = state
        .store
        .create_nas_journaled(&new?, async |tx, nas| {
            let entry = Entry::new("nas.create", "nas", nas.id).after(&NasView::from(nas));
            audit::record_in(tx, &actor, entry).await
        })
        .await
        .map_err(nas_error)?;
    let view = viewed(&state, &nas).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/nas/{}", nas.id)))
        .json(view))
}

async fn write(
    state: &AppState,
    session: &Session,
    current: &Nas,
    mut input: NasInput,
) -> Result<NasView, ApiError> {
    let before = NasView::from(current);
    let secret_changed = input.secret.is_some();
    let new = input.to_new(Some(current));
    input.wipe();
    let actor = session.actor();
    let nas = state
        .store
        .update_nas_journaled(current.id, &new?, async |tx, nas| {
            let mut entry = Entry::new("nas.update", "nas", nas.id)
                .before(&before)
                .after(&NasView::from(nas));
            // The view has no secret; whether it changed is worth knowing (never its value).
            if let Some(Value::Object(after)) = entry.after.as_mut() {
                after.insert("credential_changed".to_owned(), Value::Bool(secret_changed));
            }
            audit::record_in(tx, &actor, entry).await
        })
        .await
        .map_err(nas_error)?;
    viewed(state, &nas).await
}

/// Replace a NAS's settings (leave `secret` out to keep it).
#[utoipa::path(
    operation_id = "replaceNas",
    tag = "nas",
    params(("id" = i64, Path, description = "NAS id")),
    request_body = NasInput,
    responses(
        (status = 200, description = "Updated", body = NasView),
        (status = 409, description = "Conflict: a unique value is taken, or the change is refused in this state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[put("/nas/{id}")]
pub(crate) async fn replace(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<web::Json<NasView>, ApiError> {
    session.require(Permission::NasWrite)?;
    let input: NasInput = body::parse(req.into_inner())?;
    let current = load(&state, *id).await?;
    Ok(web::Json(write(&state, &session, &current, input).await?))
}

/// Change some of a NAS's settings (JSON merge patch, RFC 7396).
#[utoipa::path(
    operation_id = "updateNas",
    tag = "nas",
    params(("id" = i64, Path, description = "NAS id")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = NasView),
        (status = 409, description = "Conflict: a unique value is taken, or the change is refused in this state", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/nas/{id}")]
pub(crate) async fn update(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<web::Json<NasView>, ApiError> {
    session.require(Permission::NasWrite)?;
    let current = load(&state, *id).await?;
    let mut merged = serde_json::to_value(NasInput::from(&current)).map_err(ApiError::internal)?;
    let patch = req.into_inner();
    if !patch.is_object() {
        return Err(ApiError::invalid("body", "a merge patch is a JSON object"));
    }
    body::merge(&mut merged, patch);
    let input: NasInput = body::parse(merged)?;
    Ok(web::Json(write(&state, &session, &current, input).await?))
}

/// Delete a NAS device. Refused (409) while it has open sessions, whose accounting would
/// otherwise be lost: disconnect them, or wait for their Stop (or the stale sweep).
#[utoipa::path(
    operation_id = "deleteNas",
    tag = "nas",
    params(("id" = i64, Path, description = "NAS id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Sessions are open on it", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/nas/{id}")]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::NasWrite)?;
    let nas = load(&state, *id).await?;
    let open = sessions::nas_open_sessions(&state.db, nas.id)
        .await
        .map_err(nas_error)?;
    if open > 0 {
        return Err(ApiError::Conflict {
            message: format!(
                "the NAS has {open} open sessions; disconnect them or wait until they end"
            ),
            field: None,
        });
    }
    let actor = session.actor();
    state
        .store
        .delete_nas_journaled(nas.id, async |tx, gone| {
            let entry = Entry::new("nas.delete", "nas", gone.id).before(&NasView::from(gone));
            audit::record_in(tx, &actor, entry).await
        })
        .await
        .map_err(nas_error)?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let parse = |s: &str| Address::parse_text(s).map(|a| (a.0.addr(), a.0.prefix_len()));
        assert_eq!(
            parse("192.0.2.10").unwrap(),
            ("192.0.2.10".parse().unwrap(), 32)
        );
        assert_eq!(
            parse(" 10.20.0.0/24").unwrap(),
            ("10.20.0.0".parse().unwrap(), 24)
        );
        assert_eq!(
            parse("2001:db8::/32").unwrap(),
            ("2001:db8::".parse().unwrap(), 32)
        );
        for text in ["192.0.2.10", "10.20.0.0/24", "2001:db8::/32", "2001:db8::1"] {
            assert_eq!(Address::parse_text(text).unwrap().to_string(), text);
        }
        for bad in [
            "10.20.0.1/24",
            "10.0.0.0/33",
            "nas1",
            "10.0.0.0/x",
            "",
            "::/129",
        ] {
            assert!(Address::parse_text(bad).is_err(), "{bad}");
        }
    }
}
