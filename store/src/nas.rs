//! NAS devices (RADIUS clients) in PostgreSQL.

use std::net::IpAddr;

use tokio_postgres::Row;

use super::crypto::Purpose;
use super::journal::unjournaled;
use super::{Entity, Invalidation, Journal, Store, StoreError};
use proisp_model::{CoaLane, Nas, NasTls, NasVendor};
use proisp_radius::secret::{Secret, SharedSecret as _};

/// A NAS to create or the new state of one to update: [`Nas`] without the id and version.
#[derive(Debug, Clone)]
pub struct NewNas {
    /// A name for logs and the API.
    pub name: String,
    /// The address, or the network of a range sharing the secret (host bits clear).
    pub network: IpAddr,
    /// Prefix length of `network` (32 or 128 for one address).
    pub prefix_len: u8,
    /// The shared secret (clear; encrypted before it is stored).
    pub secret: Secret,
    /// The make.
    pub vendor: NasVendor,
    /// Where CoA and Disconnect requests go.
    pub coa_port: u16,
    /// Refuse Access-Requests without a valid Message-Authenticator.
    pub require_message_authenticator: bool,
    /// How the NAS is known over RadSec.
    pub tls: NasTls,
    /// Its CoA lane's limits.
    pub coa_lane: CoaLane,
}

impl NewNas {
    /// One MikroTik at `addr` with `secret`, CoA on 3799, Message-Authenticator required.
    pub fn new(name: impl Into<String>, addr: IpAddr, secret: &[u8]) -> NewNas {
        NewNas {
            name: name.into(),
            network: addr,
            prefix_len: if addr.is_ipv4() { 32 } else { 128 },
            secret: Secret::new(secret),
            vendor: NasVendor::Mikrotik,
            coa_port: 3799,
            require_message_authenticator: true,
            tls: NasTls::default(),
            coa_lane: CoaLane::default(),
        }
    }

    /// `network/prefix_len` as PostgreSQL's `cidr` text, refusing set host bits.
    fn cidr(&self) -> Result<String, StoreError> {
        let (bits, addr_bits) = match self.network {
            IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        };
        if self.prefix_len > addr_bits {
            return Err(StoreError::invalid(
                "prefix_len",
                format!("must be at most {addr_bits}"),
            ));
        }
        let host = u128::MAX
            .checked_shr(u32::from(self.prefix_len))
            .unwrap_or(0);
        if bits & host != 0 {
            return Err(StoreError::invalid(
                "network",
                format!(
                    "{}/{} has host bits set; use the network address",
                    self.network, self.prefix_len
                ),
            ));
        }
        Ok(format!("{}/{}", self.network, self.prefix_len))
    }
}

const COLUMNS: &str = "id, name, address::inet, masklen(address), secret_enc, vendor, coa_port, \
    require_message_authenticator, version, tls_identity, tls_own_secret, tls_coa, coa_window, \
    coa_rate";

impl Store {
    fn nas_from_row(&self, row: &Row) -> Result<Nas, StoreError> {
        let vendor: &str = row.get(5);
        let prefix_len: i32 = row.get(3);
        let coa_port: i32 = row.get(6);
        let secret = self.keys.decrypt(Purpose::NasSecret, row.get(4))?;
        Ok(Nas {
            id: row.get(0),
            name: row.get(1),
            network: row.get(2),
            prefix_len: u8::try_from(prefix_len).map_err(|_| StoreError::Corrupt {
                column: "nas.address",
                reason: format!("prefix length {prefix_len}"),
            })?,
            secret: Secret::new(&secret),
            vendor: NasVendor::parse(vendor).ok_or_else(|| StoreError::Corrupt {
                column: "nas.vendor",
                reason: format!("unknown vendor {vendor:?}"),
            })?,
            coa_port: u16::try_from(coa_port).map_err(|_| StoreError::Corrupt {
                column: "nas.coa_port",
                reason: format!("{coa_port} out of range"),
            })?,
            require_message_authenticator: row.get(7),
            tls: NasTls {
                identity: row.get(9),
                own_secret: row.get(10),
                coa: row.get(11),
            },
            coa_lane: CoaLane {
                window: lane_limit(row.get(12), "nas.coa_window")?,
                rate: lane_limit(row.get(13), "nas.coa_rate")?,
            },
            version: row.get(8),
        })
    }

    /// Every NAS with its decrypted secret, by id.
    pub async fn all_nas(&self) -> Result<Vec<Nas>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM nas ORDER BY id"))
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|row| self.nas_from_row(row))
            .collect()
    }

    /// Creates a NAS; an address already listed is [`StoreError::Conflict`].
    pub async fn create_nas(&self, n: &NewNas) -> Result<Nas, StoreError> {
        self.create_nas_journaled(n, unjournaled).await
    }

    /// [`Store::create_nas`], recording the new NAS through `journal` in its transaction.
    pub async fn create_nas_journaled(
        &self,
        n: &NewNas,
        journal: impl Journal<Nas>,
    ) -> Result<Nas, StoreError> {
        let (cidr, secret_enc) = self.nas_params(n)?;
        let (window, rate) = lane_params(n)?;
        let nas = self
            .in_transaction(
                async |tx| {
                    let stmt = tx
                        .prepare_cached(&format!(
                            "INSERT INTO nas (name, address, secret_enc, vendor, coa_port, \
                             require_message_authenticator, tls_identity, tls_own_secret, \
                             tls_coa, coa_window, coa_rate) \
                             VALUES ($1, $2::text::cidr, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                             RETURNING {COLUMNS}"
                        ))
                        .await?;
                    let row = tx
                        .query_one(
                            &stmt,
                            &[
                                &n.name,
                                &cidr,
                                &secret_enc,
                                &n.vendor.as_str(),
                                &i32::from(n.coa_port),
                                &n.require_message_authenticator,
                                &n.tls.identity,
                                &n.tls.own_secret,
                                &n.tls.coa,
                                &window,
                                &rate,
                            ],
                        )
                        .await?;
                    self.nas_from_row(&row)
                },
                journal,
            )
            .await?;
        self.nas_changed().await;
        Ok(nas)
    }

    /// Replaces NAS `id`'s settings (including its secret).
    pub async fn update_nas(&self, id: i64, n: &NewNas) -> Result<Nas, StoreError> {
        self.update_nas_journaled(id, n, unjournaled).await
    }

    /// [`Store::update_nas`], recording the updated NAS through `journal` in its
    /// transaction.
    pub async fn update_nas_journaled(
        &self,
        id: i64,
        n: &NewNas,
        journal: impl Journal<Nas>,
    ) -> Result<Nas, StoreError> {
        let (cidr, secret_enc) = self.nas_params(n)?;
        let (window, rate) = lane_params(n)?;
        let nas = self
            .in_transaction(
                async |tx| {
                    let stmt = tx
                        .prepare_cached(&format!(
                            "UPDATE nas SET name = $1, address = $2::text::cidr, \
                             secret_enc = $3, vendor = $4, coa_port = $5, \
                             require_message_authenticator = $6, tls_identity = $7, \
                             tls_own_secret = $8, tls_coa = $9, coa_window = $10, \
                             coa_rate = $11, version = nextval('entry_version'), \
                             updated_at = now() WHERE id = $12 RETURNING {COLUMNS}"
                        ))
                        .await?;
                    let row = tx
                        .query_opt(
                            &stmt,
                            &[
                                &n.name,
                                &cidr,
                                &secret_enc,
                                &n.vendor.as_str(),
                                &i32::from(n.coa_port),
                                &n.require_message_authenticator,
                                &n.tls.identity,
                                &n.tls.own_secret,
                                &n.tls.coa,
                                &window,
                                &rate,
                                &id,
                            ],
                        )
                        .await?
                        .ok_or(StoreError::NotFound {
                            entity: Entity::Nas,
                        })?;
                    self.nas_from_row(&row)
                },
                journal,
            )
            .await?;
        self.nas_changed().await;
        Ok(nas)
    }

    /// Deletes NAS `id`.
    pub async fn delete_nas(&self, id: i64) -> Result<(), StoreError> {
        self.delete_nas_journaled(id, unjournaled).await
    }

    /// [`Store::delete_nas`], recording the deleted NAS through `journal` in its
    /// transaction.
    pub async fn delete_nas_journaled(
        &self,
        id: i64,
        journal: impl Journal<Nas>,
    ) -> Result<(), StoreError> {
        self.in_transaction(
            async |tx| {
                let stmt = tx
                    .prepare_cached(&format!(
                        "DELETE FROM nas WHERE id = $1 RETURNING {COLUMNS}"
                    ))
                    .await?;
                let row = tx
                    .query_opt(&stmt, &[&id])
                    .await?
                    .ok_or(StoreError::NotFound {
                        entity: Entity::Nas,
                    })?;
                self.nas_from_row(&row)
            },
            journal,
        )
        .await?;
        self.nas_changed().await;
        Ok(())
    }

    fn nas_params(&self, n: &NewNas) -> Result<(String, Vec<u8>), StoreError> {
        if n.name.trim().is_empty() {
            return Err(StoreError::invalid("name", "must not be empty"));
        }
        if n.secret.as_bytes().is_empty() {
            return Err(StoreError::invalid("secret", "must not be empty"));
        }
        if let Some(identity) = &n.tls.identity
            && (identity.trim().is_empty() || identity.len() > 255)
        {
            return Err(StoreError::invalid(
                "tls_identity",
                "must be a certificate identity of 1 to 255 characters",
            ));
        }
        if n.coa_port == 0 {
            return Err(StoreError::invalid("coa_port", "must not be 0"));
        }
        Ok((
            n.cidr()?,
            self.keys.encrypt(Purpose::NasSecret, n.secret.as_bytes()),
        ))
    }

    async fn nas_changed(&self) {
        self.after_commit("nas", async |cache| cache.publish(&Invalidation::Nas).await)
            .await;
    }
}

/// A lane limit as stored, `None` for NULL; a value out of range is corrupt.
fn lane_limit(value: Option<i32>, column: &'static str) -> Result<Option<u32>, StoreError> {
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt {
                column,
                reason: format!("{v} out of range"),
            })
        })
        .transpose()
}

/// The lane limits as columns, checked against the schema's bounds.
fn lane_params(n: &NewNas) -> Result<(Option<i32>, Option<i32>), StoreError> {
    let bounded = |value: Option<u32>, field: &str, max: u32| {
        value
            .map(|v| match i32::try_from(v) {
                Ok(v) if (1..=max as i32).contains(&v) => Ok(v),
                _ => Err(StoreError::invalid(field, format!("must be 1 to {max}"))),
            })
            .transpose()
    };
    Ok((
        bounded(n.coa_lane.window, "coa_window", MAX_COA_WINDOW)?,
        bounded(n.coa_lane.rate, "coa_rate", MAX_COA_RATE)?,
    ))
}

/// The largest window a NAS entry may set (the schema's bound).
pub const MAX_COA_WINDOW: u32 = 1024;

/// The largest rate cap a NAS entry may set, requests a second (the schema's bound).
pub const MAX_COA_RATE: u32 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_refuses_host_bits() {
        let mut n = NewNas::new("a", "10.0.0.1".parse().unwrap(), b"s");
        assert_eq!(n.cidr().unwrap(), "10.0.0.1/32");
        n.prefix_len = 24;
        assert!(n.cidr().is_err());
        n.network = "10.0.0.0".parse().unwrap();
        assert_eq!(n.cidr().unwrap(), "10.0.0.0/24");
        n.prefix_len = 33;
        assert!(n.cidr().is_err());
        n.network = "2001:db8::".parse().unwrap();
        n.prefix_len = 32;
        assert_eq!(n.cidr().unwrap(), "2001:db8::/32");
        n.prefix_len = 0;
        assert!(n.cidr().is_err());
        n.network = "::".parse().unwrap();
        assert_eq!(n.cidr().unwrap(), "::/0");
    }
}
