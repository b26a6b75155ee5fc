//! Rotating refresh tokens (`admin_refresh_tokens`).
//!
//! A refresh token is 32 random octets (base64url) handed to the client once; the table
//! keeps its SHA-256 only. Each use revokes it and issues its successor in the same
//! family. A revoked token presented again means two parties hold the family — the token
//! was copied — so the whole family is revoked and both must log in again (the reuse
//! detection of the OAuth 2.0 Security BCP, RFC 9700 §4.14.2).

use std::net::IpAddr;
use std::time::Duration;

use deadpool_postgres::Pool;
use proisp_store::Journal;
use sha2::{Digest as _, Sha256};
use tokio_postgres::GenericClient;

use crate::audit;
use crate::error::ApiError;
use crate::jwt::random_token;

/// A token just issued.
#[derive(Debug)]
pub struct Issued {
    /// The token, for the client only.
    pub token: String,
    /// Its family.
    pub family: i64,
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Rotation {
    /// Valid: revoked and replaced by `next`.
    Rotated {
        /// The owner.
        admin_id: i64,
        /// The successor.
        next: Issued,
    },
    /// Already revoked: the family has now been revoked too.
    Reused {
        /// The owner.
        admin_id: i64,
        /// The family revoked.
        family: i64,
    },
    /// Unknown or expired.
    Invalid,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn ip_text(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| ip.to_string())
}

/// Issues a token for `admin_id`, in `family` or a new one.
pub async fn issue(
    pool: &Pool,
    admin_id: i64,
    family: Option<i64>,
    ttl: Duration,
    ip: Option<IpAddr>,
) -> Result<Issued, ApiError> {
    let client = pool.get().await?;
    issue_on(&**client, admin_id, family, ttl, ip).await
}

async fn issue_on(
    client: &impl GenericClient,
    admin_id: i64,
    family: Option<i64>,
    ttl: Duration,
    ip: Option<IpAddr>,
) -> Result<Issued, ApiError> {
    let token = random_token(32);
    let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let family: i64 = client
        .query_one(
            "INSERT INTO admin_refresh_tokens (admin_id, family, token_hash, expires_at, client_ip) \
             VALUES ($1, coalesce($2, nextval('admin_refresh_family')), $3, \
                     now() + make_interval(secs => $4::int8::float8), $5::text::inet) \
             RETURNING family",
            &[&admin_id, &family, &digest(&token), &secs, &ip_text(ip)],
        )
        .await?
        .get(0);
    Ok(Issued { token, family })
}

/// Presents `token`: rotates it, or detects reuse, in one transaction.
pub async fn rotate(
    pool: &Pool,
    token: &str,
    ttl: Duration,
    ip: Option<IpAddr>,
) -> Result<Rotation, ApiError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "SELECT id, admin_id, family, revoked_at IS NOT NULL, expires_at <= now() \
             FROM admin_refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&digest(token)],
        )
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    let (id, admin_id, family, revoked, expired): (i64, i64, i64, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    if revoked {
        tx.execute(
            "UPDATE admin_refresh_tokens SET revoked_at = now() \
             WHERE family = $1 AND revoked_at IS NULL",
            &[&family],
        )
        .await?;
        tx.commit().await?;
        return Ok(Rotation::Reused { admin_id, family });
    }
    if expired {
        return Ok(Rotation::Invalid);
    }
    tx.execute(
        "UPDATE admin_refresh_tokens SET revoked_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    let next = issue_on(&*tx, admin_id, Some(family), ttl, ip).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { admin_id, next })
}

/// Revokes every live token of `family` (logout), recorded through `journal` in the same
/// transaction.
pub async fn revoke_family(
    pool: &Pool,
    family: i64,
    journal: impl Journal<u64>,
) -> Result<u64, ApiError> {
    audit::transaction(
        pool,
        async |tx| {
            Ok(tx
                .execute(
                    "UPDATE admin_refresh_tokens SET revoked_at = now() \
                     WHERE family = $1 AND revoked_at IS NULL",
                    &[&family],
                )
                .await?)
        },
        journal,
    )
    .await
}

/// Deletes tokens expired for longer than a day (housekeeping; revoked ones are kept
/// until then so reuse is still detected).
pub async fn purge_expired(pool: &Pool) -> Result<u64, ApiError> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "DELETE FROM admin_refresh_tokens WHERE expires_at < now() - interval '1 day'",
            &[],
        )
        .await?)
}
