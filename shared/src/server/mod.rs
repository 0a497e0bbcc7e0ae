//! Running a service's HTTP server the way every service of the platform does: the same middleware
//! (request id, tracing span, metrics, security headers), the same `/healthz`, `/readyz`, `/metrics`
//! and JSON 404, and a graceful stop: on SIGTERM/SIGINT readiness goes false at once, requests are
//! still served for the drain delay, then the listener closes and in-flight requests finish before
//! the process exits 0.
//!
//! [`Listeners`] says where: the public listener, and optionally an admin listener that takes
//! `/healthz`, `/readyz` and `/metrics` off the public one (so an Ingress in front of the public
//! port never exposes them, and probes and Prometheus use the admin port), both with TLS when the
//! service's `tls` settings name a certificate ([`tls`]).

mod listeners;
pub mod tls;

use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
pub use listeners::{ListenSettings, Listeners};
use tracing_actix_web::TracingLogger;

use crate::configuration::ShutdownSettings;
use crate::health::Readiness;
use crate::request_id::RequestIdSpan;
use crate::{health, http_error, observability, request_id};

/// A started HTTP server with the platform's standard endpoints and middleware.
pub struct HttpService {
    server: Server,
    /// The listener of `/healthz`, `/readyz` and `/metrics`, when they are not on the public one.
    admin: Option<(Server, u16)>,
    /// Keeps a renewed certificate in use; stopped with the service.
    tls_reloader: Option<tokio::task::JoinHandle<()>>,
    /// Registered when the server starts, so that a SIGTERM arriving at once drains it instead
    /// of killing the process (the signal's default action).
    signals: std::io::Result<TerminationSignals>,
    port: u16,
    readiness: Readiness,
    shutdown: ShutdownSettings,
}

impl HttpService {
    /// Starts serving on `listeners` (a `TcpListener` for one plain listener) with the service's own
    /// `routes` (and `app_data`) mounted among the standard ones. `workers` = 0 means one worker per
    /// CPU core. Must be called inside the Tokio runtime.
    pub fn start<F>(
        listeners: impl Into<Listeners>,
        workers: usize,
        shutdown: ShutdownSettings,
        readiness: Readiness,
        routes: F,
    ) -> std::io::Result<HttpService>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let Listeners { public, admin, tls } = listeners.into();
        let port = public.local_addr()?.port();
        let readiness_data = web::Data::new(readiness.clone());
        let _ = observability::prometheus_handle();
        let standard_endpoints_here = admin.is_none();
        let public_readiness = readiness_data.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(public_readiness.clone())
                .wrap(security_headers())
                .wrap(from_fn(observability::middleware))
                .wrap(TracingLogger::<RequestIdSpan>::new())
                .wrap(from_fn(request_id::middleware))
                .configure(|cfg| {
                    if standard_endpoints_here {
                        health::configure(cfg);
                        observability::configure(cfg);
                    }
                })
                .configure(routes.clone())
                .default_service(web::to(http_error::not_found))
        })
        .disable_signals()
        .shutdown_timeout(shutdown_timeout_secs(&shutdown));
        server = match &tls {
            Some(tls) => server.listen_rustls_0_23(public, tls.config())?,
            None => server.listen(public)?,
        };
        if workers > 0 {
            server = server.workers(workers);
        }
        let admin = match admin {
            Some(listener) => Some(start_admin(listener, tls.as_ref(), readiness_data, &shutdown)?),
            None => None,
        };
        Ok(HttpService {
            signals: TerminationSignals::register(),
            server: server.run(),
            admin,
            tls_reloader: tls.map(|tls| tls.spawn_reloader()),
            port,
            readiness,
            shutdown,
        })
    }

    /// The port the server listens on (useful when it was bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port, when there is one.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(_, port)| *port)
    }

    /// A handle that stops the server as SIGTERM would (for benchmarks and tools that run a
    /// service in their own process).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then drains gracefully. The admin listener answers until the
    /// public one has finished, so probes see readiness go false rather than a refused connection.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let drain_delay = Duration::from_millis(self.shutdown.drain_delay_ms);
        let watcher = tokio::spawn(stop_on_signal(self.signals, handle, self.readiness, drain_delay));
        let admin = self.admin.map(|(server, _)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let outcome = self.server.await;
        watcher.abort();
        if let Some(reloader) = self.tls_reloader {
            reloader.abort();
        }
        if let Some((task, handle)) = admin {
            handle.stop(true).await;
            let _ = task.await;
        }
        outcome
    }
}

/// The admin listener: `/healthz`, `/readyz`, `/metrics` and nothing else.
fn start_admin(
    listener: std::net::TcpListener,
    tls: Option<&tls::ServerTls>,
    readiness: web::Data<Readiness>,
    shutdown: &ShutdownSettings,
) -> std::io::Result<(Server, u16)> {
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(readiness.clone())
            .wrap(security_headers())
            .configure(health::configure)
            .configure(observability::configure)
            .default_service(web::to(http_error::not_found))
    })
    .disable_signals()
    .workers(1)
    .shutdown_timeout(shutdown_timeout_secs(shutdown));
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls.config())?,
        None => server.listen(listener)?,
    };
    Ok((server.run(), port))
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
