//! Building the application: pool, migrations, state, routes and middleware, on a bound listener.

use std::net::TcpListener;

use actix_web::web;
use shared::db::{DbPool, build_pool};
use shared::health::{Readiness, database_check};
use shared::messaging::bus::{Bus, InProcessBus};
use shared::messaging::publisher::Publisher;
use shared::messaging::relay::OutboxRelay;
use shared::messaging::supervisor::Supervisor;
use shared::messaging::topology::Topology;
use shared::server::{HttpService, ListenSettings, Listeners};
use tokio_util::sync::CancellationToken;

use crate::configuration::Settings;
use crate::oidc;
use crate::oidc::keys::KeyEncryptionKey;
use crate::state::AppState;
use crate::{db, pages, routes};

/// A running auth-server.
pub struct Application {
    http: HttpService,
    /// The outbox relay and its stop, and the link to the broker, when this process relays.
    messaging: Option<Relaying>,
}

struct Relaying {
    relay: OutboxRelay,
    stop: CancellationToken,
    /// `None` when the relay hands messages to consumers in this process.
    supervisor: Option<Supervisor>,
}

impl Application {
    /// Binds `settings.listen_addr` (and `admin_listen_addr`, with `tls`) and builds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listeners = Listeners::bind(ListenSettings {
            listen_addr: &settings.listen_addr,
            admin_listen_addr: &settings.admin_listen_addr,
            tls: &settings.tls,
            env_prefix: "AUTH",
        })?;
        Self::build_with_listener(settings, listeners).await
    }

    /// Builds the server on an already bound listener (tests bind port 0 first to learn the issuer).
    /// Its outbox relay publishes to RabbitMQ.
    pub async fn build_with_listener(
        settings: Settings,
        listener: impl Into<Listeners>,
    ) -> anyhow::Result<Application> {
        Self::build_with(settings, listener.into(), None).await
    }

    /// Builds the server for the one-process platform: its outbox relay hands messages to the
    /// consumers registered on `bus` in this process instead of RabbitMQ.
    pub async fn build_in_process(
        settings: Settings,
        listener: TcpListener,
        bus: InProcessBus,
    ) -> anyhow::Result<Application> {
        Self::build_with(settings, listener.into(), Some(bus)).await
    }

    async fn build_with(
        settings: Settings,
        listeners: Listeners,
        in_process: Option<InProcessBus>,
    ) -> anyhow::Result<Application> {
        // Refuse to serve without the key that seals the signing keys, before touching anything.
        let key_encryption = std::sync::Arc::new(KeyEncryptionKey::from_settings(&settings.keys)?);
        let pool = build_pool(&settings.database);
        if settings.database.migrate_on_start {
            migrate(&pool).await?;
        }
        oidc::startup(&pool, &key_encryption, &settings).await?;
        // The broker is not a readiness check: the outbox keeps every message while it is away,
        // and sign-ins must not stop because RabbitMQ did.
        let readiness = Readiness::new(vec![("database", database_check(pool.clone()))]);
        let (workers, shutdown) = (settings.workers, settings.shutdown.clone());
        let messaging = settings.outbox.relay_enabled.then(|| {
            let (bus, supervisor) = match in_process {
                Some(bus) => (Bus::InProcess(bus), None),
                None => {
                    let topology = Topology::new(&settings.amqp.namespace);
                    let supervisor = Supervisor::new(settings.amqp.clone(), topology);
                    supervisor.start();
                    (
                        Bus::RabbitMq(Publisher::new(supervisor.clone())),
                        Some(supervisor),
                    )
                }
            };
            let stop = CancellationToken::new();
            let relay = OutboxRelay::start(pool.clone(), bus, settings.outbox.relay.clone(), stop.clone());
            Relaying {
                relay,
                stop,
                supervisor,
            }
        });
        let relay = messaging.as_ref().map(|relaying| relaying.relay.clone());
        let state = web::Data::new(AppState::new(pool, settings, key_encryption, relay));
        let routes = move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone());
            pages::configure(cfg);
            routes::configure(cfg);
        };
        Ok(Application {
            http: HttpService::start(listeners, workers, shutdown, readiness, routes)?,
            messaging,
        })
    }

    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// Serves until SIGTERM/SIGINT, then drains gracefully, lets the relay settle the batch in hand
    /// and closes the broker link (messages not yet relayed stay in the outbox for the next start
    /// or another replica).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.http.run_until_stopped().await;
        if let Some(relaying) = self.messaging {
            relaying.stop.cancel();
            relaying.relay.stopped().await;
            if let Some(supervisor) = relaying.supervisor {
                supervisor.shutdown().await;
            }
        }
        served
    }
}

/// Applies pending migrations (`auth-server migrate`, or at start when `migrate_on_start`).
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    shared::db::migrate(pool, db::MIGRATIONS).await
}
