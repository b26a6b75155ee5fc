//! The durable JetStream pull consumer of `proisp.v1.command.subscriber.>`: a task beside
//! the server while `[commands] nats_url` is set. Every adminapi of a pair runs one on the
//! same durable consumer, so each command goes to one of them (and to the other if the
//! first dies before acknowledging it).
//!
//! Each message is handled by [`super::execute`] and acknowledged after its result
//! committed — applied, refused or replayed. Only a database that does not answer leaves a
//! command unacknowledged: it is handed back (NAK with `nak_delay`) and applied when
//! PostgreSQL is back. Nothing a message holds stops the consumer: unreadable JSON, a
//! missing id, a wrong type each get an error result and an acknowledgement; a command
//! the database refuses each time (not unavailable: a constraint) gets an `internal`
//! error result after [`MAX_FAILED_DELIVERIES`]; NATS itself refuses a message past the
//! stream's `max_message_size`.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, AckKind, Message, stream};
use futures_util::StreamExt as _;
use serde_json::Value;

use super::{Failure, Invocation, SUBJECT_PREFIX, Source, execute, refuse};
use crate::audit::Actor;
use crate::config::CommandsConfig;
use crate::error::ApiError;
use crate::state::AppState;

/// The subjects of the commands stream.
pub const SUBJECTS: &str = "proisp.v1.command.subscriber.>";

/// Deliveries of a command that failed with a database error other than unavailability
/// (a constraint it breaks) before it is answered with an `internal` failure.
const MAX_FAILED_DELIVERIES: i64 = 10;

/// Longest wait between two attempts to reach NATS.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The commands stream's JetStream configuration.
pub fn stream_config(cfg: &CommandsConfig) -> stream::Config {
    stream::Config {
        name: cfg.stream.clone(),
        subjects: vec![SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        max_age: cfg.max_age,
        max_bytes: cfg.max_bytes,
        max_message_size: cfg.max_message_size,
        num_replicas: cfg.replicas,
        ..Default::default()
    }
}

fn consumer_config(cfg: &CommandsConfig) -> pull::Config {
    pull::Config {
        durable_name: Some(cfg.consumer.clone()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: cfg.ack_wait,
        max_ack_pending: cfg.max_ack_pending,
        filter_subject: SUBJECTS.to_owned(),
        ..Default::default()
    }
}

/// Runs the consumer for as long as the process does, connecting again (with a growing
/// pause, at most [`MAX_BACKOFF`]) whenever NATS goes away.
pub async fn run(state: &AppState, url: &str) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match consume(state, url).await {
            Ok(()) => backoff = Duration::from_millis(250),
            Err(e) => {
                tracing::warn!(error = %e, "commands: NATS consumer stopped; trying again");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Connects, makes sure of the stream and the consumer, and handles messages until the
/// subscription ends.
async fn consume(state: &AppState, url: &str) -> Result<(), async_nats::Error> {
    let cfg = &state.config.commands;
    let mut options = async_nats::ConnectOptions::new();
    // async-nats does not send the credentials of the URL by itself.
    let addr: async_nats::ServerAddr = url.parse()?;
    if let (Some(user), Some(password)) = (addr.username(), addr.password()) {
        options = options.user_and_password(user.to_owned(), password.to_owned());
    }
    let client = options
        .name("proisp-adminapi commands")
        .connect(addr)
        .await?;
    let js = jetstream::new(client);
    let stream = js.create_or_update_stream(stream_config(cfg)).await?;
    let stream = js.get_stream(&stream.config.name).await?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(&cfg.consumer, consumer_config(cfg))
        .await?;
    tracing::info!(
        stream = cfg.stream,
        consumer = cfg.consumer,
        "commands: consuming"
    );
    let actor = Actor {
        admin_id: None,
        username: cfg.credential.clone(),
        ip: None,
    };
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        handle(state, &actor, &message).await?;
    }
    Ok(())
}

/// A message read as a command: the CloudEvent's `id`, `subject` (the username) and
/// `data`, and the command from the NATS subject.
#[derive(Debug, PartialEq)]
pub struct Envelope {
    /// The command id: the CloudEvent's, else the `Nats-Msg-Id` header, else
    /// `seq-<stream sequence>`.
    pub command_id: String,
    /// The subscriber.
    pub username: Option<String>,
    /// The parameters.
    pub data: Value,
    /// Why it is not a command, when it is not.
    pub refused: Option<Failure>,
}

/// Reads `payload`, whose `Nats-Msg-Id` is `msg_id` and stream sequence `seq`.
pub fn envelope(payload: &[u8], msg_id: Option<&str>, seq: u64) -> Envelope {
    // PostgreSQL's text holds no NUL: a value with one is no usable id or name.
    let usable = |id: &&str| !id.is_empty() && id.len() <= 256 && !id.contains('\0');
    let fallback = || {
        msg_id
            .filter(usable)
            .map_or_else(|| format!("seq-{seq}"), str::to_owned)
    };
    let refused = |command_id: String, message: String| Envelope {
        command_id,
        username: None,
        data: Value::Null,
        refused: Some(Failure::new("malformed", message)),
    };
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return refused(fallback(), format!("not JSON: {e}")),
    };
    let Some(event) = value.as_object() else {
        return refused(fallback(), "not a CloudEvent: a JSON object".to_owned());
    };
    let id = event.get("id").and_then(Value::as_str).filter(usable);
    let Some(id) = id else {
        return refused(
            fallback(),
            "no id: a CloudEvent's id is a string of 1 to 256 characters".to_owned(),
        );
    };
    let username = match event.get("subject") {
        Some(Value::String(s)) if !s.contains('\0') => Some(s.clone()),
        None => None,
        Some(_) => {
            return refused(
                id.to_owned(),
                "subject: the username, a string without NUL".to_owned(),
            );
        }
    };
    if event.get("specversion").and_then(Value::as_str) != Some("1.0") {
        return Envelope {
            username,
            ..refused(id.to_owned(), "specversion: must be \"1.0\"".to_owned())
        };
    }
    if let Some(field) = event.get("data").and_then(crate::body::nul_path) {
        return Envelope {
            username,
            ..refused(
                id.to_owned(),
                format!("data ({field}) holds a NUL character"),
            )
        };
    }
    Envelope {
        command_id: id.to_owned(),
        username,
        data: event
            .get("data")
            .cloned()
            .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        refused: None,
    }
}

/// Handles one message; `Err` only when NATS failed (the subscription is started anew).
async fn handle(
    state: &AppState,
    actor: &Actor,
    message: &Message,
) -> Result<(), async_nats::Error> {
    let (seq, delivered) = message.info().map(|i| (i.stream_sequence, i.delivered))?;
    let msg_id = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str());
    let read = envelope(&message.payload, msg_id, seq);
    // No command has a NUL (which PostgreSQL's text could not record either).
    let command = message
        .subject
        .as_str()
        .strip_prefix(SUBJECT_PREFIX)
        .filter(|c| !c.contains('\0'))
        .unwrap_or_default();
    let inv = Invocation {
        source: Source::Nats,
        actor,
        command_id: &read.command_id,
        command,
        username: read.username.as_deref(),
        data: &read.data,
        refused: read.refused.clone(),
    };
    let mut outcome = execute(state, &inv).await;
    if matches!(outcome, Err(ApiError::Internal)) && delivered >= MAX_FAILED_DELIVERIES {
        // Not the database being away but a command it refuses each time: answered as a
        // failure rather than handed back for ever.
        let failure = Failure::new("internal", "the command could not be applied");
        outcome = refuse(state, &inv, failure).await;
    }
    match outcome {
        Ok(answer) => {
            if let Some(r) = answer.result() {
                tracing::info!(
                    command,
                    id = r.command_id,
                    user = inv.username,
                    ok = r.ok,
                    error = r.error.as_ref().map(|e| e.message.as_str()),
                    "command"
                );
            }
            message.ack().await
        }
        Err(e) => {
            tracing::warn!(error = %e, command, id = read.command_id, delivered, "command not handled now; delivered again later");
            message
                .ack_with(AckKind::Nak(Some(state.config.commands.nak_delay)))
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_read_or_refused_with_an_id() {
        let ok = envelope(
            br#"{"specversion":"1.0","id":"c1","subject":"alice","type":"x","source":"/b","data":{"plan":"p"}}"#,
            Some("m1"),
            7,
        );
        assert_eq!(ok.command_id, "c1");
        assert_eq!(ok.username.as_deref(), Some("alice"));
        assert_eq!(ok.data, serde_json::json!({"plan": "p"}));
        assert_eq!(ok.refused, None);

        let junk = envelope(b"{not json", Some("m1"), 7);
        assert_eq!(junk.command_id, "m1");
        assert_eq!(junk.refused.unwrap().code, "malformed");
        let no_id = envelope(br#"{"specversion":"1.0","subject":"alice"}"#, None, 9);
        assert_eq!(no_id.command_id, "seq-9");
        assert_eq!(no_id.refused.unwrap().code, "malformed");
        let array = envelope(b"[1,2]", Some(""), 3);
        assert_eq!(array.command_id, "seq-3");
        let bad_subject = envelope(br#"{"specversion":"1.0","id":"c2","subject":5}"#, None, 1);
        assert_eq!(bad_subject.command_id, "c2");
        assert!(bad_subject.refused.is_some());
        let nul = envelope(
            br#"{"specversion":"1.0","id":"c\u0000","subject":"a\u0000"}"#,
            None,
            5,
        );
        assert_eq!(nul.command_id, "seq-5");
        let nul = envelope(
            br#"{"specversion":"1.0","id":"c3","subject":"a\u0000"}"#,
            None,
            6,
        );
        assert_eq!((nul.command_id.as_str(), nul.username), ("c3", None));
        let nul = envelope(
            br#"{"specversion":"1.0","id":"c4","subject":"al","data":{"plan":"p\u0000"}}"#,
            None,
            7,
        );
        assert_eq!(nul.refused.unwrap().code, "malformed");
        let long = "x".repeat(300);
        let long_id = envelope(format!(r#"{{"id":"{long}"}}"#).as_bytes(), None, 4);
        assert_eq!(long_id.command_id, "seq-4");
    }
}
