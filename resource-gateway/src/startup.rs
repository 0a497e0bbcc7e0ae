//! Building the gateway on a bound listener: the standard endpoints and middleware of
//! `shared::server::HttpService`, the JWKS, the catch-all proxy route, and route reload on SIGHUP.

use std::path::{Path, PathBuf};

use actix_web::web;
use shared::health::Readiness;
use shared::server::{HttpService, ListenSettings, Listeners};

use crate::configuration::Settings;
use crate::proxy;
use crate::route_table::{RouteTable, RoutesError, SharedRoutes};
use crate::state::GatewayState;

/// A running resource-gateway.
pub struct Application {
    service: HttpService,
    routes: RouteReloader,
}

impl Application {
    /// Binds `settings.listen_addr` (port 0 picks a free port) and builds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listeners = Listeners::bind(ListenSettings {
            listen_addr: &settings.listen_addr,
            admin_listen_addr: &settings.admin_listen_addr,
            tls: &settings.tls,
            env_prefix: "GATEWAY",
        })?;
        Self::build_with_listener(settings, listeners).await
    }

    /// Builds the server on an already bound listener. A bad routes file stops the start with a
    /// message naming the route and the field.
    pub async fn build_with_listener(
        settings: Settings,
        listener: impl Into<Listeners>,
    ) -> anyhow::Result<Application> {
        // Before anything records a metric (the breakers report their initial state when built).
        let _ = shared::observability::prometheus_handle();
        let routes_file = (!settings.routes_file.is_empty()).then(|| PathBuf::from(&settings.routes_file));
        let table = read(routes_file.as_deref())?;
        tracing::info!(routes = table.len(), "routes loaded");
        // One table: the handler reads it, the reloader replaces it.
        let routes = SharedRoutes::new(table);
        let state = GatewayState::new(&settings, routes.clone())?;
        let routes = RouteReloader {
            path: routes_file,
            routes,
        };
        // Each worker gets its own upstream client (see `UpstreamClient`); build one now so that a
        // client that cannot be built stops the start instead of a worker.
        state.forwarder.client()?;
        let state = web::Data::new(state);
        let configure = move |cfg: &mut web::ServiceConfig| {
            let client = state
                .forwarder
                .client()
                .expect("the same client was built at start");
            cfg.app_data(state.clone())
                .app_data(web::Data::new(client))
                .route("/.well-known/jwks.json", web::get().to(proxy::get_jwks))
                .route("/{tail:.*}", web::to(proxy::proxy_request));
        };
        // The gateway depends on no store; it is ready unless it is shutting down (an auth-server
        // outage is answered per request, 503, and must not take every replica out of rotation).
        let readiness = Readiness::new(Vec::new());
        let service = HttpService::start(
            listener.into(),
            settings.workers,
            settings.shutdown,
            readiness,
            configure,
        )?;
        routes.reload_on_hangup();
        Ok(Application { service, routes })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// A handle that reloads the routes file (as SIGHUP does), usable after the server is started.
    pub fn route_reloader(&self) -> RouteReloader {
        self.routes.clone()
    }

    /// Serves until SIGTERM/SIGINT, then drains gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.service.run_until_stopped().await
    }
}

/// Reloads the routes file into the table in use.
#[derive(Clone)]
pub struct RouteReloader {
    path: Option<PathBuf>,
    routes: SharedRoutes,
}

impl RouteReloader {
    /// Reads the routes file again; a bad file keeps the routes in use (and says why in the log).
    pub fn reload(&self) -> Result<usize, RoutesError> {
        match read(self.path.as_deref()) {
            Ok(table) => {
                let count = table.len();
                self.routes.replace(table);
                tracing::info!(routes = count, "routes reloaded");
                Ok(count)
            }
            Err(error) => {
                tracing::error!(%error, "routes not reloaded: keeping the routes in use");
                Err(error)
            }
        }
    }

    /// Connections in flight are untouched: the table is swapped for new requests only.
    fn reload_on_hangup(&self) {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered before returning, so a SIGHUP right after start reloads instead of killing
        // the process (the default action of SIGHUP).
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot listen for SIGHUP: routes reload only with a restart");
            return;
        };
        let reloader = self.clone();
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let _ = reloader.reload();
            }
        });
    }
}

/// The routes in `path`; no file, no routes.
fn read(path: Option<&Path>) -> Result<RouteTable, RoutesError> {
    match path {
        Some(path) => RouteTable::load(path),
        None => Ok(RouteTable::default()),
    }
}
