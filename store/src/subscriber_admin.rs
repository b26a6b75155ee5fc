//! Subscribers as the admin API sees them: lookups by id with the contact details, the
//! filtered and searched list, renew, password changes and the bulk import.
//!
//! The auth path never comes here; it reads [`Store::subscriber`] (one indexed lookup).
//! Every write goes through the same after-commit cache update as the single writes in
//! `subscriber.rs`, so a change is in force on every radiusd within a second.
//!
//! # Search and paging
//!
//! [`SubscriberQuery`] becomes one SQL statement with only the conditions asked for (no
//! `$1 IS NULL OR …`, which would keep PostgreSQL from using an index), prepared
//! unnamed so each call is planned with its own values. Substring search is `ILIKE
//! '%…%'`, which the `gin_trgm_ops` indexes of 0001 serve; MAC search is an equality on
//! the MAC index; an IPv4 prefix is `ipv4 <<= cidr`, a range on the unique address index.
//! Pages are keyset pages: by id, or by address for a prefix search (addresses grow with
//! ids in most deployments, so an id-ordered walk filtered on a late prefix would read
//! most of the table before its first match).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use futures_util::StreamExt as _;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::crypto::Purpose;
use super::subscriber::COLUMNS;
use super::{Invalidation, NewSubscriber, Store, StoreError};
use proisp_model::{MacAddr, Password, Status, Subscriber};

/// Largest page of [`Store::list_subscribers`].
pub const MAX_PAGE: u32 = 500;

/// Imports of more rows than this publish one [`Invalidation::All`] instead of one
/// message per subscriber.
const INVALIDATE_ALL_ABOVE: usize = 200;

/// Rows per INSERT of an import.
const IMPORT_BATCH: usize = 2_000;

/// A subscriber with what the admin API shows beyond the auth fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRecord {
    /// The auth fields (password included: callers decide what to show).
    pub subscriber: Subscriber,
    /// The plan's name.
    pub plan_name: String,
    /// Full name.
    pub name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Postal or installation address.
    pub address: Option<String>,
    /// Has at least one open session.
    pub online: bool,
    /// Created, seconds since the epoch.
    pub created_at: i64,
    /// Last changed, seconds since the epoch.
    pub updated_at: i64,
}

impl SubscriberRecord {
    /// The settable state, for an update that changes some of it.
    pub fn to_new(&self) -> NewSubscriber {
        let s = &self.subscriber;
        NewSubscriber {
            username: s.username.clone(),
            password: s.password.clone(),
            status: s.status,
            plan_id: s.plan_id,
            expires_at: s.expires_at,
            mac: s.mac,
            ipv4: s.ipv4,
            ipv6_prefix: s.ipv6_prefix,
            delegated_ipv6_prefix: s.delegated_ipv6_prefix,
            simultaneous_use: s.simultaneous_use,
            name: self.name.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            address: self.address.clone(),
        }
    }
}

/// Filters, search and page of [`Store::list_subscribers`]; every condition given must
/// hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberQuery {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this plan.
    pub plan_id: Option<i64>,
    /// Only those expiring before this instant (seconds since the epoch).
    pub expires_before: Option<i64>,
    /// Only those with (`true`) or without (`false`) an open session.
    pub online: Option<bool>,
    /// Substring of the username, name or phone (case-insensitive).
    pub text: Option<String>,
    /// Substring of the username.
    pub username: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    /// Substring of the phone number.
    pub phone: Option<String>,
    /// Bound to this MAC.
    pub mac: Option<MacAddr>,
    /// Static address inside this prefix (address, length); the page is ordered by
    /// address.
    pub ipv4_within: Option<(Ipv4Addr, u8)>,
    /// Keyset cursor: the last item of the previous page.
    pub after: Option<Cursor>,
    /// Page size, 1 to [`MAX_PAGE`].
    pub limit: u32,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// After this id (id order).
    Id(i64),
    /// After this static address (prefix searches).
    Ipv4(Ipv4Addr),
}

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

/// `%text%` with LIKE's wildcards in `text` escaped (backslash is the default escape).
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Columns of a [`SubscriberRecord`] from `subscribers s`: [`COLUMNS`], then the rest.
///
/// `online` is a scalar subquery with LIMIT rather than `EXISTS`: PostgreSQL may run an
/// `EXISTS` in the select list as a hashed subplan, reading every open session (4 ms per
/// page at 30,000 online, growing with them) to answer for a page of 50; this form is one
/// probe of `sessions_username_idx` per row.
fn record_columns() -> String {
    format!(
        "{COLUMNS}, name, phone, email, address, \
         extract(epoch FROM created_at)::int8, extract(epoch FROM updated_at)::int8, \
         (SELECT p.name FROM plans p WHERE p.id = s.plan_id), \
         coalesce((SELECT true FROM sessions x WHERE x.username = s.username LIMIT 1), false)"
    )
}

/// A conjunction of SQL conditions with their parameters, numbered as they are added.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Conditions {
    /// Adds `cond`, where `$` stands for the next parameter, bound to `value`.
    fn push(&mut self, cond: &str, value: impl ToSql + Sync + Send + 'static) {
        self.params.push(Box::new(value));
        let n = self.params.len();
        self.sql.push(cond.replace('$', &format!("${n}")));
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| &**p as &(dyn ToSql + Sync))
            .collect()
    }
}

impl Store {
    fn record_from_row(&self, row: &Row) -> Result<SubscriberRecord, StoreError> {
        let n = COLUMNS.split(',').count();
        Ok(SubscriberRecord {
            subscriber: self.subscriber_from_row(row)?,
            name: row.get(n),
            phone: row.get(n + 1),
            email: row.get(n + 2),
            address: row.get(n + 3),
            created_at: row.get(n + 4),
            updated_at: row.get(n + 5),
            plan_name: row.get::<_, Option<String>>(n + 6).unwrap_or_default(),
            online: row.get(n + 7),
        })
    }

    /// A live subscriber by id.
    pub async fn subscriber_record(&self, id: i64) -> Result<Option<SubscriberRecord>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {} FROM subscribers s WHERE id = $1 AND deleted_at IS NULL",
                record_columns()
            ))
            .await?;
        client
            .query_opt(&stmt, &[&id])
            .await?
            .map(|row| self.record_from_row(&row))
            .transpose()
    }

    /// A live subscriber by exact username.
    pub async fn subscriber_record_by_name(
        &self,
        username: &str,
    ) -> Result<Option<SubscriberRecord>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {} FROM subscribers s WHERE username = $1 AND deleted_at IS NULL",
                record_columns()
            ))
            .await?;
        client
            .query_opt(&stmt, &[&username])
            .await?
            .map(|row| self.record_from_row(&row))
            .transpose()
    }

    /// A page of live subscribers matching `q`, and whether more follow.
    pub async fn list_subscribers(
        &self,
        q: &SubscriberQuery,
    ) -> Result<(Vec<SubscriberRecord>, bool), StoreError> {
        if !(1..=MAX_PAGE).contains(&q.limit) {
            return Err(StoreError::invalid(
                "limit",
                format!("must be 1 to {MAX_PAGE}"),
            ));
        }
        let mut c = Conditions::default();
        c.sql.push("deleted_at IS NULL".to_owned());
        if let Some(status) = q.status {
            c.push("status = $", status.as_str());
        }
        if let Some(plan) = q.plan_id {
            c.push("plan_id = $", plan);
        }
        if let Some(t) = q.expires_before {
            c.push("expires_at < to_timestamp($::int8)", t);
        }
        match q.online {
            Some(true) => c
                .sql
                .push("EXISTS (SELECT 1 FROM sessions x WHERE x.username = s.username)".into()),
            Some(false) => c
                .sql
                .push("NOT EXISTS (SELECT 1 FROM sessions x WHERE x.username = s.username)".into()),
            None => {}
        }
        if let Some(text) = &q.text {
            // One parameter, three indexes: PostgreSQL ORs three bitmap scans.
            c.push(
                "(username ILIKE $ OR name ILIKE $ OR phone ILIKE $)",
                like_pattern(text),
            );
        }
        for (column, v) in [
            ("username", &q.username),
            ("name", &q.name),
            ("phone", &q.phone),
        ] {
            if let Some(v) = v {
                c.push(&format!("{column} ILIKE $"), like_pattern(v));
            }
        }
        if let Some(mac) = q.mac {
            c.push("mac = $::text::macaddr", mac.to_string());
        }
        let by_address = q.ipv4_within.is_some();
        if let Some((net, len)) = q.ipv4_within {
            if len > 32 {
                return Err(StoreError::invalid("ip", "prefix length above 32"));
            }
            c.push("ipv4 <<= $::text::inet", format!("{net}/{len}"));
        }
        match (q.after, by_address) {
            (None, _) => {}
            (Some(Cursor::Id(id)), false) => c.push("id > $", id),
            (Some(Cursor::Ipv4(a)), true) => c.push("ipv4 > $::inet", IpAddr::V4(a)),
            (Some(_), _) => {
                return Err(StoreError::invalid(
                    "after",
                    "this cursor belongs to another kind of search",
                ));
            }
        }
        let order = if by_address { "ipv4" } else { "id" };
        let sql = format!(
            "SELECT {} FROM subscribers s WHERE {} ORDER BY {order} LIMIT {}",
            record_columns(),
            c.sql.join(" AND "),
            q.limit + 1
        );
        let client = self.pool.get().await?;
        // Not cached: an unnamed statement is planned with this call's values, which is
        // what picks the right index for "smith" (everywhere) versus "r04217" (rare).
        let stmt = client.prepare(&sql).await?;
        let rows = client.query(&stmt, &c.params()).await?;
        let more = rows.len() > q.limit as usize;
        let records = rows
            .iter()
            .take(q.limit as usize)
            .map(|r| self.record_from_row(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((records, more))
    }

    /// Extends a live subscriber's expiry by its plan's validity, `periods` times, from
    /// the later of now and the current expiry.
    pub async fn renew_subscriber(
        &self,
        username: &str,
        periods: u32,
    ) -> Result<Subscriber, StoreError> {
        let periods = i32::try_from(periods)
            .ok()
            .filter(|p| (1..=120).contains(p))
            .ok_or_else(|| StoreError::invalid("periods", "must be 1 to 120"))?;
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "UPDATE subscribers s SET expires_at = greatest(now(), coalesce(s.expires_at, \
                 now())) + make_interval(days => $1 * (SELECT p.validity_days FROM plans p \
                 WHERE p.id = s.plan_id)), version = nextval('entry_version'), \
                 updated_at = now() WHERE username = $2 AND deleted_at IS NULL \
                 RETURNING {COLUMNS}"
            ))
            .await?;
        let row = client
            .query_opt(&stmt, &[&periods, &username])
            .await?
            .ok_or(StoreError::NotFound)?;
        let sub = self.subscriber_from_row(&row)?;
        self.subscriber_changed(&sub, None).await;
        Ok(sub)
    }

    /// Sets a live subscriber's password.
    pub async fn set_password(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<Subscriber, StoreError> {
        check_password(password)?;
        let sealed = self
            .keys
            .encrypt(Purpose::SubscriberPassword, password.as_bytes());
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "UPDATE subscribers SET password_enc = $1, version = nextval('entry_version'), \
                 updated_at = now() WHERE username = $2 AND deleted_at IS NULL \
                 RETURNING {COLUMNS}"
            ))
            .await?;
        let row = client
            .query_opt(&stmt, &[&sealed, &username])
            .await?
            .ok_or(StoreError::NotFound)?;
        let sub = self.subscriber_from_row(&row)?;
        self.subscriber_changed(&sub, None).await;
        Ok(sub)
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
        // Values already taken by live subscribers, and plans that exist.
        let usernames: Vec<&str> = ok.iter().map(|(_, p)| p.username.as_str()).collect();
        let taken_names: HashSet<String> = tx
            .query(
                "SELECT username FROM subscribers WHERE username = ANY($1) AND deleted_at IS NULL",
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
        out.created = created
            .into_iter()
            .map(|(row, s)| (row, s.id, s.username))
            .collect();
        out.created.sort_by_key(|c| c.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("smith"), "%smith%");
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn conditions_number_their_parameters() {
        let mut c = Conditions::default();
        c.sql.push("deleted_at IS NULL".to_owned());
        c.push("status = $", "active");
        c.push("(a ILIKE $ OR b ILIKE $)", "%x%".to_owned());
        assert_eq!(
            c.sql.join(" AND "),
            "deleted_at IS NULL AND status = $1 AND (a ILIKE $2 OR b ILIKE $2)"
        );
        assert_eq!(c.params().len(), 2);
    }
}
