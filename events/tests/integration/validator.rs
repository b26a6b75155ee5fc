//! The validators every received event is run through: one per channel of
//! events/asyncapi.json, and [`receive`], which reads a stream's events through them.
//! Shared with radiusd's integration tests (which include this file by path), so it names
//! the document from the workspace, not from its own package.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use proisp_events::tail::{self, From};

use jsonschema::{Draft, Validator};
use serde_json::{Value, json};

/// The document and a validator per subject.
pub(crate) struct Document {
    by_subject: HashMap<String, Validator>,
}

pub(crate) fn read() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/asyncapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("events/asyncapi.json"))
        .expect("asyncapi.json is JSON")
}

/// The value a local reference (`#/components/…`) points at.
pub(crate) fn resolve<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let r = reference["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("not a reference: {reference}"));
    let pointer = r
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("not local: {r}"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{r} resolves to nothing"))
}

impl Document {
    pub(crate) fn load() -> Document {
        let doc = read();
        let mut by_subject = HashMap::new();
        for channel in doc["channels"].as_object().expect("channels").values() {
            let address = channel["address"].as_str().expect("address");
            for message in channel["messages"].as_object().expect("messages").values() {
                let payload = &resolve(&doc, message)["payload"];
                // The payload's reference, resolved against the whole document.
                let schema = json!({"$ref": payload["$ref"], "components": doc["components"]});
                let validator = jsonschema::options()
                    .with_draft(Draft::Draft7)
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("{address}: {e}"));
                by_subject.insert(address.to_owned(), validator);
            }
        }
        Document { by_subject }
    }

    /// What is wrong with `event`, received on `subject`, for its channel.
    pub(crate) fn errors(&self, subject: &str, event: &Value) -> Vec<String> {
        let validator = self
            .by_subject
            .get(subject)
            .unwrap_or_else(|| panic!("{subject} is not a channel of asyncapi.json"));
        validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect()
    }

    /// Panics unless `event`, received on `subject`, is valid for its channel.
    pub(crate) fn validate(&self, subject: &str, event: &Value) {
        let errors = self.errors(subject, event);
        assert!(errors.is_empty(), "{subject}: {errors:?} in {event}");
    }
}

/// The first `n` events of `stream` on `filter`, from its oldest, each validated against
/// the document and its `Nats-Msg-Id` checked to be its id; panics if they do not all
/// arrive within `patience`.
pub(crate) async fn receive(
    js: &async_nats::jetstream::Context,
    stream: &str,
    filter: &str,
    n: usize,
    patience: Duration,
) -> Vec<Value> {
    let doc = Document::load();
    let mut messages = tail::subscribe(js, stream, filter, From::All)
        .await
        .expect("ordered consumer");
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let m = tokio::time::timeout(patience, messages.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived", events.len()))
            .expect("stream ended")
            .expect("message");
        let v: Value = serde_json::from_slice(&m.payload).expect("a JSON event");
        let msg_id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned());
        assert_eq!(
            msg_id.as_deref(),
            v["id"].as_str(),
            "Nats-Msg-Id is the event id"
        );
        doc.validate(m.subject.as_str(), &v);
        events.push(v);
    }
    events
}
