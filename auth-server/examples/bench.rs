//! Throughput benchmark of the auth-server's hot paths against two floors, measured in one run.
//!
//!     cargo run --release -p auth-server --example bench -- \
//!         [--seconds 10] [--connections 32] [--driver wrk|builtin] [--pool-size N]
//!
//! It creates a scratch PostgreSQL database (TEST_DATABASE_SERVER_URL, default
//! postgres://postgres@127.0.0.1:5432), starts in this process the real auth-server and a floor
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

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_server::admin;
use auth_server::configuration::Settings;
use auth_server::startup::Application;
use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use secrecy::SecretString;
use shared::db::DbPool;

struct Options {
    seconds: u64,
    connections: usize,
    /// `wrk` (the default when installed: a C load generator that leaves the servers most of the
    /// two cores) or `builtin` (reqwest tasks in this process).
    driver: String,
    /// Overrides `database.pool_size` (both servers use it).
    pool_size: Option<u32>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: u64| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let wrk_installed = std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok();
    let driver = args
        .iter()
        .position(|arg| arg == "--driver")
        .and_then(|at| args.get(at + 1).cloned())
        .unwrap_or_else(|| {
            if wrk_installed {
                "wrk".into()
            } else {
                "builtin".into()
            }
        });
    let pool_size = args
        .iter()
        .position(|arg| arg == "--pool-size")
        .and_then(|at| args.get(at + 1))
        .and_then(|v| v.parse().ok());
    Options {
        seconds: value("--seconds", 10),
        connections: value("--connections", 32) as usize,
        driver,
        pool_size,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options();
    let server_url = std::env::var("TEST_DATABASE_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let database = ScratchDatabase::create(&server_url)?;

    let mut settings = Settings::defaults()?;
    settings.database.url = SecretString::from(database.url.clone());
    // The default filter (info), as deployed: request spans are built even though no line is printed.
    settings.log.filter = std::env::var("BENCH_LOG").unwrap_or_else(|_| settings.log.filter.clone());
    if let Some(pool_size) = options.pool_size {
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
        "auth-server benchmark: {} connections, {} s per target, load from {}, PostgreSQL pool of {}, {} HTTP workers",
        options.connections,
        options.seconds,
        options.driver,
        settings.database.pool_size,
        if settings.workers == 0 {
            "one-per-core".to_owned()
        } else {
            settings.workers.to_string()
        }
    );
    // Every target receives the same shape of request (a POST with a form body and a Basic header),
    // so the ratios compare the servers' work and not the load generator's.
    let introspect_body = format!("token={token_for_introspection}");
    let targets = [
        Target::post(
            "plain",
            format!("{floor}/plain"),
            introspect_body.clone(),
            &fixture.introspector,
        ),
        Target::post(
            "select",
            format!("{floor}/select"),
            introspect_body.clone(),
            &fixture.introspector,
        ),
        Target::post(
            "token",
            format!("{auth}/oauth2/token"),
            "grant_type=client_credentials".into(),
            &fixture.service,
        ),
        Target::post(
            "introspect",
            format!("{auth}/oauth2/introspect"),
            introspect_body,
            &fixture.introspector,
        ),
    ];
    let mut results = Vec::new();
    for target in &targets {
        let result = if options.driver == "wrk" {
            load_with_wrk(target, &options)?
        } else {
            load(target, &options).await
        };
        println!(
            "{:<11} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} errors)",
            target.name, result.per_second, result.p50_ms, result.p99_ms, result.requests, result.errors
        );
        results.push(result);
    }
    let (plain, select, token, introspect) = (&results[0], &results[1], &results[2], &results[3]);
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
    Ok(())
}

/// One thing to load.
struct Target {
    name: &'static str,
    url: String,
    body: Option<String>,
    basic: Option<(String, String)>,
}

impl Target {
    fn post(name: &'static str, url: String, body: String, client: &(String, String)) -> Target {
        Target {
            name,
            url,
            body: Some(body),
            basic: Some(client.clone()),
        }
    }
}

struct LoadResult {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: usize,
    errors: usize,
}

/// Drives a target from `connections` tasks, each with its own keep-alive connection, for a
/// one-second warm-up and then the measured period.
async fn load(target: &Target, options: &Options) -> LoadResult {
    let request = Arc::new(build_request(target));
    let warm_up = Duration::from_secs(1);
    let measure = Duration::from_secs(options.seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..options.connections)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("a client");
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                loop {
                    let sent = Instant::now();
                    if sent > start + warm_up + measure {
                        break;
                    }
                    let ok = request(&client)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    let done = Instant::now();
                    if sent >= start + warm_up {
                        if ok {
                            latencies.push(done - sent)
                        } else {
                            errors += 1
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (task_latencies, task_errors) = task.await.expect("a load task");
        latencies.extend(task_latencies);
        errors += task_errors;
    }
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|latency| latency.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    LoadResult {
        per_second: latencies.len() as f64 / measure.as_secs_f64(),
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        requests: latencies.len(),
        errors,
    }
}

/// Drives a target with `wrk` (one thread, keep-alive connections) and parses its summary.
fn load_with_wrk(target: &Target, options: &Options) -> anyhow::Result<LoadResult> {
    use base64::Engine;
    let mut script = String::from(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n",
    );
    if let Some(body) = &target.body {
        script.push_str(&format!("wrk.body = \"{body}\"\n"));
    }
    if let Some((id, secret)) = &target.basic {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        script.push_str(&format!(
            "wrk.headers[\"Authorization\"] = \"Basic {credentials}\"\n"
        ));
    }
    let path = std::env::temp_dir().join(format!("auth-bench-{}-{}.lua", std::process::id(), target.name));
    std::fs::write(&path, script)?;
    let run = |seconds: u64| {
        std::process::Command::new("wrk")
            .args([
                "-t1",
                &format!("-c{}", options.connections),
                &format!("-d{seconds}s"),
                "--latency",
                "-s",
            ])
            .arg(&path)
            .arg(&target.url)
            .output()
    };
    run(1)?; // warm-up
    let output = run(options.seconds)?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    let per_second: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("wrk said: {text}"))?;
    let errors = text
        .lines()
        .filter(|line| line.contains("Non-2xx") || line.contains("Socket errors"))
        .count();
    if errors > 0 {
        eprintln!("wrk reported errors for {}:\n{text}", target.name);
    }
    let requests = text
        .lines()
        .find(|line| line.contains("requests in"))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(LoadResult {
        per_second,
        p50_ms: field("50%").map(|v| wrk_duration_ms(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| wrk_duration_ms(&v)).unwrap_or(f64::NAN),
        requests,
        errors,
    })
}

/// `850.00us`, `1.25ms`, `2.01s` in milliseconds.
fn wrk_duration_ms(text: &str) -> f64 {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, f64::NAN)
    };
    number.parse::<f64>().map(|n| n * factor).unwrap_or(f64::NAN)
}

type RequestBuilder = dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync;

fn build_request(target: &Target) -> Box<RequestBuilder> {
    // Parsed once: the load generator shares the cores with the servers, so it must stay cheap.
    let url = reqwest::Url::parse(&target.url).expect("a valid URL");
    let (body, basic) = (target.body.clone(), target.basic.clone());
    Box::new(move |client: &reqwest::Client| match (&body, &basic) {
        (Some(body), Some((id, secret))) => client
            .post(url.clone())
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone()),
        _ => client.get(url.clone()),
    })
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
                        grant_types: vec!["client_credentials".into()],
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

/// A database for one benchmark run, dropped at the end.
struct ScratchDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    fn create(server_url: &str) -> anyhow::Result<ScratchDatabase> {
        let name = format!("authbench_{}", std::process::id());
        let mut admin = PgConnection::establish(&format!("{server_url}/postgres?sslmode=disable"))?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin)?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin)?;
        Ok(ScratchDatabase {
            // No TLS on loopback: the benchmark measures the server, not libpq's OpenSSL.
            url: format!("{server_url}/{name}?sslmode=disable"),
            server_url: server_url.to_owned(),
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) =
            PgConnection::establish(&format!("{}/postgres?sslmode=disable", self.server_url))
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
                .execute(&mut admin);
        }
    }
}
