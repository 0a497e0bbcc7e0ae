//! The demo API as a process of its own (the `demo-api` binary): the echo upstream the gateway
//! routes `/api/...` to in the compose cluster and on Kubernetes, where the one-process platform
//! serves it in-process instead. It trusts nothing but the identity token the gateway signs.

use std::net::TcpListener;

use actix_web::web;
use anyhow::Context;
use serde::Deserialize;
use shared::configuration::{Layered, ShutdownSettings};
use shared::health::Readiness;
use shared::identity::{IdentitySettings, IdentityVerifier};
use shared::server::HttpService;
use shared::telemetry::LogSettings;

use super::echo;

/// Every setting of the demo-api (`platform/configuration/demo-api.yaml`).
#[derive(Debug, Clone, Deserialize)]
pub struct DemoApiSettings {
    /// `host:port` to listen on (`DEMO_LISTEN_ADDR`).
    pub listen_addr: String,
    pub workers: usize,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
    /// How the gateway's identity tokens are verified (`DEMO_IDENTITY__JWKS_URL`, ...).
    pub identity: IdentitySettings,
}

impl Layered for DemoApiSettings {
    const DEFAULTS: &'static str = include_str!("../../configuration/demo-api.yaml");
    const ENV_PREFIX: &'static str = "DEMO";
}

/// Serves `/echo` and `/echo/...` until SIGTERM, with the standard health and metrics endpoints.
pub async fn serve(settings: DemoApiSettings) -> anyhow::Result<()> {
    shared::telemetry::init("demo-api", &settings.log);
    let verifier = web::Data::new(IdentityVerifier::new(&settings.identity)?);
    let listener = TcpListener::bind(&settings.listen_addr)
        .with_context(|| format!("cannot listen on {} (DEMO_LISTEN_ADDR)", settings.listen_addr))?;
    let service = HttpService::start(
        listener,
        settings.workers,
        settings.shutdown.clone(),
        Readiness::new(Vec::new()),
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(verifier.clone())
                .route("/echo", web::to(echo::echo))
                .route("/echo/{tail:.*}", web::to(echo::echo));
        },
    )?;
    tracing::info!(listen_addr = %settings.listen_addr, "demo-api listening");
    Ok(service.run_until_stopped().await?)
}
