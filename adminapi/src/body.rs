//! Request bodies: typed parsing that names the offending field, and JSON merge patches.
//!
//! Handlers take `web::Json<Value>` and call [`parse`], so a wrong type deep inside a
//! body is reported as `422` with `field: "burst.time_secs"` rather than serde's bare
//! "invalid type at line 1 column 80".

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Deserialises `v` as `T`; a failure is 422 naming the field by its path.
pub fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A missing field is named in the message; the path is its parent's.
        let field = if path == "." || path.is_empty() {
            named_field(&inner).unwrap_or_else(|| "body".to_owned())
        } else if inner.starts_with("missing field") {
            match named_field(&inner) {
                Some(f) => format!("{path}.{f}"),
                None => path,
            }
        } else {
            path
        };
        ApiError::invalid(field, inner)
    })
}

fn named_field(message: &str) -> Option<String> {
    if !(message.starts_with("unknown field") || message.starts_with("missing field")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// Applies an RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key,
/// anything else replaces.
pub fn merge(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch {
            if v.is_null() {
                map.remove(&k);
            } else {
                merge(map.entry(k).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        time_secs: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        burst: Option<Inner>,
    }

    fn field(v: Value) -> String {
        match parse::<Outer>(v).unwrap_err() {
            ApiError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_path() {
        assert_eq!(field(json!({"name": 1})), "name");
        assert_eq!(
            field(json!({"name": "x", "burst": {"time_secs": -1}})),
            "burst.time_secs"
        );
        assert_eq!(field(json!({"name": "x", "nmae": 1})), "nmae");
        assert_eq!(field(json!({})), "name");
        assert_eq!(field(json!({"name": "x", "burst": {}})), "burst.time_secs");
        assert_eq!(field(json!("x")), "body");
    }

    #[test]
    fn merge_patch() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        merge(&mut v, json!({"a": 5, "b": {"c": null, "x": 1}, "e": null}));
        assert_eq!(v, json!({"a": 5, "b": {"d": 3, "x": 1}}));
    }
}
