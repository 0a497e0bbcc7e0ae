//! What every handler shares: the pool, the settings, the client cache and the throttles.

use shared::db::DbPool;
use shared::messaging::relay::OutboxRelay;

use crate::browser::BrowserCookies;
use crate::client_cache::ClientCache;
use crate::configuration::Settings;
use crate::oidc::IdTokenIssuer;
use crate::oidc::keys::KeyEncryptionKey;
use crate::throttle::{FailureThrottle, Throttles};
use crate::token_writer::TokenWriter;

/// Concurrent token batches: one fills while another commits.
const TOKEN_WRITERS: usize = 2;
/// Rows per batch at most.
const TOKEN_BATCH_ROWS: usize = 128;

/// The application state, held in `web::Data`.
pub struct AppState {
    pub pool: DbPool,
    pub settings: Settings,
    pub clients: ClientCache,
    pub throttles: Throttles,
    pub cookies: BrowserCookies,
    /// Stores client_credentials tokens in batches (group commit).
    pub token_writer: TokenWriter,
    /// The outbox relay of this process, nudged after a commit that queued a message (`None` when
    /// `outbox.relay_enabled` is off: another process relays, on its poll interval).
    pub outbox: Option<OutboxRelay>,
    /// Unseals the id_token signing keys.
    pub key_encryption: std::sync::Arc<KeyEncryptionKey>,
    /// Signs the id_tokens of code exchanges.
    pub id_tokens: std::sync::Arc<IdTokenIssuer>,
}

impl AppState {
    /// Builds the state; must run inside the tokio runtime (it starts the token writers).
    pub fn new(
        pool: DbPool,
        settings: Settings,
        key_encryption: std::sync::Arc<KeyEncryptionKey>,
        outbox: Option<OutboxRelay>,
    ) -> Self {
        let limits = &settings.throttle;
        AppState {
            clients: ClientCache::new(pool.clone(), settings.oauth.client_cache_ttl_ms),
            throttles: Throttles {
                login_per_account_and_ip: FailureThrottle::new(limits.login_per_account_and_ip),
                login_per_ip: FailureThrottle::new(limits.login_per_ip),
                client_authentication: FailureThrottle::new(limits.client_authentication),
                account_forms_per_ip: FailureThrottle::new(limits.account_forms_per_ip),
                authorization_requests_per_ip: FailureThrottle::new(limits.authorization_requests_per_ip),
            },
            cookies: BrowserCookies::new(settings.is_https(), &key_encryption.derive("csrf tokens")),
            token_writer: TokenWriter::start(pool.clone(), TOKEN_WRITERS, TOKEN_BATCH_ROWS),
            id_tokens: std::sync::Arc::new(IdTokenIssuer::new(
                &settings.issuer,
                settings.oidc.id_token_ttl_secs,
                key_encryption.clone(),
            )),
            pool,
            settings,
            outbox,
            key_encryption,
        }
    }
}
