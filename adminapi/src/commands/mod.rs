//! Commands from billing (issue 22): suspend, resume, renew, set_plan and reset_quota of
//! one subscriber, over NATS JetStream ([`consumer`]) or REST with an `Idempotency-Key`
//! (`routes::commands`), both through [`execute`].
//!
//! A command goes through the service functions REST's own calls use — suspend and
//! resume are `POST /subscribers/{id}/suspend|resume`'s [`change_status`], renew and
//! set_plan are PATCH's [`write_as`] — so the validation, the audit row (naming the
//! billing credential) and the subscriber event are the same. Into that write's
//! transaction [`execute`] adds the command's row (`sql/0018_commands.sql`) and its
//! `command.result` event, so the change, its audit row, its record and its result commit
//! together or not at all. After the commit the subscriber's live sessions hear of it:
//! suspend disconnects them as a kick does, set_plan and reset_quota send the plan's rate
//! as a plan's apply does (the fair-usage rate while the quota is spent).
//!
//! Exactly-once effect: a command id already recorded (per credential) changes nothing
//! and repeats the first result in a new `command.result` event. Two adminapis handling
//! the same command at once are serialised by the row's primary key: the second one's
//! INSERT waits, conflicts, rolls its change back and repeats the first result.
//!
//! A refused command (unknown subscriber or plan, an expiry in the past, data of the
//! wrong shape, unreadable JSON) changes nothing and is recorded with its error result.
//! Only a database that does not answer leaves a command unrecorded
//! ([`ApiError::Unavailable`]): the consumer then leaves it for a later delivery.

pub mod consumer;
mod record;

use std::cell::Cell;

use base64::Engine as _;
use deadpool_postgres::Transaction;
use proisp_model::Status;
use proisp_store::{Journal, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use crate::audit::Actor;
use crate::data::sessions::{self, LiveFilter};
use crate::data::subscribers::{self, SubscriberRecord};
use crate::error::ApiError;
use crate::jobs;
use crate::routes::sessions::live::disconnect;
use crate::routes::subscribers::{SubscriberInput, SubscriberView, change_status, write_as};
use crate::state::AppState;
use crate::time::Timestamp;

pub use record::purge_expired;

/// NATS subjects of commands are this followed by the command (`suspend`).
pub const SUBJECT_PREFIX: &str = "proisp.v1.command.subscriber.";

/// Most open sessions of one subscriber a suspend disconnects.
const MAX_SESSIONS: i64 = 500;

/// A command billing may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Logins refused, open sessions disconnected. Data `{}`.
    Suspend,
    /// Back to active. Data `{}`.
    Resume,
    /// A new expiry. Data `{"expires_at": RFC 3339}`, not in the past.
    Renew,
    /// Another plan, its rate sent to the open sessions. Data `{"plan": name}`.
    SetPlan,
    /// Fair usage ended and the period's usage counted from zero again, the full rate
    /// sent to the open sessions. Data `{}`.
    ResetQuota,
}

impl Kind {
    /// Every command.
    pub const ALL: [Kind; 5] = [
        Kind::Suspend,
        Kind::Resume,
        Kind::Renew,
        Kind::SetPlan,
        Kind::ResetQuota,
    ];

    /// Its name: the last word of its subject and the REST path.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Suspend => "suspend",
            Kind::Resume => "resume",
            Kind::Renew => "renew",
            Kind::SetPlan => "set_plan",
            Kind::ResetQuota => "reset_quota",
        }
    }

    /// The command named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether, once applied, it tells the subscriber's live sessions ([`tell_sessions`]).
    const fn has_effects(self) -> bool {
        matches!(self, Kind::Suspend | Kind::SetPlan | Kind::ResetQuota)
    }
}

/// Where a command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The JetStream consumer.
    Nats,
    /// `POST /api/v1/commands/subscriber/{command}`.
    Rest,
}

impl Source {
    const fn as_str(self) -> &'static str {
        match self {
            Source::Nats => "nats",
            Source::Rest => "rest",
        }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Failure {
    /// `malformed` (not a readable command), `invalid` (a field of the wrong shape or
    /// value: an unknown command, an expiry in the past), `not_found` (no such subscriber
    /// or plan), `conflict` (refused in the subscriber's state), `internal` (the database
    /// refused it again and again).
    pub code: String,
    /// What was wrong, in words.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn from_api(e: &ApiError) -> Failure {
        let body = e.body();
        let code = match body.error.as_str() {
            "bad_request" => "malformed",
            "not_found" | "conflict" => &body.error,
            _ => "invalid",
        };
        let message = match body.field {
            Some(field) => format!("{field}: {}", body.message),
            None => body.message,
        };
        Failure::new(code, message)
    }
}

/// The result of a command: the data of its `command.result` event, and the REST answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommandResult {
    /// The command's id (the CloudEvent's `id`, or the `Idempotency-Key`).
    pub command_id: String,
    /// Whether it was applied.
    pub ok: bool,
    /// Why not; absent when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

/// A command as received.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// Where it came from.
    pub source: Source,
    /// Who sent it: the NATS credential of `[commands]`, or the admin. Command ids are
    /// scoped to it, and the audit log names it.
    pub actor: &'a Actor,
    /// Its id.
    pub command_id: &'a str,
    /// The command's name as received (maybe no command at all).
    pub command: &'a str,
    /// The subscriber, when the command named one.
    pub username: Option<&'a str>,
    /// Its parameters.
    pub data: &'a Value,
    /// Already refused while reading it (unreadable JSON, no id).
    pub refused: Option<Failure>,
}

impl Invocation<'_> {
    /// SHA-256 of what the command asks, so a key reused for another request is told
    /// apart from a retry.
    fn fingerprint(&self) -> String {
        let asked = json!({
            "command": self.command,
            "username": self.username,
            "data": self.data,
            "refused": self.refused,
        });
        let digest = Sha256::digest(asked.to_string().as_bytes());
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    }
}

/// What [`execute`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Handled for the first time: the result.
    First(CommandResult),
    /// Handled before: the first result, repeated.
    Replayed(CommandResult),
    /// The id was used before for another request (REST answers 422); nothing done.
    Reused,
}

impl Answer {
    /// The result, unless the id was reused.
    pub fn result(&self) -> Option<&CommandResult> {
        match self {
            Answer::First(r) | Answer::Replayed(r) => Some(r),
            Answer::Reused => None,
        }
    }
}

/// A command checked and ready to apply.
struct Checked {
    kind: Kind,
    current: SubscriberRecord,
    change: Change,
}

/// What a command changes, through which of REST's service functions.
enum Change {
    /// [`change_status`] to this status, audited as this action.
    Status(Status, &'static str),
    /// [`write_as`] of the subscriber as it is with a field changed, audited as this
    /// action.
    Write(Box<SubscriberInput>, &'static str),
    /// [`reset_quota`].
    ResetQuota,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoData {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewData {
    expires_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPlanData {
    plan: String,
}

fn data<T: serde::de::DeserializeOwned>(kind: Kind, v: &Value) -> Result<T, Failure> {
    serde_json::from_value(v.clone())
        .map_err(|e| Failure::new("invalid", format!("data of {}: {e}", kind.as_str())))
}

/// Validates `inv` against the database as it is now.
async fn check(
    state: &AppState,
    inv: &Invocation<'_>,
) -> Result<Result<Checked, Failure>, ApiError> {
    if let Some(refused) = &inv.refused {
        return Ok(Err(refused.clone()));
    }
    let Some(kind) = Kind::parse(inv.command) else {
        return Ok(Err(Failure::new(
            "invalid",
            format!("no command {:?}", inv.command),
        )));
    };
    let Some(username) = inv.username.filter(|u| !u.is_empty()) else {
        return Ok(Err(Failure::new(
            "malformed",
            "no subscriber: the CloudEvent's subject (REST: username) names one",
        )));
    };
    if !inv.data.is_object() {
        return Ok(Err(Failure::new("invalid", "data must be a JSON object")));
    }
    let Some(current) = subscribers::subscriber_record_by_name(&state.store, username).await?
    else {
        return Ok(Err(Failure::new(
            "not_found",
            format!("no subscriber {username:?}"),
        )));
    };
    let change = match kind {
        Kind::Suspend | Kind::Resume | Kind::ResetQuota => {
            if let Err(f) = data::<NoData>(kind, inv.data) {
                return Ok(Err(f));
            }
            match kind {
                Kind::Suspend => Change::Status(Status::Suspended, "subscriber.suspend"),
                Kind::Resume => Change::Status(Status::Active, "subscriber.resume"),
                _ => Change::ResetQuota,
            }
        }
        Kind::Renew => {
            let d = match data::<RenewData>(kind, inv.data) {
                Ok(d) => d,
                Err(f) => return Ok(Err(f)),
            };
            let Ok(at) = d.expires_at.parse::<Timestamp>() else {
                return Ok(Err(Failure::new(
                    "invalid",
                    "expires_at: not an RFC 3339 time (2026-12-31T23:59:59Z)",
                )));
            };
            if at <= Timestamp::now() {
                return Ok(Err(Failure::new(
                    "invalid",
                    format!("expires_at: {at} is in the past"),
                )));
            }
            let mut input = SubscriberInput::from(&current);
            input.expires_at = Some(at);
            Change::Write(Box::new(input), "subscriber.renew")
        }
        Kind::SetPlan => {
            let d = match data::<SetPlanData>(kind, inv.data) {
                Ok(d) => d,
                Err(f) => return Ok(Err(f)),
            };
            let Some(plan) = state.store.plan_by_name(&d.plan).await? else {
                return Ok(Err(Failure::new(
                    "not_found",
                    format!("no plan {:?}", d.plan),
                )));
            };
            let mut input = SubscriberInput::from(&current);
            input.plan_id = plan.id;
            Change::Write(Box::new(input), "subscriber.update")
        }
    };
    Ok(Ok(Checked {
        kind,
        current,
        change,
    }))
}

/// Handles one command: replays a recorded one, records a refused one, applies a valid
/// one (then tells its live sessions). `Err` only when the database is unavailable (or
/// failed): nothing was recorded, and the command may be tried again.
pub async fn execute(state: &AppState, inv: &Invocation<'_>) -> Result<Answer, ApiError> {
    let fingerprint = inv.fingerprint();
    if let Some(first) = record::find(&state.db, &inv.actor.username, inv.command_id).await? {
        return replay(state, inv, first, &fingerprint).await;
    }
    let checked = match check(state, inv).await? {
        Ok(checked) => checked,
        Err(failure) => return refuse_as(state, inv, failure, &fingerprint).await,
    };
    let result = CommandResult {
        command_id: inv.command_id.to_owned(),
        ok: true,
        error: None,
    };
    let duplicate = Cell::new(false);
    let effects = checked.kind.has_effects();
    let also = recorded(inv, &fingerprint, &result, effects, &duplicate);
    let current = &checked.current;
    let applied = match &checked.change {
        Change::Status(status, action) => {
            change_status(state, inv.actor, current, *status, action, also).await
        }
        Change::Write(input, action) => {
            write_as(state, inv.actor, current, input, action, also).await
        }
        Change::ResetQuota => reset_quota(state, inv.actor, current, also).await,
    };
    match applied {
        Ok(_) => {}
        Err(_) if duplicate.get() => {
            let first = record::find(&state.db, &inv.actor.username, inv.command_id)
                .await?
                .ok_or_else(|| ApiError::internal("a conflicting command row is gone"))?;
            return replay(state, inv, first, &fingerprint).await;
        }
        Err(e @ (ApiError::Unavailable | ApiError::Internal)) => return Err(e),
        Err(e) => return refuse_as(state, inv, Failure::from_api(&e), &fingerprint).await,
    }
    if effects {
        finish(
            state,
            inv.actor,
            checked.kind,
            &checked.current.subscriber.username,
            inv.command_id,
        )
        .await;
    }
    Ok(Answer::First(result))
}

/// The journal that records `inv` with `result` (its `effects` pending) in the change's
/// transaction and appends its `command.result`; an id recorded meanwhile sets `duplicate`
/// and rolls back.
fn recorded<'a>(
    inv: &'a Invocation<'a>,
    fingerprint: &'a str,
    result: &'a CommandResult,
    effects: bool,
    duplicate: &'a Cell<bool>,
) -> impl Journal<SubscriberView> + 'a {
    async move |tx: &Transaction<'_>, _view: &SubscriberView| {
        if !record::insert(tx, inv, fingerprint, result, effects).await? {
            duplicate.set(true);
            return Err(StoreError::Conflict {
                what: "command id already recorded".to_owned(),
            });
        }
        record::result_event(tx, inv, result).await
    }
}

/// Reset quota: no REST call does it alone; audited and announced as an update.
async fn reset_quota(
    state: &AppState,
    actor: &Actor,
    current: &SubscriberRecord,
    also: impl Journal<SubscriberView>,
) -> Result<SubscriberView, ApiError> {
    let before = SubscriberView::from(current);
    let mut view = None;
    state
        .store
        .reset_quota_journaled(&current.subscriber.username, async |tx, sub| {
            let entry = crate::audit::Entry::new("subscriber.reset_quota", "subscriber", sub.id)
                .before(&before);
            let after =
                crate::routes::subscribers::record_after(state, tx, actor, entry, sub).await?;
            also(tx, &after).await?;
            view = Some(after);
            Ok(())
        })
        .await?;
    view.ok_or_else(|| ApiError::internal("a subscriber write committed without its journal"))
}

/// The effects of applied command `command_id` (of `actor`'s credential) on `username`'s
/// live sessions, then the record that they were sent. After the commit that applied it,
/// or again for a command whose effects were left pending (the process died between the
/// two): a suspend only while the subscriber is still suspended.
async fn finish(state: &AppState, actor: &Actor, kind: Kind, username: &str, command_id: &str) {
    if kind == Kind::Suspend {
        match subscribers::subscriber_record_by_name(&state.store, username).await {
            Ok(Some(sub)) if sub.subscriber.status == Status::Suspended => {}
            Ok(_) => {
                tracing::info!(
                    user = username,
                    command = command_id,
                    "suspend: no longer suspended, no session disconnected"
                );
                return mark_sent(state, actor, command_id).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, user = username, "suspend: cannot read the subscriber; left pending");
                return;
            }
        }
    }
    tell_sessions(state, actor, kind, username).await;
    mark_sent(state, actor, command_id).await;
}

async fn mark_sent(state: &AppState, actor: &Actor, command_id: &str) {
    if let Err(e) = record::effects_sent(&state.db, &actor.username, command_id).await {
        tracing::warn!(error = %e, command = command_id, "cannot record a command's effects as sent; they will be sent again");
    }
}

/// How long a command's effects may be pending before housekeeping finishes them: longer
/// than sending them takes (the CoA lanes give up within seconds).
const PENDING_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Housekeeping: finishes the commands whose effects were left pending (the process that
/// applied them died first), up to 100 a call; returns how many.
pub async fn finish_pending(state: &AppState) -> Result<usize, ApiError> {
    let pending = record::pending(&state.db, PENDING_AGE, 100).await?;
    for p in &pending {
        let actor = Actor {
            admin_id: None,
            username: p.credential.clone(),
            ip: None,
        };
        match (Kind::parse(&p.command), p.username.as_deref()) {
            (Some(kind), Some(username)) => {
                tracing::warn!(
                    command = p.command_id,
                    user = username,
                    "finishing a command's pending effects"
                );
                finish(state, &actor, kind, username, &p.command_id).await;
            }
            _ => mark_sent(state, &actor, &p.command_id).await,
        }
    }
    Ok(pending.len())
}

/// After the commit: a suspend disconnects the subscriber's open sessions (as a kick);
/// set_plan and reset_quota give them the plan's rate (as a plan's apply). Outcomes are
/// logged and, for disconnects, audited; none changes the command's result.
async fn tell_sessions(state: &AppState, actor: &Actor, kind: Kind, username: &str) {
    match kind {
        Kind::Suspend => {
            let filter = LiveFilter {
                nas_id: None,
                username: Some(username.to_owned()),
                after_id: None,
                limit: MAX_SESSIONS,
            };
            let live = match sessions::live_sessions(&state.db, &filter).await {
                Ok(live) => live,
                Err(e) => {
                    tracing::warn!(error = %e, user = username, "suspend: cannot list the sessions to disconnect");
                    return;
                }
            };
            for s in live {
                if let Err(e) = disconnect(state, actor, s, "command").await {
                    tracing::warn!(error = %e, user = username, "suspend: a session not disconnected");
                }
            }
        }
        Kind::SetPlan | Kind::ResetQuota => {
            match jobs::apply_to_subscriber(state, username).await {
                Ok(counts) => tracing::info!(
                    user = username,
                    command = kind.as_str(),
                    ?counts,
                    "rate sent to the open sessions"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, user = username, "cannot send the rate to the open sessions")
                }
            }
        }
        Kind::Resume | Kind::Renew => {}
    }
}

/// Records `inv` as refused with `failure` and appends its result (unless it was
/// recorded meanwhile: then its first result is repeated).
pub(crate) async fn refuse(
    state: &AppState,
    inv: &Invocation<'_>,
    failure: Failure,
) -> Result<Answer, ApiError> {
    refuse_as(state, inv, failure, &inv.fingerprint()).await
}

/// A refused command: recorded with its error result (unless recorded meanwhile).
async fn refuse_as(
    state: &AppState,
    inv: &Invocation<'_>,
    failure: Failure,
    fingerprint: &str,
) -> Result<Answer, ApiError> {
    let result = CommandResult {
        command_id: inv.command_id.to_owned(),
        ok: false,
        error: Some(failure),
    };
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if !record::insert(&tx, inv, fingerprint, &result, false).await? {
        drop(tx);
        let first = record::find(&state.db, &inv.actor.username, inv.command_id)
            .await?
            .ok_or_else(|| ApiError::internal("a conflicting command row is gone"))?;
        return replay(state, inv, first, fingerprint).await;
    }
    record::result_event(&tx, inv, &result).await?;
    tx.commit().await?;
    Ok(Answer::First(result))
}

/// A command seen before: its first result in a new event (REST: unless the key was
/// reused for another request), and its effects if they were left pending.
async fn replay(
    state: &AppState,
    inv: &Invocation<'_>,
    first: record::Recorded,
    fingerprint: &str,
) -> Result<Answer, ApiError> {
    if inv.source == Source::Rest && first.fingerprint != fingerprint {
        return Ok(Answer::Reused);
    }
    let client = state.db.get().await?;
    record::result_event(&client, inv, &first.result).await?;
    drop(client);
    if first.effects_pending
        && let (Some(kind), Some(username)) = (Kind::parse(inv.command), inv.username)
    {
        finish(state, inv.actor, kind, username, inv.command_id).await;
    }
    Ok(Answer::Replayed(first.result))
}
