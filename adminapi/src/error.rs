//! [`ApiError`]: the one place that turns errors into HTTP status codes and JSON bodies.
//!
//! Every error body is `{"error": code, "message": text, "field": name|null}`: `code` is
//! a stable machine-readable word (`invalid`, `not_found`, `conflict`, …), `message` is
//! for people, `field` names the offending input field where there is one. Extractor
//! failures (malformed JSON, a path id that is not a number, a bad query string) go
//! through the same type: see [`json_config`], [`path_config`], [`query_config`].

use std::fmt;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use proisp_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, wrong content type).
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The field, where the parser knows it.
        field: Option<String>,
    },
    /// 401: no credentials, or credentials that are wrong, expired or revoked.
    #[error("{message}")]
    Unauthorized {
        /// `unauthorized`, `invalid_credentials` (every failed login, whatever failed),
        /// `token_expired`, `token_revoked`.
        code: &'static str,
        /// Why.
        message: &'static str,
    },
    /// 403: authenticated, but not allowed (role, allow-list, enrollment-only token).
    #[error("{message}")]
    Forbidden {
        /// `forbidden`, `address_not_allowed`, `totp_enrollment_required`.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// 404.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `plan`.
        entity: &'static str,
    },
    /// 405: the path exists, the method does not (the `Allow` header lists the ones that
    /// do).
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The methods the path answers, comma-separated.
        allow: String,
    },
    /// 409: a unique value is taken, or the entity is in use.
    #[error("{message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// The field whose value is taken.
        field: Option<String>,
    },
    /// 413: the request body is larger than the server reads.
    #[error("request body too large (at most {limit} octets)")]
    PayloadTooLarge {
        /// The limit, octets.
        limit: usize,
    },
    /// 422: a well-formed request with a value that is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the request names it (`rate.download_kbps`).
        field: String,
        /// Why.
        message: String,
    },
    /// 429: over a rate limit; retry after this many seconds.
    #[error("too many requests; retry in {retry_after} s")]
    TooManyRequests {
        /// Seconds until a retry can succeed (the `Retry-After` header).
        retry_after: u64,
    },
    /// 503: PostgreSQL (or another backend) is down or overloaded.
    #[error("service unavailable, try again")]
    Unavailable,
    /// 503: the one backend that holds what was asked is not configured or does not
    /// answer (recent rejects and the per-minute auth counts live in Redis alone).
    #[error("{backend} is unavailable: {what} cannot be read, try again")]
    BackendUnavailable {
        /// The backend (`Redis`).
        backend: &'static str,
        /// What it holds (`recent rejects`).
        what: &'static str,
    },
    /// 500: a bug or an unexpected backend answer; the details are logged, not returned.
    #[error("internal error")]
    Internal,
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code: `bad_request`, `unauthorized`, `invalid_credentials`,
    /// `token_expired`, `token_revoked`, `forbidden`, `address_not_allowed`,
    /// `totp_enrollment_required`, `not_found`, `method_not_allowed`, `conflict`,
    /// `payload_too_large`, `invalid`, `rate_limited`, `unavailable`, `internal`.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// The input field at fault, if any.
    pub field: Option<String>,
}

impl ApiError {
    /// 422 for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// 403 with the plain `forbidden` code.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::Forbidden {
            code: "forbidden",
            message: message.into(),
        }
    }

    /// 401 `unauthorized` (missing or unusable credentials).
    pub const fn unauthorized(message: &'static str) -> ApiError {
        ApiError::Unauthorized {
            code: "unauthorized",
            message,
        }
    }

    /// Logs `e` and returns a 500 that says nothing about it.
    pub fn internal(e: impl fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::Internal
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized { code, .. } | ApiError::Forbidden { code, .. } => code,
            ApiError::NotFound { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Invalid { .. } => "invalid",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Unavailable | ApiError::BackendUnavailable { .. } => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. } | ApiError::Conflict { field, .. } => {
                field.as_deref()
            }
            ApiError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The body this error answers with.
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            ApiError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ErrorBody {
            error: self.code().to_owned(),
            message,
            field: self.field().map(str::to_owned),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::BackendUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::TooManyRequests { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.max(&1).to_string()));
            }
            ApiError::Unauthorized { .. } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"proisp\""),
                ));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                res.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        res.json(self.body())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { entity } => ApiError::NotFound {
                entity: entity.as_str(),
            },
            StoreError::Conflict { what } => {
                // `plan.name` → field `name`; "plan in use by subscribers" has no field.
                let field = what
                    .split_once('.')
                    .filter(|(_, f)| !f.contains(' '))
                    .map(|(_, f)| f.to_owned());
                let message = match &field {
                    Some(f) => format!("{f} is already taken"),
                    None => what,
                };
                ApiError::Conflict { message, field }
            }
            StoreError::Invalid { field, reason } => ApiError::Invalid {
                field,
                message: reason,
            },
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "backend unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> ApiError {
        StoreError::from(e).into()
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> ApiError {
        StoreError::from(e).into()
    }
}

/// serde's "unknown field `x`" / "missing field `x`" / "invalid type … at line" →
/// the field name where serde gives one.
fn serde_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    let name = &message[start..start + len];
    // serde quotes field names and also enum variants; field names are identifiers.
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| name.to_owned())
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit: *limit },
        JsonPayloadError::ContentType => ApiError::BadRequest {
            message: "expected Content-Type: application/json".to_owned(),
            field: None,
        },
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            // Well-formed JSON of the wrong shape: a missing or mistyped field.
            let message = e.to_string();
            ApiError::Invalid {
                field: serde_field(&message).unwrap_or_else(|| "body".to_owned()),
                message,
            }
        }
        other => ApiError::BadRequest {
            message: format!("malformed JSON: {other}"),
            field: None,
        },
    };
    actix_web::error::InternalError::from_response(err, api.error_response()).into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let api = ApiError::NotFound { entity: "resource" };
    actix_web::error::InternalError::from_response(err, api.error_response()).into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = err.to_string();
    let api = ApiError::Invalid {
        field: serde_field(&message).unwrap_or_else(|| "query".to_owned()),
        message,
    };
    actix_web::error::InternalError::from_response(err, api.error_response()).into()
}

/// JSON bodies: at most `limit` octets, errors as [`ApiError`].
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(json_error)
}

/// Path parameters (a non-numeric id is "not found", as no such resource exists).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(path_error)
}

/// Query strings.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(query_error)
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use proisp_store::Entity;

    use super::*;

    #[actix_web::test]
    async fn body_shape_and_headers() {
        let res = ApiError::invalid("rate.download_kbps", "too large").error_response();
        assert_eq!(res.status(), 422);
        let body = to_bytes(res.into_body()).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "invalid", "message": "too large", "field": "rate.download_kbps"})
        );
        let res = ApiError::MethodNotAllowed {
            method: "TRACE".to_owned(),
            allow: "GET, POST".to_owned(),
        }
        .error_response();
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers().get("allow").unwrap(), "GET, POST");
        let res = ApiError::PayloadTooLarge { limit: 10 }.error_response();
        assert_eq!(res.status(), 413);
        let res = ApiError::TooManyRequests { retry_after: 7 }.error_response();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers().get("retry-after").unwrap(), "7");
        let body = to_bytes(res.into_body()).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["field"], serde_json::Value::Null);
        assert_eq!(v["error"], "rate_limited");
    }

    #[test]
    fn store_errors_map_to_statuses() {
        let e = ApiError::from(StoreError::Conflict {
            what: "plan.name".to_owned(),
        });
        assert_eq!(e.status_code(), 409);
        assert_eq!(e.body().field.as_deref(), Some("name"));
        let e = ApiError::from(StoreError::Conflict {
            what: "plan in use by subscribers".to_owned(),
        });
        assert_eq!(e.body().field, None);
        assert_eq!(e.body().message, "plan in use by subscribers");
        let e = ApiError::from(StoreError::NotFound {
            entity: Entity::Plan,
        });
        assert_eq!(e.status_code(), 404);
        assert_eq!(e.body().message, "plan not found");
        let e = ApiError::from(StoreError::Unavailable("down".to_owned()));
        assert_eq!(e.status_code(), 503);
        assert_eq!(
            ApiError::from(StoreError::Crypto).body().message,
            "internal error"
        );
    }

    #[test]
    fn serde_messages_name_the_field() {
        assert_eq!(
            serde_field("missing field `name` at line 1 column 2").as_deref(),
            Some("name")
        );
        assert_eq!(
            serde_field("unknown field `nmae`, expected one of `name`, `rate`").as_deref(),
            Some("nmae")
        );
        assert_eq!(
            serde_field("invalid type: string \"x\", expected u32"),
            None
        );
    }
}
