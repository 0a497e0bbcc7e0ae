//! The token endpoint's grants, one flow per file, and what they share: the token response, scope
//! resolution and minting of access and refresh tokens.

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;
pub mod request;

use chrono::NaiveDateTime;
use serde::Serialize;
use shared::db::{DbConn, DbPool, run};

use crate::configuration::TokenSettings;
use crate::db;
use crate::db::models::{AccessToken, Grant, RefreshToken};
use crate::domain::client::Client;
use crate::domain::ids::{ClientId, GrantId, UserId};
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::scope::ScopeSet;
use crate::error::{OAuthError, StoreError};

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// OpenID Connect: present when the grant's scope includes `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// What a client gets of the scope it asked for: unknown names are `invalid_scope`; names the
/// client may not ask for are dropped (the response's `scope` says what was granted), and a request
/// of which nothing remains is `invalid_scope`. Only names outside the client's list need the
/// catalogue, so the usual request costs no query.
pub async fn resolve_requested_scope(
    pool: &DbPool,
    client: &Client,
    requested: Option<&ScopeSet>,
) -> Result<ScopeSet, OAuthError> {
    if let Some(requested) = requested {
        let outside_client = ScopeSet::from_names(requested.difference(&client.scopes).map(str::to_owned));
        if !outside_client.is_empty() {
            let unknown = run(pool, move |conn| {
                db::scopes::unknown_among(conn, &outside_client).map_err(StoreError::from)
            })
            .await?;
            if !unknown.is_empty() {
                return Err(OAuthError::invalid_scope(format!(
                    "unknown scope: {}",
                    unknown.join(" ")
                )));
            }
        }
    }
    let granted = client.allowed_part_of(requested);
    if requested.is_some_and(|requested| !requested.is_empty()) && granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes may be granted to this client",
        ));
    }
    Ok(granted)
}

/// Parses the `scope` parameter of a token request.
/// Parses the `scope` parameter of a token request; a list of only spaces counts as absent, like
/// an empty parameter.
pub fn parse_scope_param(scope: Option<&str>) -> Result<Option<ScopeSet>, OAuthError> {
    let parsed = scope
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|error| OAuthError::invalid_scope(error.to_string()))?;
    Ok(parsed.filter(|scopes| !scopes.is_empty()))
}

/// A new access token: the row to store and the value to hand out.
pub fn new_access_token(
    owner: &TokenOwner<'_>,
    scope: &ScopeSet,
    now: NaiveDateTime,
    lifetimes: &TokenSettings,
) -> (AccessToken, String) {
    let generated = opaque_token::generate(TokenKind::AccessToken);
    let row = AccessToken {
        token_hash: generated.hash.into_string(),
        grant_id: owner.grant_id.cloned(),
        client_id: owner.client_id.clone(),
        user_id: owner.user_id.cloned(),
        scope: scope.to_string(),
        issued_at: now,
        expires_at: crate::domain::time::after_secs(now, lifetimes.access_token_ttl_secs),
        revoked_at: None,
    };
    (row, generated.value)
}

/// Mints and stores an access token (inside the caller's transaction).
pub fn mint_access_token(
    conn: &mut DbConn,
    owner: &TokenOwner<'_>,
    scope: &ScopeSet,
    now: NaiveDateTime,
    lifetimes: &TokenSettings,
) -> diesel::QueryResult<String> {
    let (row, value) = new_access_token(owner, scope, now, lifetimes);
    db::access_tokens::insert(conn, &row)?;
    Ok(value)
}

/// Mints and stores a refresh token in a family, replacing `parent_hash` if rotating.
pub fn mint_refresh_token(
    conn: &mut DbConn,
    grant: &FamilyRef<'_>,
    parent_hash: Option<&str>,
    now: NaiveDateTime,
    lifetimes: &TokenSettings,
) -> diesel::QueryResult<String> {
    let generated = opaque_token::generate(TokenKind::RefreshToken);
    db::refresh_tokens::insert(
        conn,
        &RefreshToken {
            token_hash: generated.hash.into_string(),
            grant_id: grant.grant_id.clone(),
            client_id: grant.client_id.clone(),
            user_id: grant.user_id.clone(),
            scope: grant.scope.to_string(),
            parent_hash: parent_hash.map(str::to_owned),
            issued_at: now,
            expires_at: crate::domain::time::after_secs(now, lifetimes.refresh_token_ttl_secs),
            used_at: None,
            revoked_at: None,
        },
    )?;
    Ok(generated.value)
}

/// Whose an access token is.
pub struct TokenOwner<'a> {
    pub client_id: &'a ClientId,
    pub user_id: Option<&'a UserId>,
    pub grant_id: Option<&'a GrantId>,
}

/// The family a refresh token belongs to.
pub struct FamilyRef<'a> {
    pub grant_id: &'a GrantId,
    pub client_id: &'a ClientId,
    pub user_id: &'a UserId,
    /// The scope of the whole grant; every refresh token of the family carries it.
    pub scope: &'a ScopeSet,
}

/// Creates a new family for a user's authorization and issues its first tokens.
pub fn start_family(
    conn: &mut DbConn,
    client: &Client,
    user_id: &UserId,
    session_hash: Option<&str>,
    scope: &ScopeSet,
    now: NaiveDateTime,
    lifetimes: &TokenSettings,
) -> diesel::QueryResult<(GrantId, TokenResponse)> {
    let grant_id = GrantId::random();
    db::grants::insert(
        conn,
        &Grant {
            id: grant_id.clone(),
            client_id: client.id.clone(),
            user_id: Some(user_id.clone()),
            scope: scope.to_string(),
            created_at: now,
            revoked_at: None,
            revoked_reason: None,
            session_hash: session_hash.map(str::to_owned),
        },
    )?;
    let owner = TokenOwner {
        client_id: &client.id,
        user_id: Some(user_id),
        grant_id: Some(&grant_id),
    };
    let access_token = mint_access_token(conn, &owner, scope, now, lifetimes)?;
    let refresh_token = if client.allows_grant(crate::domain::grant_type::GrantType::RefreshToken) {
        let family = FamilyRef {
            grant_id: &grant_id,
            client_id: &client.id,
            user_id,
            scope,
        };
        Some(mint_refresh_token(conn, &family, None, now, lifetimes)?)
    } else {
        None
    };
    let response = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetimes.access_token_ttl_secs,
        refresh_token,
        scope: scope.to_string(),
        id_token: None,
    };
    Ok((grant_id, response))
}
