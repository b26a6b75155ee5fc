//! `GET /subscribers` (filters, trigram search, keyset pages) and the two lookups of one
//! subscriber, by id and by exact username.

use super::*;

fn min3(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v.map(|v| v.trim().to_owned()) {
        Some(v) if v.chars().count() < 3 => Err(ApiError::invalid(
            field,
            "at least 3 characters (trigram search)",
        )),
        Some(v) if v.chars().count() > 100 => {
            Err(ApiError::invalid(field, "at most 100 characters"))
        }
        other => Ok(other),
    }
}

impl ListQuery {
    fn to_store(&self) -> Result<SubscriberQuery, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=subscribers::MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be 1 to 500"));
        }
        let ipv4_within = self
            .ip
            .as_deref()
            .map(|s| {
                let bad =
                    || ApiError::invalid("ip", "expected an IPv4 address or prefix (10.1.0.0/16)");
                let (a, len) = match s.trim().split_once('/') {
                    Some((a, l)) => (a, l.parse::<u8>().map_err(|_| bad())?),
                    None => (s.trim(), 32),
                };
                let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
                if len > 32 {
                    return Err(bad());
                }
                Ok((a, len))
            })
            .transpose()?;
        let after = self
            .after
            .as_deref()
            .map(|s| {
                let parsed = if ipv4_within.is_some() {
                    s.parse().ok().map(Cursor::Ipv4)
                } else {
                    s.parse().ok().map(Cursor::Id)
                };
                parsed.ok_or_else(|| {
                    ApiError::invalid("after", "not a cursor of this search (use `next`)")
                })
            })
            .transpose()?;
        Ok(SubscriberQuery {
            status: self
                .status
                .as_deref()
                .map(|s| {
                    Status::parse(s).ok_or_else(|| {
                        ApiError::invalid("status", "must be active, suspended or disabled")
                    })
                })
                .transpose()?,
            plan_id: self.plan_id,
            expires_before: self
                .expires_before
                .as_deref()
                .map(|t| fields::parse::<Timestamp>("expires_before", t).map(Timestamp::unix))
                .transpose()?,
            online: match self.online.as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(_) => return Err(ApiError::invalid("online", "must be true or false")),
            },
            text: min3("q", self.q.clone())?,
            username: min3("username", self.username.clone())?,
            name: min3("name", self.name.clone())?,
            phone: min3("phone", self.phone.clone())?,
            mac: self
                .mac
                .as_deref()
                .map(|m| fields::parse::<MacAddr>("mac", m))
                .transpose()?,
            ipv4_within,
            after,
            limit,
        })
    }
}

/// List, filter and search subscribers (keyset pages).
#[utoipa::path(
    operation_id = "listSubscribers",
    tag = "subscribers",
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = SubscriberPage),
        (status = 422, description = "Invalid filter", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    session: Session,
    query: Query<ListQuery>,
) -> Result<web::Json<SubscriberPage>, ApiError> {
    session.require(Permission::Read)?;
    let q = query.to_store()?;
    let (records, more) = subscribers::list_subscribers(state.reads.store().await, &q).await?;
    let next = more
        .then(|| records.last())
        .flatten()
        .map(|r| match q.ipv4_within {
            Some(_) => r
                .subscriber
                .ipv4
                .map_or_else(String::new, |a| a.to_string()),
            None => r.subscriber.id.to_string(),
        });
    Ok(web::Json(SubscriberPage {
        items: records.iter().map(SubscriberView::from).collect(),
        next,
    }))
}

/// One subscriber.
#[utoipa::path(
    operation_id = "getSubscriber",
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "The subscriber", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::Read)?;
    Ok(web::Json(SubscriberView::from(&load(&state, *id).await?)))
}

/// One subscriber by exact username.
#[utoipa::path(
    operation_id = "getSubscriberByUsername",
    tag = "subscribers",
    params(("username" = String, Path, description = "Exact username (case-sensitive)")),
    responses(
        (status = 200, description = "The subscriber", body = SubscriberView),
    ),
    security(("bearer" = []))
)]
#[get("/subscribers/by-username/{username}")]
pub(crate) async fn by_username(
    state: web::Data<AppState>,
    session: Session,
    username: web::Path<String>,
) -> Result<web::Json<SubscriberView>, ApiError> {
    session.require(Permission::Read)?;
    if username.contains('\0') {
        return Err(body::nul_error("username"));
    }
    let r = subscribers::subscriber_record_by_name(&state.store, &username)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "subscriber",
        })?;
    Ok(web::Json(SubscriberView::from(&r)))
}
