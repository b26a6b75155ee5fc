//! The migration runner: numbered plain-SQL files from `sql/`, compiled in.
//!
//! Each migration runs in its own transaction together with its row in
//! `schema_migrations`, so a failed one leaves nothing behind. A session-level advisory
//! lock serialises concurrent runners (two adminapi instances started at once, or a
//! deployment script racing an operator): the second waits, then finds nothing to do.

use deadpool_postgres::{Object, Pool};

use super::StoreError;

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number, the file name's prefix.
    pub version: i32,
    /// The file name without `.sql`.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every migration, oldest first. A unit test checks this against the files in `sql/`.
/// Numbers may have gaps (a number reserved for a branch not merged yet); the runner
/// applies every one not applied yet, so a database migrated past a gap gets the
/// migration that fills it later.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_plans_subscribers_nas",
        sql: include_str!("../../sql/0001_plans_subscribers_nas.sql"),
    },
    Migration {
        version: 2,
        name: "0002_accounting",
        sql: include_str!("../../sql/0002_accounting.sql"),
    },
    Migration {
        version: 3,
        name: "0003_admins",
        sql: include_str!("../../sql/0003_admins.sql"),
    },
    Migration {
        version: 4,
        name: "0004_subscriber_counts",
        sql: include_str!("../../sql/0004_subscriber_counts.sql"),
    },
    Migration {
        version: 5,
        name: "0005_change_feed",
        sql: include_str!("../../sql/0005_change_feed.sql"),
    },
    Migration {
        version: 6,
        name: "0006_accounting_event_time",
        sql: include_str!("../../sql/0006_accounting_event_time.sql"),
    },
    Migration {
        version: 7,
        name: "0007_nas_tls",
        sql: include_str!("../../sql/0007_nas_tls.sql"),
    },
    Migration {
        version: 8,
        name: "0008_nas_coa_lane",
        sql: include_str!("../../sql/0008_nas_coa_lane.sql"),
    },
    Migration {
        version: 9,
        name: "0009_jobs",
        sql: include_str!("../../sql/0009_jobs.sql"),
    },
    Migration {
        version: 10,
        name: "0010_coa_deferred",
        sql: include_str!("../../sql/0010_coa_deferred.sql"),
    },
    Migration {
        version: 11,
        name: "0011_retention_without_stalls",
        sql: include_str!("../../sql/0011_retention_without_stalls.sql"),
    },
    Migration {
        version: 12,
        name: "0012_recent_start_lookup",
        sql: include_str!("../../sql/0012_recent_start_lookup.sql"),
    },
    Migration {
        version: 13,
        name: "0013_session_lookup",
        sql: include_str!("../../sql/0013_session_lookup.sql"),
    },
    Migration {
        version: 14,
        name: "0014_accounting_set_wise",
        sql: include_str!("../../sql/0014_accounting_set_wise.sql"),
    },
    Migration {
        version: 15,
        name: "0015_event_outbox",
        sql: include_str!("../../sql/0015_event_outbox.sql"),
    },
    Migration {
        version: 16,
        name: "0016_session_events",
        sql: include_str!("../../sql/0016_session_events.sql"),
    },
    Migration {
        version: 17,
        name: "0017_webhooks",
        sql: include_str!("../../sql/0017_webhooks.sql"),
    },
    Migration {
        version: 18,
        name: "0018_commands",
        sql: include_str!("../../sql/0018_commands.sql"),
    },
    Migration {
        version: 19,
        name: "0019_command_effects",
        sql: include_str!("../../sql/0019_command_effects.sql"),
    },
    Migration {
        version: 20,
        name: "0020_outbox_deferred_notify",
        sql: include_str!("../../sql/0020_outbox_deferred_notify.sql"),
    },
    Migration {
        version: 21,
        name: "0021_usage_trim_by_key",
        sql: include_str!("../../sql/0021_usage_trim_by_key.sql"),
    },
    Migration {
        version: 22,
        name: "0022_compact_session_events",
        sql: include_str!("../../sql/0022_compact_session_events.sql"),
    },
    Migration {
        version: 23,
        name: "0023_raced_starts",
        sql: include_str!("../../sql/0023_raced_starts.sql"),
    },
    Migration {
        version: 24,
        name: "0024_import_jobs",
        sql: include_str!("../../sql/0024_import_jobs.sql"),
    },
    Migration {
        version: 25,
        name: "0025_live_subscribers_by_name",
        sql: include_str!("../../sql/0025_live_subscribers_by_name.sql"),
    },
];

/// The newest version.
pub(crate) const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// `pg_advisory_lock` key: "proisp" in ASCII, so it is recognisable in `pg_locks`.
const LOCK_KEY: i64 = 0x7072_6f69_7370;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

pub(crate) async fn schema_version(client: &tokio_postgres::Client) -> Result<i32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await?
        .get(0);
    Ok(version.unwrap_or(0))
}

pub(crate) async fn run(pool: &Pool) -> Result<Vec<i32>, StoreError> {
    let mut client = pool.get().await?;
    // Waiting for another runner, or building an index on a big table, may take longer
    // than the pool's statement_timeout.
    client.batch_execute("SET statement_timeout = 0").await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply_pending(&mut client).await;
    if client
        .batch_execute(&format!(
            "RESET statement_timeout; SELECT pg_advisory_unlock({LOCK_KEY})"
        ))
        .await
        .is_err()
    {
        // The lock is held by the session; closing the connection releases it.
        drop(Object::take(client));
    }
    result
}

async fn apply_pending(client: &mut Object) -> Result<Vec<i32>, StoreError> {
    if schema_version(client).await? == 0 {
        // Checked first: IF NOT EXISTS alone would log a notice on every run.
        client.batch_execute(CREATE_TABLE).await?;
    }
    let done: Vec<i32> = client
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let failed = |e: tokio_postgres::Error| {
            let err = StoreError::from(e);
            if err.is_unavailable() {
                return err;
            }
            StoreError::Migration {
                version: m.version,
                name: m.name,
                reason: err.to_string(),
            }
        };
        let tx = client.transaction().await?;
        tx.batch_execute(m.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql") && n.as_bytes()[0].is_ascii_digit())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.name))
            .collect();
        assert_eq!(files, listed, "sql/ and MIGRATIONS disagree");
        for m in MIGRATIONS {
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(LATEST, MIGRATIONS.last().unwrap().version);
    }
}
