//! Building the service: the delivery records, the templates, the transport (SMTP or the mailbox),
//! the consumers on the bus (RabbitMQ through the supervisor, or the in-process bus of the
//! one-process platform), and the HTTP endpoints (health, readiness, metrics, the mailbox).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use shared::db::{DbPool, build_pool};
use shared::health::{Readiness, ReadinessCheck, database_check};
use shared::messaging::bus::InProcessBus;
use shared::messaging::publisher::Publisher;
use shared::messaging::supervisor::Supervisor;
use shared::server::{HttpService, ListenSettings, Listeners};

use crate::amqp_consumer::AmqpConsumer;
use crate::configuration::{Settings, TransportKind};
use crate::consumer::EmailConsumer;
use crate::smtp::Mailer;
use crate::templates::Templates;
use crate::topology::{EmailQueues, topology};
use crate::transport::Transport;
use crate::{in_process, routes};

/// A running email-service.
pub struct Application {
    http: HttpService,
    /// The link to RabbitMQ (`None` on the in-process bus).
    supervisor: Option<Supervisor>,
}

impl Application {
    /// Binds `settings.listen_addr` (port 0 picks a free port) and builds the service.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listeners = Listeners::bind(ListenSettings {
            listen_addr: &settings.listen_addr,
            admin_listen_addr: &settings.admin_listen_addr,
            tls: &settings.tls,
            env_prefix: "EMAIL",
        })?;
        Self::build_with_listener(settings, listeners).await
    }

    /// Builds the service on an already bound listener, consuming from RabbitMQ.
    pub async fn build_with_listener(
        settings: Settings,
        listener: impl Into<Listeners>,
    ) -> anyhow::Result<Application> {
        Self::build_with(settings, listener.into(), None).await
    }

    /// Builds the service for the one-process platform: it consumes from `bus`, to which the
    /// auth-server's outbox relay hands the email commands in this process.
    pub async fn build_in_process(
        settings: Settings,
        listener: TcpListener,
        bus: &InProcessBus,
    ) -> anyhow::Result<Application> {
        Self::build_with(settings, listener.into(), Some(bus)).await
    }

    async fn build_with(
        settings: Settings,
        listeners: Listeners,
        in_process_bus: Option<&InProcessBus>,
    ) -> anyhow::Result<Application> {
        let templates = Templates::load(&settings.templates_dir)?;
        let pool = build_pool(&settings.database);
        if settings.database.migrate_on_start {
            migrate(&pool).await?;
        }
        let transport = match settings.transport {
            TransportKind::Smtp => {
                Transport::Smtp(Mailer::new(&settings.smtp, settings.consumer.concurrency)?)
            }
            TransportKind::Mailbox => Transport::Mailbox(pool.clone()),
        };
        let consumer = Arc::new(EmailConsumer {
            pool: pool.clone(),
            templates,
            transport,
            message_id_domain: settings.smtp.message_id_domain.clone(),
            retry_delays_ms: settings.consumer.retry_delays_ms.clone(),
            claim_lease: Duration::from_millis(settings.consumer.claim_lease_ms),
            unfinished_limit: settings.consumer.delivery_limit.clamp(1, i64::from(i32::MAX)) as i32,
        });
        let mut checks: Vec<(&'static str, ReadinessCheck)> =
            vec![("database", database_check(pool.clone()))];
        let supervisor = match in_process_bus {
            Some(bus) => {
                in_process::subscribe(bus, consumer, settings.consumer.concurrency);
                None
            }
            None => {
                let supervisor = Supervisor::new(
                    settings.amqp.clone(),
                    topology(&settings.amqp.namespace, &settings.consumer),
                );
                // A consumer holds a message at most for its claim: let it finish that when the
                // link goes, rather than cut a send half way.
                supervisor.set_consumer_grace(Duration::from_millis(settings.consumer.claim_lease_ms));
                let amqp_consumer = Arc::new(AmqpConsumer {
                    consumer,
                    publisher: Publisher::new(supervisor.clone()),
                    queues: EmailQueues::new(supervisor.topology(), &settings.consumer),
                });
                for _ in 0..settings.consumer.concurrency.max(1) {
                    let amqp_consumer = amqp_consumer.clone();
                    supervisor
                        .add_consumer(move |channel, stop| amqp_consumer.clone().consume(channel, stop));
                }
                checks.push(("broker", supervisor.readiness_check()));
                Some(supervisor)
            }
        };
        let mailbox = (settings.transport == TransportKind::Mailbox).then(|| web::Data::new(pool));
        let configure = move |cfg: &mut web::ServiceConfig| {
            if let Some(pool) = &mailbox {
                cfg.app_data(pool.clone());
                routes::configure_mailbox(cfg);
            }
        };
        let http = HttpService::start(
            listeners,
            settings.workers,
            settings.shutdown,
            Readiness::new(checks),
            configure,
        )?;
        // Consumers start only now that SIGTERM is handled (`HttpService::start` registers it):
        // one arriving earlier would kill the process in the middle of a send.
        if let Some(supervisor) = &supervisor {
            supervisor.start();
        }
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
        if let Some(supervisor) = self.supervisor {
            supervisor.shutdown().await;
        }
        served
    }
}

/// Applies pending migrations of the delivery records and the mailbox.
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    shared::db::migrate(pool, crate::db::MIGRATIONS).await
}
