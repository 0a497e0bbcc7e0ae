//! SIGTERM as Kubernetes sends it (the manifests' `preStop` and grace period rely on this), on the
//! real binaries the other crates' tests do not stop this way: readiness goes false at once while
//! the public listener still serves, the request in flight finishes, and the process exits 0.
//! (The email-service and the jobs-service have theirs: `email-service/tests/api/process.rs`,
//! `jobs-service/tests/api/replicas.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::{Connection, RunQueryDsl};
use shared::testing::TestDatabase;
use support::process::{ServiceProcess, free_port};
use tokio::sync::Notify;

const TEST_KEY_ENCRYPTION_KEY: &str = "ZTJlLWtleS1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyE=";
const GRACE: Duration = Duration::from_secs(30);

/// Polls `url` until it answers 503 (readiness false), at most 5 s.
async fn wait_for_unready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = reqwest::get(url)
            .await
            .map(|response| response.status().as_u16())
            .ok();
        if status == Some(503) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} still answers {status:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An upstream that holds each request until `release` is notified; `arrived` says one is
/// in hand.
async fn holding_upstream() -> (u16, Arc<Notify>, Arc<Notify>) {
    let (arrived, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = web::Data::new((arrived.clone(), release.clone()));
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).default_service(web::to(
            |state: web::Data<(Arc<Notify>, Arc<Notify>)>| async move {
                state.0.notify_one();
                state.1.notified().await;
                HttpResponse::Ok().body("finished")
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (port, arrived, release)
}

#[tokio::test]
async fn the_gateway_drains_on_sigterm_finishing_the_request_in_flight_and_exits_0() {
    let (upstream, arrived, release) = holding_upstream().await;
    let dir = tempfile::TempDir::new().unwrap();
    let routes = dir.path().join("routes.toml");
    std::fs::write(
        &routes,
        format!(
            "[[routes]]\nname = \"slow\"\npath_prefix = \"/slow\"\npublic = true\nupstreams = \
             [\"http://127.0.0.1:{upstream}/slow\"]\nstrip_prefix = true\n"
        ),
    )
    .unwrap();
    let (port, admin) = (free_port(), free_port());
    let env = |key: &str, value: String| (key.to_owned(), value);
    let mut gateway = ServiceProcess::start(
        "resource-gateway",
        &["serve"],
        &[
            env("GATEWAY_LISTEN_ADDR", format!("127.0.0.1:{port}")),
            env("GATEWAY_ADMIN_LISTEN_ADDR", format!("127.0.0.1:{admin}")),
            env("GATEWAY_ROUTES_FILE", routes.display().to_string()),
            // Public routes only: the introspection client is never called.
            env("GATEWAY_INTROSPECTION__CLIENT_ID", "gateway".into()),
            env("GATEWAY_INTROSPECTION__CLIENT_SECRET", "unused".into()),
            // As the manifests set them: 3 s of drain, 20 s for requests in flight.
            env("GATEWAY_SHUTDOWN__DRAIN_DELAY_MS", "3000".into()),
            env("GATEWAY_SHUTDOWN__TIMEOUT_MS", "20000".into()),
        ],
    );
    let readyz = format!("http://127.0.0.1:{admin}/readyz");
    gateway.wait_until_ok(&readyz, Duration::from_secs(60)).await;
    let in_flight = tokio::spawn(reqwest::get(format!("http://127.0.0.1:{port}/slow")));
    if tokio::time::timeout(Duration::from_secs(10), arrived.notified())
        .await
        .is_err()
    {
        panic!("the request never reached the upstream: {:?}", in_flight.await);
    }

    gateway.signal("TERM");

    wait_for_unready(&readyz).await;
    assert!(
        !in_flight.is_finished(),
        "the request in flight is still held upstream"
    );
    release.notify_one();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");
    let status = gateway.wait_for_exit(GRACE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
}

#[tokio::test]
async fn the_auth_server_drains_on_sigterm_finishing_the_token_request_in_flight_and_exits_0() {
    let database = TestDatabase::create();
    let (port, admin) = (free_port(), free_port());
    let env = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    let listen = format!("127.0.0.1:{port}");
    let admin_listen = format!("127.0.0.1:{admin}");
    let mut auth = ServiceProcess::start(
        "auth-server",
        &["serve"],
        &[
            env("DATABASE_URL", &database.url),
            env("AUTH_LISTEN_ADDR", &listen),
            env("AUTH_ADMIN_LISTEN_ADDR", &admin_listen),
            env("AUTH_KEYS__ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_KEY),
            env("AUTH_OUTBOX__RELAY_ENABLED", "false"),
            env("AUTH_SHUTDOWN__DRAIN_DELAY_MS", "3000"),
            env("AUTH_SHUTDOWN__TIMEOUT_MS", "20000"),
            // The request below waits on a lock the test holds: not on a statement timeout.
            env("AUTH_DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
        ],
    );
    let readyz = format!("http://127.0.0.1:{admin}/readyz");
    auth.wait_until_ok(&readyz, Duration::from_secs(60)).await;
    let created = support::run(
        "auth-server",
        &[
            "clients",
            "create",
            "--name",
            "Svc",
            "--grant-type",
            "client_credentials",
            "--json",
        ],
        &[("DATABASE_URL", &database.url), ("AUTH_ADMIN_ACTOR", "test")],
        None,
    );
    let client: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let (client_id, secret) = (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    );

    // The clients table locked by the test: the token request below waits in the database.
    let (locked, unlock) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let url = database.url.clone();
    let holder = std::thread::spawn(move || {
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        // By hand: the transaction must stay open across the channel wait.
        for statement in ["BEGIN", "LOCK TABLE clients IN ACCESS EXCLUSIVE MODE"] {
            diesel::sql_query(statement).execute(&mut conn).unwrap();
        }
        locked.0.send(()).unwrap();
        unlock.1.recv().unwrap();
        diesel::sql_query("COMMIT").execute(&mut conn).unwrap();
    });
    locked.1.recv().unwrap();
    let request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")]);
    let in_flight = tokio::spawn(request.send());
    wait_for_a_lock_wait(&database.url).await;

    auth.signal("TERM");

    wait_for_unready(&readyz).await;
    assert!(
        !in_flight.is_finished(),
        "the token request still waits for the lock"
    );
    unlock.0.send(()).unwrap();
    holder.join().unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "the request in flight finished");
    let status = auth.wait_for_exit(GRACE).await;
    assert_eq!(status.code(), Some(0), "{}", auth.log());
}

/// Waits (at most 10 s) until a session of the database waits on a lock: the request is in hand.
async fn wait_for_a_lock_wait(url: &str) {
    #[derive(diesel::QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: Waiting = diesel::sql_query(
            "SELECT count(*) AS count FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .get_result(&mut conn)
        .unwrap();
        if waiting.count > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the token request never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_demo_api_turns_unready_on_sigterm_and_exits_0() {
    let port = free_port();
    let mut demo = ServiceProcess::start(
        "demo-api",
        &[],
        &[
            ("DEMO_LISTEN_ADDR".into(), format!("127.0.0.1:{port}")),
            ("DEMO_SHUTDOWN__DRAIN_DELAY_MS".into(), "3000".into()),
        ],
    );
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    demo.wait_until_ok(&readyz, Duration::from_secs(60)).await;

    demo.signal("TERM");

    wait_for_unready(&readyz).await;
    let status = demo.wait_for_exit(GRACE).await;
    assert_eq!(status.code(), Some(0), "{}", demo.log());
}
