//! Running an actix-web server until SIGTERM/SIGINT with a graceful drain: readiness goes false at
//! once, requests keep being served for the drain delay, then the listener closes and in-flight
//! requests finish before the process exits 0.

use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};

use crate::configuration::ShutdownSettings;
use crate::health::Readiness;

/// Waits for the server to stop, stopping it gracefully on the first termination signal.
pub async fn run_until_stopped(
    server: Server,
    readiness: Readiness,
    settings: ShutdownSettings,
) -> std::io::Result<()> {
    let handle = server.handle();
    let watcher = tokio::spawn(stop_on_signal(
        handle,
        readiness,
        Duration::from_millis(settings.drain_delay_ms),
    ));
    let outcome = server.await;
    watcher.abort();
    outcome
}

async fn stop_on_signal(handle: ServerHandle, readiness: Readiness, drain_delay: Duration) {
    if let Err(error) = wait_for_termination().await {
        tracing::error!(%error, "cannot listen for termination signals; graceful shutdown is disabled");
        return;
    }
    tracing::info!(
        drain_delay_ms = drain_delay.as_millis() as u64,
        "termination requested: draining"
    );
    readiness.begin_shutdown();
    tokio::time::sleep(drain_delay).await;
    handle.stop(true).await;
}

async fn wait_for_termination() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {},
        _ = interrupt.recv() => {},
    }
    Ok(())
}

/// The shutdown timeout to give `HttpServer::shutdown_timeout`, in whole seconds (at least one).
pub fn shutdown_timeout_secs(settings: &ShutdownSettings) -> u64 {
    settings.timeout_ms.div_ceil(1000).max(1)
}
