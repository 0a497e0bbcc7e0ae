//! Throughput benchmark of the auth-server's hot paths against two floors, measured in one run.
//!
//!     cargo run --release -p auth-server --example auth_bench -- \
//!         [--seconds 10] [--connections 32] [--driver wrk|builtin] [--pool-size N] \
//!         [--database postgres|sqlite]
//!
//! It creates a scratch database: on PostgreSQL (TEST_DATABASE_SERVER_URL, default
//! postgres://postgres@127.0.0.1:5432), or with `--database sqlite` a SQLite file in a temporary
//! directory, as the one-command platform uses. It starts in this process the real auth-server and a floor
//! server with two handlers, and drives each of four targets in turn with a fixed number of
//! keep-alive connections, all receiving the same shape of request (a POST with a form body and a
//! Basic header):
//!   plain       an actix-web handler that reads the body and returns a constant (the HTTP floor)
//!   select      an actix-web handler doing one indexed SELECT through the same diesel pool
//!   token       POST /oauth2/token, client_credentials with client_secret_basic
//!   introspect  POST /oauth2/introspect of an active access token
//! and prints requests/s, p50 and p99 for each, and the ratios to the floors.
//!
//! The load comes from `wrk` when it is installed (`apt-get install wrk`: a C load generator that
//! leaves the servers most of the cores) and otherwise from reqwest tasks in this process, which
//! take a large share of the CPU themselves. Server, database and load share the machine, so
//! compare ratios from one run, not absolute figures across runs or machines.

use auth_server::domain::grant_type::GrantType;
use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_server::admin;
use auth_server::configuration::Settings;
use auth_server::startup::Application;
use diesel::prelude::*;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::db::DbPool;
use shared::testing::TestDatabase;
use shared::testing::load::{self, LoadOptions, Target};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = LoadOptions::from_args();
    let backend: String = load::arg("--database").unwrap_or_else(|| "postgres".to_owned());
    let scratch = ScratchDatabase::create(&backend)?;

    let mut settings = Settings::defaults()?;
    settings.database.url = SecretString::from(scratch.url());
    // A throw-away key for a throw-away database (base64 of 32 bytes).
    settings.keys.encryption_key = Some(SecretString::from("YmVuY2gta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU="));
    // No broker link: the measured paths send no email.
    settings.outbox.relay_enabled = false;
    // The default filter (info), as deployed: request spans are built even though no line is printed.
    settings.log.filter = std::env::var("BENCH_LOG").unwrap_or_else(|_| settings.log.filter.clone());
    if let Some(pool_size) = load::arg("--pool-size") {
        settings.database.pool_size = pool_size;
    }
    shared::telemetry::init("bench", &settings.log);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let auth_port = listener.local_addr()?.port();
    settings.issuer = format!("http://127.0.0.1:{auth_port}");
    let application = Application::build_with_listener(settings.clone(), listener).await?;
    tokio::spawn(application.run_until_stopped());

    let pool = shared::db::build_pool(&settings.database);
    let fixture = Fixture::create(&pool)?;
    let floor_port = start_floor_server(pool.clone(), fixture.service.0.clone(), settings.workers)?;

    let auth = format!("http://127.0.0.1:{auth_port}");
    let floor = format!("http://127.0.0.1:{floor_port}");
    let token_for_introspection = issue_token(&auth, &fixture.service).await?;

    println!(
        "auth-server benchmark: {} connections, {} s per target, load from {}, {backend} pool of {}",
        options.connections, options.seconds, options.driver, settings.database.pool_size,
    );
    // Every target receives the same shape of request (a POST with a form body and a Basic header),
    // so the ratios compare the servers' work and not the load generator's.
    let introspect_body = format!("token={token_for_introspection}");
    let targets = [
        Target::post_form(
            "plain",
            format!("{floor}/plain"),
            introspect_body.clone(),
            &fixture.introspector,
        ),
        Target::post_form(
            "select",
            format!("{floor}/select"),
            introspect_body.clone(),
            &fixture.introspector,
        ),
        Target::post_form(
            "token",
            format!("{auth}/oauth2/token"),
            "grant_type=client_credentials".into(),
            &fixture.service,
        ),
        Target::post_form(
            "introspect",
            format!("{auth}/oauth2/introspect"),
            introspect_body,
            &fixture.introspector,
        ),
    ];
    let mut results = Vec::new();
    for target in &targets {
        let result = load::run(target, &options).await?;
        println!("{}", result.line(target.name));
        results.push(result);
    }
    print_ratios(&results);
    Ok(())
}

/// The figures that matter, as ratios of one run: each endpoint against the one-SELECT floor.
fn print_ratios(results: &[load::LoadResult]) {
    let [plain, select, token, introspect] = results else {
        return;
    };
    println!();
    println!(
        "introspect / select floor: {:>5.1} %  (target >= 80 %)",
        100.0 * introspect.per_second / select.per_second
    );
    println!(
        "token      / select floor: {:>5.1} %  (target >= 50 %)",
        100.0 * token.per_second / select.per_second
    );
    println!(
        "select     / plain floor:  {:>5.1} %",
        100.0 * select.per_second / plain.per_second
    );
    println!(
        "p99 introspect / select:   {:>5.2} x",
        introspect.p99_ms / select.p99_ms
    );
    println!(
        "p99 token      / select:   {:>5.2} x",
        token.p99_ms / select.p99_ms
    );
}

/// The database the run uses, dropped (or deleted) at the end.
enum ScratchDatabase {
    Postgresql(TestDatabase),
    Sqlite(tempfile::TempDir),
}

impl ScratchDatabase {
    fn create(backend: &str) -> anyhow::Result<ScratchDatabase> {
        match backend {
            "postgres" => Ok(ScratchDatabase::Postgresql(TestDatabase::create())),
            "sqlite" => Ok(ScratchDatabase::Sqlite(tempfile::tempdir()?)),
            other => anyhow::bail!("--database: {other:?} is neither postgres nor sqlite"),
        }
    }

    fn url(&self) -> String {
        match self {
            ScratchDatabase::Postgresql(database) => database.url.clone(),
            ScratchDatabase::Sqlite(directory) => format!("sqlite://{}/bench.db", directory.path().display()),
        }
    }
}

/// The floor server: the same actix-web, the same diesel pool settings.
fn start_floor_server(pool: DbPool, client_id: String, workers: usize) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let state = web::Data::new((pool, client_id));
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // The handlers read the body, as the real endpoints do (an unread body costs actix the
            // keep-alive connection).
            .route(
                "/plain",
                web::post().to(|_body: web::Bytes| async { HttpResponse::Ok().body("ok") }),
            )
            .route("/select", web::post().to(select_one))
    })
    .disable_signals()
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    tokio::spawn(server.run());
    Ok(port)
}

/// One indexed SELECT (the clients primary key) through `shared::db::run`.
async fn select_one(state: web::Data<(DbPool, String)>, _body: web::Bytes) -> HttpResponse {
    use auth_server::db::schema::clients;
    let client_id = state.1.clone();
    let name: Result<String, auth_server::error::StoreError> = shared::db::run(&state.0, move |conn| {
        clients::table
            .find(client_id)
            .select(clients::name)
            .first(conn)
            .map_err(Into::into)
    })
    .await;
    match name {
        Ok(name) => HttpResponse::Ok().body(name),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// A service client (client_credentials) and a resource server allowed to introspect.
struct Fixture {
    service: (String, String),
    introspector: (String, String),
}

impl Fixture {
    fn create(pool: &DbPool) -> anyhow::Result<Fixture> {
        let mut conn = pool.get()?;
        admin::scopes::create(&mut conn, "read", "Read things")?;
        let register =
            |conn: &mut shared::db::DbConn, introspect: bool| -> anyhow::Result<(String, String)> {
                let created = admin::clients::create(
                    conn,
                    &admin::clients::ClientSpec {
                        name: "bench".into(),
                        grant_types: vec![GrantType::ClientCredentials],
                        scope: Some("read".into()),
                        introspect,
                        ..Default::default()
                    },
                )?;
                Ok((created.client_id, created.client_secret.unwrap_or_default()))
            };
        Ok(Fixture {
            service: register(&mut conn, false)?,
            introspector: register(&mut conn, true)?,
        })
    }
}

async fn issue_token(auth: &str, client: &(String, String)) -> anyhow::Result<String> {
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{auth}/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json()
        .await?;
    response["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token: {response}"))
}
