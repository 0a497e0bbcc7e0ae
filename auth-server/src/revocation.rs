//! Token revocation (RFC 7009).
//!
//! Policy: revoking a refresh token revokes its whole family (every access and refresh token issued
//! from the same authorization). Revoking an access token revokes that access token only; the
//! client's refresh token keeps working, so a client can drop one access token without logging the
//! user out. A client may revoke only tokens issued to it: another client's token is refused with
//! `invalid_grant` and stays active (§2.1: "the request is refused and the client is informed").

use shared::db::DbConn;

use crate::db;
use crate::domain::client::Client;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::time;

/// What a revocation request did.
#[derive(Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    /// Unknown, already expired or already revoked: answered 200 all the same (§2.2).
    NothingToRevoke,
    /// The token belongs to another client: refused, nothing changed.
    NotIssuedToCaller,
}

/// Revokes `token` on behalf of `client`.
pub fn revoke(conn: &mut DbConn, client: &Client, token: &str) -> diesel::QueryResult<Revocation> {
    let hash = opaque_token::hash(token);
    let now = time::now();
    shared::db::transaction(conn, |conn| match TokenKind::of(token) {
        Some(TokenKind::AccessToken) => match db::access_tokens::find(conn, &hash)? {
            None => Ok(Revocation::NothingToRevoke),
            Some(found) if found.client_id != client.id => Ok(Revocation::NotIssuedToCaller),
            Some(_) => {
                db::access_tokens::revoke(conn, &hash, now)?;
                Ok(Revocation::Revoked)
            }
        },
        Some(TokenKind::RefreshToken) => match db::refresh_tokens::find(conn, &hash)? {
            None => Ok(Revocation::NothingToRevoke),
            Some(found) if found.client_id != client.id => Ok(Revocation::NotIssuedToCaller),
            Some(found) => {
                db::grants::revoke(conn, &found.grant_id, "refresh_token_revoked", now)?;
                Ok(Revocation::Revoked)
            }
        },
        _ => Ok(Revocation::NothingToRevoke),
    })
}
