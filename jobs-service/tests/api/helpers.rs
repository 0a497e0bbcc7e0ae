//! The test harness: the real application on a free port, against the real PostgreSQL server.

use jobs_service::configuration::Settings;
use jobs_service::startup::Application;
use secrecy::SecretString;
use shared::configuration::Layered;

/// The PostgreSQL server the tests use. The jobs-service owns no tables yet, so its maintenance
/// database is enough.
pub fn database_url() -> String {
    let server = std::env::var("TEST_DATABASE_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    // Without TLS, libpq's pool threads never touch OpenSSL, whose atexit cleanup otherwise races
    // with those threads when a test process exits (a double free or SIGSEGV after the test passed).
    format!("{server}/postgres?sslmode=disable")
}

/// A running application and a client to talk to it.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the application after `customize` has changed its settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::defaults().expect("the built-in defaults load");
    settings.listen_addr = "127.0.0.1:0".to_owned();
    settings.workers = 1;
    settings.database.url = SecretString::from(database_url());
    settings.database.pool_size = 1;
    customize(&mut settings);
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init("jobs-service-test", &settings.log);
    }
    let application = Application::build(settings)
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        http: reqwest::Client::new(),
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the server answers")
    }
}
