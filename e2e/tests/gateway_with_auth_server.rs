//! The resource-gateway in front of an upstream, checking tokens with the real auth-server on
//! PostgreSQL: a token issued by client_credentials passes with the right identity (which the
//! upstream verifies with the shared extractor), and a revoked one stops passing within the
//! gateway's cache budget.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use shared::server::tls::TlsSettings;
use support::in_process::{AuthServer, Gateway, identity_settings, listeners, start_upstream};

#[tokio::test]
async fn a_client_credentials_token_passes_the_gateway_with_its_identity_until_it_is_revoked() {
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init(
            "e2e",
            &shared::telemetry::LogSettings {
                format: shared::telemetry::LogFormat::Pretty,
                filter: "info".into(),
            },
        );
    }
    let plain = TlsSettings::default();
    let auth = AuthServer::start(&plain).await;
    // An API client, and the gateway's own client (allowed to introspect).
    let api_client = auth.register("billing", false);
    let gateway_client = auth.register("gateway", true);
    // The gateway's port is taken first: the upstream verifies identities against its JWKS.
    let (gateway_listeners, gateway_address) = listeners(&plain);
    let (upstream, seen) = start_upstream(identity_settings(&gateway_address), &plain).await;
    // A one-second cache budget.
    let gateway = Gateway::start(
        (gateway_listeners, gateway_address),
        &auth,
        &gateway_client,
        &upstream,
        &plain,
        1,
    )
    .await;
    let http = reqwest::Client::new();

    // A token from the auth-server opens the gateway.
    let token = auth.token(&http, &api_client).await;
    let response = http
        .get(format!("{}/orders/7", gateway.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, format!("orders of {}", api_client.client_id));

    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["x-auth-client-id"], api_client.client_id);
    assert_eq!(
        headers["x-auth-subject"], api_client.client_id,
        "a client_credentials token's subject is the client"
    );
    assert_eq!(headers["x-auth-scopes"], "orders:read");
    assert!(!headers.contains_key("x-auth-username"));

    // Revoked at the auth-server, the token stops passing within the one-second cache budget.
    let revoked = http
        .post(format!("{}/oauth2/revoke", auth.address))
        .basic_auth(&api_client.client_id, api_client.client_secret.as_deref())
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = http
            .get(format!("{}/orders/7", gateway.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            Instant::now() < deadline,
            "a revoked token still passes 10 s later"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
