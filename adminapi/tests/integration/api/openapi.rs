//! The served OpenAPI document: valid enough for a generated client (scripts/api-check.sh
//! runs openapi-spec-validator and schemathesis on it as well).

use std::collections::HashSet;

use serde_json::Value;

use super::{Ctx, app, call, get};

#[actix_web::test]
async fn every_operation_is_named_once_and_documents_its_errors() {
    let ctx = Ctx::new().await;
    let app = app!(ctx);
    let r = call!(app, ctx, get("/api/v1/openapi.json"));
    r.expect(200);
    let doc = &r.json;
    let mut ids = HashSet::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{id} repeated");
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                assert!(
                    response["description"].is_string() || response["$ref"].is_string(),
                    "{method} {path} {status}: no description"
                );
            }
            let has = |s: &str| responses.contains_key(s);
            assert!(has("403") && has("429"), "{method} {path}");
            if op["security"].is_array() {
                assert!(has("401"), "{method} {path}");
            }
            if op["requestBody"].is_object() {
                assert!(has("400") && has("413") && has("422"), "{method} {path}");
            }
            if path.contains('{') {
                assert!(has("404"), "{method} {path}");
            }
        }
    }
    assert!(operations > 40, "{operations}");
    let responses = &doc["components"]["responses"];
    assert!(responses["TooManyRequests"]["headers"]["Retry-After"].is_object());

    // A plan as answered is one object with every field, not an input that refuses them.
    let view = &doc["components"]["schemas"]["PlanView"];
    assert!(view["allOf"].is_null(), "{view}");
    for field in [
        "id",
        "name",
        "download_kbps",
        "mikrotik_rate_limit",
        "version",
    ] {
        assert!(view["properties"][field].is_object(), "{field}");
    }
    // The limits the server enforces are in the schema.
    let input = &doc["components"]["schemas"]["PlanInput"]["properties"];
    assert_eq!(input["name"]["maxLength"], 64);
    assert_eq!(input["priority"]["maximum"], Value::from(8));
    assert_eq!(
        doc["components"]["schemas"]["RenewInput"]["properties"]["periods"]["maximum"],
        Value::from(120)
    );
}
