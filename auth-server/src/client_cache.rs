//! Registered clients cached in memory for a few seconds: every token and introspection request
//! authenticates a client, and reading the registration each time would double the database work of
//! the hot paths. Staleness is bounded by `oauth.client_cache_ttl_ms`.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use shared::db::{DbPool, run};

use crate::db;
use crate::domain::client::Client;
use crate::domain::ids::ClientId;
use crate::error::StoreError;

/// Clients by id. Unknown ids are not cached, so a new registration is usable at once.
#[derive(Clone)]
pub struct ClientCache {
    pool: DbPool,
    cache: Option<Cache<ClientId, Arc<Client>>>,
}

/// Entries kept at most; a flood of requests naming random client ids does not grow the cache,
/// since only known clients are cached.
const MAX_ENTRIES: u64 = 10_000;

impl ClientCache {
    pub fn new(pool: DbPool, ttl_ms: u64) -> Self {
        let cache = (ttl_ms > 0).then(|| {
            Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(Duration::from_millis(ttl_ms))
                .build()
        });
        ClientCache { pool, cache }
    }

    /// The client with this id, from the cache or the database.
    pub async fn get(&self, client_id: &ClientId) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.cache.as_ref().and_then(|cache| cache.get(client_id)) {
            return Ok(Some(client));
        }
        let id = client_id.clone();
        let loaded: Option<Client> = run(&self.pool, move |conn| {
            db::clients::load(conn, &id).map_err(StoreError::from)
        })
        .await?;
        let loaded = loaded.map(Arc::new);
        if let (Some(cache), Some(client)) = (&self.cache, &loaded) {
            cache.insert(client_id.clone(), client.clone());
        }
        Ok(loaded)
    }
}
