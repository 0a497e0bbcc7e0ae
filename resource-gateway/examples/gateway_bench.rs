//! Throughput and latency through the gateway with a warm token cache, against the same upstream
//! called directly, in one run.
//!
//!     cargo run --release -p resource-gateway --example gateway_bench -- \
//!         [--seconds 10] [--connections 32] [--driver wrk|builtin]
//!
//! The upstream answers a small JSON body; an in-process stand-in for the auth-server says the
//! token is active (it is asked once: the cache is warmed before measuring). Both targets get the
//! same request (a GET with a bearer token). The gateway runs with its default settings.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use actix_web::{App, HttpResponse, HttpServer, web};
use resource_gateway::configuration::Settings;
use resource_gateway::startup::Application;
use secrecy::SecretString;
use shared::configuration::Layered;
use shared::testing::load::{self, LoadOptions, LoadResult, Target};

const TOKEN: &str = "oat_benchmark-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = LoadOptions::from_args();
    let mut settings = Settings::defaults()?;
    settings.log.filter = std::env::var("BENCH_LOG").unwrap_or_else(|_| settings.log.filter.clone());
    shared::telemetry::init("bench", &settings.log);

    let upstream = start_upstream(settings.workers)?;
    let auth = start_auth_server()?;
    let routes = write_routes(&upstream)?;
    let gateway = start_gateway(settings, &routes, &auth).await?;
    warm_the_cache(&gateway).await?;

    println!(
        "gateway benchmark: {} connections, {} s per target, load from {}, warm token cache",
        options.connections, options.seconds, options.driver
    );
    let direct = measure("direct", format!("{upstream}/api/orders/42"), &options).await?;
    let through = measure("gateway", format!("{gateway}/api/orders/42"), &options).await?;
    // The same proxying without token check or identity: what the proxying itself costs.
    measure("public", format!("{gateway}/public/orders/42"), &options).await?;
    let _ = std::fs::remove_file(&routes);
    print_summary(&direct, &through);
    Ok(())
}

/// The upstream: a small JSON answer to everything; its base URL.
fn start_upstream(workers: usize) -> anyhow::Result<String> {
    serve(workers, |cfg| {
        cfg.default_service(web::to(|| async {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(r#"{"id":42,"status":"shipped","items":[1,2,3]}"#)
        }));
    })
}

/// A stand-in for the auth-server whose introspection says every token is active; its base URL.
fn start_auth_server() -> anyhow::Result<String> {
    serve(1, |cfg| {
        cfg.route(
            "/introspect",
            web::post().to(|| async {
                HttpResponse::Ok().json(serde_json::json!({
                    "active": true, "scope": "read", "client_id": "bench", "sub": "user-1",
                    "username": "bench", "token_type": "Bearer", "token_use": "access_token",
                    "exp": 4_000_000_000i64,
                }))
            }),
        );
    })
}

/// A routes file with `/api` (token and scope checked) and `/public` (proxying only) to `upstream`.
fn write_routes(upstream: &str) -> anyhow::Result<PathBuf> {
    let routes = std::env::temp_dir().join(format!("gateway-bench-{}.toml", std::process::id()));
    std::fs::write(
        &routes,
        format!(
            "[[routes]]\nname = \"api\"\npath_prefix = \"/api\"\nupstreams = [\"{upstream}\"]\n\
             scopes = {{ all_of = [\"read\"] }}\n\n\
             [[routes]]\nname = \"public\"\npath_prefix = \"/public\"\npublic = true\n\
             upstreams = [\"{upstream}\"]\n"
        ),
    )?;
    Ok(routes)
}

/// The gateway with its default settings, the routes and the stand-in auth-server; its base URL.
async fn start_gateway(mut settings: Settings, routes: &Path, auth: &str) -> anyhow::Result<String> {
    settings.listen_addr = "127.0.0.1:0".into();
    settings.routes_file = routes.to_string_lossy().into_owned();
    settings.introspection.url = format!("{auth}/introspect");
    settings.introspection.client_id = "gateway".into();
    settings.introspection.client_secret = SecretString::from("unused".to_owned());
    let gateway = Application::build(settings).await?;
    let gateway_url = format!("http://127.0.0.1:{}", gateway.port());
    tokio::spawn(gateway.run_until_stopped());
    Ok(gateway_url)
}

/// One introspection, then every request is served from the cache.
async fn warm_the_cache(gateway_url: &str) -> anyhow::Result<()> {
    let warm = reqwest::Client::new()
        .get(format!("{gateway_url}/api/orders/42"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    anyhow::ensure!(
        warm.status().is_success(),
        "the gateway answered {} to the warm-up",
        warm.status()
    );
    Ok(())
}

/// Loads `url` with a bearer token and prints the result's line.
async fn measure(name: &'static str, url: String, options: &LoadOptions) -> anyhow::Result<LoadResult> {
    let result = load::run(&Target::get(name, url).with_bearer(TOKEN), options).await?;
    println!("{}", result.line(name));
    Ok(result)
}

fn print_summary(direct: &LoadResult, through: &LoadResult) {
    println!();
    println!(
        "gateway / direct throughput: {:>5.1} %  (target >= 50 %)",
        100.0 * through.per_second / direct.per_second
    );
    println!("added p50: {:>6.3} ms", through.p50_ms - direct.p50_ms);
    println!(
        "added p99: {:>6.3} ms  (target < 1 ms)",
        through.p99_ms - direct.p99_ms
    );
}

/// An actix server on a free port with the given routes; its base URL.
fn serve(workers: usize, routes: fn(&mut web::ServiceConfig)) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut server = HttpServer::new(move || App::new().configure(routes))
        .disable_signals()
        .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    tokio::spawn(server.run());
    Ok(format!("http://127.0.0.1:{port}"))
}
