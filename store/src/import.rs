//! Subscriber writes beyond the single ones of `subscriber.rs`: renew, password changes
//! and the bulk import.
//!
//! Every write goes through the same after-commit cache update as the single writes, so a
//! change is in force on every radiusd within a second.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use futures_util::StreamExt as _;

use super::crypto::Purpose;
use super::journal::unjournaled;
use super::subscriber::COLUMNS;
use super::{Invalidation, Journal, NewSubscriber, Store, StoreError};
use proisp_model::{Password, Subscriber};

/// Imports of more rows than this publish one [`Invalidation::All`] instead of one
/// message per subscriber.
const INVALIDATE_ALL_ABOVE: usize = 200;

/// Rows per INSERT of an import.
const IMPORT_BATCH: usize = 2_000;
/// One row of an import.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// The row's number in the source (the caller's numbering, reported back).
    pub row: usize,
    /// The subscriber.
    pub subscriber: NewSubscriber,
}

/// A row an import did not create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// [`ImportRow::row`].
    pub row: usize,
    /// The field at fault.
    pub field: String,
    /// Why.
    pub message: String,
}

/// What an import writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// The valid rows; the others are reported.
    ValidRows,
    /// Every row, or nothing when any fails.
    AllOrNothing,
    /// Nothing: only check and report (the caller already refused a row).
    CheckOnly,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// Subscribers created (none when `all_or_nothing` and any row failed).
    pub created: Vec<(usize, i64, String)>,
    /// Rows refused.
    pub errors: Vec<ImportError>,
}
impl Store {
    /// Extends a live subscriber's expiry by its plan's validity, `periods` times, from
    /// the later of now and the current expiry.
    pub async fn renew_subscriber(
        &self,
        username: &str,
        periods: u32,
    ) -> Result<Subscriber, StoreError> {
        self.renew_subscriber_journaled(username, periods, unjournaled)
            .await
    }

    /// [`Store::renew_subscriber`], recording the renewed subscriber through `journal` in
    /// its transaction.
    pub async fn renew_subscriber_journaled(
        &self,
        username: &str,
        periods: u32,
        journal: impl Journal<Subscriber>,
    ) -> Result<Subscriber, StoreError> {
        let periods = i32::try_from(periods)
            .ok()
            .filter(|p| (1..=120).contains(p))
            .ok_or_else(|| StoreError::invalid("periods", "must be 1 to 120"))?;
        self.update_subscriber_row(
            username,
            "expires_at = greatest(now(), coalesce(s.expires_at, now())) + \
             make_interval(days => $1 * (SELECT p.validity_days FROM plans p \
             WHERE p.id = s.plan_id))",
            "$2",
            &[&periods, &username],
            journal,
        )
        .await
    }

    /// Sets a live subscriber's password.
    pub async fn set_password(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<Subscriber, StoreError> {
        self.set_password_journaled(username, password, unjournaled)
            .await
    }

    /// [`Store::set_password`], recording the subscriber through `journal` in its
    /// transaction.
    pub async fn set_password_journaled(
        &self,
        username: &str,
        password: &Password,
        journal: impl Journal<Subscriber>,
    ) -> Result<Subscriber, StoreError> {
        check_password(password)?;
        let sealed = self
            .keys
            .encrypt(Purpose::SubscriberPassword, password.as_bytes());
        self.update_subscriber_row(
            username,
            "password_enc = $1",
            "$2",
            &[&sealed, &username],
            journal,
        )
        .await
    }

    /// Creates the rows of an import in one transaction.
    ///
    /// Rows that would violate a rule (bad value, a username or static address taken by
    /// a live subscriber or by an earlier row, an unknown plan) are reported, not
    /// inserted. With [`ImportMode::AllOrNothing`], one such row means nothing is
    /// written; [`ImportMode::CheckOnly`] writes nothing in any case. A name
    /// taken by a concurrent writer between the check and the insert fails the whole
    /// import with [`StoreError::Conflict`] (nothing written either way).
    ///
    /// After the commit every new subscriber is put to the cache (replacing negative
    /// markers of names tried before they existed); a large import then publishes one
    /// [`Invalidation::All`] rather than a message per row.
    pub async fn import_subscribers(
        &self,
        rows: Vec<ImportRow>,
        mode: ImportMode,
    ) -> Result<ImportOutcome, StoreError> {
        self.import_subscribers_journaled(rows, mode, unjournaled)
            .await
    }

    /// [`Store::import_subscribers`], recording what it writes through `journal` in its
    /// transaction (called only when the import writes, with [`ImportOutcome::created`]
    /// filled in; it may be empty when every row was refused).
    pub async fn import_subscribers_journaled(
        &self,
        rows: Vec<ImportRow>,
        mode: ImportMode,
        journal: impl Journal<ImportOutcome>,
    ) -> Result<ImportOutcome, StoreError> {
        let mut out = ImportOutcome::default();
        let mut ok = Vec::with_capacity(rows.len());
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for r in rows {
            let s = &r.subscriber;
            let err = |field: &str, message: String| ImportError {
                row: r.row,
                field: field.to_owned(),
                message,
            };
            match self.subscriber_params(s) {
                Err(StoreError::Invalid { field, reason }) => out.errors.push(err(&field, reason)),
                Err(e) => return Err(e),
                Ok(_) if !names.insert(s.username.clone()) => out
                    .errors
                    .push(err("username", "repeats an earlier row".to_owned())),
                Ok(_) if s.ipv4.is_some_and(|a| !addrs.insert(a)) => out
                    .errors
                    .push(err("ipv4", "repeats an earlier row".to_owned())),
                Ok(p) => ok.push((r.row, p)),
            }
        }

        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        // Values already taken by live subscribers, and plans that exist. The names go by
        // the btree, never the trigram index (sql/0025): right after an import's earlier
        // part the planner picked that for `= ANY` and took 14.7 s for 2,000 names.
        let usernames: Vec<&str> = ok.iter().map(|(_, p)| p.username.as_str()).collect();
        let taken_names: HashSet<String> = tx
            .query(
                "SELECT username FROM proisp_live_subscribers($1)",
                &[&usernames],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let ips: Vec<IpAddr> = ok.iter().filter_map(|(_, p)| p.ipv4).collect();
        let taken_ips: HashSet<IpAddr> = tx
            .query(
                "SELECT ipv4 FROM subscribers WHERE ipv4 = ANY($1) AND deleted_at IS NULL",
                &[&ips],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plans: HashSet<i64> = tx
            .query("SELECT id FROM plans", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut insert = Vec::with_capacity(ok.len());
        for (row, p) in ok {
            let err = |field: &str, message: &str| ImportError {
                row,
                field: field.to_owned(),
                message: message.to_owned(),
            };
            if taken_names.contains(&p.username) {
                out.errors.push(err("username", "already taken"));
            } else if p.ipv4.is_some_and(|a| taken_ips.contains(&a)) {
                out.errors.push(err("ipv4", "already taken"));
            } else if !plans.contains(&p.plan_id) {
                out.errors.push(err("plan", "no such plan"));
            } else {
                insert.push((row, p));
            }
        }
        out.errors.sort_by_key(|e| e.row);
        if mode == ImportMode::CheckOnly
            || (mode == ImportMode::AllOrNothing && !out.errors.is_empty())
        {
            return Ok(out);
        }

        let mut created: Vec<(usize, Subscriber)> = Vec::with_capacity(insert.len());
        for batch in insert.chunks(IMPORT_BATCH) {
            let col = |f: fn(&super::subscriber::Params) -> Option<String>| -> Vec<Option<String>> {
                batch.iter().map(|(_, p)| f(p)).collect()
            };
            let usernames: Vec<&str> = batch.iter().map(|(_, p)| p.username.as_str()).collect();
            let sealed: Vec<&[u8]> = batch
                .iter()
                .map(|(_, p)| p.password_enc.as_slice())
                .collect();
            let statuses: Vec<&str> = batch.iter().map(|(_, p)| p.status).collect();
            let plan_ids: Vec<i64> = batch.iter().map(|(_, p)| p.plan_id).collect();
            let expires: Vec<Option<i64>> = batch.iter().map(|(_, p)| p.expires_at).collect();
            let ipv4: Vec<Option<IpAddr>> = batch.iter().map(|(_, p)| p.ipv4).collect();
            let simultaneous: Vec<i32> = batch.iter().map(|(_, p)| p.simultaneous_use).collect();
            let (macs, v6, delegated) = (
                col(|p| p.mac.clone()),
                col(|p| p.ipv6_prefix.clone()),
                col(|p| p.delegated.clone()),
            );
            let (name, phone, email, address) = (
                col(|p| p.name.clone()),
                col(|p| p.phone.clone()),
                col(|p| p.email.clone()),
                col(|p| p.address.clone()),
            );
            // One statement per batch; RETURNING's rows are matched back to source rows
            // by username (unique within the import).
            let rows = tx
                .query(
                    &format!(
                        "WITH ins AS (INSERT INTO subscribers (username, password_enc, status, \
                         plan_id, expires_at, mac, ipv4, ipv6_prefix, delegated_ipv6_prefix, \
                         simultaneous_use, name, phone, email, address) \
                         SELECT u, pw, st, pl, to_timestamp(ex), m::macaddr, ip, v6::cidr, \
                         d6::cidr, su, nm, ph, em, ad FROM unnest($1::text[], $2::bytea[], \
                         $3::text[], $4::int8[], $5::int8[], $6::text[], $7::inet[], \
                         $8::text[], $9::text[], $10::int4[], $11::text[], $12::text[], \
                         $13::text[], $14::text[]) WITH ORDINALITY \
                         AS t(u, pw, st, pl, ex, m, ip, v6, d6, su, nm, ph, em, ad, n) \
                         ORDER BY n RETURNING {COLUMNS}) SELECT * FROM ins"
                    ),
                    &[
                        &usernames,
                        &sealed,
                        &statuses,
                        &plan_ids,
                        &expires,
                        &macs,
                        &ipv4,
                        &v6,
                        &delegated,
                        &simultaneous,
                        &name,
                        &phone,
                        &email,
                        &address,
                    ],
                )
                .await?;
            let by_name: HashMap<&str, usize> = batch
                .iter()
                .map(|(row, p)| (p.username.as_str(), *row))
                .collect();
            for r in &rows {
                let sub = self.subscriber_from_row(r)?;
                let row = by_name.get(sub.username.as_str()).copied().unwrap_or(0);
                created.push((row, sub));
            }
        }
        out.created = created
            .iter()
            .map(|(row, s)| (*row, s.id, s.username.clone()))
            .collect();
        out.created.sort_by_key(|c| c.0);
        journal(&tx, &out).await?;
        tx.commit().await?;

        if let Some(cache) = &self.cache {
            let cache = &**cache;
            let puts = futures_util::stream::iter(created.iter().map(|(_, s)| async move {
                if let Err(e) = cache.put_subscriber(s).await {
                    tracing::warn!(error = %e, "cache update after import failed");
                }
            }))
            .buffer_unordered(32)
            .collect::<Vec<()>>();
            puts.await;
            if created.len() > INVALIDATE_ALL_ABOVE {
                if let Err(e) = cache.publish(&Invalidation::All).await {
                    tracing::warn!(error = %e, "invalidation after import failed");
                }
            } else {
                for (_, s) in &created {
                    let inv = Invalidation::Subscriber(s.username.clone());
                    if let Err(e) = cache.publish(&inv).await {
                        tracing::warn!(error = %e, "invalidation after import failed");
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The rules `subscriber_params` applies to a password.
fn check_password(p: &Password) -> Result<(), StoreError> {
    if p.as_bytes().is_empty() {
        return Err(StoreError::invalid("password", "must not be empty"));
    }
    // RFC 2865 §5.2: User-Password carries at most 128 octets.
    if p.as_bytes().len() > 128 {
        return Err(StoreError::invalid("password", "longer than 128 octets"));
    }
    Ok(())
}
