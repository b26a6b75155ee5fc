//! events/asyncapi.json: the document checked for consistency (AsyncAPI 3.0 structure,
//! every reference resolves, every payload a valid JSON Schema, a channel for every kind
//! ProISP writes). The validators the other tests run every received event through are in
//! `validator`.

use serde_json::{Value, json};

use super::validator::{Document, read, resolve};

#[test]
fn the_asyncapi_document_is_consistent() {
    let doc = read();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let channels = doc["channels"].as_object().expect("channels");
    for (name, channel) in channels {
        let address = channel["address"].as_str().expect("address");
        assert!(address.starts_with("proisp.v1."), "{name}: {address}");
        for message in channel["messages"].as_object().expect("messages").values() {
            let m = resolve(&doc, message);
            let payload = resolve(&doc, &m["payload"]);
            jsonschema::draft7::meta::validate(payload)
                .unwrap_or_else(|e| panic!("{name}'s payload is no JSON Schema: {e}"));
        }
    }
    for (name, op) in doc["operations"].as_object().expect("operations") {
        let channel = resolve(&doc, &op["channel"]);
        // ProISP publishes everything but billing's commands, which it receives.
        let command = channel["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("proisp.v1.command.subscriber."));
        let action = if command { "receive" } else { "send" };
        assert_eq!(op["action"], action, "{name}");
        for m in op["messages"].as_array().expect("messages") {
            let r = m["$ref"].as_str().unwrap();
            assert!(
                r.starts_with("#/channels/"),
                "{name}: {r} is not the channel's message"
            );
            resolve(&doc, m);
        }
        assert!(channel["address"].is_string());
    }
    for schema in doc["components"]["schemas"].as_object().unwrap().values() {
        jsonschema::draft7::meta::validate(schema).expect("a JSON Schema");
    }
    // Every kind ProISP writes has its channel.
    let actions = [
        "subscriber.create",
        "subscriber.import",
        "subscriber.update",
        "subscriber.password_reset",
        "subscriber.suspend",
        "subscriber.resume",
        "subscriber.delete",
        "subscriber.renew",
    ];
    let mut kinds: Vec<&str> = actions
        .iter()
        .map(|a| proisp_adminapi::events::subscriber_kind(a).expect("announced"))
        .collect();
    kinds.extend([
        "plan.changed",
        "session.start",
        "session.interim",
        "session.stop",
        "fup.applied",
        "coa.result",
        "nas.accounting_on",
        "command.result",
    ]);
    let addresses: Vec<&str> = channels
        .values()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    for kind in kinds {
        let subject = format!("proisp.v1.{kind}");
        assert!(
            addresses.contains(&subject.as_str()),
            "no channel for {subject}"
        );
    }
}

#[test]
fn the_schemas_refuse_what_they_should() {
    let doc = Document::load();
    let good = json!({
        "specversion": "1.0", "id": "0192", "source": "/proisp/radiusd",
        "type": "net.proisp.session.stop", "time": "2026-12-07T01:00:00.000Z",
        "subject": "alice", "datacontenttype": "application/json",
        "data": {
            "User-Name": "alice", "Acct-Session-Id": "81e00001",
            "Acct-Unique-Session-Id": "4f2a", "NAS-IP-Address": "192.0.2.1",
            "Acct-Session-Time": 3600, "Acct-Input-Octets": 5_000_000_000_u64,
            "Acct-Output-Octets": 12, "Acct-Terminate-Cause": "User-Request",
            "ProISP-Closed-By": "stop"
        }
    });
    doc.validate("proisp.v1.session.stop", &good);
    let invalid = |mutate: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        mutate(&mut v);
        assert!(
            !doc.errors("proisp.v1.session.stop", &v).is_empty(),
            "accepted {v}"
        );
    };
    invalid(&|v| v["type"] = json!("net.proisp.session.start"));
    invalid(&|v| v["time"] = json!("yesterday"));
    invalid(&|v| v["data"]["Acct-Input-Octets"] = json!(-1));
    invalid(&|v| {
        v["data"]
            .as_object_mut()
            .unwrap()
            .remove("Acct-Session-Time");
    });
    invalid(&|v| v["specversion"] = json!("0.3"));
}
