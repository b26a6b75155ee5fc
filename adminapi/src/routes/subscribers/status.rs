//! Suspend, resume and renew: the status and expiry changes of one subscriber.

use super::*;

/// Sets subscriber `current`'s status on behalf of `actor`: the audit entry `action` and
/// its event in the change's transaction, and `also` there too (a command's record, or
/// nothing). What REST's suspend and resume do and billing's commands reuse.
pub(crate) async fn change_status(
    state: &AppState,
    actor: &Actor,
    current: &SubscriberRecord,
    status: Status,
    action: &'static str,
    also: impl Journal<SubscriberView>,
) -> Result<SubscriberView, ApiError> {
    let entry = Entry::new(action, "subscriber", current.subscriber.id)
        .before(&SubscriberView::from(current));
    let mut view = None;
    state
        .store
        .set_status_journaled(&current.subscriber.username, status, async |tx, sub| {
            let after = record_after(state, tx, actor, entry, sub).await?;
            also(tx, &after).await?;
            view = Some(after);
            Ok(())
        })
        .await?;
    journaled(view)
}

async fn change_status_of(
    state: &AppState,
    session: &Session,
    id: i64,
    status: Status,
    action: &'static str,
) -> Result<SubscriberView, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let current = load(state, id).await?;
    change_status(state, &session.actor(), &current, status, action, nothing).await
}

/// Suspend: logins are refused (Reply-Message says why) until resumed. Open sessions
/// are not disconnected here (see the sessions' kick).
#[utoipa::path(
    operation_id = "suspendSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "Suspended", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/suspend")]
pub(crate) async fn suspend(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    Ok(web::Json(
        change_status_of(
            &state,
            &session,
            *id,
            Status::Suspended,
            "subscriber.suspend",
        )
        .await?,
    ))
}

/// Resume: back to active (from suspended or disabled).
#[utoipa::path(
    operation_id = "resumeSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "Active", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/resume")]
pub(crate) async fn resume(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    Ok(web::Json(
        change_status_of(&state, &session, *id, Status::Active, "subscriber.resume").await?,
    ))
}

/// Renew: extend the expiry by the plan's validity (`periods` times) from the later of
/// now and the current expiry.
#[utoipa::path(
    operation_id = "renewSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body(content = RenewInput, description = "Optional"),
    responses(
        (status = 200, description = "Renewed", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/renew")]
pub(crate) async fn renew(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::SubscriberWrite)?;
    let input: RenewInput = optional_body(&body::read(payload, limit(&state)).await?)?;
    if !(1..=120).contains(&input.periods) {
        return Err(ApiError::invalid("periods", "must be 1 to 120"));
    }
    let current = load(&state, *id).await?;
    let actor = session.actor();
    let entry =
        Entry::new("subscriber.renew", "subscriber", *id).before(&SubscriberView::from(&current));
    let mut view = None;
    state
        .store
        .renew_subscriber_journaled(
            &current.subscriber.username,
            input.periods,
            async |tx, sub| {
                view = Some(record_after(&state, tx, &actor, entry, sub).await?);
                Ok(())
            },
        )
        .await?;
    Ok(web::Json(journaled(view)?))
}
