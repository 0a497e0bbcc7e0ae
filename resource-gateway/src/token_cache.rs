//! Bearer tokens checked through a cache in front of introspection.
//!
//! Keys are the SHA-256 of the token (the token itself is never kept), the cache is bounded in
//! entries (a flood of random tokens evicts, it does not grow), an active entry never outlives the
//! token's `exp` nor `max_ttl_secs` (the revocation budget: how long a revoked token may still pass),
//! inactive answers are kept `negative_ttl_secs`, and concurrent requests with the same uncached
//! token share one introspection (single flight). Failures are not cached.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;
use sha2::{Digest, Sha256};

use crate::caller::Caller;
use crate::configuration::CacheSettings;
use crate::introspection::{IntrospectionClient, Unavailable, Verdict};

/// SHA-256 of a token.
pub type TokenKey = [u8; 32];

#[derive(Clone)]
enum Cached {
    Active(Arc<Caller>),
    Inactive,
}

/// What the cache says of a token.
pub enum Checked {
    /// The caller, shared with the cache entry, and the entry's key (a fingerprint of the token
    /// that is safe to keep: other per-token caches use it).
    Active {
        caller: Arc<Caller>,
        token_key: TokenKey,
    },
    Inactive,
}

/// Verifies bearer tokens: from the cache, or through one introspection.
pub struct TokenVerifier {
    cache: Cache<TokenKey, Cached>,
    client: Arc<IntrospectionClient>,
}

impl TokenVerifier {
    pub fn new(client: Arc<IntrospectionClient>, settings: &CacheSettings) -> TokenVerifier {
        let expiry = Lifetimes {
            max_ttl: Duration::from_secs(settings.max_ttl_secs),
            negative_ttl: Duration::from_secs(settings.negative_ttl_secs),
        };
        let cache = Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(expiry)
            .eviction_listener(|_key, _value, cause| {
                let cause = match cause {
                    RemovalCause::Expired => "expired",
                    RemovalCause::Size => "size",
                    RemovalCause::Explicit => "explicit",
                    RemovalCause::Replaced => "replaced",
                };
                metrics::counter!("gateway_token_cache_evictions_total", "cause" => cause).increment(1);
            })
            .build();
        TokenVerifier { cache, client }
    }

    /// The verdict on `token`. Scope checks run on the returned caller, so they never bypass the cache.
    pub async fn verify(&self, token: &str) -> Result<Checked, Unavailable> {
        let key: TokenKey = Sha256::digest(token.as_bytes()).into();
        let client = &self.client;
        let cached = self
            .cache
            .try_get_with(key, async move {
                metrics::counter!("gateway_token_cache_misses_total").increment(1);
                client.introspect(token).await.map(|verdict| match verdict {
                    Verdict::Active(caller) => Cached::Active(Arc::new(caller)),
                    Verdict::Inactive => Cached::Inactive,
                })
            })
            .await;
        metrics::counter!("gateway_token_cache_lookups_total").increment(1);
        match cached {
            Ok(Cached::Active(caller)) if !has_expired(&caller) => Ok(Checked::Active {
                caller,
                token_key: key,
            }),
            Ok(Cached::Active(_)) => {
                // The entry's lifetime is capped at `exp`, but `exp` has one-second resolution and
                // the cache's clock is its own: check again, and never let an expired token through.
                self.cache.invalidate(&key).await;
                Ok(Checked::Inactive)
            }
            Ok(Cached::Inactive) => Ok(Checked::Inactive),
            Err(error) => Err((*error).clone()),
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs() as i64)
        .unwrap_or(0)
}

fn has_expired(caller: &Caller) -> bool {
    caller.expires_at.is_some_and(|exp| exp <= unix_now())
}

/// Per-entry lifetimes.
struct Lifetimes {
    max_ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<TokenKey, Cached> for Lifetimes {
    fn expire_after_create(
        &self,
        _key: &TokenKey,
        value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Cached::Active(caller) => match caller.expires_at {
                Some(exp) => self
                    .max_ttl
                    .min(Duration::from_secs(exp.saturating_sub(unix_now()).max(0) as u64)),
                None => self.max_ttl,
            },
            Cached::Inactive => self.negative_ttl,
        })
    }
}
