//! The resource-gateway in front of an upstream, checking tokens with the real auth-server on
//! PostgreSQL: a token issued by client_credentials passes with the right identity (which the
//! upstream verifies with the shared extractor), and a revoked one stops passing within the
//! gateway's cache budget.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use auth_server::domain::grant_type::GrantType;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use auth_server::admin;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::identity::{GatewayIdentity, IdentitySettings, IdentityVerifier};
use shared::testing::TestDatabase;

type SeenHeaders = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// An upstream service as a team would write one: it records the headers it gets and, on
/// `/orders/{id}`, reads the caller with the shared `GatewayIdentity` extractor (verifying the
/// gateway's signed identity against its JWKS) and requires a scope.
async fn start_upstream(identity: IdentitySettings) -> (String, SeenHeaders) {
    let seen: SeenHeaders = Arc::default();
    let state = web::Data::new(seen.clone());
    let verifier = web::Data::new(IdentityVerifier::new(&identity).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(verifier.clone())
            .route("/orders/{id}", web::get().to(get_order))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), seen)
}

async fn get_order(
    request: HttpRequest,
    caller: GatewayIdentity,
    seen: web::Data<SeenHeaders>,
) -> Result<HttpResponse, shared::identity::IdentityError> {
    caller.require_scopes(&["orders:read"])?;
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
    seen.lock().unwrap().push(headers);
    Ok(HttpResponse::Ok().body(format!("orders of {}", caller.0.client_id)))
}

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
    // The auth-server on a fresh database.
    let database = TestDatabase::create();
    let mut auth_settings = auth_server::configuration::Settings::defaults().unwrap();
    auth_settings.database.url = SecretString::from(database.url.clone());
    // The key that seals the id_token signing keys (base64 of 32 bytes).
    auth_settings.keys.encryption_key =
        Some(SecretString::from("ZTJlLWtleS1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyE="));
    auth_settings.workers = 1;
    auth_settings.outbox.relay_enabled = false; // No messages in this test.
    let auth_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let auth_address = format!("http://127.0.0.1:{}", auth_listener.local_addr().unwrap().port());
    auth_settings.issuer = auth_address.clone();
    let auth = auth_server::startup::Application::build_with_listener(auth_settings.clone(), auth_listener)
        .await
        .unwrap();
    tokio::spawn(auth.run_until_stopped());

    // An API client, and the gateway's own client (allowed to introspect).
    let pool = shared::db::build_pool(&auth_settings.database);
    let mut conn = pool.get().unwrap();
    admin::scopes::create(&mut conn, "orders:read", "Read your orders").unwrap();
    let register = |conn: &mut shared::db::DbConn, name: &str, introspect: bool| {
        let spec = admin::clients::ClientSpec {
            name: name.into(),
            grant_types: vec![GrantType::ClientCredentials],
            scope: Some("orders:read".into()),
            introspect,
            ..Default::default()
        };
        admin::clients::create(conn, &spec).unwrap()
    };
    let api_client = register(&mut conn, "billing", false);
    let gateway_client = register(&mut conn, "gateway", true);
    drop(conn);

    // The gateway in front of an upstream, with a one-second cache budget. Its port is taken first:
    // the upstream verifies identities against the gateway's JWKS.
    let gateway_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway_address = format!(
        "http://127.0.0.1:{}",
        gateway_listener.local_addr().unwrap().port()
    );
    let identity = IdentitySettings {
        jwks_url: format!("{gateway_address}/.well-known/jwks.json"),
        issuer: "resource-gateway".into(),
        audience: "upstreams".into(),
        jwks_refresh_secs: 10,
        jwks_max_age_secs: 300,
        jwks_timeout_ms: 1000,
        leeway_secs: 5,
    };
    let (upstream, seen) = start_upstream(identity).await;
    let routes = std::env::temp_dir().join(format!("e2e-routes-{}.toml", std::process::id()));
    std::fs::write(
        &routes,
        format!(
            "[[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\nupstreams = \
            [\"{upstream}\"]\nscopes = {{ all_of = [\"orders:read\"] }}\n"
        ),
    )
    .unwrap();
    let mut gateway_settings = resource_gateway::configuration::Settings::defaults().unwrap();
    gateway_settings.listen_addr = "127.0.0.1:0".into();
    gateway_settings.workers = 1;
    gateway_settings.routes_file = routes.to_string_lossy().into_owned();
    gateway_settings.introspection.url = format!("{auth_address}/oauth2/introspect");
    gateway_settings.introspection.client_id = gateway_client.client_id.clone();
    gateway_settings.introspection.client_secret =
        SecretString::from(gateway_client.client_secret.clone().unwrap());
    gateway_settings.cache.max_ttl_secs = 1;
    let gateway =
        resource_gateway::startup::Application::build_with_listener(gateway_settings, gateway_listener)
            .await
            .unwrap();
    tokio::spawn(gateway.run_until_stopped());
    let http = reqwest::Client::new();

    // A token from the auth-server opens the gateway.
    let issued: serde_json::Value = http
        .post(format!("{auth_address}/oauth2/token"))
        .basic_auth(&api_client.client_id, api_client.client_secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let response = http
        .get(format!("{gateway_address}/orders/7"))
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
        .post(format!("{auth_address}/oauth2/revoke"))
        .basic_auth(&api_client.client_id, api_client.client_secret.as_deref())
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = http
            .get(format!("{gateway_address}/orders/7"))
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
    let _ = std::fs::remove_file(&routes);
}
