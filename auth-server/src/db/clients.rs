//! Queries on `clients` and `client_scopes`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use crate::domain::opaque_token::TokenHash;

use super::models::ClientRow;
use super::schema::{client_scopes, clients};
use crate::domain::client::Client;
use crate::domain::grant_type;
use crate::domain::ids::ClientId;
use crate::domain::redirect_uri::RedirectUri;
use crate::domain::scope::ScopeSet;
use crate::domain::signing_alg::SigningAlgorithm;

pub fn insert(conn: &mut DbConn, client: &ClientRow) -> QueryResult<()> {
    diesel::insert_into(clients::table)
        .values(client)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, id: &ClientId) -> QueryResult<Option<ClientRow>> {
    clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ClientRow>> {
    clients::table
        .order(clients::created_at.asc())
        .select(ClientRow::as_select())
        .load(conn)
}

pub fn delete(conn: &mut DbConn, id: &ClientId) -> QueryResult<usize> {
    diesel::delete(clients::table.find(id)).execute(conn)
}

pub fn set_secret_hash(
    conn: &mut DbConn,
    id: &ClientId,
    hash: &TokenHash,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(clients::table.find(id))
        .set((
            clients::secret_hash.eq(hash.as_str()),
            clients::updated_at.eq(now),
        ))
        .execute(conn)
}

/// The scopes this client may ask for.
pub fn scopes_of(conn: &mut DbConn, client_id: &ClientId) -> QueryResult<ScopeSet> {
    let names: Vec<String> = client_scopes::table
        .filter(client_scopes::client_id.eq(client_id))
        .select(client_scopes::scope)
        .load(conn)?;
    Ok(ScopeSet::from_names(names))
}

/// Sets the scopes of a new client (one insert per row: portable to SQLite's backend).
pub fn insert_scopes(conn: &mut DbConn, client_id: &ClientId, scopes: &ScopeSet) -> QueryResult<()> {
    for scope in scopes.iter() {
        diesel::insert_into(client_scopes::table)
            .values((
                client_scopes::client_id.eq(client_id),
                client_scopes::scope.eq(scope),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Loads a client with its scopes, as the protocol code uses it.
pub fn load(conn: &mut DbConn, id: &ClientId) -> QueryResult<Option<Client>> {
    let Some(row) = find(conn, id)? else {
        return Ok(None);
    };
    let scopes = scopes_of(conn, id)?;
    Ok(Some(to_domain(row, scopes)))
}

/// Combines a row and its scopes into the domain type.
pub fn to_domain(row: ClientRow, scopes: ScopeSet) -> Client {
    Client {
        redirect_uris: stored_uris(&row.redirect_uris),
        grant_types: grant_type::parse_list(&row.grant_types),
        id: row.id,
        name: row.name,
        secret_hash: row.secret_hash,
        is_public: row.is_public,
        scopes,
        can_introspect: row.can_introspect,
        skip_consent: row.skip_consent,
        id_token_alg: SigningAlgorithm::parse(&row.id_token_signed_response_alg)
            .unwrap_or(SigningAlgorithm::Rs256),
        allow_hybrid: row.allow_hybrid,
        allow_password_grant: row.allow_password_grant,
        post_logout_redirect_uris: stored_uris(&row.post_logout_redirect_uris),
    }
}

/// A registered list as the column keeps it (a JSON array of strings, validated when the client
/// was registered); unreadable JSON counts as no URI.
fn stored_uris(column: &str) -> Vec<RedirectUri> {
    let uris: Vec<String> = serde_json::from_str(column).unwrap_or_default();
    uris.into_iter().map(RedirectUri::from_stored).collect()
}
