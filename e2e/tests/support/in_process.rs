//! The platform's services started inside the test process (the crates' own `Application`s), with a
//! recording upstream behind the gateway: for tests of how the services work together, where
//! separate processes would add nothing but start-up time.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use auth_server::admin;
use auth_server::domain::grant_type::GrantType;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::identity::{GatewayIdentity, IdentitySettings, IdentityVerifier};
use shared::server::Listeners;
use shared::server::tls::{ServerTls, TlsSettings};
use shared::testing::TestDatabase;

/// The key that seals the id_token signing keys in these tests (base64 of 32 bytes).
const TEST_ENCRYPTION_KEY: &str = "ZTJlLWtleS1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyE=";

/// A running auth-server on a database of its own, with the `orders:read` scope registered.
pub struct AuthServer {
    /// `http(s)://127.0.0.1:port`, also its issuer.
    pub address: String,
    settings: auth_server::configuration::Settings,
    _database: TestDatabase,
}

/// Listeners on a free port of 127.0.0.1, speaking TLS when `tls` names a certificate; and the
/// base URL they answer on.
pub fn listeners(tls: &TlsSettings) -> (Listeners, String) {
    let public = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = public.local_addr().expect("bound").port();
    let tls = ServerTls::load(tls).expect("usable test certificates");
    let listeners = Listeners {
        public,
        admin: None,
        tls,
    };
    let address = format!("{}://localhost:{port}", listeners.scheme());
    (listeners, address)
}

impl AuthServer {
    /// Starts the auth-server on a fresh database, serving TLS when `tls` names a certificate.
    pub async fn start(tls: &TlsSettings) -> AuthServer {
        let database = TestDatabase::create();
        let mut settings = auth_server::configuration::Settings::defaults().expect("default settings");
        settings.database.url = SecretString::from(database.url.clone());
        settings.keys.encryption_key = Some(SecretString::from(TEST_ENCRYPTION_KEY));
        settings.workers = 1;
        settings.outbox.relay_enabled = false; // No messages in these tests.
        settings.tls = tls.clone();
        let (listeners, address) = listeners(tls);
        settings.issuer = address.clone();
        let application = auth_server::startup::Application::build_with_listener(settings.clone(), listeners)
            .await
            .expect("the auth-server starts");
        tokio::spawn(application.run_until_stopped());
        let server = AuthServer {
            address,
            settings,
            _database: database,
        };
        let mut conn = server.connection();
        admin::scopes::create(&mut conn, "orders:read", "Read your orders").expect("a scope");
        server
    }

    fn connection(&self) -> shared::db::PooledDbConn {
        shared::db::build_pool(&self.settings.database)
            .get()
            .expect("a database connection")
    }

    /// Registers a confidential client_credentials client with `orders:read`; `introspect` lets it
    /// call the introspection endpoint (as the gateway's own client does).
    pub fn register(&self, name: &str, introspect: bool) -> admin::clients::CreatedClient {
        let spec = admin::clients::ClientSpec {
            name: name.into(),
            grant_types: vec![GrantType::ClientCredentials],
            scope: Some("orders:read".into()),
            introspect,
            ..Default::default()
        };
        admin::clients::create(&mut self.connection(), &spec).expect("a registered client")
    }

    /// An access token for `client` by client_credentials.
    pub async fn token(&self, http: &reqwest::Client, client: &admin::clients::CreatedClient) -> String {
        let issued: serde_json::Value = http
            .post(format!("{}/oauth2/token", self.address))
            .basic_auth(&client.client_id, client.client_secret.as_deref())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("the token endpoint answers")
            .json()
            .await
            .expect("a JSON token response");
        issued["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }
}

/// The headers each request reached the upstream with.
pub type SeenHeaders = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// An upstream service as a team would write one: it records the headers it gets and, on
/// `/orders/{id}`, reads the caller with the shared `GatewayIdentity` extractor (verifying the
/// gateway's signed identity against its JWKS, trusting `tls.ca_file`) and requires a scope. It
/// serves TLS when `tls` names a certificate.
pub async fn start_upstream(identity: IdentitySettings, tls: &TlsSettings) -> (String, SeenHeaders) {
    let seen: SeenHeaders = Arc::default();
    let state = web::Data::new(seen.clone());
    let verifier = web::Data::new(IdentityVerifier::with_tls(&identity, tls).expect("a verifier"));
    let (listeners, address) = listeners(tls);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(verifier.clone())
            .route("/orders/{id}", web::get().to(get_order))
    })
    .workers(1)
    .disable_signals();
    let server = match listeners.tls {
        Some(tls) => server.listen_rustls_0_23(listeners.public, tls.config()),
        None => server.listen(listeners.public),
    }
    .expect("the upstream listens")
    .run();
    tokio::spawn(server);
    (address, seen)
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
    seen.lock().expect("not poisoned").push(headers);
    Ok(HttpResponse::Ok().body(format!("orders of {}", caller.0.client_id)))
}

/// A gateway in front of one upstream, checking tokens at `auth`.
pub struct Gateway {
    /// `http(s)://localhost:port`.
    pub address: String,
    routes_file: PathBuf,
}

/// What the gateway's upstream verifies its identity tokens with: the gateway's JWKS at `address`.
pub fn identity_settings(gateway_address: &str) -> IdentitySettings {
    IdentitySettings {
        jwks_url: format!("{gateway_address}/.well-known/jwks.json"),
        issuer: "resource-gateway".into(),
        audience: "upstreams".into(),
        jwks_refresh_secs: 10,
        jwks_max_age_secs: 300,
        jwks_timeout_ms: 1000,
        leeway_secs: 5,
    }
}

impl Gateway {
    /// Starts a gateway on `listeners` (taken first: its upstream needs the JWKS address) routing
    /// `/orders` to `upstream` with `orders:read` required, introspecting at `auth` as `client`,
    /// trusting `tls.ca_file`, its cache trusting an answer for `max_ttl_secs`.
    pub async fn start(
        (listeners, address): (Listeners, String),
        auth: &AuthServer,
        client: &admin::clients::CreatedClient,
        upstream: &str,
        tls: &TlsSettings,
        max_ttl_secs: u64,
    ) -> Gateway {
        static ROUTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let routes_file = std::env::temp_dir().join(format!(
            "e2e-routes-{}-{}.toml",
            std::process::id(),
            ROUTES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(
            &routes_file,
            format!(
                "[[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\nupstreams = \
                [\"{upstream}\"]\nscopes = {{ all_of = [\"orders:read\"] }}\n"
            ),
        )
        .expect("write the routes file");
        let mut settings = resource_gateway::configuration::Settings::defaults().expect("default settings");
        settings.workers = 1;
        settings.routes_file = routes_file.to_string_lossy().into_owned();
        settings.introspection.url = format!("{}/oauth2/introspect", auth.address);
        settings.introspection.client_id = client.client_id.clone();
        settings.introspection.client_secret =
            SecretString::from(client.client_secret.clone().expect("a confidential client"));
        settings.cache.max_ttl_secs = max_ttl_secs;
        settings.tls = tls.clone();
        let application = resource_gateway::startup::Application::build_with_listener(settings, listeners)
            .await
            .expect("the gateway starts");
        tokio::spawn(application.run_until_stopped());
        Gateway { address, routes_file }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.routes_file);
    }
}
