//! A stand-in upstream that records what it receives and answers a scripted status.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

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
