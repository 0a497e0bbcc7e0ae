//! The test harness: the real application on port 0 against a fresh PostgreSQL database, plus a
//! browser (a cookie-keeping HTTP client that follows nothing by itself) and OAuth helpers.

mod browser;
mod fixtures;
mod oauth;
mod races;
mod relying_party;

use std::net::TcpListener;

use auth_server::configuration::Settings;
use auth_server::startup::Application;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::db::DbPool;
pub use shared::testing::{LOCAL_OPTIONS, TestDatabase};

pub use browser::*;
pub use fixtures::*;
pub use oauth::*;
pub use races::*;
pub use relying_party::*;

/// A running application and what tests need to talk to it.
pub struct TestApp {
    pub address: String,
    pub issuer: String,
    pub pool: DbPool,
    pub http: reqwest::Client,
    pub settings: Settings,
    /// Dropped (the database with it) when the last holder is: after every connection above.
    pub database: std::sync::Arc<TestDatabase>,
}

/// Settings for tests: the defaults with a fresh database and no client cache (so registrations
/// made during a test are seen at once).
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::defaults().expect("the built-in defaults load");
    settings.database.url = SecretString::from(database_url.to_owned());
    settings.database.pool_size = 6;
    settings.database.acquire_timeout_ms = 2000;
    settings.oauth.client_cache_ttl_ms = 0;
    settings.workers = 2;
    // The outbox is checked in the database; the relay to RabbitMQ is tested in the e2e crate.
    settings.outbox.relay_enabled = false;
    settings.keys.encryption_key = Some(SecretString::from(TEST_KEY_ENCRYPTION_KEY.to_owned()));
    settings
}

/// The `keys.encryption_key` of tests (base64 of 32 bytes; a secret only in production).
pub const TEST_KEY_ENCRYPTION_KEY: &str = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the application after `customize` has changed its settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::create();
    let mut settings = test_settings(&database.url);
    customize(&mut settings);
    start(database, settings).await
}

/// Starts the application on a database created beforehand (with `settings` pointing at it).
pub async fn start(database: TestDatabase, mut settings: Settings) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init("auth-server-test", &settings.log);
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().unwrap().port();
    settings.listen_addr = format!("127.0.0.1:{port}");
    settings.issuer = format!("http://127.0.0.1:{port}");
    let application = Application::build_with_listener(settings.clone(), listener)
        .await
        .expect("the application builds");
    tokio::spawn(application.run_until_stopped());

    let pool = shared::db::build_pool(&shared::configuration::DatabaseSettings {
        url: SecretString::from(database.url.clone()),
        pool_size: 2,
        ..settings.database.clone()
    });
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        issuer: settings.issuer.clone(),
        pool,
        http: no_redirect_client(false),
        settings,
        database: std::sync::Arc::new(database),
    }
}

pub fn no_redirect_client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .build()
        .unwrap()
}
