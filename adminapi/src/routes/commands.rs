//! `POST /commands/subscriber/{command}`: billing's commands over REST, for billing
//! systems without NATS — the same code, record and result as the JetStream consumer
//! ([`crate::commands`]), made idempotent by the `Idempotency-Key` header (scoped to the
//! admin who sends it): a retry with the same key and body repeats the first result, the
//! same key with another body is refused (422).

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::body;
use crate::commands::{self, Answer, CommandResult, Invocation, Kind, Source};
use crate::error::{ApiError, ErrorBody};
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;

/// The header that makes a command idempotent.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Longest key.
const MAX_KEY_LEN: usize = 256;

/// The commands (the path's last segment), for the document.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CommandName {
    /// Logins refused, open sessions disconnected.
    Suspend,
    /// Back to active.
    Resume,
    /// A new expiry.
    Renew,
    /// Another plan, its rate sent to the open sessions.
    SetPlan,
    /// Fair usage ended, the period's usage counted from zero.
    ResetQuota,
}

/// A command's body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandInput {
    /// The subscriber.
    pub username: String,
    /// The parameters: `{}` for suspend, resume and reset_quota; renew
    /// `{"expires_at": "2027-01-31T23:59:59Z"}` (RFC 3339, not in the past); set_plan
    /// `{"plan": "home-50"}` (a plan's name).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Option<Value>,
}

/// Apply a command to a subscriber, as billing does over NATS: `suspend` (logins refused,
/// open sessions disconnected), `resume`, `renew`, `set_plan` (the new rate sent to the
/// open sessions), `reset_quota` (fair usage ended, the period's usage counted from zero).
/// Answers 200 with the result — `ok`, or `ok: false` with the error (`not_found`,
/// `invalid`, `malformed`, `conflict`) and nothing changed; the same `Idempotency-Key`
/// again answers the first result (`Idempotent-Replayed: true`) and changes nothing.
#[utoipa::path(
    operation_id = "subscriberCommand",
    tag = "commands",
    params(
        ("command" = inline(CommandName), Path, description = "suspend, resume, renew, set_plan or reset_quota"),
        ("Idempotency-Key" = String, Header, description = "The command's id: 1 to 256 characters, unique per admin for `[commands] retention` (7 days)"),
    ),
    request_body = CommandInput,
    responses(
        (status = 200, description = "The result (first or repeated)", body = CommandResult,
         headers(("Idempotent-Replayed" = String, description = "`true` when repeated"))),
        (status = 400, description = "No Idempotency-Key, or a malformed body", body = ErrorBody),
        (status = 404, description = "No such command", body = ErrorBody),
        (status = 422, description = "The key was used for another request", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/commands/subscriber/{command}")]
pub(crate) async fn subscriber_command(
    state: web::Data<AppState>,
    session: Session,
    command: web::Path<String>,
    req: HttpRequest,
    input: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    if Kind::parse(&command).is_none() {
        return Err(ApiError::NotFound { entity: "command" });
    }
    let key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .ok_or_else(|| ApiError::BadRequest {
            message: "an Idempotency-Key header is required".to_owned(),
            field: Some(IDEMPOTENCY_KEY.to_owned()),
        })?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| ApiError::BadRequest {
            message: format!("Idempotency-Key: 1 to {MAX_KEY_LEN} visible characters"),
            field: Some(IDEMPOTENCY_KEY.to_owned()),
        })?
        .to_owned();
    let input: CommandInput = body::parse(input.into_inner())?;
    let data = input
        .data
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    let actor = session.actor();
    let inv = Invocation {
        source: Source::Rest,
        actor: &actor,
        command_id: &key,
        command: &command,
        username: Some(&input.username),
        data: &data,
        refused: None,
    };
    match commands::execute(&state, &inv).await? {
        Answer::First(result) => Ok(HttpResponse::Ok().json(result)),
        Answer::Replayed(result) => Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(result)),
        Answer::Reused => Err(ApiError::invalid(
            IDEMPOTENCY_KEY,
            "this key was used for another request",
        )),
    }
}
