//! `GET /events/stream`: server-sent events (`text/event-stream`) that keep the console's
//! dashboard and sessions page current without reading them again and again.
//!
//! ```text
//! event: figures     {"computed_at", "subscribers": {…}, "online_sessions", "auth": {…}}
//!                    first, then whenever one of them changed
//! event: sessions    {"online", "newest_id"}: first, then whenever a session started or
//!                    ended (a count and the newest id tell both apart from no change)
//! event: expired     {}: the access token expired; the stream ends, and the client opens
//!                    a new one with a fresh token
//! event: revoked     {}: the token was revoked (its admin logged out, or its refresh
//!                    token was reused), looked for every 5 s; the stream ends
//! event: closing     {}: this adminapi is stopping; the client opens a new stream (on
//!                    the other adminapi of a pair, through HAProxy)
//! : keep-alive       a comment every 15 s, so HAProxy (`timeout client 60s`) and other
//!                    proxies keep an idle stream open
//! ```
//!
//! Authenticated like every other operation, by the `Authorization` header: the console
//! reads the stream with `fetch()` (a browser's `EventSource` cannot send headers), and no
//! token ever travels in a URL, where logs would keep it.
//!
//! Across an adminapi pair behind HAProxy: the figures come from PostgreSQL (the read
//! replica within its lag bound), never from one process's memory, so a change made
//! through either instance reaches streams on both. Each process reads them once a
//! second for all its streams, and only while it has one open.
//!
//! Bounded: a stream's queue holds [`QUEUE`] events. A client that stops reading fills
//! its socket's buffers and then the queue, and is dropped (its stream ends) instead of
//! being buffered without end; at most [`MAX_STREAMS`] streams per process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::data::sessions;
use crate::error::ApiError;
use crate::jwt::unix_now;
use crate::permission::Permission;
use crate::routes::dashboard::{AuthRates, StatusCounts};
use crate::session::{Session, revocation_keys};
use crate::state::AppState;
use crate::time::Timestamp;

/// How often a process reads the figures while it has a stream open: a session that
/// starts shows within this (plus the replica's lag).
const POLL: Duration = Duration::from_secs(1);
/// A comment line this often keeps idle connections open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream checks that its token was not revoked (logout): a logged-out
/// session stops receiving within this.
const RECHECK: Duration = Duration::from_secs(5);
/// Events a stream may have waiting for its client; past that the client is dropped.
pub const QUEUE: usize = 16;
/// Open streams per process.
const MAX_STREAMS: usize = 1000;

/// The dashboard's live figures: `event: figures` carries these and `computed_at` (RFC
/// 3339 UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LiveFigures {
    /// Subscribers by status (exact).
    pub subscribers: StatusCounts,
    /// Open sessions now.
    pub online_sessions: i64,
    /// Access-Request outcomes of the last minute, over every radiusd.
    pub auth: AuthRates,
}

/// `event: figures`: [`LiveFigures`] and when they were read.
#[derive(Debug, Serialize)]
pub struct FiguresEvent<'a> {
    /// When the figures were read, RFC 3339 UTC.
    pub computed_at: Timestamp,
    /// The figures.
    #[serde(flatten)]
    pub figures: &'a LiveFigures,
}

/// `event: sessions`: who is online changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionsChanged {
    /// Open sessions now.
    pub online: i64,
    /// The newest open session's id (0 when none).
    pub newest_id: i64,
}

/// One reading of everything the stream reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// When it was read.
    pub at: Timestamp,
    /// The dashboard's figures.
    pub figures: LiveFigures,
    /// Who is online.
    pub sessions: SessionsChanged,
}

impl Snapshot {
    async fn read(state: &AppState) -> Result<Snapshot, ApiError> {
        let c = sessions::live_counts(state.reads.store().await.pool()).await?;
        Ok(Snapshot {
            at: Timestamp::now(),
            figures: LiveFigures {
                subscribers: StatusCounts::from_rows(&c.by_status),
                online_sessions: c.online_sessions,
                auth: AuthRates::read(state).await,
            },
            sessions: SessionsChanged {
                online: c.online_sessions,
                newest_id: c.newest_session_id,
            },
        })
    }
}

fn event(name: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// The events that take a client from `last` (what it was sent) to `now`.
fn events(last: Option<&Snapshot>, now: &Snapshot) -> Vec<Bytes> {
    let mut out = Vec::new();
    if last.is_none_or(|l| l.figures != now.figures) {
        let data = FiguresEvent {
            computed_at: now.at,
            figures: &now.figures,
        };
        out.push(event("figures", &data));
    }
    if last.is_none_or(|l| l.sessions != now.sessions) {
        out.push(event("sessions", &now.sessions));
    }
    out
}

type Latest = Option<Arc<Snapshot>>;

/// One per database (so tests running several servers in one process keep apart): the
/// latest snapshot, and whether a task is reading it.
struct Hub {
    latest: watch::Sender<Latest>,
    polling: AtomicBool,
}

/// Clears [`Hub::polling`] however the polling task ends (returned, or dropped with its
/// runtime), so the next stream starts a new one; unless `armed` was cleared because the
/// flag passed to another task.
struct Polling {
    hub: Arc<Hub>,
    armed: bool,
}

impl Drop for Polling {
    fn drop(&mut self) {
        if self.armed {
            self.hub.polling.store(false, Ordering::SeqCst);
        }
    }
}

impl Hub {
    fn of(database_url: &str) -> Arc<Hub> {
        static HUBS: OnceLock<Mutex<HashMap<String, Arc<Hub>>>> = OnceLock::new();
        let hubs = HUBS.get_or_init(Mutex::default);
        let mut hubs = hubs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hubs.entry(database_url.to_owned())
            .or_insert_with(|| {
                Arc::new(Hub {
                    latest: watch::Sender::new(None),
                    polling: AtomicBool::new(false),
                })
            })
            .clone()
    }

    fn subscribe(self: &Arc<Hub>, state: web::Data<AppState>) -> watch::Receiver<Latest> {
        let rx = self.latest.subscribe();
        if !self.polling.swap(true, Ordering::SeqCst) {
            let polling = Polling {
                hub: self.clone(),
                armed: true,
            };
            tokio::spawn(poll(polling, state));
        }
        rx
    }
}

/// Reads the snapshot every [`POLL`] while any stream listens.
async fn poll(mut polling: Polling, state: web::Data<AppState>) {
    let hub = polling.hub.clone();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if hub.latest.receiver_count() == 0 {
            hub.polling.store(false, Ordering::SeqCst);
            // A stream that subscribed between the count and the store saw `polling`
            // still set and started no task: carry on for it, unless another did.
            if hub.latest.receiver_count() == 0 || hub.polling.swap(true, Ordering::SeqCst) {
                // The flag is clear, or another task's: not this one's to clear. What
                // was read is forgotten: the next stream starts from a fresh reading,
                // not an old one.
                polling.armed = false;
                hub.latest.send_if_modified(|latest| {
                    if hub.latest.receiver_count() == 0 {
                        *latest = None;
                    }
                    false
                });
                return;
            }
        }
        match Snapshot::read(&state).await {
            Ok(now) => {
                hub.latest.send_if_modified(|latest| {
                    let changed = latest
                        .as_deref()
                        .is_none_or(|l| l.figures != now.figures || l.sessions != now.sessions);
                    if changed {
                        *latest = Some(Arc::new(now));
                    }
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "event stream: reading the figures failed"),
        }
    }
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client went away.
    Closed,
    /// The client did not read its events: [`QUEUE`] were waiting.
    Slow,
    /// The access token expired.
    Expired,
    /// The access token was revoked.
    Revoked,
    /// The process is stopping.
    Closing,
}

/// Cancelled when the process stops: every stream ends at once, so a graceful shutdown
/// does not wait for clients that would keep them open for ever.
static CLOSING: std::sync::LazyLock<CancellationToken> =
    std::sync::LazyLock::new(CancellationToken::new);

/// Ends every open stream (with `event: closing`) and refuses new ones: called when the
/// server starts to stop.
pub fn close_all() {
    CLOSING.cancel();
}

fn offer(out: &mpsc::Sender<Bytes>, b: Bytes) -> Result<(), End> {
    out.try_send(b).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => End::Slow,
        mpsc::error::TrySendError::Closed(_) => End::Closed,
    })
}

/// Feeds one client's queue `out` from `latest` until it goes away, falls [`QUEUE`]
/// events behind, its token expires at `expires`, or `revoked` says (asked every
/// [`RECHECK`]) that the token was revoked.
pub async fn forward<F: Future<Output = bool>>(
    mut latest: watch::Receiver<Latest>,
    out: mpsc::Sender<Bytes>,
    expires: Instant,
    revoked: impl Fn() -> F,
    closing: CancellationToken,
) -> End {
    let mut sent: Latest = None;
    let mut beat = tokio::time::interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if let Err(end) = catch_up(&mut latest, &mut sent, &out) {
            return end;
        }
        let r = tokio::select! {
            changed = latest.changed() => changed.map_err(|_| End::Closed),
            _ = beat.tick() => offer(&out, Bytes::from_static(b": keep-alive\n\n")),
            () = tokio::time::sleep_until(expires) => {
                // Best effort: the stream ends either way.
                let _ = offer(&out, event("expired", &serde_json::json!({})));
                Err(End::Expired)
            }
            _ = recheck.tick() => {
                if revoked().await {
                    let _ = offer(&out, event("revoked", &serde_json::json!({})));
                    Err(End::Revoked)
                } else {
                    Ok(())
                }
            }
            () = closing.cancelled() => {
                let _ = offer(&out, event("closing", &serde_json::json!({})));
                Err(End::Closing)
            }
            () = out.closed() => Err(End::Closed),
        };
        if let Err(end) = r {
            return end;
        }
    }
}

/// Queues what changed since `sent`.
fn catch_up(
    latest: &mut watch::Receiver<Latest>,
    sent: &mut Latest,
    out: &mpsc::Sender<Bytes>,
) -> Result<(), End> {
    let now = latest.borrow_and_update().clone();
    if let Some(now) = now {
        for b in events(sent.as_deref(), &now) {
            offer(out, b)?;
        }
        *sent = Some(now);
    }
    Ok(())
}

/// Live dashboard figures and session changes, as server-sent events.
#[utoipa::path(
    operation_id = "streamEvents",
    tag = "dashboard",
    description = "Server-sent events (`text/event-stream`) until the access token expires: \
                   `figures` (a `LiveFigures` with `computed_at`) and `sessions` (a \
                   `SessionsChanged`) first and whenever they change, `expired` when the \
                   token does, `revoked` within 5 s of its logout, and a `: keep-alive` \
                   comment every 15 s. A client that does \
                   not read its events is dropped once 16 are waiting.",
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream", body = String),
    ),
    security(("bearer" = []))
)]
#[get("/events/stream")]
pub(crate) async fn stream(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    session.require(Permission::Read)?;
    let hub = Hub::of(&state.config.database.database_url);
    if hub.latest.receiver_count() >= MAX_STREAMS || CLOSING.is_cancelled() {
        return Err(ApiError::Unavailable);
    }
    let left = Duration::from_secs(session.claims.exp.saturating_sub(unix_now()));
    let latest = hub.subscribe(state.clone());
    let (tx, rx) = mpsc::channel(QUEUE);
    let admin = session.admin.username;
    let keys = revocation_keys(&session.claims);
    let state = state.clone();
    tokio::spawn(async move {
        let revoked = || {
            let (state, keys) = (state.clone(), keys.clone());
            async move {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                state.kv.has_any_flag(&keys).await
            }
        };
        let end = forward(latest, tx, Instant::now() + left, revoked, CLOSING.clone()).await;
        if end == End::Slow {
            tracing::info!(%admin, "event stream dropped: the client did not read it");
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        let b = rx.recv().await?;
        Some((Ok::<_, actix_web::Error>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // nginx and some proxies buffer a response unless told not to.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(online: i64, newest_id: i64, active: i64) -> Latest {
        Some(Arc::new(Snapshot {
            at: Timestamp::from_unix(1_800_000_000),
            figures: LiveFigures {
                subscribers: StatusCounts {
                    active,
                    suspended: 0,
                    disabled: 0,
                    total: active,
                },
                online_sessions: online,
                auth: AuthRates {
                    available: false,
                    accepts_per_minute: 0,
                    rejects_per_minute: 0,
                    radiusd_instances: 0,
                },
            },
            sessions: SessionsChanged { online, newest_id },
        }))
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn sends_what_changed_then_ends_at_expiry() {
        let (latest, rx) = watch::channel(snapshot(1, 7, 10));
        let (tx, mut out) = mpsc::channel(QUEUE);
        let task = tokio::spawn(forward(
            rx,
            tx,
            Instant::now() + Duration::from_secs(50),
            async || false,
            CancellationToken::new(),
        ));
        let first = out.recv().await.unwrap();
        assert!(
            text(&first).starts_with("event: figures\ndata: {"),
            "{first:?}"
        );
        assert!(text(&first).contains(r#""online_sessions":1"#), "{first:?}");
        assert!(text(&first).contains(r#""computed_at":"2027-01-15T08:00:00Z""#));
        let b = out.recv().await.unwrap();
        assert_eq!(
            text(&b),
            "event: sessions\ndata: {\"online\":1,\"newest_id\":7}\n\n"
        );
        // Only the subscribers changed: figures, not sessions.
        latest.send_replace(snapshot(1, 7, 11));
        let b = out.recv().await.unwrap();
        assert!(text(&b).contains(r#""active":11"#), "{b:?}");
        // A start and a stop at once: same count, a newer id.
        latest.send_replace(snapshot(1, 9, 11));
        let b = out.recv().await.unwrap();
        assert_eq!(
            text(&b),
            "event: sessions\ndata: {\"online\":1,\"newest_id\":9}\n\n"
        );
        for _ in 0..3 {
            assert_eq!(text(&out.recv().await.unwrap()), ": keep-alive\n\n");
        }
        assert_eq!(
            text(&out.recv().await.unwrap()),
            "event: expired\ndata: {}\n\n"
        );
        assert_eq!(task.await.unwrap(), End::Expired);
        assert!(out.recv().await.is_none(), "the stream ends");
    }

    #[tokio::test(start_paused = true)]
    async fn a_revoked_token_ends_its_stream_at_the_next_check() {
        let (_latest, rx) = watch::channel(snapshot(0, 0, 0));
        let (tx, mut out) = mpsc::channel(QUEUE);
        let logged_out = Arc::new(AtomicBool::new(false));
        let flag = logged_out.clone();
        let revoked = move || {
            let flag = flag.clone();
            async move { flag.load(Ordering::SeqCst) }
        };
        let far = Instant::now() + Duration::from_secs(900);
        let task = tokio::spawn(forward(rx, tx, far, revoked, CancellationToken::new()));
        assert!(text(&out.recv().await.unwrap()).starts_with("event: figures"));
        assert!(text(&out.recv().await.unwrap()).starts_with("event: sessions"));
        // Checks pass while the token stands; then its admin logs out.
        tokio::time::sleep(3 * RECHECK).await;
        assert!(!task.is_finished());
        logged_out.store(true, Ordering::SeqCst);
        let start = Instant::now();
        let mut last = String::new();
        while let Some(b) = out.recv().await {
            last = text(&b).to_owned();
        }
        assert_eq!(last, "event: revoked\ndata: {}\n\n");
        assert_eq!(task.await.unwrap(), End::Revoked);
        assert!(start.elapsed() <= RECHECK, "ended at the next check");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopping_server_ends_every_stream_at_once() {
        let (_latest, rx) = watch::channel(snapshot(0, 0, 0));
        let closing = CancellationToken::new();
        let mut outs = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (tx, out) = mpsc::channel(QUEUE);
            let far = Instant::now() + Duration::from_secs(900);
            tasks.push(tokio::spawn(forward(
                rx.clone(),
                tx,
                far,
                async || false,
                closing.clone(),
            )));
            outs.push(out);
        }
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(tasks.iter().all(|t| !t.is_finished()));
        closing.cancel();
        for (task, mut out) in tasks.into_iter().zip(outs) {
            assert_eq!(task.await.unwrap(), End::Closing);
            let mut last = String::new();
            while let Some(b) = out.recv().await {
                last = text(&b).to_owned();
            }
            assert_eq!(last, "event: closing\ndata: {}\n\n");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_read_is_dropped() {
        let (latest, rx) = watch::channel(snapshot(0, 0, 0));
        let (tx, out) = mpsc::channel(QUEUE);
        let task = tokio::spawn(forward(
            rx,
            tx,
            Instant::now() + Duration::from_secs(900),
            async || false,
            CancellationToken::new(),
        ));
        let mut n = 0;
        while !task.is_finished() {
            n += 1;
            latest.send_replace(snapshot(n, n, 0));
            tokio::task::yield_now().await;
        }
        assert_eq!(task.await.unwrap(), End::Slow);
        assert_eq!(out.len(), QUEUE, "no more than the queue is held");
        assert!(n < 2 * QUEUE as i64, "dropped after {n} changes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_leaves_ends_its_stream() {
        let (_latest, rx) = watch::channel(snapshot(0, 0, 0));
        let (tx, out) = mpsc::channel(QUEUE);
        let task = tokio::spawn(forward(
            rx,
            tx,
            Instant::now() + Duration::from_secs(900),
            async || false,
            CancellationToken::new(),
        ));
        drop(out);
        assert_eq!(task.await.unwrap(), End::Closed);
    }
}
