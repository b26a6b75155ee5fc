//! The OpenAPI document: what the handlers' `#[utoipa::path]`s declare, plus the parts no
//! single handler knows — the bearer scheme, and the error answers every operation of a
//! kind can give (the guard's 403 and 429 on every one, 401 wherever a token is needed,
//! 400/413/422 wherever a body is read, 404 wherever a path names a resource, 503 when
//! PostgreSQL is away). A client generated from the document knows every status the
//! server answers.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;
use crate::routes::events::{LiveFigures, SessionsChanged};

/// The parts of the document not derived from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ProISP admin API",
        description = "Subscribers, plans, NAS devices, sessions, admins and the audit log of a \
                       ProISP deployment. Errors are `{\"error\", \"message\", \"field\"}`. \
                       Log in with `POST /auth/login`; an admin enrolled in two-factor login \
                       sends `totp` with the password. A known path asked with a method it \
                       does not answer gets 405 with `Allow`."
    ),
    // The data of /events/stream's events, which no JSON body refers to.
    components(schemas(ErrorBody, LiveFigures, SessionsChanged)),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// When an operation can give a standard error answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    /// Every operation (the guard in front of all of them).
    Always,
    /// Operations that need an access token.
    Secured,
    /// Operations that read a request body.
    Body,
    /// Operations with a body or a query string.
    Input,
    /// Operations with a path parameter.
    PathParam,
}

/// Status, component name, description, when.
const STANDARD: [(&str, &str, &str, When); 8] = [
    (
        "400",
        "BadRequest",
        "The body cannot be read: not JSON, or the wrong `Content-Type`",
        When::Body,
    ),
    (
        "401",
        "Unauthorized",
        "No access token, or one that is malformed, expired or revoked",
        When::Secured,
    ),
    (
        "403",
        "Forbidden",
        "The client address is not allowed, or the admin's role or enrollment-only token \
         does not allow this",
        When::Always,
    ),
    ("404", "NotFound", "No such resource", When::PathParam),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than the server reads (`http.body_limit`)",
        When::Body,
    ),
    (
        "422",
        "Invalid",
        "A value is not acceptable; `field` names it",
        When::Input,
    ),
    (
        "429",
        "TooManyRequests",
        "Over a rate limit: retry after `Retry-After` seconds",
        When::Always,
    ),
    (
        "503",
        "Unavailable",
        "PostgreSQL is unavailable: try again",
        When::Always,
    ),
];

fn error_response(description: &str, status: &str) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build();
    let header = |text: &str| {
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(Object::with_type(match status {
                    "429" => Type::Integer,
                    _ => Type::String,
                })))
                .description(Some(text))
                .build(),
        )
    };
    match status {
        "401" => {
            response.headers.insert(
                "WWW-Authenticate".to_owned(),
                header("`Bearer realm=\"proisp\"`"),
            );
        }
        "429" => {
            response.headers.insert(
                "Retry-After".to_owned(),
                header("Seconds until a retry can succeed"),
            );
        }
        _ => {}
    }
    response
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn applies(op: &Operation, when: When) -> bool {
    let has_param = |place: ParameterIn| {
        op.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let body = op.request_body.is_some();
    match when {
        When::Always => true,
        When::Secured => op.security.as_ref().is_some_and(|s| !s.is_empty()),
        When::Body => body,
        When::Input => body || has_param(ParameterIn::Query),
        When::PathParam => has_param(ParameterIn::Path),
    }
}

/// Adds the standard error answers (as `#/components/responses/…`) to every operation
/// of `api` that can give them; a handler's own error answer without a description, and
/// every 429 (its `Retry-After`), become the standard one.
pub(crate) fn add_standard_errors(api: &mut utoipa::openapi::OpenApi) {
    {
        let components = api.components.get_or_insert_with(Default::default);
        for (status, name, description, _) in STANDARD {
            components.responses.insert(
                name.to_owned(),
                RefOr::T(error_response(description, status)),
            );
        }
        for item in api.paths.paths.values_mut() {
            for op in operations(item) {
                for (status, name, _, when) in STANDARD {
                    let standard = RefOr::Ref(Ref::from_response_name(name));
                    let applies = applies(op, when);
                    let responses = &mut op.responses.responses;
                    match responses.get(status) {
                        Some(RefOr::T(own)) if !own.description.is_empty() && status != "429" => {}
                        Some(_) => {
                            responses.insert(status.to_owned(), standard);
                        }
                        None if applies => {
                            responses.insert(status.to_owned(), standard);
                        }
                        None => {}
                    }
                }
            }
        }
    }
}
