//! `/auth`: login, refresh, logout, who am I, TOTP enrollment.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::admin::{self, Admin};
use crate::audit::{self, Actor, Entry};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody};
use crate::jwt::{self, Scope, unix_now};
use crate::password;
use crate::permission::{Permission, Role};
use crate::refresh::{self, Rotation};
use crate::session::{Session, revoked_family_key, revoked_key};
use crate::state::AppState;
use crate::totp;
use crate::{body, cookie};

/// `POST /auth/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    /// Password.
    pub password: String,
    /// The current TOTP code: required, with the password, for admins enrolled in
    /// two-factor login.
    #[serde(default)]
    pub totp: Option<String>,
    /// Hand the refresh token over in an HttpOnly, SameSite=Strict cookie scoped to
    /// `/api/v1/auth/refresh` instead of in the body, where no script can read it (what
    /// the web console asks for). `refresh_token` is then null.
    #[serde(default)]
    pub refresh_cookie: bool,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Tokens issued by login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token (a JWT): `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// The refresh token, good for one `POST /auth/refresh`; absent for an
    /// enrollment-only login, and when it went into the refresh cookie instead.
    pub refresh_token: Option<String>,
    /// Seconds the refresh token is valid.
    pub refresh_expires_in: Option<u64>,
    /// True when the access token is good only for enrolling TOTP: the admin's role
    /// requires two-factor login and none is set up yet.
    pub totp_enrollment_required: bool,
}

/// `POST /auth/refresh`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from login or the previous refresh. Absent: the one in the
    /// `proisp_refresh` cookie, whose successor then goes into the cookie too.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest(<redacted>)")
    }
}

/// `GET /auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Admin id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// What the role allows.
    pub permissions: Vec<&'static str>,
    /// Whether TOTP is set up.
    pub totp_enabled: bool,
    /// Whether TOTP is required (by role or for this admin).
    pub totp_required: bool,
    /// Whether this token is enrollment-only.
    pub totp_enrollment_required: bool,
}

/// `POST /auth/totp/setup`.
#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    /// `otpauth://totp/…` for an authenticator app (show as a QR code). Shown once: a new
    /// setup replaces it.
    pub otpauth_url: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSetup(<redacted>)")
    }
}

/// `POST /auth/totp/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    /// The code the app shows now.
    pub code: String,
}

/// Failures of `username` from `ip`. Never per username alone: a stranger's guesses must
/// not lock the real admin out from their own address.
fn pair_key(username: &str, ip: IpAddr) -> String {
    format!("loginfail:pair:{ip}:{}", username.to_lowercase())
}

/// Failures from `ip`, whatever the username.
fn ip_key(ip: IpAddr) -> String {
    format!("loginfail:ip:{ip}")
}

/// The flag that refuses a counter's logins while its back-off runs.
fn block_key(counter: &str) -> String {
    format!("{counter}:block")
}

/// The first back-off, doubled by each failure after it.
const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// The back-off after failure number `count` of a counter that allows `free` failures:
/// none before the `free`-th, then 1 s, 2 s, 4 s … up to `cap`.
fn backoff(count: u64, free: u32, cap: Duration) -> Option<Duration> {
    let past = count.checked_sub(u64::from(free)).filter(|_| free > 0)?;
    let doubled = BACKOFF_BASE.saturating_mul(1 << past.min(20));
    Some(doubled.min(cap))
}

/// Every failed login answers this, whatever failed — an unknown name, the password, the
/// admin's allow-list, a disabled account, a missing or wrong TOTP code — so the answer
/// never tells that the password was right.
fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_credentials",
        message: "wrong username, password or code",
    }
}

fn totp_required_for(state: &AppState, admin: &Admin) -> bool {
    admin.totp_required || state.config.login.totp_required_roles.contains(&admin.role)
}

/// 429 while (username, address) or the address backs off.
async fn check_login_limits(state: &AppState, username: &str, ip: IpAddr) -> Result<(), ApiError> {
    for key in [pair_key(username, ip), ip_key(ip)] {
        let (blocked, left) = state.kv.peek(&block_key(&key)).await;
        if blocked > 0 {
            return Err(ApiError::TooManyRequests {
                retry_after: left.as_secs() + u64::from(left.subsec_nanos() > 0),
            });
        }
    }
    Ok(())
}

async fn login_failed(
    state: &AppState,
    username: &str,
    admin: Option<&Admin>,
    ip: IpAddr,
    why: &'static str,
) -> ApiError {
    let policy = &state.config.login;
    let window = policy.failure_window;
    for (key, free) in [
        (pair_key(username, ip), policy.failures_per_user_address),
        (ip_key(ip), policy.failures_per_ip),
    ] {
        let (count, _) = state.kv.incr(&key, window).await;
        if let Some(wait) = backoff(count, free, window) {
            state.kv.set_flag(&block_key(&key), wait).await;
        }
    }
    tracing::info!(username, %ip, why, "login failed");
    let actor = Actor {
        admin_id: admin.map(|a| a.id),
        username: username.chars().take(64).collect(),
        ip: Some(ip),
    };
    let mut entry = Entry::new(
        "auth.login_failed",
        "admin",
        username.chars().take(64).collect::<String>(),
    );
    entry.after = Some(serde_json::json!({ "reason": why }));
    audit::record_event(&state.db, &actor, entry).await;
    invalid_credentials()
}

async fn issue_tokens(
    state: &AppState,
    admin: &Admin,
    family: Option<i64>,
    refresh_token: Option<(String, i64)>,
    scope: Scope,
) -> TokenResponse {
    let ttl = state.config.tokens.access_ttl;
    let fam = refresh_token.as_ref().map(|(_, f)| *f).or(family);
    let claims = jwt::claims(admin.id, &admin.username, admin.role, fam, scope, ttl);
    let refresh_ttl = state.config.tokens.refresh_ttl.as_secs();
    TokenResponse {
        access_token: state.jwt.sign(&claims),
        token_type: "Bearer",
        expires_in: ttl.as_secs(),
        refresh_expires_in: refresh_token.as_ref().map(|_| refresh_ttl),
        refresh_token: refresh_token.map(|(t, _)| t),
        totp_enrollment_required: scope == Scope::TotpEnroll,
    }
}

/// Log in with username, password and, for an admin with two-factor login, the current
/// TOTP code.
///
/// An admin enrolled in TOTP must send `totp` with the password: a login without it fails
/// like a wrong password. Every failure — unknown name, wrong password, disabled account,
/// an address outside the admin's allow-list, a missing or wrong code — answers the same
/// 401 `invalid_credentials` and counts as a failed attempt. Failures are limited per
/// (username, client address) and per client address, with a back-off that doubles with
/// each failure past the allowance (429 with `Retry-After`).
#[utoipa::path(
    operation_id = "login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: whatever failed", body = ErrorBody),
        (status = 403, description = "The client address is outside `http.allowed_networks`", body = ErrorBody),
        (status = 422, description = "Malformed request", body = ErrorBody),
        (status = 429, description = "Too many failed logins: retry after `Retry-After` seconds", body = ErrorBody),
    )
)]
#[post("/auth/login")]
pub(crate) async fn login(
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let req: LoginRequest = body::parse(req.into_inner())?;
    let password = Zeroizing::new(req.password);
    if req.username.is_empty() || req.username.len() > 64 {
        return Err(ApiError::invalid("username", "1 to 64 characters"));
    }
    check_login_limits(&state, &req.username, ip).await?;

    let admin = admin::by_username(&state.db, &req.username).await?;
    // An unknown name costs an argon2 verification too: timing does not tell it apart.
    let hash = admin.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let pw = password.clone();
    let ok = web::block(move || password::verify(&pw, &hash))
        .await
        .map_err(ApiError::internal)?;
    let admin = match admin {
        Some(a) if !ok => {
            return Err(login_failed(&state, &req.username, Some(&a), ip, "password").await);
        }
        None => return Err(login_failed(&state, &req.username, None, ip, "password").await),
        Some(a) => a,
    };
    let refused = if admin.disabled {
        Some("disabled")
    } else if !admin.allows_from(ip) {
        Some("address not allowed")
    } else {
        None
    };
    if let Some(why) = refused {
        return Err(login_failed(&state, &req.username, Some(&admin), ip, why).await);
    }

    let mut scope = Scope::Full;
    match &admin.totp_secret_enc {
        Some(sealed) => {
            let Some(code) = req.totp.as_deref().filter(|c| !c.is_empty()) else {
                return Err(
                    login_failed(&state, &req.username, Some(&admin), ip, "totp missing").await,
                );
            };
            let secret = totp::open(&state.keys, sealed)?;
            let last = u64::try_from(admin.totp_last_step).unwrap_or(0);
            let step =
                totp::check(&secret, code, unix_now(), last).and_then(|s| i64::try_from(s).ok());
            let used = match step {
                Some(step) => admin::use_totp_step(&state.db, admin.id, step).await?,
                None => false,
            };
            if !used {
                return Err(login_failed(&state, &req.username, Some(&admin), ip, "totp").await);
            }
        }
        None if totp_required_for(&state, &admin) => scope = Scope::TotpEnroll,
        None => {}
    }

    state.kv.remove(&pair_key(&req.username, ip)).await;
    let actor = Actor {
        admin_id: Some(admin.id),
        username: admin.username.clone(),
        ip: Some(ip),
    };
    admin::record_login(&state.db, admin.id, async |tx, ()| {
        audit::record_in(tx, &actor, Entry::new("auth.login", "admin", admin.id)).await
    })
    .await?;
    let refresh = if scope == Scope::Full {
        let issued = refresh::issue(
            &state.db,
            admin.id,
            None,
            state.config.tokens.refresh_ttl,
            Some(ip),
        )
        .await?;
        Some((issued.token, issued.family))
    } else {
        None
    };
    let tokens = issue_tokens(&state, &admin, None, refresh, scope).await;
    Ok(answer(&state, tokens, req.refresh_cookie))
}

/// 200 with `tokens`; with `in_cookie`, their refresh token goes into the cookie instead
/// of the body.
fn answer(state: &AppState, mut tokens: TokenResponse, in_cookie: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header(("Cache-Control", "no-store"));
    if in_cookie && let Some(token) = tokens.refresh_token.take() {
        res.insert_header((
            header::SET_COOKIE,
            cookie::set(&token, state.config.tokens.refresh_ttl),
        ));
    }
    res.json(tokens)
}

/// Trade a refresh token for a new access token and a new refresh token.
///
/// The old refresh token is revoked. Presenting a revoked one revokes its whole family
/// (the token was copied): every holder must log in again. Without `refresh_token` in
/// the body the `proisp_refresh` cookie's is used (browser sessions: see `refresh_cookie`
/// at login), and the new one is set in that cookie.
#[utoipa::path(
    operation_id = "refreshTokens",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or missing refresh token", body = ErrorBody),
    )
)]
#[post("/auth/refresh")]
pub(crate) async fn refresh_tokens(
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    http: HttpRequest,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let req: RefreshRequest = body::parse(req.into_inner())?;
    let in_cookie = req.refresh_token.is_none();
    let Some(token) = req.refresh_token.or_else(|| cookie::read(&http)) else {
        return Err(ApiError::unauthorized(
            "no refresh token: send refresh_token or the proisp_refresh cookie",
        ));
    };
    let ttl = state.config.tokens.refresh_ttl;
    match refresh::rotate(&state.db, &token, ttl, Some(ip)).await? {
        Rotation::Invalid => Err(ApiError::unauthorized("unknown or expired refresh token")),
        Rotation::Reused { admin_id, family } => {
            tracing::warn!(admin_id, family, %ip, "refresh token reused: family revoked");
            state
                .kv
                .set_flag(&revoked_family_key(family), state.config.tokens.access_ttl)
                .await;
            let name = admin::by_id(&state.db, admin_id)
                .await?
                .map_or_else(String::new, |a| a.username);
            audit::record_event(
                &state.db,
                &Actor {
                    admin_id: Some(admin_id),
                    username: name,
                    ip: Some(ip),
                },
                Entry::new("auth.refresh_reuse", "admin", admin_id),
            )
            .await;
            Err(ApiError::Unauthorized {
                code: "token_revoked",
                message: "refresh token already used: every session of this login is revoked",
            })
        }
        Rotation::Rotated { admin_id, next } => {
            let admin = admin::by_id(&state.db, admin_id).await?;
            let Some(admin) = admin.filter(|a| !a.disabled && a.allows_from(ip)) else {
                refresh::revoke_family(&state.db, next.family, async |_, _| Ok(())).await?;
                return Err(ApiError::unauthorized(
                    "admin disabled, deleted or not allowed from here",
                ));
            };
            let family = next.family;
            let tokens = issue_tokens(
                &state,
                &admin,
                Some(family),
                Some((next.token, family)),
                Scope::Full,
            )
            .await;
            Ok(answer(&state, tokens, in_cookie))
        }
    }
}

/// Log out: the access token is refused from now on and its refresh-token family is
/// revoked; the browser is told to drop the refresh cookie.
#[utoipa::path(
    operation_id = "logout",
    tag = "auth",
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No valid access token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/auth/logout")]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    let actor = session.actor();
    let entry = Entry::new("auth.logout", "admin", session.admin.id);
    // PostgreSQL first: a logout that cannot be recorded fails whole, and the client still
    // holds a working token to retry with.
    match session.claims.fam {
        Some(family) => {
            refresh::revoke_family(&state.db, family, async |tx, _| {
                audit::record_in(tx, &actor, entry).await
            })
            .await?;
            state
                .kv
                .set_flag(&revoked_family_key(family), state.config.tokens.access_ttl)
                .await;
        }
        // An enrollment-only token has no refresh family: nothing in PostgreSQL changes.
        None => audit::record_event(&state.db, &actor, entry).await,
    }
    let left = session.claims.exp.saturating_sub(unix_now()).max(1);
    state
        .kv
        .set_flag(&revoked_key(&session.claims.jti), Duration::from_secs(left))
        .await;
    Ok(HttpResponse::NoContent()
        .insert_header((header::SET_COOKIE, cookie::clear()))
        .finish())
}

/// The logged-in admin and what their role allows.
#[utoipa::path(
    operation_id = "me",
    tag = "auth",
    responses(
        (status = 200, description = "The admin", body = Me),
        (status = 401, description = "No valid access token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/auth/me")]
pub(crate) async fn me(state: web::Data<AppState>, session: Session) -> web::Json<Me> {
    let a = &session.admin;
    web::Json(Me {
        id: a.id,
        username: a.username.clone(),
        role: a.role,
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| a.role.allows(*p))
            .map(Permission::as_str)
            .collect(),
        totp_enabled: a.totp_secret_enc.is_some(),
        totp_required: totp_required_for(&state, a),
        totp_enrollment_required: session.claims.scope == Scope::TotpEnroll,
    })
}

/// Start TOTP enrollment: a new secret, as an `otpauth://` URL. Confirm it with a code.
#[utoipa::path(
    operation_id = "setupTotp",
    tag = "auth",
    responses(
        (status = 200, description = "The secret to scan", body = TotpSetup),
        (status = 409, description = "TOTP already enabled", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/auth/totp/setup")]
pub(crate) async fn totp_setup(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    if session.admin.totp_secret_enc.is_some() {
        return Err(ApiError::Conflict {
            message: "two-factor login is already enabled".to_owned(),
            field: None,
        });
    }
    let secret = totp::generate();
    let url = totp::url(
        &secret,
        &state.config.login.totp_issuer,
        &session.admin.username,
    )
    .ok_or_else(|| ApiError::internal("cannot build the otpauth URL"))?;
    let actor = session.actor();
    admin::set_totp_pending(
        &state.db,
        session.admin.id,
        Some(&totp::seal(&state.keys, &secret)),
        async |tx, ()| {
            let entry = Entry::new("auth.totp_setup", "admin", session.admin.id);
            audit::record_in(tx, &actor, entry).await
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TotpSetup { otpauth_url: url }))
}

/// Finish TOTP enrollment with the current code; from then on login needs a code.
#[utoipa::path(
    operation_id = "confirmTotp",
    tag = "auth",
    request_body = TotpConfirm,
    responses(
        (status = 204, description = "Two-factor login enabled"),
        (status = 409, description = "No setup pending", body = ErrorBody),
        (status = 422, description = "Wrong code", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/auth/totp/confirm")]
pub(crate) async fn totp_confirm(
    state: web::Data<AppState>,
    session: Session,
    req: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let req: TotpConfirm = body::parse(req.into_inner())?;
    let Some(sealed) = &session.admin.totp_pending_enc else {
        return Err(ApiError::Conflict {
            message: "no TOTP setup pending: POST /api/v1/auth/totp/setup first".to_owned(),
            field: None,
        });
    };
    let secret = totp::open(&state.keys, sealed)?;
    let step = totp::check(&secret, &req.code, unix_now(), 0)
        .and_then(|s| i64::try_from(s).ok())
        .ok_or_else(|| ApiError::invalid("code", "wrong or expired code"))?;
    let actor = session.actor();
    let confirmed = admin::confirm_totp(&state.db, session.admin.id, step, async |tx, ()| {
        let entry = Entry::new("auth.totp_enabled", "admin", session.admin.id);
        audit::record_in(tx, &actor, entry).await
    })
    .await?;
    if !confirmed {
        return Err(ApiError::Conflict {
            message: "no TOTP setup pending".to_owned(),
            field: None,
        });
    }
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_past_the_allowance_up_to_the_window() {
        let cap = Duration::from_secs(900);
        assert_eq!(backoff(4, 5, cap), None);
        let waits: Vec<u64> = (5..=16)
            .map(|n| backoff(n, 5, cap).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(backoff(u64::MAX, 5, cap), Some(cap));
        assert_eq!(backoff(100, 0, cap), None, "0: no limit");
    }

    #[test]
    fn counters_are_per_user_and_address_never_per_user_alone() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(pair_key("Root", a), pair_key("root", a));
        assert_ne!(pair_key("root", a), pair_key("root", b));
        assert_ne!(ip_key(a), ip_key(b));
    }
}
