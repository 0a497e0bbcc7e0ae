//! Building the service: the delivery records, the templates, the SMTP transport, the broker
//! supervisor with its consumers, and the HTTP endpoints (health, readiness, metrics).

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use shared::db::{DbPool, build_pool};
use shared::health::{Readiness, database_check};
use shared::messaging::publisher::Publisher;
use shared::messaging::supervisor::Supervisor;
use shared::server::HttpService;

use crate::configuration::Settings;
use crate::consumer::EmailConsumer;
use crate::smtp::Mailer;
use crate::templates::Templates;
use crate::topology::{EmailQueues, topology};

/// A running email-service.
pub struct Application {
    http: HttpService,
    supervisor: Supervisor,
}

impl Application {
    /// Binds `settings.listen_addr` (port 0 picks a free port) and builds the service.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.listen_addr)
            .with_context(|| format!("cannot listen on {} (listen_addr)", settings.listen_addr))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Builds the service on an already bound listener.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let templates = Templates::load(&settings.templates_dir)?;
        let mailer = Mailer::new(&settings.smtp, settings.consumer.concurrency)?;
        let pool = build_pool(&settings.database);
        if settings.database.migrate_on_start {
            migrate(&pool).await?;
        }
        let supervisor = Supervisor::new(
            settings.amqp.clone(),
            topology(&settings.amqp.namespace, &settings.consumer),
        );
        let consumer = Arc::new(EmailConsumer {
            pool: pool.clone(),
            templates,
            mailer,
            publisher: Publisher::new(supervisor.clone()),
            queues: EmailQueues::new(supervisor.topology(), &settings.consumer),
        });
        for _ in 0..settings.consumer.concurrency.max(1) {
            let consumer = consumer.clone();
            supervisor.add_consumer(move |channel, stop| consumer.clone().consume(channel, stop));
        }
        supervisor.start();
        let readiness = Readiness::new(vec![
            ("database", database_check(pool)),
            ("broker", supervisor.readiness_check()),
        ]);
        let http = HttpService::start(listener, settings.workers, settings.shutdown, readiness, |_| {})?;
        Ok(Application { http, supervisor })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// Stops the service as SIGTERM would; `run_until_stopped` then returns once the consumers
    /// have finished.
    pub fn stop_handle(&self) -> actix_web::dev::ServerHandle {
        self.http.handle()
    }

    /// Serves until SIGTERM/SIGINT; then stops taking messages, finishes and acks the one in
    /// progress, and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.http.run_until_stopped().await;
        self.supervisor.shutdown().await;
        served
    }
}

/// Applies pending migrations of the delivery records.
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    shared::db::migrate(pool, crate::db::MIGRATIONS).await
}
