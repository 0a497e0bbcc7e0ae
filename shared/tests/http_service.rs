//! The standard HTTP surface every service gets from `HttpService`: health, readiness, metrics,
//! request ids, security headers and a JSON 404, on a real server.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::net::TcpListener;

use actix_web::{HttpResponse, web};
use serde_json::Value;
use shared::configuration::ShutdownSettings;
use shared::health::{Readiness, ReadinessCheck};
use shared::server::HttpService;

struct TestService {
    address: String,
    readiness: Readiness,
}

async fn start(checks: Vec<(&'static str, ReadinessCheck)>) -> TestService {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let readiness = Readiness::new(checks);
    let shutdown = ShutdownSettings {
        drain_delay_ms: 0,
        timeout_ms: 1000,
    };
    let routes = |cfg: &mut web::ServiceConfig| {
        cfg.route(
            "/hello",
            web::get().to(|| async { HttpResponse::Ok().body("hi") }),
        );
    };
    let service = HttpService::start(listener, 1, shutdown, readiness.clone(), routes).unwrap();
    let address = format!("http://127.0.0.1:{}", service.port());
    tokio::spawn(service.run_until_stopped());
    TestService { address, readiness }
}

async fn get(service: &TestService, path: &str) -> reqwest::Response {
    reqwest::get(format!("{}{path}", service.address)).await.unwrap()
}

fn failing_check() -> ReadinessCheck {
    Box::new(|| Box::pin(async { Err("unreachable".to_owned()) }))
}

#[tokio::test]
async fn the_service_routes_are_served_among_the_standard_ones() {
    let service = start(Vec::new()).await;

    let response = get(&service, "/hello").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.text().await.unwrap(), "hi");
}

#[tokio::test]
async fn readiness_fails_while_a_check_fails_but_liveness_does_not() {
    let service = start(vec![("database", failing_check())]).await;

    let ready = get(&service, "/readyz").await;

    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["failing"]["database"],
        "unreachable"
    );
    assert_eq!(get(&service, "/healthz").await.status(), 200);
}

#[tokio::test]
async fn readiness_goes_false_once_shutdown_begins() {
    let service = start(Vec::new()).await;
    assert_eq!(get(&service, "/readyz").await.status(), 200);

    service.readiness.begin_shutdown();

    let ready = get(&service, "/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "shutting_down");
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_in_the_prometheus_output() {
    let service = start(Vec::new()).await;
    get(&service, "/hello").await;

    let metrics = get(&service, "/metrics").await;

    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("http_requests_total") && line.contains("route=\"/hello\"")),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "durations are histograms"
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404_carrying_the_request_id() {
    let service = start(Vec::new()).await;

    let response = get(&service, "/no/such/path").await;

    assert_eq!(response.status(), 404);
    let header = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["request_id"], header.as_str());
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_adopted_and_a_forged_one_replaced() {
    let service = start(Vec::new()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/hello", service.address);

    let adopted = client
        .get(&url)
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    let replaced = client
        .get(&url)
        .header("x-request-id", "evil\" injected")
        .send()
        .await
        .unwrap();

    assert_eq!(adopted.headers()["x-request-id"], "trace-abc-123");
    assert_ne!(replaced.headers()["x-request-id"], "evil\" injected");
}
