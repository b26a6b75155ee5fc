//! Subscribers as the admin API reads them: lookups by id with the contact details, and
//! the filtered, searched list. The writes (and their cache updates) are the store's.
//!
//! # Search and paging
//!
//! [`SubscriberQuery`] becomes one SQL statement with only the conditions asked for (no
//! `$1 IS NULL OR …`, which would keep PostgreSQL from using an index), prepared
//! unnamed so each call is planned with its own values. Substring search is `ILIKE
//! '%…%'`, which the `gin_trgm_ops` indexes of 0001 serve; MAC search is an equality on
//! the MAC index; an IPv4 prefix is `ipv4 <<= cidr`, a range on the unique address index.
//! A substring search first collects its matches from the trigram indexes, up to a
//! thousand (`sparse_matches`: PostgreSQL's estimate for a rare substring can be off a
//! thousandfold, and then it walks the whole primary key for a page).
//! Pages are keyset pages: by id, or by address for a prefix search (addresses grow with
//! ids in most deployments, so an id-ordered walk filtered on a late prefix would read
//! most of the table before its first match).

use std::net::{IpAddr, Ipv4Addr};

use deadpool_postgres::GenericClient;
use proisp_model::{MacAddr, Status, Subscriber};
use proisp_store::{NewSubscriber, SUBSCRIBER_COLUMNS as COLUMNS, Store, StoreError};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Largest page of [`list_subscribers`].
pub const MAX_PAGE: u32 = 500;

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

/// Filters, search and page of [`list_subscribers`]; every condition given must
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

fn record_from_row(store: &Store, row: &Row) -> Result<SubscriberRecord, StoreError> {
    let n = COLUMNS.split(',').count();
    Ok(SubscriberRecord {
        subscriber: store.subscriber_from_row(row)?,
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
pub async fn subscriber_record(
    store: &Store,
    id: i64,
) -> Result<Option<SubscriberRecord>, StoreError> {
    subscriber_record_in(&store.client().await?, store, id).await
}

/// A live subscriber by id, read through `client`: a pooled connection, or the
/// transaction of a write that has just changed it.
pub async fn subscriber_record_in(
    client: &impl GenericClient,
    store: &Store,
    id: i64,
) -> Result<Option<SubscriberRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {} FROM subscribers s WHERE id = $1 AND deleted_at IS NULL",
            record_columns()
        ))
        .await?;
    client
        .query_opt(&stmt, &[&id])
        .await?
        .map(|row| record_from_row(store, &row))
        .transpose()
}

/// The live subscribers of `ids`, read through `client` (the transaction of an import
/// that has just created them), in id order.
pub async fn subscriber_records_in(
    client: &impl GenericClient,
    store: &Store,
    ids: &[i64],
) -> Result<Vec<SubscriberRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {} FROM subscribers s WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id",
            record_columns()
        ))
        .await?;
    client
        .query(&stmt, &[&ids])
        .await?
        .iter()
        .map(|row| record_from_row(store, row))
        .collect()
}

/// A live subscriber by exact username.
pub async fn subscriber_record_by_name(
    store: &Store,
    username: &str,
) -> Result<Option<SubscriberRecord>, StoreError> {
    let client = store.client().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {} FROM subscribers s WHERE username = $1 AND deleted_at IS NULL",
            record_columns()
        ))
        .await?;
    client
        .query_opt(&stmt, &[&username])
        .await?
        .map(|row| record_from_row(store, &row))
        .transpose()
}

/// A page of live subscribers matching `q`, and whether more follow.
pub async fn list_subscribers(
    store: &Store,
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
    let trigram = [&q.text, &q.username, &q.name, &q.phone]
        .iter()
        .any(|v| v.is_some());
    let mut client = store.client().await?;
    let rows = if trigram && !by_address {
        let tx = client.transaction().await?;
        if let Some(ids) = sparse_matches(&tx, &c, q.limit as usize + 1).await? {
            c.push("id = ANY($)", ids);
        }
        // Back to the planner's own choice: for many matches it walks the primary key.
        tx.batch_execute(
            "RESET enable_seqscan; RESET enable_indexscan; RESET enable_indexonlyscan",
        )
        .await?;
        let rows = page(&tx, &c, order, q.limit).await?;
        tx.commit().await?;
        rows
    } else {
        page(&client, &c, order, q.limit).await?
    };
    let more = rows.len() > q.limit as usize;
    let records = rows
        .iter()
        .take(q.limit as usize)
        .map(|r| record_from_row(store, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, more))
}

/// The subscribers matching `c` by `order`, one more than `limit`.
async fn page(
    client: &impl GenericClient,
    c: &Conditions,
    order: &str,
    limit: u32,
) -> Result<Vec<Row>, StoreError> {
    let sql = format!(
        "SELECT {} FROM subscribers s WHERE {} ORDER BY {order} LIMIT {}",
        record_columns(),
        c.sql.join(" AND "),
        limit + 1
    );
    // Not cached: an unnamed statement is planned with this call's values, which is
    // what picks the right index for "smith" (everywhere) versus "r04217" (rare).
    let stmt = client.prepare(&sql).await?;
    Ok(client.query(&stmt, &c.params()).await?)
}

/// A search that matches at most this many subscribers is answered from its trigram
/// matches; one that matches more walks the primary key.
const SPARSE: usize = 1000;

/// The first `page` ids (in id order) matching `c` when there are at most [`SPARSE`],
/// found by the trigram indexes alone; `None` when there are more.
///
/// PostgreSQL estimates a substring's matches from its trigrams and can be off a
/// thousandfold ("user69615": 10,321 estimated, 10 found): believing in thousands, it
/// walks the primary key in id order to fill a page and filters a million rows (1.2 s)
/// for ten matches. So the trigram indexes are made to drive (bitmap scans only, in this
/// transaction) and the scan stops after `SPARSE + 1` matches: a rare pattern is then
/// answered from at most `SPARSE` ids; a common one — where the walk in id order does
/// fill a page quickly — costs the bitmap of its trigrams first.
async fn sparse_matches(
    tx: &tokio_postgres::Transaction<'_>,
    c: &Conditions,
    page: usize,
) -> Result<Option<Vec<i64>>, StoreError> {
    tx.batch_execute(
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; \
         SET LOCAL enable_indexonlyscan = off",
    )
    .await?;
    let stmt = tx
        .prepare(&format!(
            "SELECT id FROM subscribers s WHERE {} LIMIT {}",
            c.sql.join(" AND "),
            SPARSE + 1
        ))
        .await?;
    let mut ids: Vec<i64> = tx
        .query(&stmt, &c.params())
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if ids.len() > SPARSE {
        return Ok(None);
    }
    ids.sort_unstable();
    ids.truncate(page);
    Ok(Some(ids))
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
