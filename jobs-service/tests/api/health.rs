//! The jobs-service is ready only while its database answers (the standard surface itself is tested
//! in `shared/tests/http_service.rs`).

use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn readyz_answers_ok_when_the_database_answers() {
    let app = spawn_app().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_unreachable() {
    let app = spawn_app_with(|settings| {
        settings.database.url = SecretString::from("postgres://postgres@127.0.0.1:1/postgres".to_owned());
        settings.database.acquire_timeout_ms = 200;
    })
    .await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert!(body["failing"]["database"].is_string(), "{body}");
}
