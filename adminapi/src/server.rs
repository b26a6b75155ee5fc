//! The actix-web application: routes, middleware, the OpenAPI document, `serve`.
//!
//! ```text
//! /                       the web console (`console`: embedded files, strict CSP)
//! /health                 200 while PostgreSQL answers (HAProxy's check)
//! /metrics                Prometheus text
//! /api/v1/openapi.json    the OpenAPI 3 document
//! /api/v1/…               guarded: client address → allow-list → rate limit → no NUL
//!                         in the query string
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage as _, HttpRequest, HttpResponse, Responder, web};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt as _;

use crate::client_ip::{self, ClientIp};
use crate::error::{self, ApiError};
use crate::openapi::{self, ApiDoc};
use crate::state::AppState;
use crate::{body, console, routes};

/// The OpenAPI document, as served.
#[derive(Debug)]
struct OpenApiJson(String);

/// Paths the server answers, outside the document.
const UNDOCUMENTED: [&str; 3] = ["/api/v1/openapi.json", "/health", "/metrics"];

/// The methods of every path, from the OpenAPI document (which every route is in) and
/// [`UNDOCUMENTED`]: a known path asked with another method answers 405 with `Allow`,
/// not 404.
#[derive(Debug)]
struct Routes(Vec<(Vec<String>, Vec<&'static str>)>);

impl Routes {
    fn new(doc: &utoipa::openapi::OpenApi) -> Routes {
        let split = |path: &str| path.split('/').map(str::to_owned).collect::<Vec<_>>();
        let mut routes: Vec<_> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let methods = methods.iter().filter(|(_, on)| *on).map(|(m, _)| *m);
                (split(path), methods.collect())
            })
            .collect();
        routes.extend(UNDOCUMENTED.iter().map(|p| (split(p), vec!["GET"])));
        Routes(routes)
    }

    /// The methods `path` answers; empty for an unknown path. Where patterns overlap
    /// (`/subscribers/import`, `/subscribers/{id}`) the one with more literal segments
    /// wins, as it does in routing.
    fn allowed(&self, path: &str) -> Vec<&'static str> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, &Vec<&'static str>)> = None;
        for (pattern, methods) in &self.0 {
            if pattern.len() != segments.len() {
                continue;
            }
            let mut literal = 0;
            let matches = pattern.iter().zip(&segments).all(|(p, s)| {
                if p.starts_with('{') {
                    !s.is_empty()
                } else {
                    literal += 1;
                    p == s
                }
            });
            if matches && best.is_none_or(|(n, _)| literal > n) {
                best = Some((literal, methods));
            }
        }
        best.map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

/// Every request no route took: 405 on a known path, else 404.
async fn fallback(req: HttpRequest, routes: web::Data<Routes>) -> HttpResponse {
    let allowed = routes.allowed(req.path());
    let err = if allowed.is_empty() {
        ApiError::NotFound { entity: "route" }
    } else {
        ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: allowed.join(", "),
        }
    };
    actix_web::ResponseError::error_response(&err)
}

/// The first query parameter whose name or value holds a NUL character (PostgreSQL's
/// text cannot hold one: refused here, for every route, before any query runs).
fn nul_in_query(query: &str) -> Option<String> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
    pairs
        .into_inner()
        .into_iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| k.replace('\0', "\\0"))
}

/// Client address, global allow-list, rate limit, NUL in the query: every `/api/v1`
/// request.
async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::internal("AppState missing").into());
    };
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    let ip = client_ip::resolve(peer, forwarded, &state.config.http.trusted_proxies);
    req.extensions_mut().insert(ClientIp(ip));
    let allowed = &state.config.http.allowed_networks;
    let refused = if !allowed.is_empty() && !allowed.iter().any(|n| n.contains(&ip)) {
        Some(ApiError::Forbidden {
            code: "address_not_allowed",
            message: format!("{ip} may not use this API"),
        })
    } else if let Err(wait) = state.limiter.check(ip) {
        Some(ApiError::TooManyRequests {
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        })
    } else {
        nul_in_query(req.query_string()).map(body::nul_error)
    };
    if let Some(err) = refused {
        return Ok(req.error_response(err).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// `http_request_duration_seconds` by route pattern, method and status.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state.metrics.observe(
            &route,
            method.as_str(),
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: PostgreSQL does not answer");
            actix_web::ResponseError::error_response(&ApiError::Unavailable)
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.observe_reads(&state.reads.stats());
    let mut text = state.metrics.render();
    state.lanes.render(&mut text);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

async fn openapi_json(doc: web::Data<OpenApiJson>) -> impl Responder {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// The application: everything the server serves, on `state`.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limit = state.config.http.body_limit;
    let api = utoipa_actix_web::scope("/api/v1")
        .wrap(from_fn(guard))
        .route("/openapi.json", web::get().to(openapi_json))
        .service(routes::auth::login)
        .service(routes::auth::refresh_tokens)
        .service(routes::auth::logout)
        .service(routes::auth::me)
        .service(routes::auth::totp_setup)
        .service(routes::auth::totp_confirm)
        .service(routes::plans::list)
        .service(routes::plans::get_one)
        .service(routes::plans::create)
        .service(routes::plans::replace)
        .service(routes::plans::update)
        .service(routes::plans::remove)
        .service(routes::subscribers::list)
        // Before `/subscribers/{id}`, which would take `imports` for an id.
        .service(routes::subscribers::import_job::start_import)
        .service(routes::subscribers::import_job::list_imports)
        .service(routes::subscribers::import_job::get_import)
        .service(routes::subscribers::import_job::import_errors)
        .service(routes::subscribers::by_username)
        .service(routes::subscribers::get_one)
        .service(routes::subscribers::create)
        .service(routes::subscribers::import::import)
        .service(routes::subscribers::replace)
        .service(routes::subscribers::update)
        .service(routes::subscribers::remove)
        .service(routes::subscribers::suspend)
        .service(routes::subscribers::resume)
        .service(routes::subscribers::renew)
        .service(routes::subscribers::passwords::reset_password)
        .service(routes::subscribers::passwords::reveal_password)
        .service(routes::activity::rejects)
        .service(routes::audit::list)
        .service(routes::admins::list)
        .service(routes::admins::get_one)
        .service(routes::admins::create)
        .service(routes::admins::update)
        .service(routes::admins::reset_totp)
        .service(routes::admins::remove)
        .service(routes::nas::list)
        .service(routes::nas::get_one)
        .service(routes::nas::create)
        .service(routes::nas::replace)
        .service(routes::nas::update)
        .service(routes::nas::remove)
        .service(routes::sessions::list)
        .service(routes::sessions::find)
        .service(routes::sessions::kick)
        .service(routes::sessions::history)
        .service(routes::sessions::usage)
        .service(routes::sessions::apply_plan)
        .service(routes::jobs::get_one)
        .service(routes::jobs::cancel)
        .service(routes::dashboard::show)
        .service(routes::activity::auth_chart)
        .service(routes::health::show)
        .service(routes::events::stream)
        // Issue 22's signed webhooks.
        .service(routes::webhooks::list)
        .service(routes::webhooks::get_one)
        .service(routes::webhooks::create)
        .service(routes::webhooks::update)
        .service(routes::webhooks::remove)
        .service(routes::webhooks::test)
        .service(routes::webhooks::deliveries)
        .service(routes::webhooks::redeliver)
        .service(routes::commands::subscriber_command)
        .default_service(web::to(fallback));
    let (app, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(api)
        .split_for_parts();
    openapi::add_standard_errors(&mut doc);
    let routes = Routes::new(&doc);
    let doc = doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot render the OpenAPI document");
        "{}".to_owned()
    });
    app.app_data(state)
        .app_data(web::Data::new(OpenApiJson(doc)))
        .app_data(web::Data::new(routes))
        .app_data(error::json_config(body_limit))
        .app_data(error::path_config())
        .app_data(error::query_config())
        .route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics))
        .configure(console::configure)
        .default_service(web::to(fallback))
        .wrap(from_fn(observe))
}

/// Housekeeping beside the server: histogram upkeep every 5 s, orphaned jobs every 10 s,
/// commands whose effects were left pending finished every minute, expired refresh tokens,
/// command records past `[commands] retention` and jobs ended 30 days ago purged hourly.
pub fn spawn_housekeeping(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(5));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            state.metrics.upkeep();
            if n.is_multiple_of(720)
                && let Err(e) = crate::refresh::purge_expired(&state.db).await
            {
                tracing::warn!(error = %e, "purging expired refresh tokens failed");
            }
            if n.is_multiple_of(720)
                && let Err(e) =
                    crate::jobs::purge_ended(&state.db, crate::jobs::JOB_RETENTION).await
            {
                tracing::warn!(error = %e, "purging ended jobs failed");
            }
            if n.is_multiple_of(2) {
                if let Err(e) = crate::jobs::resume_orphans(&state).await {
                    tracing::debug!(error = %e, "looking for orphaned jobs failed");
                }
                if let Err(e) = routes::subscribers::import_job::resume_orphans(&state).await {
                    tracing::debug!(error = %e, "looking for orphaned imports failed");
                }
            }
            if n.is_multiple_of(12)
                && let Err(e) = crate::commands::finish_pending(&state).await
            {
                tracing::debug!(error = %e, "looking for commands with pending effects failed");
            }
            if n.is_multiple_of(720)
                && let Err(e) =
                    crate::commands::purge_expired(&state.db, state.config.commands.retention).await
            {
                tracing::warn!(error = %e, "purging old command records failed");
            }
            n += 1;
        }
    });
}

/// The consumer of billing's commands, while `[commands] nats_url` is set.
pub fn spawn_commands(state: web::Data<AppState>) {
    if let Some(url) = state.config.commands.nats_url.clone() {
        actix_web::rt::spawn(async move { crate::commands::consumer::run(&state, &url).await });
    }
}

/// Serves until SIGINT/SIGTERM: live event streams end at once, requests in flight get
/// up to 30 s.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listen = state.config.http.listen;
    let workers = match state.config.http.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let state = web::Data::from(Arc::new(state));
    spawn_housekeeping(state.clone());
    spawn_commands(state.clone());
    let factory_state = state.clone();
    let server = actix_web::HttpServer::new(move || app(factory_state.clone()))
        .workers(workers)
        .shutdown_timeout(30)
        .disable_signals()
        .bind(listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (http.listen): {e}"))?
        .run();
    tracing::info!(%listen, workers, "admin API listening");
    let handle = server.handle();
    tokio::spawn(async move {
        proisp_bootstrap::signal::shutdown().await;
        // Live event streams last as long as their tokens: end them first, or the
        // graceful stop would wait its 30 s for them.
        tracing::info!("stopping: live event streams closed, requests in flight finish");
        routes::events::close_all();
        handle.stop(true).await;
    });
    server.await?;
    Ok(())
}
