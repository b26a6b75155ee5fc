//! Test harness for the crates' integration tests: real PostgreSQL, Redis and NATS, a fresh
//! database and a fresh key prefix per [`TestEnv`], private server instances that fault
//! tests can stop and start, and [`wait_until`] for conditions nothing announces.
//!
//! Backends, in order of preference:
//! - PostgreSQL at `$PROISP_TEST_DATABASE_URL` (must answer), else
//!   `postgres://postgres@127.0.0.1:5432/postgres` if it answers, else a private instance
//!   (`initdb` + `postgres` on a free port; binaries from `PATH` or
//!   `/usr/lib/postgresql/*/bin`; as root, run as the `postgres` OS user);
//! - Redis at `$PROISP_TEST_REDIS_URL` (must answer), else `redis://127.0.0.1:6379` if it
//!   answers `PING`, else a private `redis-server` on a free port.
//!
//! `PROISP_TEST_PRIVATE=1` skips the shared servers and always starts private ones.
//!
//! A private backend is shared by the tests of one process. Every server this module
//! starts is stopped when its handle is dropped, and also by a watchdog when the test
//! process exits (statics are never dropped), so nothing outlives the test run.
//! Databases are named `proisp_test_<unix time>_<random>`, dropped when their `TestEnv`
//! is dropped; ones left by killed runs are dropped after six hours.
//!
//! | module | what it holds |
//! | --- | --- |
//! | `env` | [`TestEnv`]: which servers the tests use, a database and key prefix per test |
//! | `postgres` | [`PrivatePostgres`] (with TLS: [`PostgresTls`]; streaming replicas, promotion, paused replay, [`Frozen`]), and probing a PostgreSQL URL |
//! | `redis` | [`PrivateRedis`] (with TLS: [`RedisTls`]), and probing a Redis URL |
//! | `nats` | [`PrivateNats`]: nats-server with JetStream, its store in a temporary directory |
//! | `redis_cluster` | [`PrivateRedisCluster`]: three masters and their replicas |
//! | `process` | what both private servers need of their processes: ports, signals, reaping |
//! | `wait` | [`wait_until`]: a bounded wait on a condition, probed |
//! | `fake_nas` | [`FakeNas`]: a NAS's CoA server (RFC 5176) that ACKs, NAKs, stays silent or holds each request until the test releases it |
//! | `systemd` | [`verify_units`]: `systemd-analyze verify` on the shipped units, run on the binaries just built |
//! | `pki` | [`Pki`]: a throwaway CA and certificates for RadSec and the servers' TLS |

mod env;
pub mod fake_nas;
mod nats;
mod pki;
mod postgres;
mod process;
mod redis;
mod redis_cluster;
mod systemd;
mod wait;

pub use env::{TestEnv, cached};
pub use fake_nas::FakeNas;
pub use nats::PrivateNats;
pub use pki::{Pair, Pki};
pub use postgres::{Frozen, PostgresTls, PrivatePostgres, with_database};
pub use process::free_ports;
pub use redis::{PrivateRedis, RedisTls};
pub use redis_cluster::PrivateRedisCluster;
pub use systemd::verify_units;
pub use wait::{wait_until, wait_until_blocking};

/// `octets` random octets in lowercase hex: unique names for databases, key prefixes and
/// directories.
fn random_hex(octets: usize) -> String {
    use rand::RngCore as _;
    let mut buf = vec![0u8; octets];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// An accounting record of `status` for `username`'s session `acct_session_id` on
/// `nas_id`, received now, with no octets and no optional attribute: what a test applies
/// to open (Start) or close (Stop, Accounting-On) sessions.
pub fn acct_record(
    status: proisp_model::AcctStatus,
    nas_id: i64,
    username: &str,
    acct_session_id: &str,
) -> proisp_model::AcctRecord {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    proisp_model::AcctRecord {
        status,
        nas_id,
        acct_session_id: acct_session_id.to_owned(),
        username: username.to_owned(),
        upload_octets: 0,
        download_octets: 0,
        session_time_secs: 0,
        received_at_ms: i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
        delay_secs: 0,
        framed_ip: None,
        calling_station_id: None,
        nas_port_id: None,
        terminate_cause: None,
    }
}
