//! The real binary with JSON logs at debug level, through a whole flow with failures: no password,
//! token, code, client secret or email address may appear in its output; SIGTERM exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_server::domain::ids::UserId;
use shared::messaging::topology::Topology;
use shared::testing::amqp::{TopologyGuard, amqp_url, unique_namespace};

use crate::helpers::*;

#[tokio::test]
async fn no_secret_reaches_the_logs_and_sigterm_stops_the_server_cleanly() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let introspector = app.introspector();
    // The binary relays its outbox (the security alert, the reset email) to a namespace of ours.
    let namespace = unique_namespace();
    let _broker = TopologyGuard::new(Topology::new(&namespace));
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-server"))
        .env("DATABASE_URL", app.database_url())
        .env("AMQP_URL", amqp_url())
        .env("AUTH_AMQP__NAMESPACE", &namespace)
        .env("AUTH_LISTEN_ADDR", "127.0.0.1:0")
        .env("AUTH_LOG__FORMAT", "json")
        .env("AUTH_KEYS__ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_KEY)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let port = capture(child.stdout.take().unwrap(), output.clone());
    capture(child.stderr.take().unwrap(), output.clone());
    let port = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || port.recv().unwrap()),
    )
    .await
    .expect("the server starts within 30 s")
    .unwrap();
    let server = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        ..app_view(&app)
    };

    // A whole flow, failures included, against the binary.
    let browser = Browser::new(&server);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "state-value").await);
    browser.submit_login(&login, "alice", "wrong-password-123").await;
    browser
        .submit_login(&login, "alice@example.test", "another-wrong-one")
        .await;
    let pkce = Pkce::new();
    let code = server
        .authorization_code(&client, "alice", "alice-password", "read", &pkce)
        .await;
    let issued = tokens(server.exchange_code(&client, &code, &pkce.verifier).await).await;
    server.exchange_code(&client, &code, &pkce.verifier).await;
    let refresh_token = issued.refresh_token.clone().unwrap();
    server.refresh(&client, &refresh_token).await;
    server.refresh(&client, &refresh_token).await;
    server.introspect(&introspector, &issued.access_token).await;
    server
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((&client.id, "ocs_wrong-secret-value")),
        )
        .await;
    server
        .post_form(
            "/oauth2/revoke",
            &[("token", &issued.access_token)],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;

    // OpenID Connect: an id_token, userinfo with a personal claim, and a logout with the hint.
    let oidc_client = app.create_client(auth_server::admin::clients::ClientSpec {
        name: "OIDC App".into(),
        scope: Some("openid profile read".into()),
        ..web_client_spec()
    });
    let alice = UserId::from(app.user_id("alice"));
    app.with_db(|conn| {
        let scopes = auth_server::domain::scope::ScopeSet::parse("openid profile read write").unwrap();
        auth_server::db::users::set_scopes(conn, &alice, &scopes).unwrap();
        let now = auth_server::domain::time::now();
        auth_server::db::user_claims::set(conn, &alice, "family_name", r#""Liddell-Secret""#, now).unwrap();
    });
    let oidc_pkce = Pkce::new();
    let oidc_code = server
        .authorization_code(
            &oidc_client,
            "alice",
            "alice-password",
            "openid profile read",
            &oidc_pkce,
        )
        .await;
    let oidc_tokens: serde_json::Value = server
        .exchange_code(&oidc_client, &oidc_code, &oidc_pkce.verifier)
        .await
        .json()
        .await
        .unwrap();
    let id_token = oidc_tokens["id_token"].as_str().expect("an id_token").to_owned();
    let userinfo: serde_json::Value = server
        .http
        .get(server.url("/oauth2/userinfo"))
        .bearer_auth(oidc_tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["family_name"], "Liddell-Secret");
    server
        .http
        .get(server.url(&format!("/oauth2/logout?id_token_hint={id_token}")))
        .send()
        .await
        .unwrap();
    let forgot = browser.get("/password/forgot").await.text().await.unwrap();
    let csrf = hidden_field(&forgot, "csrf_token");
    browser
        .post(
            "/password/forgot",
            &[("csrf_token", &csrf), ("email", "alice@example.test")],
        )
        .await;

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(
        status.success(),
        "SIGTERM ends the server with exit code 0, got {status}"
    );

    let logs = output.lock().unwrap().clone();
    assert!(
        logs.contains("signed in"),
        "the logs did capture the flow:\n{logs}"
    );
    for secret in [
        "alice-password",
        "wrong-password-123",
        "another-wrong-one",
        "alice@example.test",
        code.as_str(),
        &pkce.verifier,
        &issued.access_token,
        &refresh_token,
        client.secret.as_deref().unwrap(),
        "ocs_wrong-secret-value",
        TEST_KEY_ENCRYPTION_KEY,
        &id_token,
        "Liddell-Secret",
    ] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
    for line in logs.lines().filter(|line| line.starts_with('{')) {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|_| panic!("a JSON log line: {line}"));
    }
}

/// Copies a child's output into `sink`; the returned channel yields the port once it is logged.
fn capture(
    stream: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<String>>,
) -> std::sync::mpsc::Receiver<u16> {
    let (port_sender, port) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if line.contains("auth-server listening") {
                let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if let Some(port) = value["port"].as_u64() {
                    let _ = port_sender.send(port as u16);
                }
            }
            let mut sink = sink.lock().unwrap();
            sink.push_str(&line);
            sink.push('\n');
        }
    });
    port
}

/// A `TestApp` that talks to another server on the same database.
fn app_view(app: &TestApp) -> TestApp {
    TestApp {
        address: app.address.clone(),
        issuer: app.issuer.clone(),
        pool: app.pool.clone(),
        http: no_redirect_client(false),
        settings: app.settings.clone(),
        database: app.database.clone(),
    }
}
