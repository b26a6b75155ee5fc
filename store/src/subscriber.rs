//! Subscribers in PostgreSQL: the cold-cache auth lookup (batched) and the writes.

use std::net::{IpAddr, Ipv4Addr};

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::crypto::Purpose;
use super::journal::unjournaled;
use super::plan::{int, uint};
use super::{Entity, Invalidation, Journal, Store, StoreError};
use proisp_model::{MacAddr, Password, Status, Subscriber};
use proisp_radius::attr::Ipv6Prefix;

/// Longest User-Name (RFC 2865 §5.1: the attribute holds at most 253 octets).
pub const MAX_USERNAME_LEN: usize = 253;

/// A subscriber to create or the new state of one to update: [`Subscriber`] without the id
/// and version, with the clear-text password (encrypted before it is stored) and the
/// contact details the admin API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscriber {
    /// Login name, unique among live subscribers, case-sensitive.
    pub username: String,
    /// Clear-text password.
    pub password: Password,
    /// Whether the subscriber may log in.
    pub status: Status,
    /// The plan's id.
    pub plan_id: i64,
    /// End of the paid period, seconds since the epoch; `None` never expires.
    pub expires_at: Option<i64>,
    /// MAC binding.
    pub mac: Option<MacAddr>,
    /// Static IPv4 address, unique among live subscribers.
    pub ipv4: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix.
    pub ipv6_prefix: Option<Ipv6Prefix>,
    /// Delegated-IPv6-Prefix.
    pub delegated_ipv6_prefix: Option<Ipv6Prefix>,
    /// Sessions allowed at once; 0 means no limit.
    pub simultaneous_use: u32,
    /// Full name.
    pub name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Postal or installation address.
    pub address: Option<String>,
}

impl NewSubscriber {
    /// An active subscriber on `plan_id` with one session at a time and nothing else set.
    pub fn new(username: impl Into<String>, password: impl Into<Vec<u8>>, plan_id: i64) -> Self {
        NewSubscriber {
            username: username.into(),
            password: Password::new(password),
            status: Status::Active,
            plan_id,
            expires_at: None,
            mac: None,
            ipv4: None,
            ipv6_prefix: None,
            delegated_ipv6_prefix: None,
            simultaneous_use: 1,
            name: None,
            phone: None,
            email: None,
            address: None,
        }
    }
}

/// Checks a username before it reaches the database.
pub(crate) fn check_username(username: &str) -> Result<(), StoreError> {
    if username.is_empty() {
        return Err(StoreError::invalid("username", "must not be empty"));
    }
    if username.len() > MAX_USERNAME_LEN {
        return Err(StoreError::invalid(
            "username",
            format!("longer than {MAX_USERNAME_LEN} octets"),
        ));
    }
    if username.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "username",
            "contains control characters",
        ));
    }
    Ok(())
}

/// Columns in the order [`Store::subscriber_from_row`] reads them. Conversions happen in
/// SQL so the row decodes with the built-in types: epoch seconds, MAC as text, prefixes as
/// `inet` plus their length.
pub const COLUMNS: &str = "id, username, password_enc, status, plan_id, \
    extract(epoch FROM expires_at)::int8, mac::text, ipv4, ipv6_prefix::inet, \
    masklen(ipv6_prefix), delegated_ipv6_prefix::inet, masklen(delegated_ipv6_prefix), \
    simultaneous_use, version, extract(epoch FROM fup_until)::int8";

/// The parameters shared by INSERT and UPDATE, $1..$14.
const SETTABLE: &str = "username = $1, password_enc = $2, status = $3, plan_id = $4, \
    expires_at = to_timestamp($5::int8), mac = $6::text::macaddr, ipv4 = $7::inet, \
    ipv6_prefix = $8::text::cidr, delegated_ipv6_prefix = $9::text::cidr, \
    simultaneous_use = $10, name = $11, phone = $12, email = $13, address = $14";

fn prefix(
    column: &'static str,
    addr: Option<IpAddr>,
    len: Option<i32>,
) -> Result<Option<Ipv6Prefix>, StoreError> {
    match (addr, len) {
        (Some(IpAddr::V6(a)), Some(len)) => u8::try_from(len)
            .ok()
            .and_then(|len| Ipv6Prefix::new(a, len))
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                column,
                reason: format!("prefix length {len}"),
            }),
        (None, _) => Ok(None),
        (Some(other), _) => Err(StoreError::Corrupt {
            column,
            reason: format!("{other} is not an IPv6 prefix"),
        }),
    }
}

fn check_prefix(field: &str, p: Option<&Ipv6Prefix>) -> Result<Option<String>, StoreError> {
    let Some(p) = p else { return Ok(None) };
    if p.is_empty() {
        return Err(StoreError::invalid(
            field,
            "::/0 is not a subscriber prefix",
        ));
    }
    Ok(Some(p.to_string()))
}

/// Owned parameter values for one INSERT or UPDATE (and a row of an import).
pub(super) struct Params {
    pub(super) username: String,
    pub(super) password_enc: Vec<u8>,
    pub(super) status: &'static str,
    pub(super) plan_id: i64,
    pub(super) expires_at: Option<i64>,
    pub(super) mac: Option<String>,
    pub(super) ipv4: Option<IpAddr>,
    pub(super) ipv6_prefix: Option<String>,
    pub(super) delegated: Option<String>,
    pub(super) simultaneous_use: i32,
    pub(super) name: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) email: Option<String>,
    pub(super) address: Option<String>,
}

impl Params {
    fn as_sql(&self) -> [&(dyn ToSql + Sync); 14] {
        [
            &self.username,
            &self.password_enc,
            &self.status,
            &self.plan_id,
            &self.expires_at,
            &self.mac,
            &self.ipv4,
            &self.ipv6_prefix,
            &self.delegated,
            &self.simultaneous_use,
            &self.name,
            &self.phone,
            &self.email,
            &self.address,
        ]
    }
}

impl Store {
    pub(super) fn subscriber_params(&self, s: &NewSubscriber) -> Result<Params, StoreError> {
        check_username(&s.username)?;
        if s.password.as_bytes().is_empty() {
            return Err(StoreError::invalid("password", "must not be empty"));
        }
        // RFC 2865 §5.2: User-Password carries at most 128 octets.
        if s.password.as_bytes().len() > 128 {
            return Err(StoreError::invalid("password", "longer than 128 octets"));
        }
        if let Some(ip) = s.ipv4
            && (ip.is_unspecified() || ip.is_broadcast())
        {
            return Err(StoreError::invalid(
                "ipv4",
                format!("{ip} is not a host address"),
            ));
        }
        Ok(Params {
            username: s.username.clone(),
            password_enc: self
                .keys
                .encrypt(Purpose::SubscriberPassword, s.password.as_bytes()),
            status: s.status.as_str(),
            plan_id: s.plan_id,
            expires_at: s.expires_at,
            mac: s.mac.map(|m| m.to_string()),
            ipv4: s.ipv4.map(IpAddr::V4),
            ipv6_prefix: check_prefix("ipv6_prefix", s.ipv6_prefix.as_ref())?,
            delegated: check_prefix("delegated_ipv6_prefix", s.delegated_ipv6_prefix.as_ref())?,
            simultaneous_use: int("simultaneous_use", s.simultaneous_use)?,
            name: s.name.clone(),
            phone: s.phone.clone(),
            email: s.email.clone(),
            address: s.address.clone(),
        })
    }

    /// A subscriber from a row of [`COLUMNS`], its password decrypted.
    pub fn subscriber_from_row(&self, row: &Row) -> Result<Subscriber, StoreError> {
        let status: &str = row.get(3);
        let mac: Option<&str> = row.get(6);
        let ipv4 = match row.get::<_, Option<IpAddr>>(7) {
            Some(IpAddr::V4(a)) => Some(a),
            None => None,
            Some(other) => {
                return Err(StoreError::Corrupt {
                    column: "subscribers.ipv4",
                    reason: format!("{other} is not IPv4"),
                });
            }
        };
        let password = self.keys.decrypt(Purpose::SubscriberPassword, row.get(2))?;
        Ok(Subscriber {
            id: row.get(0),
            username: row.get(1),
            password: Password::new(password.to_vec()),
            status: Status::parse(status).ok_or_else(|| StoreError::Corrupt {
                column: "subscribers.status",
                reason: format!("unknown status {status:?}"),
            })?,
            plan_id: row.get(4),
            expires_at: row.get(5),
            mac: mac
                .map(|m| {
                    m.parse::<MacAddr>().map_err(|_| StoreError::Corrupt {
                        column: "subscribers.mac",
                        reason: format!("{m:?}"),
                    })
                })
                .transpose()?,
            ipv4,
            ipv6_prefix: prefix("subscribers.ipv6_prefix", row.get(8), row.get(9))?,
            delegated_ipv6_prefix: prefix(
                "subscribers.delegated_ipv6_prefix",
                row.get(10),
                row.get(11),
            )?,
            simultaneous_use: uint("subscribers.simultaneous_use", row.get(12))?,
            version: row.get(13),
            fup_until: row.get(14),
        })
    }

    /// A live (not deleted) subscriber by exact username, password decrypted.
    pub async fn subscriber(&self, username: &str) -> Result<Option<Subscriber>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM subscribers WHERE username = $1 AND deleted_at IS NULL"
            ))
            .await?;
        client
            .query_opt(&stmt, &[&username])
            .await?
            .map(|row| self.subscriber_from_row(&row))
            .transpose()
    }

    /// The live subscribers among `usernames`, each with, when it limits simultaneous use,
    /// the number of its open sessions (0 otherwise), in one round trip: radiusd looks up
    /// every name that neither cache knew in a batch, and needs both. Names that are not
    /// returned are unknown (or deleted); a name given twice is returned once. The names
    /// are looked up by the unique btree, never the trigram index (sql/0025).
    pub async fn subscribers_with_open_sessions(
        &self,
        usernames: &[&str],
    ) -> Result<Vec<(Subscriber, u32)>, StoreError> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, CASE WHEN simultaneous_use > 0 THEN \
                 (SELECT count(*) FROM sessions s WHERE s.username = subscribers.username) \
                 ELSE 0 END \
                 FROM proisp_live_subscribers($1) AS subscribers"
            ))
            .await?;
        client
            .query(&stmt, &[&usernames])
            .await?
            .iter()
            .map(|row| {
                let open: i64 = row.get(15);
                Ok((
                    self.subscriber_from_row(row)?,
                    u32::try_from(open).unwrap_or(u32::MAX),
                ))
            })
            .collect()
    }

    /// Creates a subscriber. A live subscriber with the same name (or static address) is
    /// [`StoreError::Conflict`]; an unknown plan is [`StoreError::Invalid`].
    pub async fn create_subscriber(&self, s: &NewSubscriber) -> Result<Subscriber, StoreError> {
        self.create_subscriber_journaled(s, unjournaled).await
    }

    /// [`Store::create_subscriber`], recording the new subscriber through `journal` in its
    /// transaction.
    pub async fn create_subscriber_journaled(
        &self,
        s: &NewSubscriber,
        journal: impl Journal<Subscriber>,
    ) -> Result<Subscriber, StoreError> {
        let params = self.subscriber_params(s)?;
        let sub = self
            .in_transaction(
                async |tx| {
                    let stmt = tx
                        .prepare_cached(&format!(
                            "INSERT INTO subscribers (username, password_enc, status, plan_id, \
                             expires_at, mac, ipv4, ipv6_prefix, delegated_ipv6_prefix, \
                             simultaneous_use, name, phone, email, address) VALUES ($1, $2, \
                             $3, $4, to_timestamp($5::int8), $6::text::macaddr, $7::inet, \
                             $8::text::cidr, $9::text::cidr, $10, $11, $12, $13, $14) \
                             RETURNING {COLUMNS}"
                        ))
                        .await?;
                    self.subscriber_from_row(&tx.query_one(&stmt, &params.as_sql()).await?)
                },
                journal,
            )
            .await?;
        self.subscriber_changed(&sub, None).await;
        Ok(sub)
    }

    /// Replaces a live subscriber's settings, password included; `s.username` may rename.
    pub async fn update_subscriber(
        &self,
        username: &str,
        s: &NewSubscriber,
    ) -> Result<Subscriber, StoreError> {
        self.update_subscriber_journaled(username, s, unjournaled)
            .await
    }

    /// [`Store::update_subscriber`], recording the subscriber as updated through `journal`
    /// in its transaction.
    pub async fn update_subscriber_journaled(
        &self,
        username: &str,
        s: &NewSubscriber,
        journal: impl Journal<Subscriber>,
    ) -> Result<Subscriber, StoreError> {
        let params = self.subscriber_params(s)?;
        let mut args = params.as_sql().to_vec();
        args.push(&username);
        self.update_subscriber_row(username, SETTABLE, "$15", &args, journal)
            .await
    }

    /// Sets a live subscriber's status (suspend, resume, disable).
    pub async fn set_status(
        &self,
        username: &str,
        status: Status,
    ) -> Result<Subscriber, StoreError> {
        self.set_status_journaled(username, status, unjournaled)
            .await
    }

    /// [`Store::set_status`], recording the subscriber as changed through `journal` in its
    /// transaction.
    pub async fn set_status_journaled(
        &self,
        username: &str,
        status: Status,
        journal: impl Journal<Subscriber>,
    ) -> Result<Subscriber, StoreError> {
        self.update_subscriber_row(
            username,
            "status = $1",
            "$2",
            &[&status.as_str(), &username],
            journal,
        )
        .await
    }

    /// Resets a live subscriber's quota: fair usage ends (`fup_until` cleared) and the
    /// current period's usage starts again from zero, so the plan's full rate applies
    /// until the quota is spent anew. Recorded through `journal` in its transaction.
    pub async fn reset_quota_journaled(
        &self,
        username: &str,
        journal: impl Journal<Subscriber>,
    ) -> Result<Subscriber, StoreError> {
        self.update_subscriber_row(
            username,
            "fup_until = NULL",
            "$1",
            &[&username],
            async |tx, sub: &Subscriber| {
                tx.execute(
                    "UPDATE usage u SET upload_octets = 0, download_octets = 0, \
                     updated_at = now() FROM plans p \
                     WHERE p.id = $2 AND u.subscriber_id = $1 \
                       AND u.period_start = proisp_period_start(p.quota_period, now())",
                    &[&sub.id, &sub.plan_id],
                )
                .await?;
                journal(tx, sub).await
            },
        )
        .await
    }

    /// One UPDATE of the live subscriber `username` (`sets`, with `name_param` the
    /// placeholder of `username` in `args`) that bumps its version, recorded through
    /// `journal`; the cache follows after the commit.
    pub(super) async fn update_subscriber_row(
        &self,
        username: &str,
        sets: &str,
        name_param: &str,
        args: &[&(dyn ToSql + Sync)],
        journal: impl Journal<Subscriber>,
    ) -> Result<Subscriber, StoreError> {
        let sub = self
            .in_transaction(
                async |tx| {
                    let stmt = tx
                        .prepare_cached(&format!(
                            "UPDATE subscribers s SET {sets}, \
                             version = nextval('entry_version'), updated_at = now() \
                             WHERE username = {name_param} AND deleted_at IS NULL \
                             RETURNING {COLUMNS}"
                        ))
                        .await?;
                    let row = tx
                        .query_opt(&stmt, args)
                        .await?
                        .ok_or(StoreError::NotFound {
                            entity: Entity::Subscriber,
                        })?;
                    self.subscriber_from_row(&row)
                },
                journal,
            )
            .await?;
        let renamed = (sub.username != username).then_some(username);
        self.subscriber_changed(&sub, renamed).await;
        Ok(sub)
    }

    /// Soft-deletes a live subscriber: the row stays for accounting history, auth no longer
    /// sees it, and the name is free for a new subscriber.
    pub async fn delete_subscriber(&self, username: &str) -> Result<(), StoreError> {
        self.delete_subscriber_journaled(username, unjournaled)
            .await
    }

    /// [`Store::delete_subscriber`], recording the deleted subscriber through `journal` in
    /// its transaction.
    pub async fn delete_subscriber_journaled(
        &self,
        username: &str,
        journal: impl Journal<Subscriber>,
    ) -> Result<(), StoreError> {
        let gone = self
            .in_transaction(
                async |tx| {
                    let stmt = tx
                        .prepare_cached(&format!(
                            "UPDATE subscribers SET deleted_at = now(), \
                             version = nextval('entry_version'), updated_at = now() \
                             WHERE username = $1 AND deleted_at IS NULL RETURNING {COLUMNS}"
                        ))
                        .await?;
                    let row =
                        tx.query_opt(&stmt, &[&username])
                            .await?
                            .ok_or(StoreError::NotFound {
                                entity: Entity::Subscriber,
                            })?;
                    self.subscriber_from_row(&row)
                },
                journal,
            )
            .await?;
        self.after_commit("subscriber", async |cache| {
            cache.put_deleted(username, gone.version).await?;
            cache
                .publish(&Invalidation::Subscriber(username.to_owned()))
                .await
        })
        .await;
        Ok(())
    }

    /// After a commit: the new entry to Redis, the old name (after a rename) marked
    /// deleted, then the invalidations.
    pub(super) async fn subscriber_changed(&self, sub: &Subscriber, renamed_from: Option<&str>) {
        self.after_commit("subscriber", async |cache| {
            cache.put_subscriber(sub).await?;
            if let Some(old) = renamed_from {
                cache.put_deleted(old, sub.version).await?;
                cache
                    .publish(&Invalidation::Subscriber(old.to_owned()))
                    .await?;
            }
            cache
                .publish(&Invalidation::Subscriber(sub.username.clone()))
                .await
        })
        .await;
    }
}

impl Store {
    /// Puts the subscriber's current row to the cache and publishes its invalidation:
    /// for changes made inside SQL functions (fair usage) rather than by this module.
    ///
    /// Its future is `Send` (radiusd spawns it), which the closure-based helpers the
    /// admin writes use are not.
    pub async fn refresh_subscriber(&self, username: &str) -> Result<(), StoreError> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        if let Some(sub) = self.subscriber(username).await? {
            if let Err(e) = cache.put_subscriber(&sub).await {
                tracing::warn!(error = %e, user = username, "cache update after commit failed");
            }
            let message = Invalidation::Subscriber(username.to_owned());
            if let Err(e) = cache.publish(&message).await {
                tracing::warn!(error = %e, user = username, "invalidation after commit failed");
            }
        }
        Ok(())
    }
}
