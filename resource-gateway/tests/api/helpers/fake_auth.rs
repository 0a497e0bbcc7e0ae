//! A scriptable stand-in for the auth-server's introspection endpoint that counts, times and
//! logs the calls it gets.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

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
