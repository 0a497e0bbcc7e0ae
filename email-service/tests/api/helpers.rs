//! The test harness: the real application on a free port.

use email_service::configuration::Settings;
use email_service::startup::Application;
use shared::configuration::Layered;

/// A running application and a client to talk to it.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    let mut settings = Settings::defaults().expect("the built-in defaults load");
    settings.listen_addr = "127.0.0.1:0".to_owned();
    settings.workers = 1;
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init("email-service-test", &settings.log);
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
