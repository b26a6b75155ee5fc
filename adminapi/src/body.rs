//! Request bodies: typed parsing that names the offending field, and JSON merge patches.
//!
//! Handlers take `web::Json<Value>` and call [`parse`], so a wrong type deep inside a
//! body is reported as `422` with `field: "burst.time_secs"` rather than serde's bare
//! "invalid type at line 1 column 80".

use actix_web::web::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Deserialises `v` as `T`; a failure is 422 naming the field by its path. A NUL
/// character anywhere is refused first: PostgreSQL's text cannot hold one (it would
/// answer with its own error), and RADIUS pads passwords with NULs.
pub fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    if let Some(field) = nul_path(&v) {
        return Err(nul_error(field));
    }
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

/// 422 for a NUL character in `field`.
pub fn nul_error(field: impl Into<String>) -> ApiError {
    ApiError::invalid(field, "must not contain NUL characters")
}

/// Where the first NUL character in `v` is (a string or an object key), as the errors
/// name fields: `name`, `burst.time_secs`, `allowed_networks[0]`; `body` for the whole.
pub(crate) fn nul_path(v: &Value) -> Option<String> {
    fn walk(v: &Value, path: &str) -> Option<String> {
        let field = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        match v {
            Value::String(s) if s.contains('\0') => Some(path.to_owned()),
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                let here = field(&k.replace('\0', "\\0"));
                if k.contains('\0') {
                    Some(here)
                } else {
                    walk(v, &here)
                }
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &format!("{path}[{i}]"))),
            _ => None,
        }
    }
    walk(v, "").map(|p| if p.is_empty() { "body".to_owned() } else { p })
}

/// Reads a request body of at most `limit` octets (413 beyond).
pub async fn read(payload: actix_web::web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?
        .map_err(|e| ApiError::BadRequest {
            message: format!("cannot read the body: {e}"),
            field: None,
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
    fn nul_characters_are_refused_naming_the_field() {
        assert_eq!(field(json!({"name": "a\u{0}b"})), "name");
        assert_eq!(
            field(json!({"name": "x", "burst": {"time_secs": 1, "note": ["ok", "\u{0}"]}})),
            "burst.note[1]"
        );
        assert_eq!(field(json!({"name": "x", "a\u{0}": 1})), "a\\0");
        assert_eq!(field(json!("\u{0}")), "body");
        match parse::<Outer>(json!({"name": "\u{0}"})).unwrap_err() {
            ApiError::Invalid { message, .. } => {
                assert_eq!(message, "must not contain NUL characters");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn merge_patch() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        merge(&mut v, json!({"a": 5, "b": {"c": null, "x": 1}, "e": null}));
        assert_eq!(v, json!({"a": 5, "b": {"d": 3, "x": 1}}));
    }
}
