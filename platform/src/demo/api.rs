//! The demo API as a process of its own (the `demo-api` binary): the echo upstream the gateway
//! routes `/api/...` to in the compose cluster and on Kubernetes, where the one-process platform
//! serves it in-process instead. It trusts nothing but the identity token the gateway signs.

use actix_web::web;
use serde::Deserialize;
use shared::configuration::{Layered, ShutdownSettings};
use shared::health::Readiness;
use shared::identity::{IdentitySettings, IdentityVerifier};
use shared::server::tls::TlsSettings;
use shared::server::{HttpService, ListenSettings, Listeners};
use shared::telemetry::LogSettings;

use super::echo;

/// Every setting of the demo-api (`platform/configuration/demo-api.yaml`).
#[derive(Debug, Clone, Deserialize)]
pub struct DemoApiSettings {
    /// `host:port` to listen on (`DEMO_LISTEN_ADDR`).
    pub listen_addr: String,
    /// `host:port` of `/healthz`, `/readyz` and `/metrics`; empty: on `listen_addr`.
    pub admin_listen_addr: String,
    /// TLS of the listeners, and the CA bundle trusted for the gateway's JWKS (`DEMO_TLS__*`).
    pub tls: TlsSettings,
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
    let verifier = web::Data::new(IdentityVerifier::with_tls(&settings.identity, &settings.tls)?);
    let listeners = Listeners::bind(ListenSettings {
        listen_addr: &settings.listen_addr,
        admin_listen_addr: &settings.admin_listen_addr,
        tls: &settings.tls,
        env_prefix: "DEMO",
    })?;
    let service = HttpService::start(
        listeners,
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
