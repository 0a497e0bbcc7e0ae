//! Building the application: pool, migrations, state, routes and middleware, on a bound listener.

use std::net::TcpListener;

use actix_web::web;
use anyhow::Context;
use shared::db::{DbPool, build_pool};
use shared::health::{Readiness, database_check};
use shared::messaging::publisher::Publisher;
use shared::messaging::relay::OutboxRelay;
use shared::messaging::supervisor::Supervisor;
use shared::messaging::topology::Topology;
use shared::server::HttpService;
use tokio_util::sync::CancellationToken;

use crate::configuration::Settings;
use crate::oidc;
use crate::oidc::keys::KeyEncryptionKey;
use crate::state::AppState;
use crate::{db, pages, routes};

/// A running auth-server.
pub struct Application {
    http: HttpService,
    /// The link to the broker and the outbox relay, when this process relays.
    messaging: Option<(Supervisor, CancellationToken)>,
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
        // Refuse to serve without the key that seals the signing keys, before touching anything.
        let key_encryption = std::sync::Arc::new(KeyEncryptionKey::from_setting(
            settings.keys.encryption_key.as_ref(),
        )?);
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
            let supervisor = Supervisor::new(settings.amqp.clone(), Topology::new(&settings.amqp.namespace));
            supervisor.start();
            let stop = CancellationToken::new();
            let relay = OutboxRelay::start(
                pool.clone(),
                Publisher::new(supervisor.clone()),
                settings.outbox.relay.clone(),
                stop.clone(),
            );
            (supervisor, stop, relay)
        });
        let relay = messaging.as_ref().map(|(_, _, relay)| relay.clone());
        let state = web::Data::new(AppState::new(pool, settings, key_encryption, relay));
        let routes = move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone());
            pages::configure(cfg);
            routes::configure(cfg);
        };
        Ok(Application {
            http: HttpService::start(listener, workers, shutdown, readiness, routes)?,
            messaging: messaging.map(|(supervisor, stop, _)| (supervisor, stop)),
        })
    }

    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// Serves until SIGTERM/SIGINT, then drains gracefully and closes the broker link (messages
    /// not yet relayed stay in the outbox for the next start or another replica).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.http.run_until_stopped().await;
        if let Some((supervisor, stop)) = self.messaging {
            stop.cancel();
            supervisor.shutdown().await;
        }
        served
    }
}

/// Applies pending migrations (`auth-server migrate`, or at start when `migrate_on_start`).
pub async fn migrate(pool: &DbPool) -> anyhow::Result<Vec<String>> {
    shared::db::migrate(pool, db::MIGRATIONS).await
}
