//! The test harness: the real application on port 0 against a fresh PostgreSQL database, plus a
//! browser (a cookie-keeping HTTP client that follows nothing by itself) and OAuth helpers.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;

use auth_server::admin;
use auth_server::admin::clients::{ClientSpec, CreatedClient};
use auth_server::configuration::Settings;
use auth_server::startup::Application;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::LOCATION;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::configuration::Layered;
use shared::db::{DbConn, DbPool};

pub use shared::testing::{LOCAL_OPTIONS, TestDatabase};

/// A running application and what tests need to talk to it.
pub struct TestApp {
    pub address: String,
    pub issuer: String,
    pub pool: DbPool,
    pub http: reqwest::Client,
    pub settings: Settings,
    /// Dropped (the database with it) when the last holder is: after every connection above.
    pub database: std::sync::Arc<TestDatabase>,
}

/// Settings for tests: the defaults with a fresh database and no client cache (so registrations
/// made during a test are seen at once).
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::defaults().expect("the built-in defaults load");
    settings.database.url = SecretString::from(database_url.to_owned());
    settings.database.pool_size = 6;
    settings.database.acquire_timeout_ms = 2000;
    settings.oauth.client_cache_ttl_ms = 0;
    settings.workers = 2;
    // The outbox is checked in the database; the relay to RabbitMQ is tested in the e2e crate.
    settings.outbox.relay_enabled = false;
    settings.keys.encryption_key = Some(SecretString::from(TEST_KEY_ENCRYPTION_KEY.to_owned()));
    settings
}

/// The `keys.encryption_key` of tests (base64 of 32 bytes; a secret only in production).
pub const TEST_KEY_ENCRYPTION_KEY: &str = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the application after `customize` has changed its settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::create();
    let mut settings = test_settings(&database.url);
    customize(&mut settings);
    start(database, settings).await
}

/// Starts the application on a database created beforehand (with `settings` pointing at it).
pub async fn start(database: TestDatabase, mut settings: Settings) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        shared::telemetry::init("auth-server-test", &settings.log);
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().unwrap().port();
    settings.listen_addr = format!("127.0.0.1:{port}");
    settings.issuer = format!("http://127.0.0.1:{port}");
    let application = Application::build_with_listener(settings.clone(), listener)
        .await
        .expect("the application builds");
    tokio::spawn(application.run_until_stopped());

    let pool = shared::db::build_pool(&shared::configuration::DatabaseSettings {
        url: SecretString::from(database.url.clone()),
        pool_size: 2,
        ..settings.database.clone()
    });
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        issuer: settings.issuer.clone(),
        pool,
        http: no_redirect_client(false),
        settings,
        database: std::sync::Arc::new(database),
    }
}

pub fn no_redirect_client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .build()
        .unwrap()
}

/// A registered client and its credentials.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// A PKCE pair.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce { verifier, challenge }
    }
}

/// Tokens from a successful token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl TestApp {
    pub fn conn(&self) -> shared::db::PooledDbConn {
        self.pool.get().expect("a test database connection")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn create_scope(&self, name: &str) {
        admin::scopes::create(&mut self.conn(), name, &format!("Lets the app {name} your data")).unwrap();
    }

    pub fn create_user(&self, username: &str, password: &str, scope: &str) -> String {
        let spec = admin::users::UserSpec {
            username: username.to_owned(),
            email: format!("{username}@example.test"),
            scope: Some(scope.to_owned()),
            password: SecretString::from(password.to_owned()),
        };
        admin::users::create(&mut self.conn(), &spec).unwrap().id
    }

    pub fn create_client(&self, spec: ClientSpec) -> TestClient {
        let CreatedClient {
            client_id,
            client_secret,
        } = admin::clients::create(&mut self.conn(), &spec).unwrap();
        TestClient {
            id: client_id,
            secret: client_secret,
            redirect_uri: spec.redirect_uris.first().cloned().unwrap_or_default(),
        }
    }

    /// The usual cast: scopes read, write and admin; alice (read write) with password
    /// `alice-password`; a confidential web client allowed read and write.
    pub fn standard_fixture(&self) -> TestClient {
        for scope in ["read", "write", "admin"] {
            self.create_scope(scope);
        }
        self.create_user("alice", "alice-password", "read write");
        self.create_client(web_client_spec())
    }

    /// A confidential client that may introspect.
    pub fn introspector(&self) -> TestClient {
        self.create_client(ClientSpec {
            name: "Resource server".into(),
            grant_types: vec!["client_credentials".into()],
            introspect: true,
            ..Default::default()
        })
    }

    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(form_encode(id), Some(form_encode(secret)));
        }
        request.send().await.expect("the server answers")
    }

    /// POST /oauth2/token authenticated with client_secret_basic (or as a public client).
    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        match &client.secret {
            Some(secret) => {
                self.post_form("/oauth2/token", form, Some((&client.id, secret)))
                    .await
            }
            None => {
                let mut with_id = form.to_vec();
                with_id.push(("client_id", &client.id));
                self.post_form("/oauth2/token", &with_id, None).await
            }
        }
    }

    pub async fn introspect(&self, introspector: &TestClient, token: &str) -> Value {
        let response = self
            .post_form(
                "/oauth2/introspect",
                &[("token", token)],
                Some((&introspector.id, introspector.secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn refresh(&self, client: &TestClient, refresh_token: &str) -> reqwest::Response {
        self.token(
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .await
    }

    /// Runs the whole authorization code flow in a fresh browser and returns the code.
    pub async fn authorization_code(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        scope: &str,
        pkce: &Pkce,
    ) -> String {
        let browser = Browser::new(self);
        browser
            .sign_in_and_consent(client, username, password, scope, pkce)
            .await
    }

    /// Authorization code flow and code exchange: the tokens alice gets for `client`.
    pub async fn tokens_for_alice(&self, client: &TestClient, scope: &str) -> Tokens {
        let pkce = Pkce::new();
        let code = self
            .authorization_code(client, "alice", "alice-password", scope, &pkce)
            .await;
        let response = self.exchange_code(client, &code, &pkce.verifier).await;
        assert_eq!(response.status(), 200, "the code exchange succeeds");
        tokens(response).await
    }

    pub async fn exchange_code(&self, client: &TestClient, code: &str, verifier: &str) -> reqwest::Response {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// Runs a closure on a direct database connection.
    pub fn with_db<T>(&self, work: impl FnOnce(&mut DbConn) -> T) -> T {
        work(&mut self.conn())
    }

    pub fn database_url(&self) -> &str {
        self.settings.database.url.expose_secret()
    }
}

/// The spec of a confidential web client with `https://client.test/cb`.
pub fn web_client_spec() -> ClientSpec {
    ClientSpec {
        name: "Web App".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: vec!["https://client.test/cb".into()],
        scope: Some("read write".into()),
        ..Default::default()
    }
}

pub async fn tokens(response: reqwest::Response) -> Tokens {
    let body: Value = response.json().await.unwrap();
    Tokens {
        access_token: body["access_token"].as_str().expect("an access token").to_owned(),
        refresh_token: body["refresh_token"].as_str().map(str::to_owned),
        scope: body["scope"].as_str().unwrap_or_default().to_owned(),
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (for Basic credentials, RFC 6749 §2.3.1).
pub fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A browser: keeps cookies, follows no redirect by itself.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub http: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            http: no_redirect_client(true),
        }
    }

    /// The /oauth2/authorize URL for a client with PKCE and a state.
    pub fn authorize_url(&self, client: &TestClient, scope: &str, pkce: &Pkce, state: &str) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &client.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        self.app.url(&format!("/oauth2/authorize?{query}"))
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        let url = if url.starts_with('/') {
            self.app.url(url)
        } else {
            url.to_owned()
        };
        self.http.get(url).send().await.expect("the server answers")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.app.url(path))
            .form(form)
            .send()
            .await
            .expect("the server answers")
    }

    /// Starts a flow and returns the login page's HTML (following the redirect to /login).
    pub async fn start(
        &self,
        client: &TestClient,
        scope: &str,
        pkce: &Pkce,
        state: &str,
    ) -> reqwest::Response {
        self.get(&self.authorize_url(client, scope, pkce, state)).await
    }

    /// Submits the login form of the page at `login_location`.
    pub async fn submit_login(
        &self,
        login_location: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.get(login_location).await.text().await.unwrap();
        let request = hidden_field(&page, "request");
        let csrf = hidden_field(&page, "csrf_token");
        self.post(
            "/login",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Submits the consent form of the page at `consent_location`.
    pub async fn submit_consent(&self, consent_location: &str, decision: &str) -> reqwest::Response {
        let page = self.get(consent_location).await.text().await.unwrap();
        let request = hidden_field(&page, "request");
        let csrf = hidden_field(&page, "csrf_token");
        self.post(
            "/consent",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("decision", decision),
            ],
        )
        .await
    }

    /// Authorize, sign in, consent if asked; returns the code from the final redirect.
    pub async fn sign_in_and_consent(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        scope: &str,
        pkce: &Pkce,
    ) -> String {
        let state = "xyz";
        let mut response = self.start(client, scope, pkce, state).await;
        let mut location = location(&response);
        if location.starts_with("/login") {
            response = self.submit_login(&location, username, password).await;
            assert_eq!(response.status(), 303, "a successful sign-in answers 303");
            location = crate::helpers::location(&response);
        }
        if location.starts_with("/consent") {
            response = self.submit_consent(&location, "allow").await;
            assert_eq!(response.status(), 303);
            location = crate::helpers::location(&response);
        }
        let params = query_params(&location);
        assert_eq!(
            params.get("state").map(String::as_str),
            Some(state),
            "the state comes back: {location}"
        );
        params
            .get("code")
            .cloned()
            .unwrap_or_else(|| panic!("a code in {location}"))
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("a Location header on a {} response", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The query parameters of a URL (relative or absolute).
pub fn query_params(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map(|(_, query)| query).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

pub use shared::testing::html::hidden_field;

// The token, introspection and revocation endpoints: clients, requests and the error format.

/// The spec of a public client (no secret) of the code flow with `https://client.test/cb`.
pub fn public_web_client_spec() -> ClientSpec {
    ClientSpec {
        name: "Mobile App".into(),
        public: true,
        ..web_client_spec()
    }
}

/// The spec of a confidential client that acts on its own behalf (client_credentials only).
pub fn service_client_spec(scope: &str) -> ClientSpec {
    ClientSpec {
        name: "Batch service".into(),
        grant_types: vec!["client_credentials".into()],
        scope: Some(scope.to_owned()),
        ..Default::default()
    }
}

impl TestApp {
    /// POSTs a form to `path` as `client`: client_secret_basic when it has a secret, otherwise
    /// (a public client) with only `client_id` in the body.
    pub async fn post_as_client(
        &self,
        client: &TestClient,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        match &client.secret {
            Some(secret) => self.post_form(path, form, Some((&client.id, secret))).await,
            None => {
                let mut with_id = form.to_vec();
                with_id.push(("client_id", &client.id));
                self.post_form(path, &with_id, None).await
            }
        }
    }

    /// POST /oauth2/token with `grant_type=client_credentials` and, if given, a scope.
    pub async fn client_credentials(&self, client: &TestClient, scope: Option<&str>) -> reqwest::Response {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(scope.map(|scope| ("scope", scope)));
        self.token(client, &form).await
    }

    /// POST /oauth2/revoke of `token` by `client`.
    pub async fn revoke(&self, client: &TestClient, token: &str) -> reqwest::Response {
        self.post_as_client(client, "/oauth2/revoke", &[("token", token)])
            .await
    }

    /// The id of a user, for comparing with `sub`.
    pub fn user_id(&self, username: &str) -> String {
        auth_server::db::users::find_by_username(&mut self.conn(), username)
            .expect("the users table answers")
            .unwrap_or_else(|| panic!("a user named {username}"))
            .id
    }
}

/// Checks an OAuth error response (RFC 6749 §5.2) and returns its body: the status, `no-store` and
/// `no-cache`, a JSON body with the error code, a description of the allowed characters only, and
/// the request id that the `x-request-id` header also carries.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "the status of a {error} error"
    );
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("an ASCII content type")
            .starts_with("application/json"),
        "{headers:?}"
    );
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().expect("an error_description");
    assert!(
        description
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
        "error_description has characters outside %x20-21 / %x23-5B / %x5D-7E: {description:?}"
    );
    let request_id = body["request_id"].as_str().expect("a request_id");
    assert_eq!(headers["x-request-id"], request_id);
    body
}

pub type HttpFuture = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, reqwest::Error>> + Send>>;

/// The `oauth2` and `openidconnect` crates (one `oauth2` 5 underneath) speak `http` types; this adapts
/// our reqwest 0.13 to them (their own adapter is for reqwest 0.12, left out with default features).
pub fn rp_http(client: reqwest::Client) -> impl Fn(oauth2::HttpRequest) -> HttpFuture {
    move |request| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok(builder
                .body(response.bytes().await?.to_vec())
                .expect("a valid response"))
        })
    }
}
