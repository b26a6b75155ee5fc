//! Waiting for the request to stop: SIGTERM (systemd, `kill`) or SIGINT (Ctrl-C).

/// Returns at the first SIGTERM or SIGINT. Where SIGTERM cannot be watched, at SIGINT.
pub async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
