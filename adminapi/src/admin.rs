//! Admin accounts in PostgreSQL (`admins`, sql/0003_admins.sql).

use std::fmt;

use deadpool_postgres::Pool;
use ipnet::IpNet;
use proisp_store::Journal;
use tokio_postgres::Row;

use crate::audit;
use crate::error::ApiError;
use crate::permission::Role;

/// An admin as stored. `Debug` leaves out the hash and the TOTP secrets.
#[derive(Clone)]
pub struct Admin {
    /// Database id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The confirmed TOTP secret, sealed ([`crate::totp::seal`]).
    pub totp_secret_enc: Option<Vec<u8>>,
    /// A TOTP secret handed out by setup, not yet confirmed.
    pub totp_pending_enc: Option<Vec<u8>>,
    /// The last TOTP step accepted.
    pub totp_last_step: i64,
    /// TOTP required whatever the role's policy.
    pub totp_required: bool,
    /// Networks this admin may work from; empty: any.
    pub allowed_networks: Vec<IpNet>,
    /// Refused at login and on every request.
    pub disabled: bool,
    /// When created, seconds since the Unix epoch.
    pub created_at: i64,
    /// The last successful login, seconds since the Unix epoch.
    pub last_login_at: Option<i64>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("totp_enrolled", &self.totp_secret_enc.is_some())
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Whether `ip` is within this admin's allow-list.
    pub fn allows_from(&self, ip: std::net::IpAddr) -> bool {
        self.allowed_networks.is_empty() || self.allowed_networks.iter().any(|n| n.contains(&ip))
    }
}

/// An admin to create.
#[derive(Debug, Clone)]
pub struct NewAdmin {
    /// Login name: letters, digits, `.`, `_`, `@`, `-`; 1 to 64.
    pub username: String,
    /// argon2id PHC string ([`crate::password::hash`]).
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// TOTP required whatever the role's policy.
    pub totp_required: bool,
    /// Networks this admin may work from.
    pub allowed_networks: Vec<IpNet>,
}

const COLUMNS: &str = "id, username, role, password_hash, totp_secret_enc, totp_pending_enc, \
    totp_last_step, totp_required, allowed_networks::text[], disabled, \
    floor(extract(epoch FROM created_at))::int8, floor(extract(epoch FROM last_login_at))::int8";

fn from_row(row: &Row) -> Result<Admin, ApiError> {
    let role: &str = row.get(2);
    let networks: Vec<String> = row.get(8);
    Ok(Admin {
        id: row.get(0),
        username: row.get(1),
        role: Role::parse(role)
            .ok_or_else(|| ApiError::internal(format!("admins.role {role:?}")))?,
        password_hash: row.get(3),
        totp_secret_enc: row.get(4),
        totp_pending_enc: row.get(5),
        totp_last_step: row.get(6),
        totp_required: row.get(7),
        allowed_networks: networks
            .iter()
            .map(|n| n.parse())
            .collect::<Result<_, _>>()
            .map_err(ApiError::internal)?,
        disabled: row.get(9),
        created_at: row.get(10),
        last_login_at: row.get(11),
    })
}

/// Whether `name` is an acceptable username.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

/// An admin by login name.
pub async fn by_username(pool: &Pool, username: &str) -> Result<Option<Admin>, ApiError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM admins WHERE username = $1"))
        .await?;
    client
        .query_opt(&stmt, &[&username])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// An admin by id.
pub async fn by_id(pool: &Pool, id: i64) -> Result<Option<Admin>, ApiError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM admins WHERE id = $1"))
        .await?;
    client
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Creates an admin, recorded through `journal` in the same transaction; a taken name is a
/// conflict on `username`.
pub async fn create(
    pool: &Pool,
    new: &NewAdmin,
    journal: impl Journal<Admin>,
) -> Result<Admin, ApiError> {
    if !valid_username(&new.username) {
        return Err(ApiError::invalid(
            "username",
            "1 to 64 letters, digits, '.', '_', '@' or '-'",
        ));
    }
    let networks: Vec<String> = new.allowed_networks.iter().map(|n| n.to_string()).collect();
    audit::transaction(
        pool,
        async |tx| {
            let stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO admins (username, password_hash, role, totp_required, \
                     allowed_networks) VALUES ($1, $2, $3, $4, $5::text[]::cidr[]) \
                     RETURNING {COLUMNS}"
                ))
                .await?;
            let row = tx
                .query_one(
                    &stmt,
                    &[
                        &new.username,
                        &new.password_hash,
                        &new.role.as_str(),
                        &new.totp_required,
                        &networks,
                    ],
                )
                .await
                .map_err(|e| match ApiError::from(e) {
                    ApiError::Conflict { .. } => ApiError::Conflict {
                        message: "username is already taken".to_owned(),
                        field: Some("username".to_owned()),
                    },
                    other => other,
                })?;
            from_row(&row)
        },
        journal,
    )
    .await
}

/// Stores (or clears) a TOTP secret awaiting confirmation, recorded through `journal` in
/// the same transaction.
pub async fn set_totp_pending(
    pool: &Pool,
    id: i64,
    sealed: Option<&[u8]>,
    journal: impl Journal<()>,
) -> Result<(), ApiError> {
    audit::transaction(
        pool,
        async |tx| {
            tx.execute(
                "UPDATE admins SET totp_pending_enc = $2, updated_at = now() WHERE id = $1",
                &[&id, &sealed],
            )
            .await?;
            Ok(())
        },
        journal,
    )
    .await
}

/// Makes the pending secret the admin's TOTP secret, with `step` already used, recorded
/// through `journal` in the same transaction. False (and nothing recorded) when there was
/// no pending secret (a concurrent confirm won).
pub async fn confirm_totp(
    pool: &Pool,
    id: i64,
    step: i64,
    journal: impl Journal<()>,
) -> Result<bool, ApiError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let n = tx
        .execute(
            "UPDATE admins SET totp_secret_enc = totp_pending_enc, totp_pending_enc = NULL, \
             totp_last_step = $2, updated_at = now() \
             WHERE id = $1 AND totp_pending_enc IS NOT NULL",
            &[&id, &step],
        )
        .await?;
    if n != 1 {
        return Ok(false);
    }
    journal(&tx, &()).await?;
    tx.commit().await?;
    Ok(true)
}

/// Records TOTP `step` as used; false when it (or a later one) already was, so two
/// logins racing with one code cannot both pass.
pub async fn use_totp_step(pool: &Pool, id: i64, step: i64) -> Result<bool, ApiError> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "UPDATE admins SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
            &[&id, &step],
        )
        .await?;
    Ok(n == 1)
}

/// Notes a successful login, recorded through `journal` in the same transaction.
pub async fn record_login(pool: &Pool, id: i64, journal: impl Journal<()>) -> Result<(), ApiError> {
    audit::transaction(
        pool,
        async |tx| {
            tx.execute(
                "UPDATE admins SET last_login_at = now() WHERE id = $1",
                &[&id],
            )
            .await?;
            Ok(())
        },
        journal,
    )
    .await
}

/// Every admin, by id.
pub async fn list(pool: &Pool) -> Result<Vec<Admin>, ApiError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM admins ORDER BY id"))
        .await?;
    client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A change to an admin; `None` leaves a setting as it is.
#[derive(Default, Clone)]
pub struct Changes {
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// TOTP required whatever the role's policy.
    pub totp_required: Option<bool>,
    /// New allow-list (empty: any network).
    pub allowed_networks: Option<Vec<IpNet>>,
    /// New argon2id PHC string.
    pub password_hash: Option<String>,
    /// Forget the TOTP enrollment (confirmed and pending).
    pub reset_totp: bool,
}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("password", &self.password_hash.is_some())
            .field("reset_totp", &self.reset_totp)
            .finish_non_exhaustive()
    }
}

/// What [`update`] did.
#[derive(Debug)]
pub struct Updated {
    /// The admin before.
    pub before: Admin,
    /// The admin after.
    pub after: Admin,
    /// The refresh-token families revoked: their access tokens must be refused too.
    pub revoked_families: Vec<i64>,
}

/// Applies `changes` to admin `id` (`None`: no such admin) in one transaction, recorded
/// through `journal` before it commits.
///
/// Refuses (409) a change that would leave no enabled superadmin: the enabled
/// superadmins are locked first, so two superadmins demoting each other concurrently
/// cannot both succeed. A new role, disabling, a new password or a TOTP reset revokes
/// every refresh token of the admin, so the change takes effect at once.
pub async fn update(
    pool: &Pool,
    id: i64,
    changes: &Changes,
    journal: impl Journal<Updated>,
) -> Result<Option<Updated>, ApiError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let supers = tx
        .query(
            "SELECT id FROM admins WHERE role = 'superadmin' AND NOT disabled \
             ORDER BY id FOR UPDATE",
            &[],
        )
        .await?;
    let Some(row) = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM admins WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let before = from_row(&row)?;
    let role = changes.role.unwrap_or(before.role);
    let disabled = changes.disabled.unwrap_or(before.disabled);
    let was_super = before.role == Role::Superadmin && !before.disabled;
    let is_super = role == Role::Superadmin && !disabled;
    if was_super && !is_super && supers.len() <= 1 {
        return Err(ApiError::Conflict {
            message: "this is the last enabled superadmin: it cannot be demoted, disabled or \
                      deleted; make another superadmin first"
                .to_owned(),
            field: None,
        });
    }
    let networks = changes
        .allowed_networks
        .as_ref()
        .map(|ns| ns.iter().map(ToString::to_string).collect::<Vec<_>>());
    let row = tx
        .query_one(
            &format!(
                "UPDATE admins SET role = $2, disabled = $3, \
                 totp_required = coalesce($4, totp_required), \
                 allowed_networks = coalesce($5::text[]::cidr[], allowed_networks), \
                 password_hash = coalesce($6, password_hash), \
                 totp_secret_enc = CASE WHEN $7 THEN NULL ELSE totp_secret_enc END, \
                 totp_pending_enc = CASE WHEN $7 THEN NULL ELSE totp_pending_enc END, \
                 totp_last_step = CASE WHEN $7 THEN 0 ELSE totp_last_step END, \
                 updated_at = now() \
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[
                &id,
                &role.as_str(),
                &disabled,
                &changes.totp_required,
                &networks,
                &changes.password_hash,
                &changes.reset_totp,
            ],
        )
        .await?;
    let after = from_row(&row)?;
    let revoke = role != before.role
        || (disabled && !before.disabled)
        || changes.password_hash.is_some()
        || changes.reset_totp;
    let mut revoked_families = Vec::new();
    if revoke {
        let rows = tx
            .query(
                "UPDATE admin_refresh_tokens SET revoked_at = now() \
                 WHERE admin_id = $1 AND revoked_at IS NULL RETURNING family",
                &[&id],
            )
            .await?;
        revoked_families = rows.iter().map(|r| r.get(0)).collect();
        revoked_families.sort_unstable();
        revoked_families.dedup();
    }
    let updated = Updated {
        before,
        after,
        revoked_families,
    };
    journal(&tx, &updated).await?;
    tx.commit().await?;
    Ok(Some(updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(valid_username("noc.alice@isp-1"));
        assert!(!valid_username(""));
        assert!(!valid_username("a b"));
        assert!(!valid_username(&"a".repeat(65)));
    }
}
