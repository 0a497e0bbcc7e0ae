//! The service answers its health and readiness probes; readiness follows the broker link (the
//! standard surface itself is tested in `shared/tests/http_service.rs`).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::{WAIT, spawn_email_service, spawn_email_service_with};

#[tokio::test]
async fn healthz_and_readyz_answer_ok_once_connected() {
    let app = spawn_email_service().await;

    assert_eq!(app.get("/healthz").await.status(), 200);
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.get("/readyz").await.status() != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.get("/readyz").await.json::<Value>().await.unwrap()["status"],
        "ready"
    );
}

#[tokio::test]
async fn readyz_says_the_broker_is_missing_while_it_is_unreachable() {
    let app = spawn_email_service_with(|settings| {
        settings.amqp.url = SecretString::from("amqp://guest:guest@127.0.0.1:1/%2f".to_owned());
    })
    .await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["failing"]["broker"], "not connected to the message broker");
    assert_eq!(app.get("/healthz").await.status(), 200);
}
