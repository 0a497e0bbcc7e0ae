//! Building the application: pool, migrations, state, routes and middleware, on a bound listener.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use shared::configuration::ShutdownSettings;
use shared::db::{DbPool, build_pool};
use shared::health::{Readiness, ReadinessCheck};
use shared::request_id::RequestIdSpan;
use tracing_actix_web::TracingLogger;

use crate::configuration::Settings;
use crate::state::AppState;
use crate::{db, pages, routes};

/// A running auth-server.
pub struct Application {
    server: Server,
    port: u16,
    readiness: Readiness,
    shutdown: ShutdownSettings,
}

impl Application {
    /// Binds `settings.listen_addr` and builds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.listen_addr)
            .with_context(|| format!("cannot listen on {} (listen_addr)", settings.listen_addr))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Builds the server on an already bound listener (tests bind port 0 first to learn the issuer).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let pool = build_pool(&settings.database);
        if settings.database.migrate_on_start {
            migrate(&pool).await?;
        }
        let port = listener.local_addr()?.port();
        let readiness = Readiness::new(vec![("database", database_check(pool.clone()))]);
        let shutdown = settings.shutdown.clone();
        let workers = settings.workers;
        let state = web::Data::new(AppState::new(pool, settings));
        let readiness_data = web::Data::new(readiness.clone());
        let _ = shared::observability::prometheus_handle();

        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(readiness_data.clone())
                .wrap(security_headers())
                .wrap(from_fn(shared::observability::middleware))
                .wrap(TracingLogger::<RequestIdSpan>::new())
                .wrap(from_fn(shared::request_id::middleware))
                .configure(shared::health::configure)
                .configure(shared::observability::configure)
                .configure(pages::configure)
                .configure(routes::configure)
                .default_service(web::to(shared::http_error::not_found))
        })
        .disable_signals()
        .shutdown_timeout(shared::server::shutdown_timeout_secs(&shutdown))
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Application {
            server: server.run(),
            port,
            readiness,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then drains gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        shared::server::run_until_stopped(self.server, self.readiness, self.shutdown).await
    }
}

/// Applies pending migrations (`auth-server migrate`, or at start when `migrate_on_start`).
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool
            .get()
            .context("cannot connect to the database to migrate it (DATABASE_URL)")?;
        shared::db::run_migrations(&mut conn, db::MIGRATIONS)
    })
    .await?
}

fn database_check(pool: DbPool) -> ReadinessCheck {
    Box::new(move || {
        let pool = pool.clone();
        Box::pin(async move { shared::db::ping(&pool).await })
    })
}

/// Headers for every response; pages set a fuller policy of their own, which takes precedence.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Frame-Options", "DENY"))
        .add(("Content-Security-Policy", "frame-ancestors 'none'"))
        .add(("X-Content-Type-Options", "nosniff"))
}
