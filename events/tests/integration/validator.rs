//! The validators every received event is run through: one per channel of
//! events/asyncapi.json. Shared with radiusd's integration tests (which include this file
//! by path), so it names the document from the workspace, not from its own package.

use std::collections::HashMap;

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
