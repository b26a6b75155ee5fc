//! `/subscribers/{id}/reset-password` and `/subscribers/{id}/password`: setting a new
//! password (given or generated) and reading one (superadmins only, audited).

use super::*;

pub(super) fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..GENERATED_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn no_store(answer: &PasswordAnswer) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(answer)
}

/// Set a new password: the one given, or a generated one returned in this response only.
#[utoipa::path(
    operation_id = "resetSubscriberPassword",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body(content = ResetInput, description = "Optional"),
    responses(
        (status = 200, description = "Reset; `password` only when generated", body = PasswordAnswer),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/reset-password")]
pub(crate) async fn reset_password(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::PasswordReset)?;
    let input: ResetInput = optional_body(&body::read(payload, limit(&state)).await?)?;
    let current = load(&state, *id).await?;
    let (password, generated) = match input.password {
        Some(p) => {
            check_password(&current.subscriber.username, &p)?;
            (p, false)
        }
        None => (generate_password(), true),
    };
    let actor = session.actor();
    let sub = state
        .store
        .set_password_journaled(
            &current.subscriber.username,
            &Password::new(password.as_bytes()),
            async |tx, sub| {
                let entry = Entry::new("subscriber.password_reset", "subscriber", sub.id)
                    .after(&json!({"username": sub.username, "generated": generated}));
                audit::record_in(tx, &actor, entry).await?;
                // The event says that it changed, never what to.
                let view = subscribers::subscriber_record_in(tx, &state.store, sub.id)
                    .await?
                    .map(|r| SubscriberView::from(&r));
                events::subscribers(tx, "subscriber.updated", view.as_slice()).await
            },
        )
        .await?;
    Ok(no_store(&PasswordAnswer {
        id: sub.id,
        username: sub.username,
        password: generated.then_some(password),
        generated: Some(generated),
    }))
}

/// Show a subscriber's password (its own permission; every reveal is audited).
#[utoipa::path(
    operation_id = "revealSubscriberPassword",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "The password", body = PasswordAnswer),
    ),
    security(("bearer" = []))
)]
#[post("/subscribers/{id}/reveal-password")]
pub(crate) async fn reveal_password(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::PasswordReveal)?;
    let current = load(&state, *id).await?;
    let s = &current.subscriber;
    // Audited before answering: a reveal that cannot be recorded is not made.
    audit::record(
        &state.db,
        &session.actor(),
        Entry::new("subscriber.password_reveal", "subscriber", *id)
            .after(&json!({"username": s.username})),
    )
    .await?;
    Ok(no_store(&PasswordAnswer {
        id: s.id,
        username: s.username.clone(),
        password: Some(String::from_utf8_lossy(s.password.as_bytes()).into_owned()),
        generated: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords() {
        let p = generate_password();
        assert_eq!(p.len(), GENERATED_LEN);
        assert!(p.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(p, generate_password());
    }
}
