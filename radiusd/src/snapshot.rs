//! The NAS and plan tables as last read from PostgreSQL, kept on local disk, so a radiusd
//! (re)started while PostgreSQL is down still knows its clients: it answers subscribers
//! Redis knows and spools accounting instead of refusing to start (DESIGN.md, the failure
//! table).
//!
//! One JSON file, `tables.json` in the spool directory, replaced atomically (written
//! beside, fsynced, renamed) after every successful load. NAS secrets in it are sealed
//! with the same key and purpose as `nas.secret_enc` in PostgreSQL, never clear text.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use proisp_model::{CoaLane, Nas, NasTls, NasVendor, Plan};
use proisp_radius::secret::{Secret, SharedSecret as _};
use proisp_store::{Keyring, Purpose};
use serde::{Deserialize, Serialize};

/// The file's name in the spool directory.
const FILE: &str = "tables.json";

/// The file's format; a file of another is ignored.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Tables {
    format: u32,
    nas: Vec<NasEntry>,
    plans: Vec<Plan>,
}

#[derive(Serialize, Deserialize)]
struct NasEntry {
    id: i64,
    name: String,
    network: IpAddr,
    prefix_len: u8,
    /// AES-256-GCM, as `nas.secret_enc`.
    secret_enc: Vec<u8>,
    vendor: String,
    coa_port: u16,
    require_message_authenticator: bool,
    /// Absent from snapshots written before RadSec.
    #[serde(default)]
    tls_identity: Option<String>,
    #[serde(default)]
    tls_own_secret: bool,
    #[serde(default)]
    tls_coa: bool,
    #[serde(default)]
    coa_window: Option<u32>,
    #[serde(default)]
    coa_rate: Option<u32>,
    version: i64,
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    /// No file, or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a snapshot this build writes.
    #[error("{path} is not a table snapshot of this build: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Writes the tables to `dir`, replacing the previous snapshot atomically.
pub(crate) fn save(dir: &Path, keys: &Keyring, nas: &[Nas], plans: &[Plan]) -> std::io::Result<()> {
    let tables = Tables {
        format: FORMAT,
        nas: nas
            .iter()
            .map(|n| NasEntry {
                id: n.id,
                name: n.name.clone(),
                network: n.network,
                prefix_len: n.prefix_len,
                secret_enc: keys.encrypt(Purpose::NasSecret, n.secret.as_bytes()),
                vendor: n.vendor.as_str().to_owned(),
                coa_port: n.coa_port,
                require_message_authenticator: n.require_message_authenticator,
                tls_identity: n.tls.identity.clone(),
                tls_own_secret: n.tls.own_secret,
                tls_coa: n.tls.coa,
                coa_window: n.coa_lane.window,
                coa_rate: n.coa_lane.rate,
                version: n.version,
            })
            .collect(),
        plans: plans.to_vec(),
    };
    let json = serde_json::to_vec(&tables).map_err(std::io::Error::other)?;
    let target = path(dir);
    let temp = dir.join(format!("{FILE}.tmp"));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(&json)?;
    file.sync_all()?;
    std::fs::rename(&temp, &target)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads the snapshot in `dir`.
pub(crate) fn load(dir: &Path, keys: &Keyring) -> Result<(Vec<Nas>, Vec<Plan>), SnapshotError> {
    let path = path(dir);
    let invalid = |reason: String| SnapshotError::Invalid {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|source| SnapshotError::Read {
        path: path.clone(),
        source,
    })?;
    let tables: Tables = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if tables.format != FORMAT {
        return Err(invalid(format!("format {}", tables.format)));
    }
    let nas = tables
        .nas
        .into_iter()
        .map(|n| {
            let secret = keys
                .decrypt(Purpose::NasSecret, &n.secret_enc)
                .map_err(|_| invalid(format!("the secret of NAS {} does not decrypt", n.name)))?;
            let vendor = NasVendor::parse(&n.vendor)
                .ok_or_else(|| invalid(format!("unknown vendor {:?}", n.vendor)))?;
            Ok(Nas {
                id: n.id,
                name: n.name,
                network: n.network,
                prefix_len: n.prefix_len,
                secret: Secret::new(&secret),
                vendor,
                coa_port: n.coa_port,
                require_message_authenticator: n.require_message_authenticator,
                tls: NasTls {
                    identity: n.tls_identity,
                    own_secret: n.tls_own_secret,
                    coa: n.tls_coa,
                },
                coa_lane: CoaLane {
                    window: n.coa_window,
                    rate: n.coa_rate,
                },
                version: n.version,
            })
        })
        .collect::<Result<Vec<Nas>, SnapshotError>>()?;
    Ok((nas, tables.plans))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proisp_model::{FupAction, QuotaPeriod, RateLimit};

    use super::*;

    #[test]
    fn tables_survive_a_round_trip_with_the_secret_sealed() {
        let dir = std::env::temp_dir().join(format!("snapshot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let keys = Keyring::from_key(&[7; 32]);
        let nas = Nas {
            id: 3,
            name: "bras-1".into(),
            network: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            prefix_len: 32,
            secret: Secret::new(b"sup3r-s3cret"),
            vendor: NasVendor::Mikrotik,
            coa_port: 3799,
            require_message_authenticator: true,
            tls: NasTls {
                identity: Some("bras-1.example.net".into()),
                own_secret: true,
                coa: true,
            },
            coa_lane: CoaLane {
                window: Some(4),
                rate: Some(200),
            },
            version: 9,
        };
        let plan = Plan {
            id: 7,
            name: "home-20".into(),
            rate: RateLimit {
                download_kbps: 20_000,
                upload_kbps: 10_000,
                ..RateLimit::default()
            },
            quota_bytes: Some(1 << 40),
            quota_period: QuotaPeriod::Week,
            fup_rate: None,
            fup_action: FupAction::Disconnect,
            session_timeout_secs: Some(86_400),
            idle_timeout_secs: None,
            interim_interval_secs: 300,
            pool: Some("residential".into()),
            validity_days: 30,
            price_cents: 1500,
            version: 1,
        };
        save(
            &dir,
            &keys,
            std::slice::from_ref(&nas),
            std::slice::from_ref(&plan),
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(!text.contains("sup3r-s3cret"), "a clear secret on disk");

        let (loaded, plans) = load(&dir, &keys).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].secret.as_bytes(), b"sup3r-s3cret");
        assert_eq!(loaded[0].name, "bras-1");
        assert_eq!(loaded[0].tls, nas.tls);
        assert_eq!(plans, vec![plan]);

        // Another key: refused, never a NAS with a garbage secret.
        assert!(matches!(
            load(&dir, &Keyring::from_key(&[8; 32])),
            Err(SnapshotError::Invalid { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
