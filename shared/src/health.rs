//! `/healthz` (liveness: the process answers) and `/readyz` (readiness: it can do its job now).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpResponse, web};
use futures_util::future::BoxFuture;
use serde_json::json;

/// One dependency a replica needs before it takes traffic (the database, the broker, ...).
pub type ReadinessCheck = Box<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// What `/readyz` reports: false while shutting down, or while any check fails.
#[derive(Clone, Default)]
pub struct Readiness {
    shutting_down: Arc<AtomicBool>,
    checks: Arc<Vec<(&'static str, ReadinessCheck)>>,
}

impl Readiness {
    pub fn new(checks: Vec<(&'static str, ReadinessCheck)>) -> Self {
        Readiness {
            shutting_down: Arc::default(),
            checks: Arc::new(checks),
        }
    }

    /// Marks the replica as leaving: readiness reports false from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// Registers `/healthz` and `/readyz`. The app must hold a `web::Data<Readiness>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(get_healthz))
        .route("/readyz", web::get().to(get_readyz));
}

async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn get_readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_shutting_down() {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "shutting_down" }));
    }
    let mut failures = BTreeMap::new();
    for (name, check) in readiness.checks.iter() {
        if let Err(reason) = check().await {
            failures.insert(*name, reason);
        }
    }
    if failures.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "not_ready", "failing": failures }))
    }
}

/// The readiness check of a service that needs its database: a connection answers `SELECT 1`.
pub fn database_check(pool: crate::db::DbPool) -> ReadinessCheck {
    Box::new(move || {
        let pool = pool.clone();
        Box::pin(async move { crate::db::ping(&pool).await })
    })
}
