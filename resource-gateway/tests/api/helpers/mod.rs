//! The test harness: the real gateway on a free port, between a scriptable fake auth-server
//! (`fake_auth.rs`) and a fake upstream (`fake_upstream.rs`), both of which count the calls they get.

mod fake_auth;
mod fake_upstream;

use std::sync::atomic::{AtomicUsize, Ordering};

use resource_gateway::configuration::Settings;
use resource_gateway::startup::{Application, RouteReloader};
use secrecy::SecretString;
use shared::configuration::Layered;

pub use self::fake_auth::{AuthBehaviour, FakeAuth, GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET, unix_now};
pub use self::fake_upstream::FakeUpstream;

/// A running gateway.
pub struct TestGateway {
    pub address: String,
    pub http: reqwest::Client,
    pub reloader: RouteReloader,
    pub routes_file: std::path::PathBuf,
}

/// Settings for tests: fast timeouts, no jitter unless a test wants it.
pub fn test_settings(auth: &FakeAuth) -> Settings {
    let mut settings = Settings::defaults().expect("the built-in defaults load");
    settings.listen_addr = "127.0.0.1:0".to_owned();
    settings.workers = 2;
    settings.introspection.url = auth.url.clone();
    settings.introspection.client_id = GATEWAY_CLIENT_ID.to_owned();
    settings.introspection.client_secret = SecretString::from(GATEWAY_CLIENT_SECRET.to_owned());
    settings.introspection.backoff.jitter = false;
    settings.introspection.backoff.base_ms = 10;
    settings.upstream.backoff.jitter = false;
    settings.upstream.backoff.base_ms = 10;
    settings
}

/// The routes file text for one upstream; `{upstream}` in `routes` is replaced by its base URL.
pub fn routes_for(upstream: &FakeUpstream, routes: &str) -> String {
    routes.replace("{upstream}", &upstream.base)
}

static FILE_COUNTER: AtomicUsize = AtomicUsize::new(0);

pub async fn spawn_gateway(settings: Settings, routes: &str) -> TestGateway {
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init("gateway-test", &settings.log);
    }
    let routes_file = std::env::temp_dir().join(format!(
        "gateway-routes-{}-{}.toml",
        std::process::id(),
        FILE_COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&routes_file, routes).unwrap();
    let mut settings = settings;
    settings.routes_file = routes_file.to_string_lossy().into_owned();
    let application = Application::build(settings).await.expect("the gateway builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let reloader = application.route_reloader();
    tokio::spawn(application.run_until_stopped());
    TestGateway {
        address,
        http: reqwest::Client::new(),
        reloader,
        routes_file,
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.routes_file);
    }
}

impl TestGateway {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// A standard route: `/api` to the upstream, needing `read` (and `write` for POST).
pub const API_ROUTE: &str = r#"
[[routes]]
name = "api"
path_prefix = "/api"
upstreams = ["{upstream}"]
scopes = { all_of = ["read"] }
method_scopes.POST = { all_of = ["write"] }

[[routes]]
name = "status"
path_prefix = "/status"
public = true
upstreams = ["{upstream}"]
"#;

/// A gateway with the standard route, a fake auth-server and a fake upstream.
pub async fn standard() -> (TestGateway, FakeAuth, FakeUpstream) {
    let auth = FakeAuth::start().await;
    let upstream = FakeUpstream::start().await;
    let gateway = spawn_gateway(test_settings(&auth), &routes_for(&upstream, API_ROUTE)).await;
    (gateway, auth, upstream)
}

pub fn retry_after_secs(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds")
}

pub fn assert_retry_after(response: &reqwest::Response) {
    assert!(retry_after_secs(response) >= 1);
}

pub fn has_series(metrics: &str, series: &str) -> bool {
    metrics.lines().any(|line| {
        line.strip_prefix(series)
            .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// The value of one series (`name` or `name{labels}`) in the Prometheus text; 0 when absent.
pub fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse::<f64>().unwrap())
        .sum()
}
