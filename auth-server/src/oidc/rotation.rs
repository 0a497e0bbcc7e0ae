//! Scheduled rotation of the signing keys: every replica checks now and then whether the active
//! keys are older than `keys.rotation_interval_secs`; the first to find one that is replaces it
//! (the others then find a fresh key, and the unique index stops a double rotation).

use std::sync::Arc;
use std::time::Duration;

use shared::db::DbPool;

use super::keys::{self, KeyEncryptionKey};
use crate::configuration::Settings;
use crate::domain::time;

/// Starts the rotation loop on the current runtime (nothing when the check interval is 0).
pub fn spawn(pool: DbPool, kek: Arc<KeyEncryptionKey>, settings: &Settings) {
    let check_every = settings.keys.rotation_check_interval_secs;
    if check_every == 0 {
        return;
    }
    let (interval_secs, publish_for_secs) = (settings.keys.rotation_interval_secs, publish_for(settings));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(check_every));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let (kek, pool) = (kek.clone(), pool.clone());
            let rotated = shared::db::run(&pool, move |conn| {
                let limit = time::now()
                    - chrono::TimeDelta::seconds(i64::try_from(interval_secs).unwrap_or(i64::MAX / 1000));
                keys::rotate(conn, &kek, Some(limit), publish_for_secs)
            })
            .await;
            if let Err(error) = rotated {
                tracing::warn!(
                    error.cause = %format_args!("{error:#}"),
                    "the scheduled key rotation failed; it is retried at the next check",
                );
            }
        }
    });
}

/// How long a retired key stays published: the longest lifetime of a token it signed.
pub fn publish_for(settings: &Settings) -> u64 {
    settings.oidc.id_token_ttl_secs
}
