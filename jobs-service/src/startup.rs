//! Building the application on a bound listener: the standard endpoints and middleware of
//! `shared::server::HttpService`, this service's readiness checks, and the job scheduler.

use std::sync::Arc;
use std::time::Duration;

use shared::db::{DbPool, build_pool};
use shared::health::{Readiness, database_check};
use shared::server::{HttpService, ListenSettings, Listeners};

use crate::configuration::Settings;
use crate::scheduler::Scheduler;

/// A running jobs-service.
pub struct Application {
    http: HttpService,
    scheduler: Scheduler,
    shutdown_timeout: Duration,
}

impl Application {
    /// Binds `settings.listen_addr` (port 0 picks a free port) and builds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listeners = Listeners::bind(ListenSettings {
            listen_addr: &settings.listen_addr,
            admin_listen_addr: &settings.admin_listen_addr,
            tls: &settings.tls,
            env_prefix: "JOBS",
        })?;
        Self::build_with_listener(settings, listeners).await
    }

    /// Builds the server on an already bound listener, and starts the schedule.
    pub async fn build_with_listener(
        settings: Settings,
        listener: impl Into<Listeners>,
    ) -> anyhow::Result<Application> {
        let pool = build_pool(&settings.database);
        if settings.database.migrate_on_start {
            migrate(&pool).await?;
        }
        // Otherwise the database is not contacted here: the service starts while it is down,
        // reports not-ready, and its jobs fail (and are retried at their next tick) until it answers.
        let readiness = Readiness::new(vec![("database", database_check(pool.clone()))]);
        let shutdown_timeout = Duration::from_millis(settings.shutdown.timeout_ms);
        let http = HttpService::start(
            listener.into(),
            settings.workers,
            settings.shutdown.clone(),
            readiness,
            |_| {},
        )?;
        let scheduler = Scheduler::start(Arc::new(settings), pool);
        Ok(Application {
            http,
            scheduler,
            shutdown_timeout,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// Serves until SIGTERM/SIGINT, then drains: the HTTP server, then the jobs (which stop at
    /// their next batch boundary).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.http.run_until_stopped().await;
        self.scheduler.stop(self.shutdown_timeout).await;
        served
    }
}

/// Applies the jobs-service's pending migrations (`jobs-service migrate`, or at start when
/// `database.migrate_on_start`). The auth-server's migrations must have been applied first.
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    shared::db::migrate(pool, crate::db::MIGRATIONS).await
}
