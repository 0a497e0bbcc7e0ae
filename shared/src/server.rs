//! Running a service's HTTP server the way every service of the platform does: the same middleware
//! (request id, tracing span, metrics, security headers), the same `/healthz`, `/readyz`, `/metrics`
//! and JSON 404, and a graceful stop: on SIGTERM/SIGINT readiness goes false at once, requests are
//! still served for the drain delay, then the listener closes and in-flight requests finish before
//! the process exits 0.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::configuration::ShutdownSettings;
use crate::health::Readiness;
use crate::request_id::RequestIdSpan;
use crate::{health, http_error, observability, request_id};

/// A started HTTP server with the platform's standard endpoints and middleware.
pub struct HttpService {
    server: Server,
    /// Registered when the server starts, so that a SIGTERM arriving at once drains it instead
    /// of killing the process (the signal's default action).
    signals: std::io::Result<TerminationSignals>,
    port: u16,
    readiness: Readiness,
    shutdown: ShutdownSettings,
}

impl HttpService {
    /// Starts serving on `listener` with the service's own `routes` (and `app_data`) mounted among
    /// the standard ones. `workers` = 0 means one worker per CPU core.
    pub fn start<F>(
        listener: TcpListener,
        workers: usize,
        shutdown: ShutdownSettings,
        readiness: Readiness,
        routes: F,
    ) -> std::io::Result<HttpService>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let port = listener.local_addr()?.port();
        let readiness_data = web::Data::new(readiness.clone());
        let _ = observability::prometheus_handle();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(readiness_data.clone())
                .wrap(security_headers())
                .wrap(from_fn(observability::middleware))
                .wrap(TracingLogger::<RequestIdSpan>::new())
                .wrap(from_fn(request_id::middleware))
                .configure(health::configure)
                .configure(observability::configure)
                .configure(routes.clone())
                .default_service(web::to(http_error::not_found))
        })
        .disable_signals()
        .shutdown_timeout(shutdown_timeout_secs(&shutdown))
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(HttpService {
            signals: TerminationSignals::register(),
            server: server.run(),
            port,
            readiness,
            shutdown,
        })
    }

    /// The port the server listens on (useful when it was bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server as SIGTERM would (for benchmarks and tools that run a
    /// service in their own process).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then drains gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let drain_delay = Duration::from_millis(self.shutdown.drain_delay_ms);
        let watcher = tokio::spawn(stop_on_signal(self.signals, handle, self.readiness, drain_delay));
        let outcome = self.server.await;
        watcher.abort();
        outcome
    }
}

/// Headers for every response: nothing of ours may be framed or sniffed. Pages that set a fuller
/// policy of their own keep it (default headers never replace one already set).
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Frame-Options", "DENY"))
        .add(("Content-Security-Policy", "frame-ancestors 'none'"))
        .add(("X-Content-Type-Options", "nosniff"))
}

async fn stop_on_signal(
    signals: std::io::Result<TerminationSignals>,
    handle: ServerHandle,
    readiness: Readiness,
    drain_delay: Duration,
) {
    let mut signals = match signals {
        Ok(signals) => signals,
        Err(error) => {
            tracing::error!(%error, "cannot listen for termination signals; graceful shutdown is disabled");
            return;
        }
    };
    signals.next().await;
    tracing::info!(
        drain_delay_ms = drain_delay.as_millis() as u64,
        "termination requested: draining"
    );
    readiness.begin_shutdown();
    tokio::time::sleep(drain_delay).await;
    handle.stop(true).await;
}

/// SIGTERM (Kubernetes, systemd) and SIGINT (Ctrl-C).
struct TerminationSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl TerminationSignals {
    fn register() -> std::io::Result<TerminationSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(TerminationSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
    }
}

/// actix takes the shutdown timeout in whole seconds (at least one).
fn shutdown_timeout_secs(settings: &ShutdownSettings) -> u64 {
    settings.timeout_ms.div_ceil(1000).max(1)
}
