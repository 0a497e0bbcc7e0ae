//! What every handler shares: the pool, the settings, the client cache and the throttles.

use shared::db::DbPool;

use crate::browser::BrowserCookies;
use crate::client_cache::ClientCache;
use crate::configuration::Settings;
use crate::throttle::{FailureThrottle, Throttles};

/// The application state, held in `web::Data`.
pub struct AppState {
    pub pool: DbPool,
    pub settings: Settings,
    pub clients: ClientCache,
    pub throttles: Throttles,
    pub cookies: BrowserCookies,
}

impl AppState {
    pub fn new(pool: DbPool, settings: Settings) -> Self {
        let limits = &settings.throttle;
        AppState {
            clients: ClientCache::new(pool.clone(), settings.oauth.client_cache_ttl_ms),
            throttles: Throttles {
                login_per_account_and_ip: FailureThrottle::new(limits.login_per_account_and_ip),
                login_per_ip: FailureThrottle::new(limits.login_per_ip),
                client_authentication: FailureThrottle::new(limits.client_authentication),
            },
            cookies: BrowserCookies::new(settings.is_https()),
            pool,
            settings,
        }
    }
}
