//! Starting the whole platform in one process, in an order that makes each step's failure clear:
//! take the data directory, bind every port, check the database, migrate it, seed the demo, then
//! start the services, which talk over the in-process bus and find each other on the loopback.

use std::path::PathBuf;

use actix_web::web;
use shared::configuration::DatabaseSettings;
use shared::db::DbPool;
use shared::health::Readiness;
use shared::messaging::bus::InProcessBus;
use shared::server::HttpService;

use crate::credentials::DemoCredentials;
use crate::data_dir::DataDir;
use crate::demo::{self, DemoApp};
use crate::error::StartError;
use crate::listeners::Listeners;
use crate::routes::demo_routes;
use crate::settings::{Addresses, PlatformSettings};
use crate::try_it::TryIt;

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the state lives (`--data-dir`).
    pub data_dir: PathBuf,
    /// The environment the services' settings are read from (the process's; tests pass their own).
    pub environment: Vec<(String, String)>,
}

/// The running platform.
pub struct Platform {
    auth: auth_server::startup::Application,
    gateway: resource_gateway::startup::Application,
    email: email_service::startup::Application,
    jobs: jobs_service::startup::Application,
    demo: HttpService,
    pub addresses: Addresses,
    pub issuer: String,
    pub credentials: DemoCredentials,
    mailbox: bool,
    /// Held for its lock until the platform has stopped.
    data_dir: DataDir,
}

impl Platform {
    pub async fn start(options: Options) -> Result<Platform, StartError> {
        let data_dir = DataDir::open(&options.data_dir)?;
        let mut settings = PlatformSettings::load(&options.environment)?;
        let listeners = Listeners::bind(&settings)?;
        let addresses = listeners.addresses()?;
        data_dir.check_database()?;
        let key_encryption_key = data_dir.key_encryption_key()?;
        let database_url = data_dir.database_url();
        let credentials = prepare_database(&database_url, &data_dir, &addresses.demo).await?;
        let routes_file = data_dir.write_routes(&demo_routes(&addresses))?;
        let identity_key = data_dir.identity_signing_key()?;
        settings.wire(
            &addresses,
            &database_url,
            key_encryption_key,
            &credentials,
            &routes_file,
            &identity_key,
        );
        let issuer = settings.issuer(&addresses);

        // The email-service subscribes before the auth-server's relay hands anything over.
        let bus = InProcessBus::new();
        let email = email_service::startup::Application::build_in_process(
            settings.email.clone(),
            listeners.email,
            &bus,
        )
        .await?;
        let auth =
            auth_server::startup::Application::build_in_process(settings.auth.clone(), listeners.auth, bus)
                .await?;
        let gateway = resource_gateway::startup::Application::build_with_listener(
            settings.gateway.clone(),
            listeners.gateway,
        )
        .await?;
        let jobs =
            jobs_service::startup::Application::build_with_listener(settings.jobs.clone(), listeners.jobs)
                .await?;
        let demo_app = web::Data::new(DemoApp::new(addresses.clone(), issuer.clone(), &credentials)?);
        let verifier = web::Data::new(demo::identity_verifier(&addresses, &settings.gateway)?);
        let demo = HttpService::start(
            listeners.demo,
            1,
            settings.gateway.shutdown.clone(),
            Readiness::new(Vec::new()),
            move |cfg: &mut web::ServiceConfig| {
                cfg.app_data(demo_app.clone()).app_data(verifier.clone());
                demo::configure(cfg);
            },
        )
        .map_err(|error| StartError::new(format!("the demo app cannot start: {error}")))?;
        Ok(Platform {
            auth,
            gateway,
            email,
            jobs,
            demo,
            addresses,
            issuer,
            credentials,
            mailbox: settings.email.transport == email_service::configuration::TransportKind::Mailbox,
            data_dir,
        })
    }

    /// The "try it" screen.
    pub fn try_it(&self) -> TryIt<'_> {
        TryIt {
            addresses: &self.addresses,
            issuer: &self.issuer,
            credentials: &self.credentials,
            data_dir: self.data_dir.path(),
            mailbox: self.mailbox,
        }
    }

    /// Serves until SIGTERM or SIGINT (Ctrl-C), which every service receives: each drains its
    /// requests, the relay settles the message in hand, the jobs stop between batches.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (auth, gateway, email, jobs, demo) = tokio::join!(
            self.auth.run_until_stopped(),
            self.gateway.run_until_stopped(),
            self.email.run_until_stopped(),
            self.jobs.run_until_stopped(),
            self.demo.run_until_stopped(),
        );
        drop(self.data_dir);
        auth.and(gateway).and(email).and(jobs).and(demo)
    }
}

/// Migrates every service's tables (the auth-server's first: the others refer to them), voids the
/// outbox claims a killed run left behind, and seeds the demo.
async fn prepare_database(
    database_url: &str,
    data_dir: &DataDir,
    demo_url: &str,
) -> Result<DemoCredentials, StartError> {
    let pool = shared::db::build_pool(&DatabaseSettings {
        url: secrecy::SecretString::from(database_url.to_owned()),
        pool_size: 1,
        acquire_timeout_ms: 10_000,
        statement_timeout_ms: 10_000,
        migrate_on_start: false,
    });
    let migrated =
        |error: anyhow::Error| StartError::new(format!("the database could not be migrated: {error:#}"));
    auth_server::startup::migrate(&pool).await.map_err(migrated)?;
    jobs_service::startup::migrate(&pool).await.map_err(migrated)?;
    email_service::startup::migrate(&pool).await.map_err(migrated)?;
    seed_and_reclaim(&pool, data_dir, demo_url).await
}

async fn seed_and_reclaim(
    pool: &DbPool,
    data_dir: &DataDir,
    demo_url: &str,
) -> Result<DemoCredentials, StartError> {
    let mut conn = pool
        .get()
        .map_err(|error| StartError::new(format!("the database cannot be opened: {error}")))?;
    // This process holds the data directory's lock, so any claim on an outbox row or a delivery
    // record was left by a run that stopped mid-message: the messages are due again now, not when
    // their lease ends.
    shared::messaging::relay::void_stale_claims(&mut conn)?;
    email_service::db::void_claims(&mut conn)?;
    crate::seed::seed(&mut conn, data_dir, demo_url)
}
