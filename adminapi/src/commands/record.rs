//! The commands table (`sql/0018_commands.sql`) and the `command.result` events.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};
use proisp_store::StoreError;
use proisp_store::outbox::{self, ADMINAPI, Event};

use super::{CommandResult, Invocation};

/// A command recorded before.
#[derive(Debug)]
pub(super) struct Recorded {
    /// Its first result.
    pub(super) result: CommandResult,
    /// What it asked ([`Invocation::fingerprint`]).
    pub(super) fingerprint: String,
    /// Applied, and its effects on the live sessions not known to be sent.
    pub(super) effects_pending: bool,
}

/// Command `id` of `credential`, if recorded.
pub(super) async fn find(
    db: &Pool,
    credential: &str,
    id: &str,
) -> Result<Option<Recorded>, StoreError> {
    let client = db.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT result, fingerprint, effects_pending FROM commands \
             WHERE credential = $1 AND command_id = $2",
        )
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&credential, &id]).await? else {
        return Ok(None);
    };
    let result = serde_json::from_value(row.get(0)).map_err(|e| StoreError::Corrupt {
        column: "commands.result",
        reason: e.to_string(),
    })?;
    Ok(Some(Recorded {
        result,
        fingerprint: row.get(1),
        effects_pending: row.get(2),
    }))
}

/// Records `inv` with `result` through `tx` (with `effects_pending`: an applied command
/// whose effects on the live sessions follow the commit); `false` when its id is recorded
/// already (by a transaction that committed meanwhile: the INSERT waited for it).
pub(super) async fn insert(
    tx: &impl GenericClient,
    inv: &Invocation<'_>,
    fingerprint: &str,
    result: &CommandResult,
    effects_pending: bool,
) -> Result<bool, StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO commands (credential, command_id, source, command, username, \
             fingerprint, result, effects_pending) \
             VALUES ($1, $2, $3, left($4, 64), $5, $6, $7, $8) \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let result = serde_json::to_value(result).unwrap_or_default();
    let n = tx
        .execute(
            &stmt,
            &[
                &inv.actor.username,
                &inv.command_id,
                &inv.source.as_str(),
                &inv.command,
                &inv.username,
                &fingerprint,
                &result,
                &effects_pending,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Appends `proisp.v1.command.result` with `result` through `client`: about the
/// subscriber the command named (ordered with their other events), or, when it named
/// none, with the command's id as its subject.
pub(super) async fn result_event(
    client: &impl GenericClient,
    inv: &Invocation<'_>,
    result: &CommandResult,
) -> Result<(), StoreError> {
    let data = serde_json::to_value(result).unwrap_or_default();
    let event = match inv.username.filter(|u| !u.is_empty()) {
        Some(username) => Event::new(ADMINAPI, "command.result", username, &data),
        None => Event::about(ADMINAPI, "command.result", inv.command_id, &data),
    };
    outbox::append(client, &[event]).await.map(drop)
}

/// Command `id` of `credential`'s effects were sent.
pub(super) async fn effects_sent(db: &Pool, credential: &str, id: &str) -> Result<(), StoreError> {
    let client = db.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE commands SET effects_pending = false \
             WHERE credential = $1 AND command_id = $2 AND effects_pending",
        )
        .await?;
    client.execute(&stmt, &[&credential, &id]).await?;
    Ok(())
}

/// An applied command whose effects were not known to be sent.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) credential: String,
    pub(super) command_id: String,
    pub(super) command: String,
    pub(super) username: Option<String>,
}

/// Up to `limit` commands whose effects are pending since longer than `age`, oldest
/// first.
pub(super) async fn pending(
    db: &Pool,
    age: Duration,
    limit: i64,
) -> Result<Vec<Pending>, StoreError> {
    let client = db.get().await?;
    let rows = client
        .query(
            "SELECT credential, command_id, command, username FROM commands \
             WHERE effects_pending AND created_at < now() - make_interval(secs => $1) \
             ORDER BY created_at LIMIT $2",
            &[&age.as_secs_f64(), &limit],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Pending {
            credential: r.get(0),
            command_id: r.get(1),
            command: r.get(2),
            username: r.get(3),
        })
        .collect())
}

/// Deletes the commands recorded longer than `retention` ago; returns how many. A
/// command delivered again after that is handled as new.
pub async fn purge_expired(db: &Pool, retention: Duration) -> Result<u64, StoreError> {
    let client = db.get().await?;
    Ok(client
        .execute(
            "DELETE FROM commands WHERE created_at < now() - make_interval(secs => $1)",
            &[&retention.as_secs_f64()],
        )
        .await?)
}
