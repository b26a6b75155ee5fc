//! `/admins`: staff accounts, for superadmins only ([`Permission::AdminManage`]).
//!
//! Two rules keep a deployment manageable: an admin cannot demote or disable themselves
//! (another superadmin must), and the last enabled superadmin cannot be demoted, disabled
//! or deleted. DELETE disables rather than removes the row: the audit log's entries keep
//! their author's id, and a deleted name could otherwise be re-created by someone else.
//!
//! A new role, disabling, a new password or a TOTP reset revokes the admin's refresh
//! tokens and the access tokens issued with them, so the change takes effect at once.
//! Responses and audit entries never hold the password hash or TOTP secrets.

use std::fmt;

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::admin::{self, Admin, Changes, NewAdmin};
use crate::audit::{self, Entry};
use crate::body;
use crate::error::{ApiError, ErrorBody};
use crate::password;
use crate::permission::{Permission, Role};
use crate::routes::fields::{self, Text};
use crate::session::{Session, revoked_family_key};
use crate::state::AppState;
use crate::time::Timestamp;

/// An admin as the API shows it: no hash, no TOTP secrets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminView {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Whether two-factor login is set up.
    pub totp_enabled: bool,
    /// TOTP required for this admin whatever the role's policy.
    pub totp_required: bool,
    /// Networks this admin may work from; empty: any.
    #[schema(value_type = Vec<String>)]
    pub allowed_networks: Vec<IpNet>,
    /// Refused at login and on every request.
    pub disabled: bool,
    /// When created, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The last successful login, RFC 3339 UTC.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<Timestamp>,
}

impl From<&Admin> for AdminView {
    fn from(a: &Admin) -> AdminView {
        AdminView {
            id: a.id,
            username: a.username.clone(),
            role: a.role,
            totp_enabled: a.totp_secret_enc.is_some(),
            totp_required: a.totp_required,
            allowed_networks: a.allowed_networks.clone(),
            disabled: a.disabled,
            created_at: Timestamp::from_unix(a.created_at),
            last_login_at: a.last_login_at.map(Timestamp::from_unix),
        }
    }
}

/// `v` for the audit log. [`audit::redact`] drops every key with `totp` in it (meant for
/// secrets), so the two TOTP flags are logged under other names.
fn audited(v: &AdminView) -> Value {
    let mut value = serde_json::to_value(v).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for (from, to) in [
            ("totp_enabled", "two_factor_enabled"),
            ("totp_required", "two_factor_required"),
        ] {
            if let Some(flag) = map.remove(from) {
                map.insert(to.to_owned(), flag);
            }
        }
    }
    value
}

/// `GET /admins`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminList {
    /// Every admin, by id, disabled ones included.
    pub items: Vec<AdminView>,
}

/// `POST /admins`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminCreate {
    /// Login name: 1 to 64 letters, digits, `.`, `_`, `@`, `-`.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    pub username: String,
    /// At least 12 characters, not the username (or containing it), not one of the
    /// commonest passwords.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// `superadmin`, `admin`, `support` or `viewer`.
    pub role: Role,
    /// Require TOTP whatever the role's policy.
    #[serde(default)]
    pub totp_required: bool,
    /// Networks (CIDR) the admin may work from; empty or absent: any.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub allowed_networks: Vec<Network>,
}

impl fmt::Debug for AdminCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCreate")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// `PATCH /admins/{id}`: what is present changes, what is absent stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminPatch {
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Require TOTP whatever the role's policy.
    #[serde(default)]
    pub totp_required: Option<bool>,
    /// New allow-list (CIDR); `[]`: any network.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_networks: Option<Vec<Network>>,
    /// New password: at least 12 characters, not the username (or containing it), not
    /// one of the commonest passwords.
    #[schema(min_length = 12, max_length = 1024)]
    #[serde(default)]
    pub password: Option<String>,
}

impl fmt::Debug for AdminPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminPatch")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A network in an allow-list: CIDR, host bits clear (PostgreSQL's `cidr` refuses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(IpNet);

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Text for Network {
    fn parse_text(s: &str) -> Result<Network, String> {
        let net: IpNet = s
            .trim()
            .parse()
            .map_err(|_| "expected a CIDR, e.g. 10.0.0.0/8".to_owned())?;
        if net != net.trunc() {
            return Err(format!("host bits set: did you mean {}?", net.trunc()));
        }
        Ok(Network(net))
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Network, D::Error> {
        fields::from_text(d)
    }
}

fn networks(nets: &[Network]) -> Vec<IpNet> {
    nets.iter().map(|n| n.0).collect()
}

/// The argon2id hash of a password that meets the policy for `username`, off the async
/// workers.
async fn hash(username: &str, password: Zeroizing<String>) -> Result<String, ApiError> {
    password::check_policy(username, &password)
        .map_err(|why| ApiError::invalid("password", why))?;
    web::block(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)
}

async fn load(state: &AppState, id: i64) -> Result<Admin, ApiError> {
    admin::by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound { entity: "admin" })
}

/// Applies `changes`, refuses self-demotion, revokes tokens, audits as `action`.
async fn apply(
    state: &AppState,
    session: &Session,
    id: i64,
    changes: &Changes,
    action: &'static str,
) -> Result<AdminView, ApiError> {
    if id == session.admin.id {
        if changes.role.is_some_and(|r| r != session.admin.role) {
            return Err(ApiError::Conflict {
                message: "you cannot change your own role; ask another superadmin".to_owned(),
                field: Some("role".to_owned()),
            });
        }
        if changes.disabled == Some(true) {
            return Err(ApiError::Conflict {
                message: "you cannot disable or delete yourself; ask another superadmin".to_owned(),
                field: Some("disabled".to_owned()),
            });
        }
    }
    let actor = session.actor();
    let done = admin::update(&state.db, id, changes, async |tx, done| {
        let mut entry = Entry::new(action, "admin", id)
            .before(&audited(&AdminView::from(&done.before)))
            .after(&audited(&AdminView::from(&done.after)));
        if changes.password_hash.is_some()
            && let Some(Value::Object(map)) = entry.after.as_mut()
        {
            // The key is redacted from the log; the fact that it changed is not.
            map.insert("new_credential_set".to_owned(), Value::Bool(true));
        }
        audit::record_in(tx, &actor, entry).await
    })
    .await?
    .ok_or(ApiError::NotFound { entity: "admin" })?;
    for family in &done.revoked_families {
        state
            .kv
            .set_flag(&revoked_family_key(*family), state.config.tokens.access_ttl)
            .await;
    }
    Ok(AdminView::from(&done.after))
}

/// Every admin.
#[utoipa::path(
    operation_id = "listAdmins",
    tag = "admins",
    responses(
        (status = 200, description = "Admins by id", body = AdminList),
        (status = 403, description = "Not a superadmin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/admins")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<AdminList>, ApiError> {
    session.require(Permission::AdminManage)?;
    let admins = admin::list(&state.db).await?;
    Ok(web::Json(AdminList {
        items: admins.iter().map(AdminView::from).collect(),
    }))
}

/// One admin.
#[utoipa::path(
    operation_id = "getAdmin",
    tag = "admins",
    params(("id" = i64, Path, description = "Admin id")),
    responses(
        (status = 200, description = "The admin", body = AdminView),
    ),
    security(("bearer" = []))
)]
#[get("/admins/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<AdminView>, ApiError> {
    session.require(Permission::AdminManage)?;
    Ok(web::Json(AdminView::from(&load(&state, *id).await?)))
}

/// Create an admin.
#[utoipa::path(
    operation_id = "createAdmin",
    tag = "admins",
    request_body = AdminCreate,
    responses(
        (status = 201, description = "Created", body = AdminView),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/admins")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    session: Session,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::AdminManage)?;
    let input: AdminCreate = body::parse(req.into_inner())?;
    let password = Zeroizing::new(input.password);
    if !admin::valid_username(&input.username) {
        return Err(ApiError::invalid(
            "username",
            "1 to 64 letters, digits, '.', '_', '@' or '-'",
        ));
    }
    let allowed_networks = networks(&input.allowed_networks);
    let password_hash = hash(&input.username, password).await?;
    let new = NewAdmin {
        username: input.username,
        password_hash,
        role: input.role,
        totp_required: input.totp_required,
        allowed_networks,
    };
    let actor = session.actor();
    let created = admin::create(&state.db, &new, async |tx, created| {
        let entry = Entry::new("admin.create", "admin", created.id)
            .after(&audited(&AdminView::from(created)));
        audit::record_in(tx, &actor, entry).await
    })
    .await?;
    let view = AdminView::from(&created);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/admins/{}", created.id)))
        .json(view))
}

/// Change an admin's role, state, TOTP requirement, allow-list or password.
///
/// A new role, disabling or a new password logs the admin out everywhere.
#[utoipa::path(
    operation_id = "updateAdmin",
    tag = "admins",
    params(("id" = i64, Path, description = "Admin id")),
    request_body = AdminPatch,
    responses(
        (status = 200, description = "Updated", body = AdminView),
        (status = 409, description = "Own role or state, or the last superadmin", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/admins/{id}")]
pub(crate) async fn update(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    req: web::Json<Value>,
) -> Result<web::Json<AdminView>, ApiError> {
    session.require(Permission::AdminManage)?;
    let input: AdminPatch = body::parse(req.into_inner())?;
    let password = input.password.map(Zeroizing::new);
    let allowed_networks = input.allowed_networks.as_deref().map(networks);
    let password_hash = match password {
        Some(pw) => Some(hash(&load(&state, *id).await?.username, pw).await?),
        None => None,
    };
    let changes = Changes {
        role: input.role,
        disabled: input.disabled,
        totp_required: input.totp_required,
        allowed_networks,
        password_hash,
        reset_totp: false,
    };
    if changes.role.is_none()
        && changes.disabled.is_none()
        && changes.totp_required.is_none()
        && changes.allowed_networks.is_none()
        && changes.password_hash.is_none()
    {
        return Err(ApiError::invalid("body", "nothing to change"));
    }
    Ok(web::Json(
        apply(&state, &session, *id, &changes, "admin.update").await?,
    ))
}

/// Forget an admin's TOTP enrollment (a lost phone). They enroll again at their next
/// login if their role or account requires two-factor login.
#[utoipa::path(
    operation_id = "resetAdminTotp",
    tag = "admins",
    params(("id" = i64, Path, description = "Admin id")),
    responses(
        (status = 200, description = "Enrollment cleared", body = AdminView),
    ),
    security(("bearer" = []))
)]
#[post("/admins/{id}/reset-totp")]
pub(crate) async fn reset_totp(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<AdminView>, ApiError> {
    session.require(Permission::AdminManage)?;
    let changes = Changes {
        reset_totp: true,
        ..Changes::default()
    };
    Ok(web::Json(
        apply(&state, &session, *id, &changes, "admin.reset_totp").await?,
    ))
}

/// Delete an admin: the account is disabled and logged out, the row kept so the audit
/// log keeps its author. `PATCH {"disabled": false}` undoes it.
#[utoipa::path(
    operation_id = "deleteAdmin",
    tag = "admins",
    params(("id" = i64, Path, description = "Admin id")),
    responses(
        (status = 204, description = "Disabled"),
        (status = 409, description = "Yourself, or the last superadmin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/admins/{id}")]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::AdminManage)?;
    let changes = Changes {
        disabled: Some(true),
        ..Changes::default()
    };
    apply(&state, &session, *id, &changes, "admin.delete").await?;
    Ok(HttpResponse::NoContent().finish())
}
