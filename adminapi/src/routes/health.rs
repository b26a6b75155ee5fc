//! `GET /dashboard/health`: whether the backends answer, as this adminapi sees them —
//! PostgreSQL, Redis, the event outbox (its depth and oldest row: a growing outbox means
//! proisp-events or NATS is not draining it) and each radiusd's `/health` listed in
//! `dashboard.radiusd_health`. Every check runs at once, each bounded by
//! `dashboard.check_timeout`, so a hung backend costs the page that long, not more.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::{get, web};
use futures_util::future::join_all;
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::permission::Permission;
use crate::session::Session;
use crate::state::AppState;
use crate::time::Timestamp;

/// An outbox whose oldest event is older than this is reported as degraded.
const OUTBOX_STALE_SECS: f64 = 60.0;

/// Octets of a radiusd's `/health` answer read, at most.
const HEALTH_READ: u64 = 4096;

/// How a backend is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Answers.
    Ok,
    /// Answers, but something needs a look (an outbox not draining).
    Degraded,
    /// Does not answer within the timeout, or answers with an error.
    Down,
    /// Not configured for this adminapi.
    NotConfigured,
}

/// One backend's check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    /// `postgresql`, `redis`, `outbox` or `radiusd <address>`.
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// How long the check took, milliseconds (null when not run).
    pub latency_ms: Option<f64>,
    /// What was seen, for a person (an error, a depth).
    pub detail: String,
}

/// The event outbox's backlog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Outbox {
    /// Events not yet relayed.
    pub depth: i64,
    /// Age of the oldest, seconds (0 when empty).
    pub oldest_age_secs: f64,
}

/// Every backend's check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendHealth {
    /// When the checks ran, RFC 3339 UTC.
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: Timestamp,
    /// PostgreSQL, Redis, the outbox, then each configured radiusd.
    pub checks: Vec<Check>,
    /// The outbox's backlog, when PostgreSQL answered.
    pub outbox: Option<Outbox>,
}

/// Runs `check` within `timeout`, timing it.
async fn timed<T>(
    timeout: Duration,
    check: impl Future<Output = Result<T, String>>,
) -> (Result<T, String>, f64) {
    let start = Instant::now();
    let result = match tokio::time::timeout(timeout, check).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    };
    (result, start.elapsed().as_secs_f64() * 1000.0)
}

fn check(name: impl Into<String>, status: Status, latency_ms: f64, detail: String) -> Check {
    Check {
        name: name.into(),
        status,
        latency_ms: Some(latency_ms),
        detail,
    }
}

async fn postgres(state: &AppState, timeout: Duration) -> (Check, Check, Option<Outbox>) {
    let (ping, ms) = timed(timeout, async {
        let client = state.db.get().await.map_err(|e| e.to_string())?;
        client
            .query_one("SELECT 1", &[])
            .await
            .map_err(|e| e.to_string())?;
        Ok(client)
    })
    .await;
    let client = match ping {
        Ok(client) => client,
        Err(e) => {
            let down = check("postgresql", Status::Down, ms, e);
            let outbox = Check {
                name: "outbox".to_owned(),
                status: Status::Down,
                latency_ms: None,
                detail: "PostgreSQL does not answer".to_owned(),
            };
            return (down, outbox, None);
        }
    };
    let pg = check("postgresql", Status::Ok, ms, "answers".to_owned());
    let (depth, ms) = timed(timeout, async {
        let row = client
            .query_one(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 \
                 FROM event_outbox",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(Outbox {
            depth: row.get(0),
            oldest_age_secs: row.get(1),
        })
    })
    .await;
    match depth {
        Ok(o) => {
            let status = if o.oldest_age_secs > OUTBOX_STALE_SECS {
                Status::Degraded
            } else {
                Status::Ok
            };
            let detail = format!("{} waiting, oldest {:.0} s", o.depth, o.oldest_age_secs);
            (pg, check("outbox", status, ms, detail), Some(o))
        }
        Err(e) => (pg, check("outbox", Status::Down, ms, e), None),
    }
}

async fn redis(state: &AppState, timeout: Duration) -> Check {
    let Some(cache) = state.store.cache() else {
        return Check {
            name: "redis".to_owned(),
            status: Status::NotConfigured,
            latency_ms: None,
            detail: "no [redis] configured".to_owned(),
        };
    };
    match timed(timeout, async {
        cache.ping().await.map_err(|e| e.to_string())
    })
    .await
    {
        (Ok(()), ms) => check("redis", Status::Ok, ms, "answers".to_owned()),
        (Err(e), ms) => check("redis", Status::Down, ms, e),
    }
}

/// `GET /health` of one radiusd's metrics port: 200 is ready, anything else is not.
async fn radiusd(addr: SocketAddr, timeout: Duration) -> Check {
    let name = format!("radiusd {addr}");
    let (answer, ms) = timed(timeout, async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET /health HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .take(HEALTH_READ)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    })
    .await;
    match answer {
        Ok(text) => {
            let code = text.split(' ').nth(1).unwrap_or_default();
            let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
            let body: String = body.chars().take(200).collect();
            let status = if code == "200" {
                Status::Ok
            } else {
                Status::Down
            };
            let detail = if body.is_empty() {
                format!("HTTP {code}")
            } else {
                body
            };
            check(name, status, ms, detail)
        }
        Err(e) => check(name, Status::Down, ms, e),
    }
}

/// Whether PostgreSQL, Redis, the event outbox and each configured radiusd answer.
#[utoipa::path(
    operation_id = "getBackendHealth",
    tag = "dashboard",
    responses(
        (status = 200, description = "Every backend's check", body = BackendHealth),
    ),
    security(("bearer" = []))
)]
#[get("/dashboard/health")]
pub(crate) async fn show(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<BackendHealth>, ApiError> {
    session.require(Permission::Read)?;
    let timeout = state.config.dashboard.check_timeout;
    let radiusds = join_all(
        state
            .config
            .dashboard
            .radiusd_health
            .iter()
            .map(|addr| radiusd(*addr, timeout)),
    );
    let ((pg, outbox_check, outbox), redis, radiusds) =
        tokio::join!(postgres(&state, timeout), redis(&state, timeout), radiusds);
    let mut checks = vec![pg, redis, outbox_check];
    checks.extend(radiusds);
    Ok(web::Json(BackendHealth {
        checked_at: Timestamp::now(),
        checks,
        outbox,
    }))
}
