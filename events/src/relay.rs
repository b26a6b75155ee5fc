//! The relay: outbox rows to JetStream, in order, each deleted only after its PubAck.
//!
//! # One publisher at a time
//!
//! Several relays may run (one per machine of a pair); one publishes and the others wait
//! as hot standbys. The publisher is whoever holds a session-level PostgreSQL advisory
//! lock ([`LOCK_KEY`]) on its dedicated connection: a standby blocks in
//! `pg_advisory_lock` and gets it the moment the publisher's connection ends (a crash, a
//! kill -9, a network cut after TCP keepalive gives up), without polling. A relay that
//! loses its connection stops publishing at once, since its lock went with it. The new
//! publisher starts from the first row still in the outbox: whatever the old one had
//! published but not deleted is published again with the same `Nats-Msg-Id` and dropped by
//! JetStream as a duplicate.
//!
//! # Order per subscriber
//!
//! Rows are read in `seq` order and published in waves: a wave is the longest run of
//! rows in which no subscriber (the ordering key: `username`, else the subject) appears
//! twice, at most `relay.window` rows. All of a wave's publishes are in flight at once;
//! the next wave starts after every PubAck of this one came back. So at most one event per
//! subscriber is ever unacknowledged: if NATS loses one (a restart), no later event of the
//! same subscriber can be stored before it. Acknowledged rows are deleted (one DELETE per
//! wave); a failed publish leaves its row, and the relay waits and starts again from the
//! first row left.
//!
//! # Waking
//!
//! The outbox's trigger notifies [`proisp_store::outbox::CHANNEL`] once per inserting
//! statement; the relay LISTENs before its first read, so an insert committed while it
//! drains wakes it again. A slow `relay.poll_interval` look is the safety net.
//!
//! # Webhooks
//!
//! The DELETE of a wave's acknowledged rows also inserts their webhook deliveries (one
//! statement, see [`crate::webhooks`]), so a crash can lose neither.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use futures_util::future::{join_all, poll_fn};
use proisp_store::outbox::{self, CHANNEL, EVENT_COLUMNS};
use proisp_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use crate::config::{RelayConfig, StreamConfig};
use crate::metrics::Metrics;
use crate::stream;

/// `pg_advisory_lock` key of the publisher: "events" in ASCII.
pub const LOCK_KEY: i64 = 0x6576_656e_7473;

/// What this relay is doing, for `/health` and the `proisp_events_leader` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Not connected to PostgreSQL (starting, or reconnecting).
    Connecting = 0,
    /// Connected, waiting for the lock another relay holds.
    Standby = 1,
    /// Holding the lock: publishing.
    Leader = 2,
}

impl Role {
    /// `connecting`, `standby` or `leader`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Connecting => "connecting",
            Role::Standby => "standby",
            Role::Leader => "leader",
        }
    }
}

/// The relay's role, shared with the HTTP endpoint.
#[derive(Debug)]
pub struct State {
    role: AtomicU8,
    /// Signalled when a wave queued webhook deliveries: this process's delivery workers
    /// claim them at once instead of at their next look.
    pub deliveries: Arc<Notify>,
}

impl Default for State {
    fn default() -> State {
        State {
            role: AtomicU8::new(Role::Connecting as u8),
            deliveries: Arc::default(),
        }
    }
}

impl State {
    /// The current role.
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Acquire) {
            1 => Role::Standby,
            2 => Role::Leader,
            _ => Role::Connecting,
        }
    }

    fn set(&self, role: Role, metrics: &Metrics) {
        self.role.store(role as u8, Ordering::Release);
        metrics
            .leader
            .set(if role == Role::Leader { 1.0 } else { 0.0 });
    }
}

/// Why a round of the relay ended.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PostgreSQL failed or the connection ended: the lock is gone.
    #[error("PostgreSQL: {0}")]
    Database(#[from] StoreError),
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Error {
        Error::Database(e.into())
    }
}

/// A relay: the outbox of `store` to `js`.
#[derive(Debug, Clone)]
pub struct Relay {
    /// The outbox's database.
    pub store: Store,
    /// JetStream.
    pub js: jetstream::Context,
    /// The stream it publishes into (created or updated before the first publish).
    pub stream: StreamConfig,
    /// Batches, window, waits.
    pub config: RelayConfig,
    /// How long a publish and its PubAck may take (`nats.ack_timeout`).
    pub ack_timeout: Duration,
    /// Counters.
    pub metrics: Metrics,
    /// Role.
    pub state: Arc<State>,
}

/// How a wave's acknowledged rows leave the outbox.
struct Delete<'a> {
    /// The DELETE, or the DELETE that also queues webhook deliveries.
    statement: &'a tokio_postgres::Statement,
    /// Whether it is the latter (its count is of deliveries queued).
    queues: bool,
}

/// One outbox row, its subject and event ready to publish (clones share them).
struct Row {
    seq: i64,
    id: String,
    subject: async_nats::Subject,
    key: String,
    event: Bytes,
}

impl Relay {
    /// Runs until `cancel`: connects, waits for the lock, publishes; after any
    /// PostgreSQL failure, starts again after a pause.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut pause = Backoff::new(self.config.max_backoff);
        while !cancel.is_cancelled() {
            match self.round(&cancel, false).await {
                Ok(_) => pause.reset(),
                Err(e) => {
                    tracing::warn!(error = %e, "relay round ended; reconnecting");
                    self.state.set(Role::Connecting, &self.metrics);
                    pause.wait(&cancel).await;
                }
            }
        }
        self.state.set(Role::Connecting, &self.metrics);
    }

    /// Takes the lock and publishes until the outbox is empty (`bench`); returns how many
    /// events were published.
    pub async fn drain(&self, cancel: &CancellationToken) -> Result<u64, Error> {
        self.round(cancel, true).await
    }

    /// One connection's life: lock, LISTEN, publish until cancelled (or, with
    /// `until_empty`, until nothing is left) or until PostgreSQL fails.
    async fn round(&self, cancel: &CancellationToken, until_empty: bool) -> Result<u64, Error> {
        let (client, mut connection) = self.store.connect_dedicated().await?;
        let wake = Arc::new(Notify::new());
        let lost = CancellationToken::new();
        let driver = {
            let (wake, lost) = (wake.clone(), lost.clone());
            tokio::spawn(async move {
                while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                    match message {
                        Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "relay's PostgreSQL connection failed");
                            break;
                        }
                    }
                }
                lost.cancel();
            })
        };
        let _stop_driver = AbortOnDrop(driver);
        // Waiting for the lock takes as long as the other relay lives.
        client.batch_execute("SET statement_timeout = 0").await?;
        self.state.set(Role::Standby, &self.metrics);
        tokio::select! {
            () = cancel.cancelled() => return Ok(0),
            () = lost.cancelled() => return Err(closed()),
            locked = client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]) => { locked?; }
        }
        tracing::info!("relay holds the outbox lock: publishing");
        self.state.set(Role::Leader, &self.metrics);
        client
            .batch_execute(&format!("SET statement_timeout = '30s'; LISTEN {CHANNEL}"))
            .await?;
        // Session events are stored as columns and built here (sql/0022).
        let read = client
            .prepare(&format!(
                "SELECT seq, id, subject, coalesce(username, subject), {EVENT_COLUMNS} \
                 FROM event_outbox ORDER BY seq LIMIT $1"
            ))
            .await?;
        // The acknowledged rows leave the outbox and, in the same statement, become one
        // webhook delivery per enabled webhook that wants their kind (sql/0017): an event
        // published is an event queued for each webhook, exactly once, whenever the relay
        // dies. One statement a wave; the events go with it as published ($2), since a
        // session event's row holds its columns, not its JSON. Without an enabled webhook
        // (looked up once per batch read) the plain DELETE runs, as cheap as before
        // webhooks existed; a webhook enabled meanwhile gets the events published from
        // the next batch on.
        let delete = client
            .prepare("DELETE FROM event_outbox WHERE seq = ANY($1)")
            .await?;
        let fan_out = client
            .prepare(
                "WITH gone AS (DELETE FROM event_outbox WHERE seq = ANY($1) \
                               RETURNING seq, id, subject) \
                 INSERT INTO webhook_deliveries (webhook_id, event_id, kind, event) \
                 SELECT w.id, g.id, k.kind, p.event::json \
                 FROM gone g \
                 JOIN unnest($1::bigint[], $2::text[]) AS p(seq, event) ON p.seq = g.seq \
                 CROSS JOIN LATERAL (SELECT substr(g.subject, length('proisp.v1.') + 1) AS kind) k \
                 JOIN webhooks w ON w.enabled AND k.kind = ANY (w.events) \
                 ORDER BY g.seq, w.id",
            )
            .await?;
        let any_webhook = client
            .prepare("SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled)")
            .await?;
        let mut stream_ready = false;
        let mut pause = Backoff::new(self.config.max_backoff);
        let mut total = 0;
        loop {
            if lost.is_cancelled() {
                return Err(closed());
            }
            if cancel.is_cancelled() {
                return Ok(total);
            }
            if !stream_ready {
                match stream::ensure(&self.js, &self.stream).await {
                    Ok(()) => stream_ready = true,
                    Err(e) => {
                        let hint = stream::hint(&e).unwrap_or_default();
                        tracing::warn!(error = %e, hint, "cannot create or update the stream");
                        self.metrics.publish_errors.increment(1);
                        pause.wait(cancel).await;
                        continue;
                    }
                }
            }
            let limit = i64::from(self.config.batch);
            let rows = client
                .query(&read, &[&limit])
                .await?
                .iter()
                .map(|r| {
                    Ok(Row {
                        seq: r.try_get(0)?,
                        id: r.try_get(1)?,
                        subject: r.try_get::<_, String>(2)?.into(),
                        key: r.try_get(3)?,
                        event: outbox::cloud_event(r, 4)?.into(),
                    })
                })
                .collect::<Result<Vec<Row>, Error>>()?;
            let full = rows.len() as i64 == limit;
            if rows.is_empty() && until_empty {
                return Ok(total);
            }
            let webhooks =
                !rows.is_empty() && client.query_one(&any_webhook, &[]).await?.get::<_, bool>(0);
            let delete = Delete {
                statement: if webhooks { &fan_out } else { &delete },
                queues: webhooks,
            };
            match self.publish(&client, &delete, &rows).await? {
                Ok(n) => {
                    total += n;
                    pause.reset();
                    if full {
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "publishing to JetStream failed; retrying");
                    stream_ready = false;
                    pause.wait(cancel).await;
                    continue;
                }
            }
            if until_empty {
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => return Ok(total),
                () = lost.cancelled() => return Err(closed()),
                () = wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Publishes `rows` in waves, deleting each wave's acknowledged rows. The outer error
    /// is PostgreSQL's; the inner, the first publish that failed (the rows from there on
    /// are left for the next attempt).
    async fn publish(
        &self,
        client: &tokio_postgres::Client,
        delete: &Delete<'_>,
        rows: &[Row],
    ) -> Result<Result<u64, String>, Error> {
        let mut total = 0;
        let mut rest = rows;
        while !rest.is_empty() {
            let n = wave_len(rest, self.config.window);
            let (wave, after) = rest.split_at(n);
            rest = after;
            // One deadline for the wave: sending (which waits while the client's buffer is
            // full during an outage) and every PubAck.
            let deadline = tokio::time::Instant::now() + self.ack_timeout;
            let mut pending = Vec::with_capacity(wave.len());
            for row in wave {
                let mut headers = HeaderMap::new();
                headers.insert(async_nats::header::NATS_MESSAGE_ID, row.id.as_str());
                let send =
                    self.js
                        .publish_with_headers(row.subject.clone(), headers, row.event.clone());
                let sent = match tokio::time::timeout_at(deadline, send).await {
                    Ok(Ok(future)) => Ok(future),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out sending".to_owned()),
                };
                pending.push(sent);
            }
            let acks = join_all(pending.into_iter().map(|sent| async move {
                match tokio::time::timeout_at(deadline, sent?.into_future()).await {
                    Ok(ack) => ack.map_err(|e| e.to_string()),
                    Err(_) => Err("timed out waiting for the PubAck".to_owned()),
                }
            }))
            .await;
            let mut acked = Vec::with_capacity(acks.len());
            // The published events, for the webhook copies only.
            let mut published = Vec::new();
            let mut failed = None;
            for (row, ack) in wave.iter().zip(acks) {
                match ack {
                    Ok(ack) => {
                        if ack.duplicate {
                            self.metrics.duplicates.increment(1);
                        }
                        acked.push(row.seq);
                        if delete.queues {
                            // Always UTF-8: built from a String.
                            published.push(std::str::from_utf8(&row.event).unwrap_or_default());
                        }
                    }
                    Err(e) => {
                        self.metrics.publish_errors.increment(1);
                        failed.get_or_insert(e);
                    }
                }
            }
            if !acked.is_empty() {
                let written = if delete.queues {
                    client
                        .execute(delete.statement, &[&acked, &published])
                        .await?
                } else {
                    client.execute(delete.statement, &[&acked]).await?
                };
                if delete.queues && written > 0 {
                    self.state.deliveries.notify_one();
                }
                self.metrics.published.increment(acked.len() as u64);
                total += acked.len() as u64;
            }
            if let Some(e) = failed {
                return Ok(Err(e));
            }
        }
        Ok(Ok(total))
    }
}

/// The length of the wave at the start of `rows`: the longest prefix, at most `window`,
/// in which no ordering key repeats.
fn wave_len(rows: &[Row], window: usize) -> usize {
    let mut keys = HashSet::with_capacity(window.min(rows.len()));
    rows.iter()
        .take(window)
        .take_while(|r| keys.insert(r.key.as_str()))
        .count()
}

fn closed() -> Error {
    Error::Database(StoreError::Unavailable(
        "the relay's connection ended".to_owned(),
    ))
}

/// Aborts the connection's driver task when a round ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Exponential pauses from 50 ms to a cap, cut short by cancellation.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);

    fn new(max: Duration) -> Backoff {
        Backoff {
            next: Backoff::FIRST.min(max),
            max,
        }
    }

    fn reset(&mut self) {
        self.next = Backoff::FIRST.min(self.max);
    }

    async fn wait(&mut self, cancel: &CancellationToken) {
        tokio::select! {
            () = cancel.cancelled() => {}
            () = tokio::time::sleep(self.next) => {}
        }
        self.next = (self.next * 2).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(keys: &[&str]) -> Vec<Row> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| Row {
                seq: i as i64,
                id: i.to_string(),
                subject: "proisp.v1.subscriber.updated".into(),
                key: (*k).to_owned(),
                event: Bytes::from_static(b"{}"),
            })
            .collect()
    }

    #[test]
    fn a_wave_ends_before_a_subscriber_repeats() {
        assert_eq!(wave_len(&rows(&["a", "b", "c", "a", "d"]), 100), 3);
        assert_eq!(wave_len(&rows(&["a", "a"]), 100), 1);
        assert_eq!(wave_len(&rows(&["a", "b", "c", "d"]), 2), 2);
        assert_eq!(wave_len(&rows(&["a", "b", "c", "d"]), 100), 4);
        assert_eq!(wave_len(&rows(&[]), 100), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_to_its_cap() {
        let cancel = CancellationToken::new();
        let mut b = Backoff::new(Duration::from_millis(150));
        let start = tokio::time::Instant::now();
        b.wait(&cancel).await;
        b.wait(&cancel).await;
        b.wait(&cancel).await;
        assert_eq!(start.elapsed(), Duration::from_millis(50 + 100 + 150));
        b.reset();
        assert_eq!(b.next, Duration::from_millis(50));
    }
}
