//! Building the application on a bound listener: the standard endpoints and middleware of
//! `shared::server::HttpService`, and this service's readiness checks.

use std::net::TcpListener;

use anyhow::Context;
use shared::health::Readiness;
use shared::server::HttpService;

use crate::configuration::Settings;

/// A running resource-gateway.
pub struct Application(HttpService);

impl Application {
    /// Binds `settings.listen_addr` (port 0 picks a free port) and builds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.listen_addr)
            .with_context(|| format!("cannot listen on {} (listen_addr)", settings.listen_addr))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Builds the server on an already bound listener.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        // It depends on nothing yet, so it is ready unless it is shutting down.
        let readiness = Readiness::new(Vec::new());
        let service = HttpService::start(listener, settings.workers, settings.shutdown, readiness, |_| {})?;
        Ok(Application(service))
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Serves until SIGTERM/SIGINT, then drains gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}
