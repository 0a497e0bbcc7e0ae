//! The test harness: the real gateway on a free port, between a scriptable fake auth-server and a
//! fake upstream, both of which count the calls they get.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use resource_gateway::configuration::Settings;
use resource_gateway::startup::{Application, RouteReloader};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::configuration::Layered;

pub const GATEWAY_CLIENT_ID: &str = "gateway";
pub const GATEWAY_CLIENT_SECRET: &str = "gateway-secret";

/// What the fake auth-server does with the next introspection.
#[derive(Clone, Debug)]
pub enum AuthBehaviour {
    /// Answers from its token table (unknown tokens are inactive).
    Answer,
    /// Answers this HTTP status with an empty body.
    Status(u16),
    /// Accepts and never answers.
    Hang,
}

/// A scriptable stand-in for the auth-server's introspection endpoint.
#[derive(Clone)]
pub struct FakeAuth {
    pub url: String,
    calls: Arc<AtomicUsize>,
    call_times: Arc<Mutex<Vec<Instant>>>,
    tokens: Arc<Mutex<HashMap<String, Value>>>,
    behaviour: Arc<Mutex<AuthBehaviour>>,
    delay: Arc<Mutex<Duration>>,
    /// Each call's token and arrival time, in arrival order.
    call_log: Arc<Mutex<Vec<(String, Instant)>>>,
    /// The next this many calls answer this status, whatever the behaviour.
    failures_ahead: Arc<Mutex<(usize, u16)>>,
    /// While true, every call waits (after the delay) until it turns false.
    held: Arc<tokio::sync::watch::Sender<bool>>,
}

impl FakeAuth {
    pub async fn start() -> FakeAuth {
        let fake = FakeAuth {
            url: String::new(),
            calls: Arc::default(),
            call_times: Arc::default(),
            tokens: Arc::default(),
            behaviour: Arc::new(Mutex::new(AuthBehaviour::Answer)),
            delay: Arc::default(),
            call_log: Arc::default(),
            failures_ahead: Arc::default(),
            held: Arc::new(tokio::sync::watch::Sender::new(false)),
        };
        let state = web::Data::new(fake.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/introspect", web::post().to(introspect))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        FakeAuth {
            url: format!("http://127.0.0.1:{port}/introspect"),
            ..fake
        }
    }

    /// Makes `token` an active access token with these scopes, for `ttl` from now.
    pub fn issue(&self, token: &str, scope: &str, ttl: Duration) {
        let exp = unix_now() + ttl.as_secs() as i64;
        let answer = json!({
            "active": true, "scope": scope, "client_id": "app-1", "sub": "user-42", "username": "alice",
            "token_type": "Bearer", "token_use": "access_token", "exp": exp, "iat": unix_now(),
        });
        self.tokens.lock().unwrap().insert(token.to_owned(), answer);
    }

    /// Makes `token` answer exactly `answer`.
    pub fn answer(&self, token: &str, answer: Value) {
        self.tokens.lock().unwrap().insert(token.to_owned(), answer);
    }

    pub fn set_behaviour(&self, behaviour: AuthBehaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn call_times(&self) -> Vec<Instant> {
        self.call_times.lock().unwrap().clone()
    }

    /// The arrival times of the calls for each token, in arrival order.
    pub fn call_times_by_token(&self) -> HashMap<String, Vec<Instant>> {
        let mut by_token: HashMap<String, Vec<Instant>> = HashMap::new();
        for (token, at) in self.call_log.lock().unwrap().iter() {
            by_token.entry(token.clone()).or_default().push(*at);
        }
        by_token
    }

    /// Calls from now on wait, without answering, until [`FakeAuth::release`].
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    /// Lets the held calls (and later ones) answer.
    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// The next `count` calls answer `status` (after the delay), then the behaviour applies again.
    pub fn fail_next(&self, count: usize, status: u16) {
        *self.failures_ahead.lock().unwrap() = (count, status);
    }
}

async fn introspect(
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    fake: web::Data<FakeAuth>,
) -> HttpResponse {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    let arrived = Instant::now();
    fake.call_times.lock().unwrap().push(arrived);
    let token = form.get("token").cloned().unwrap_or_default();
    fake.call_log.lock().unwrap().push((token, arrived));
    let delay = *fake.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let _ = fake.held.subscribe().wait_for(|held| !held).await;
    let scripted_failure = {
        let mut failures_ahead = fake.failures_ahead.lock().unwrap();
        (failures_ahead.0 > 0).then(|| {
            failures_ahead.0 -= 1;
            failures_ahead.1
        })
    };
    if let Some(status) = scripted_failure {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish();
    }
    let behaviour = fake.behaviour.lock().unwrap().clone();
    match behaviour {
        AuthBehaviour::Hang => std::future::pending::<HttpResponse>().await,
        AuthBehaviour::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
        }
        AuthBehaviour::Answer => {
            let expected = format!(
                "Basic {}",
                base64_credentials(GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET)
            );
            if request
                .headers()
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                != Some(expected.as_str())
            {
                return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
            }
            let token = form.get("token").cloned().unwrap_or_default();
            let answer = fake
                .tokens
                .lock()
                .unwrap()
                .get(&token)
                .cloned()
                .unwrap_or_else(|| json!({"active": false}));
            HttpResponse::Ok().json(answer)
        }
    }
}

fn base64_credentials(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A request as the fake upstream saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body_len: usize,
}

/// A stand-in upstream that records what it receives and answers a scripted status.
#[derive(Clone)]
pub struct FakeUpstream {
    pub base: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    status: Arc<Mutex<u16>>,
    delay: Arc<Mutex<Duration>>,
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let fake = FakeUpstream {
            base: String::new(),
            seen: Arc::default(),
            status: Arc::new(Mutex::new(200)),
            delay: Arc::default(),
        };
        let state = web::Data::new(fake.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        FakeUpstream {
            base: format!("http://127.0.0.1:{port}"),
            ..fake
        }
    }

    pub fn set_status(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    /// Every answer waits this long after the request is recorded.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn record(request: HttpRequest, body: web::Bytes, fake: web::Data<FakeUpstream>) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let seen = SeenRequest {
        method: request.method().to_string(),
        path: request.uri().to_string(),
        headers,
        body_len: body.len(),
    };
    fake.seen.lock().unwrap().push(seen.clone());
    let delay = *fake.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = *fake.status.lock().unwrap();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"method": seen.method, "path": seen.path, "body_len": seen.body_len}))
}

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
