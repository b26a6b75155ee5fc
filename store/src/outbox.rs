//! The event outbox (sql/0015_event_outbox.sql): events for billing and other services,
//! written in the transaction of the change they report.
//!
//! # For writers (adminapi's journals, radiusd's accounting batches)
//!
//! Build each event with [`Event::new`] (a CloudEvents 1.0 envelope in structured JSON
//! mode, id a UUIDv7) and hand them to [`append`] with the transaction of the change,
//! before COMMIT: the events then exist if and only if the change committed. [`append`]
//! is one statement for any number of events (`INSERT … SELECT FROM unnest(…)`: one round
//! trip, one NOTIFY for the whole batch), so an accounting batch of N packets appends its
//! N session events with one call:
//!
//! ```no_run
//! # async fn f(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), proisp_store::StoreError> {
//! use proisp_store::outbox::{self, Event, RADIUSD};
//! let data = serde_json::json!({"Acct-Session-Id": "81e00001", "Acct-Session-Time": 3600});
//! let events = vec![Event::new(RADIUSD, "session.stop", "user000001", &data)];
//! outbox::append(tx, &events).await?;
//! # Ok(()) }
//! ```
//!
//! The payload of each kind is described in `events/asyncapi.json` (session.start/.stop:
//! FreeRADIUS attribute names, 64-bit octet counts with the Gigawords folded in); the
//! integration tests validate what they receive against it. Never put a password or
//! secret in `data`.
//!
//! # Order
//!
//! The relay publishes in `seq` order. Events of one subscriber keep their order when
//! their transactions are serialised — by the subscriber row's lock (adminapi's writes),
//! by the session row's lock (accounting), or by being in one transaction (in slice
//! order).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use deadpool_postgres::GenericClient;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;

mod session;

pub use session::{EVENT_COLUMNS, cloud_event};

/// The channel the outbox's trigger notifies at each committed insert.
pub const CHANNEL: &str = "proisp_event_outbox";
/// The `source` of events the admin API writes.
pub const ADMINAPI: &str = "/proisp/adminapi";
/// The `source` of events radiusd writes.
pub const RADIUSD: &str = "/proisp/radiusd";
/// NATS subjects are this followed by the event's kind (`subscriber.created`).
pub const SUBJECT_PREFIX: &str = "proisp.v1.";
/// CloudEvents types are this followed by the event's kind.
pub const TYPE_PREFIX: &str = "net.proisp.";

/// One event, ready for [`append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The CloudEvents id, also the NATS `Nats-Msg-Id`.
    pub id: String,
    /// The NATS subject, `proisp.v1.<kind>`.
    pub subject: String,
    /// The ordering key: the subscriber's username, if the event is about one.
    pub username: Option<String>,
    /// The CloudEvent, JSON.
    pub json: String,
}

impl Event {
    /// A CloudEvent of `kind` (`subscriber.created`, `session.stop` …) about the subscriber
    /// `username` (its CloudEvents `subject` and the ordering key), from `source`
    /// ([`ADMINAPI`], [`RADIUSD`]), now.
    pub fn new(source: &str, kind: &str, username: &str, data: &Value) -> Event {
        let mut e = Event::about(source, kind, username, data);
        e.username = Some(username.to_owned());
        e
    }

    /// A CloudEvent of `kind` whose `subject` is not a subscriber (a plan's name): ordered
    /// with the other events of its kind only.
    pub fn about(source: &str, kind: &str, subject: &str, data: &Value) -> Event {
        let id = uuid::Uuid::now_v7().to_string();
        let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let json = Envelope::new(&id, source, kind, &time, subject, data).json();
        Event {
            id,
            subject: format!("{SUBJECT_PREFIX}{kind}"),
            username: None,
            json,
        }
    }
}

/// A CloudEvents 1.0 envelope in structured JSON mode.
#[derive(serde::Serialize)]
struct Envelope<'a, D> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: String,
    time: &'a str,
    subject: &'a str,
    datacontenttype: &'static str,
    data: &'a D,
}

impl<'a, D: serde::Serialize> Envelope<'a, D> {
    /// Of `kind` (`session.stop`), its `type` being `net.proisp.<kind>`.
    fn new(
        id: &'a str,
        source: &'a str,
        kind: &str,
        time: &'a str,
        subject: &'a str,
        data: &'a D,
    ) -> Self {
        Envelope {
            specversion: "1.0",
            id,
            source,
            kind: format!("{TYPE_PREFIX}{kind}"),
            time,
            subject,
            datacontenttype: "application/json",
            data,
        }
    }

    /// As JSON text.
    fn json(&self) -> String {
        serde_json::to_string(self).expect("an envelope of strings and JSON values serialises")
    }
}

/// What a `coa.result` event says: how a CoA- or Disconnect-Request to one of a
/// subscriber's sessions ended. Written after the NAS answered (or did not), in a
/// transaction of its own: no database change goes with it.
#[derive(Debug, Clone)]
pub struct CoaResult<'a> {
    /// The subscriber (the event's subject and ordering key).
    pub username: &'a str,
    /// The session's Acct-Session-Id.
    pub acct_session_id: &'a str,
    /// The NAS's name.
    pub nas: &'a str,
    /// `coa` or `disconnect`.
    pub request: &'a str,
    /// Why it was sent: `fup` (quota spent), `period_over`, `admin` (a kick, a plan
    /// applied), `command` (billing).
    pub reason: &'a str,
    /// The outcome's code (`ack`, `nak`, `timeout`, `deferred` …: proisp_coa's
    /// `Outcome::code`).
    pub result: &'a str,
    /// The outcome in words.
    pub detail: String,
    /// The NAK's Error-Cause, if any.
    pub error_cause: Option<u32>,
}

impl CoaResult<'_> {
    /// The event, from `source`.
    pub fn event(&self, source: &str) -> Event {
        let data = json!({
            "User-Name": self.username,
            "Acct-Session-Id": self.acct_session_id,
            "NAS-Identifier": self.nas,
            "request": self.request,
            "reason": self.reason,
            "ok": self.result == "ack",
            "result": self.result,
            "detail": self.detail,
            "Error-Cause": self.error_cause,
        });
        Event::new(source, "coa.result", self.username, &data)
    }
}

impl super::Store {
    /// Appends `events` in a transaction of their own (events that report no change of
    /// the database, such as a NAS's answer).
    pub async fn append_events(&self, events: &[Event]) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let n = append(&client, events).await?;
        self.wake_outbox();
        Ok(n)
    }

    /// After a commit that may have appended events on a connection that defers the
    /// outbox's NOTIFY ([`crate::StoreConfig::defer_outbox_notify`]): wakes the relay soon.
    /// Does nothing for a store that notifies in each transaction.
    pub fn wake_outbox(&self) {
        if let Some(waker) = &self.outbox_waker {
            waker.poke();
        }
    }
}

/// The PostgreSQL setting that makes a connection's outbox inserts skip their NOTIFY.
pub const DEFERRED_NOTIFY: (&str, &str) = ("proisp.outbox_notify", "deferred");

/// Least time between two wake-ups a [`Waker`] sends.
const WAKE_INTERVAL: Duration = Duration::from_millis(10);

/// Wakes the relay for a process whose transactions append events without notifying:
/// pokes coalesce, and a task of its own sends `NOTIFY` at most once per
/// [`WAKE_INTERVAL`] on a connection of its own (not the pool's, which the accounting
/// writers need), with `synchronous_commit` off: the wake-up needs no durability, and its
/// transaction takes the database-wide NOTIFY lock alone, not with an accounting commit's
/// WAL flush (sql/0020_outbox_deferred_notify.sql). A lost wake-up (PostgreSQL away)
/// delays the events until the relay's next look, never loses them.
pub(crate) struct Waker {
    pg: Arc<tokio_postgres::Config>,
    tls: MakeRustlsConnect,
    /// The task's inbox, made at the first poke (within the runtime); full means a
    /// wake-up is already due.
    pokes: OnceLock<mpsc::Sender<()>>,
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").finish_non_exhaustive()
    }
}

impl Waker {
    pub(crate) fn new(pg: Arc<tokio_postgres::Config>, tls: MakeRustlsConnect) -> Waker {
        Waker {
            pg,
            tls,
            pokes: OnceLock::new(),
        }
    }

    fn poke(&self) {
        let pokes = self.pokes.get_or_init(|| {
            let (tx, mut rx) = mpsc::channel(1);
            let (pg, tls) = (self.pg.clone(), self.tls.clone());
            tokio::spawn(async move {
                let mut client = None;
                while rx.recv().await.is_some() {
                    if let Err(e) = wake(&pg, &tls, &mut client).await {
                        tracing::debug!(error = %e, "could not wake the event relay");
                        client = None;
                    }
                    tokio::time::sleep(WAKE_INTERVAL).await;
                }
            });
            tx
        });
        let _ = pokes.try_send(());
    }
}

/// `NOTIFY` on [`CHANNEL`] through `client`, connecting first when there is none.
async fn wake(
    pg: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    client: &mut Option<tokio_postgres::Client>,
) -> Result<(), StoreError> {
    let open = match client.take() {
        Some(c) if !c.is_closed() => c,
        _ => {
            let (c, connection) = pg.connect(tls.clone()).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            c.batch_execute("SET synchronous_commit = off").await?;
            c
        }
    };
    open.batch_execute(&format!("NOTIFY {CHANNEL}")).await?;
    *client = Some(open);
    Ok(())
}

/// Appends `events` through `client` — the transaction of the change they report — in
/// one statement, in slice order. Returns how many were written.
pub async fn append(client: &impl GenericClient, events: &[Event]) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut subjects = Vec::with_capacity(events.len());
    let mut usernames = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.id.as_str());
        subjects.push(e.subject.as_str());
        usernames.push(e.username.as_deref());
        bodies.push(e.json.as_str());
    }
    // WITH ORDINALITY … ORDER BY: seqs follow the slice.
    let stmt = client
        .prepare_cached(
            "INSERT INTO event_outbox (id, subject, username, event) \
             SELECT id, subject, username, event::json \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
                  WITH ORDINALITY AS e(id, subject, username, event, n) ORDER BY n",
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&ids, &subjects, &usernames, &bodies])
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_a_structured_cloudevent() {
        let e = Event::new(ADMINAPI, "subscriber.created", "alice", &json!({"id": 7}));
        assert_eq!(e.subject, "proisp.v1.subscriber.created");
        assert_eq!(e.username.as_deref(), Some("alice"));
        let v: Value = serde_json::from_str(&e.json).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], e.id.as_str());
        assert_eq!(v["type"], "net.proisp.subscriber.created");
        assert_eq!(v["source"], ADMINAPI);
        assert_eq!(v["subject"], "alice");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["data"], json!({"id": 7}));
        assert!(humantime::parse_rfc3339(v["time"].as_str().unwrap()).is_ok());
        let other = Event::about(ADMINAPI, "plan.changed", "home-50", &json!({}));
        assert_eq!(other.username, None);
        assert_ne!(other.id, e.id);
    }
}
