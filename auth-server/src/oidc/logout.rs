//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ending a login session, burning
//! the codes issued in it that are not redeemed yet, and, by `oidc.logout_revokes_tokens`, the
//! token families issued in it.

use diesel::prelude::*;
use shared::db::DbConn;

use crate::db;
use crate::db::schema::grants;
use crate::domain::ids::GrantId;
use crate::domain::opaque_token::TokenHash;
use crate::domain::time;

/// Ends the login session with this hash and burns its unredeemed codes; with `revoke_tokens`,
/// also revokes every family issued in it. Returns the number of families revoked.
pub fn end_session(conn: &mut DbConn, session_hash: &TokenHash, revoke_tokens: bool) -> QueryResult<usize> {
    shared::db::transaction(conn, |conn| {
        let now = time::now();
        db::login_sessions::revoke(conn, session_hash, now)?;
        // A code issued in the session and not yet redeemed would otherwise start a family after
        // the logout, whatever `revoke_tokens` says about the families already issued.
        db::authorization_codes::burn_all_of_session(conn, session_hash, now)?;
        if !revoke_tokens {
            return Ok(0);
        }
        let families: Vec<GrantId> = grants::table
            .filter(grants::session_hash.eq(session_hash.as_str()))
            .filter(grants::revoked_at.is_null())
            .select(grants::id)
            .load(conn)?;
        for family in &families {
            db::grants::revoke(conn, family, "logout", now)?;
        }
        Ok(families.len())
    })
}
