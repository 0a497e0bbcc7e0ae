//! `auth-server keys list|rotate|reseal`: the id_token signing keys as an operator sees them.

use shared::db::DbConn;

use super::{AdminError, actor};
use crate::configuration::Settings;
use crate::domain::time;
use crate::oidc::keys::{self, KeyEncryptionKey, KeyView, Resealed};
use crate::oidc::rotation;

/// Every stored key (never a private part), newest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<KeyView>, AdminError> {
    Ok(keys::list(conn, time::now())?)
}

/// Replaces the active key of every algorithm now. The replaced keys stop signing at once and stay
/// in the JWKS until the tokens they signed have expired. Returns the new kids.
pub fn rotate(conn: &mut DbConn, settings: &Settings) -> Result<Vec<String>, AdminError> {
    let kek = KeyEncryptionKey::from_settings(&settings.keys)?;
    let rotated = keys::rotate(conn, &kek, None, rotation::publish_for(settings))?;
    tracing::info!(admin.actor = %actor(), keys.rotated = rotated.len(), "signing keys rotated");
    Ok(rotated)
}

/// Seals every signing key under `keys.encryption_key`, opening those still sealed under
/// `keys.previous_encryption_key`: the middle step of a change of key-encryption key. All or
/// nothing; running it again changes nothing.
pub fn reseal(conn: &mut DbConn, settings: &Settings) -> Result<Resealed, AdminError> {
    let kek = KeyEncryptionKey::from_settings(&settings.keys)?;
    let outcome = keys::reseal(conn, &kek)?;
    tracing::info!(
        admin.actor = %actor(),
        keys.resealed = outcome.resealed,
        keys.unchanged = outcome.unchanged,
        "signing keys resealed"
    );
    Ok(outcome)
}
