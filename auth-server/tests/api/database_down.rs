//! When PostgreSQL goes away: the token endpoint answers 503 JSON, the authorization endpoint sends
//! the user back to the client with `temporarily_unavailable`, readiness reports it, and everything
//! recovers by itself when the database returns.

use auth_server::configuration::Settings;
use auth_server::domain::grant_type::GrantType;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use shared::testing::fault_proxy::FaultProxy;

async fn app_behind_proxy() -> (TestApp, FaultProxy) {
    app_behind_proxy_with(|_| {}).await
}

async fn app_behind_proxy_with(customize: impl FnOnce(&mut Settings)) -> (TestApp, FaultProxy) {
    let database = TestDatabase::create();
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let proxied_url = format!(
        "postgres://postgres@127.0.0.1:{}/{}{LOCAL_OPTIONS}",
        proxy.port, database.name
    );
    let mut settings = test_settings(&proxied_url);
    settings.database.acquire_timeout_ms = 500;
    // The client registration is cached (for 5 s by default), so /authorize can still validate the
    // client and redirect safely while the database is down; a long TTL keeps the test deterministic.
    settings.oauth.client_cache_ttl_ms = 60_000;
    customize(&mut settings);
    let app = start(database, settings).await;
    (app, proxy)
}

#[tokio::test]
async fn with_the_database_down_token_requests_get_503_json_and_authorize_redirects_back() {
    let (app, proxy) = app_behind_proxy().await;
    let client = app.standard_fixture();
    let pkce = Pkce::new();
    // Warm the client cache through one real request.
    let browser = Browser::new(&app);
    assert_eq!(browser.start(&client, "read", &pkce, "s").await.status(), 303);

    proxy.cut();

    let token = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", "ort_x")],
        )
        .await;
    assert_eq!(token.status(), 503);
    assert_eq!(token.headers()["cache-control"], "no-store");
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        !body.to_string().contains("postgres"),
        "no internals in the body: {body}"
    );

    let authorize = browser.start(&client, "read", &pkce, "s2").await;
    assert_eq!(authorize.status(), 302);
    let params = query_params(&location(&authorize));
    assert_eq!(params["error"], "temporarily_unavailable");
    assert_eq!(params["state"], "s2");
    assert_eq!(params["iss"], app.issuer);

    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        app.http.get(app.url("/healthz")).send().await.unwrap().status(),
        200,
        "liveness stays up"
    );
}

#[tokio::test]
async fn the_server_recovers_by_itself_when_the_database_returns() {
    let (app, proxy) = app_behind_proxy().await;
    let client = app.create_client_with_scopes();
    proxy.cut();
    assert_eq!(client_credentials(&app, &client).await, 503);

    proxy.restore();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = client_credentials(&app, &client).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} 20 s after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.http.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
}

async fn client_credentials(app: &TestApp, client: &TestClient) -> u16 {
    app.token(client, &[("grant_type", "client_credentials")])
        .await
        .status()
        .as_u16()
}

impl TestApp {
    fn create_client_with_scopes(&self) -> TestClient {
        self.create_scope("read");
        self.create_client(auth_server::admin::clients::ClientSpec {
            name: "Machine".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scope: Some("read".into()),
            ..Default::default()
        })
    }
}

#[tokio::test]
async fn with_the_database_silent_requests_and_readiness_answer_503_instead_of_hanging() {
    // A partition or a power loss: the database's connections stay open and nothing answers. With
    // no bound of our own, libpq would wait for TCP to give up (about 15 minutes).
    let (app, proxy) = app_behind_proxy_with(|settings| settings.database.statement_timeout_ms = 1000).await;
    let client = app.create_client_with_scopes();
    assert_eq!(
        client_credentials(&app, &client).await,
        200,
        "warm: pooled connections exist"
    );

    proxy.silence();

    // The pool's bound is 0.5 + 1 + 0.5 s; the client gives up after 10 s, which fails the test.
    let patient = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let token = patient
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, client.secret.as_ref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("the token endpoint answers while the database is silent");
    assert_eq!(token.status(), 503);
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let ready = patient
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readiness answers while the database is silent");
    assert_eq!(ready.status(), 503);

    // Closing the silenced connections frees the blocking threads that still wait on them.
    proxy.cut();
}
