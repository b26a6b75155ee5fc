//! [`Session`]: the authenticated admin of a request, and the permission check.
//!
//! A handler that needs an admin takes a `Session` argument and calls
//! [`Session::require`] with the one [`Permission`] it needs, first thing:
//!
//! ```ignore
//! async fn create(state: web::Data<AppState>, session: Session, …) -> Result<…, ApiError> {
//!     session.require(Permission::PlanWrite)?;
//! ```
//!
//! Extraction checks, in order: a `Bearer` access token with a valid signature and
//! expiry (401), not revoked by logout (401 `token_revoked`), the admin still exists and
//! is not disabled (401), and the client address is within the admin's allow-list (403).
//! The admin row is read on every request, so disabling an admin or changing a role takes
//! effect at once, not when the token expires.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};

use crate::admin::{self, Admin};
use crate::audit::Actor;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::jwt::{Claims, Scope, TokenError, unix_now};
use crate::permission::Permission;
use crate::state::AppState;

/// The authenticated admin of a request.
#[derive(Debug, Clone)]
pub struct Session {
    /// The admin, as stored now.
    pub admin: Admin,
    /// The access token's claims.
    pub claims: Claims,
    /// The client address.
    pub ip: IpAddr,
}

/// The blacklist key of a token id.
pub fn revoked_key(jti: &str) -> String {
    format!("revoked:{jti}")
}

/// The blacklist keys that revoke a token with `claims`: its id's, and its refresh-token
/// family's if it has one.
pub fn revocation_keys(claims: &Claims) -> Vec<String> {
    let mut keys = vec![revoked_key(&claims.jti)];
    keys.extend(claims.fam.map(revoked_family_key));
    keys
}

/// The blacklist key of a refresh-token family: every access token issued with the
/// family is refused once it is revoked (logout, or reuse of a refresh token).
pub fn revoked_family_key(family: i64) -> String {
    format!("revoked-family:{family}")
}

impl Session {
    /// 403 unless the admin's current role has `p` and the token is a full one.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.claims.scope != Scope::Full {
            return Err(ApiError::Forbidden {
                code: "totp_enrollment_required",
                message: "enroll two-factor login (POST /api/v1/auth/totp/setup) and log in again"
                    .to_owned(),
            });
        }
        if !self.admin.role.allows(p) {
            return Err(ApiError::forbidden(format!(
                "the {} role may not do this ({} needed)",
                self.admin.role,
                p.as_str()
            )));
        }
        Ok(())
    }

    /// Who, for the audit log.
    pub fn actor(&self) -> Actor {
        Actor {
            admin_id: Some(self.admin.id),
            username: self.admin.username.clone(),
            ip: Some(self.ip),
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn authenticate(
    state: web::Data<AppState>,
    token: Option<String>,
    ip: IpAddr,
) -> Result<Session, ApiError> {
    let token = token.ok_or(ApiError::unauthorized("a Bearer access token is required"))?;
    let claims = state.jwt.verify(&token, unix_now()).map_err(|e| match e {
        TokenError::Expired => ApiError::Unauthorized {
            code: "token_expired",
            message: "access token expired; use the refresh token",
        },
        TokenError::Invalid => ApiError::unauthorized("invalid access token"),
    })?;
    let keys = revocation_keys(&claims);
    let flags: Vec<&str> = keys.iter().map(String::as_str).collect();
    if state.kv.has_any_flag(&flags).await {
        return Err(ApiError::Unauthorized {
            code: "token_revoked",
            message: "access token revoked",
        });
    }
    let admin = admin::by_id(&state.db, claims.sub)
        .await?
        .filter(|a| !a.disabled)
        .ok_or(ApiError::unauthorized("admin disabled or deleted"))?;
    if !admin.allows_from(ip) {
        return Err(ApiError::Forbidden {
            code: "address_not_allowed",
            message: format!("{ip} is not in this admin's allow-list"),
        });
    }
    Ok(Session { admin, claims, ip })
}

impl FromRequest for Session {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Session, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .map(|c| c.0)
            .or_else(|| req.peer_addr().map(|a| a.ip()));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AppState missing"))?;
            let ip = ip.ok_or_else(|| ApiError::internal("request without a peer address"))?;
            authenticate(state, token, ip).await
        })
    }
}
