//! The harness: the platform started in the test's own process (every port chosen by the system, a
//! fresh data directory), or the real `platform` binary as a child process for what needs one
//! (restarts, SIGKILL, SIGTERM, refusals at start). Nothing here needs PostgreSQL or RabbitMQ.

mod browser;
mod mailbox;
mod process;
mod service;

pub use browser::{Browser, location};
pub use mailbox::{mailbox, wait_for_link};
use platform::credentials::DemoCredentials;
use platform::platform::{Options, Platform};
use platform::settings::Addresses;
pub use process::{PlatformProcess, start_refused};
pub use service::ServiceClient;

/// Every listener on a port the system picks, so tests run in parallel.
pub fn test_environment() -> Vec<(String, String)> {
    [
        "AUTH_LISTEN_ADDR",
        "GATEWAY_LISTEN_ADDR",
        "EMAIL_LISTEN_ADDR",
        "JOBS_LISTEN_ADDR",
        "PLATFORM_DEMO_LISTEN_ADDR",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), "127.0.0.1:0".to_owned()))
    .collect()
}

/// A platform running in this test's process.
pub struct TestPlatform {
    pub addresses: Addresses,
    pub issuer: String,
    pub credentials: DemoCredentials,
    /// The "try it" screen, as the binary prints it.
    pub screen: String,
    pub data_dir: tempfile::TempDir,
}

pub async fn spawn_platform() -> TestPlatform {
    if std::env::var_os("TEST_LOG").is_some() {
        let log = shared::telemetry::LogSettings {
            format: shared::telemetry::LogFormat::Pretty,
            filter: "info".to_owned(),
        };
        shared::telemetry::init("platform-test", &log);
    }
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let platform = Platform::start(Options {
        data_dir: data_dir.path().to_path_buf(),
        environment: test_environment(),
    })
    .await
    .unwrap_or_else(|error| panic!("the platform starts: {error}"));
    let started = TestPlatform {
        addresses: platform.addresses.clone(),
        issuer: platform.issuer.clone(),
        credentials: platform.credentials.clone(),
        screen: platform.try_it().to_string(),
        data_dir,
    };
    tokio::spawn(platform.run_until_stopped());
    started
}

impl TestPlatform {
    pub fn database_url(&self) -> String {
        format!("sqlite://{}/platform.db", self.data_dir.path().display())
    }

    /// A connection to the platform's database, for what only the database can tell.
    pub fn connect(&self) -> shared::db::DbConn {
        shared::db::connect(
            &self.database_url(),
            &shared::db::SessionSettings {
                statement_timeout_ms: 10_000,
            },
        )
        .expect("the database opens")
    }

    /// The demo service, as a client of this platform's auth-server.
    pub fn service(&self) -> ServiceClient {
        ServiceClient {
            auth: self.addresses.auth.clone(),
            secret: self.credentials.service_client_secret.clone(),
        }
    }
}
