//! Row types. One struct per table serves reads (`Queryable`, `Selectable`) and, where every column is
//! written by us, writes (`Insertable`) too. Id columns hold `ClientId`, `UserId` and `GrantId`
//! (`domain/ids.rs`), so a row cannot be written with one kind of id in another's column.
//!
//! Every `Insertable` row says `treat_none_as_null`: a `None` is bound as NULL instead of rendered as
//! `DEFAULT`, which keeps the SQL text fixed, so diesel caches the prepared statement per connection
//! instead of parsing and planning every insert again (the token endpoint's hot path).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbBackend;

use crate::domain::ids::{ClientId, GrantId, UserId};
use crate::domain::pkce::{CodeChallenge, CodeChallengeMethod};
use crate::domain::prompt::Prompt;
use crate::domain::redirect_uri::RedirectUri;
use crate::domain::response_mode::ResponseMode;
use crate::domain::response_type::ResponseType;
use crate::domain::signing_alg::SigningAlgorithm;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = users, check_for_backend(DbBackend))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// NULL until the address is verified (self-registered users); set at creation by the admin CLI.
    pub email_verified_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = clients, check_for_backend(DbBackend))]
pub struct ClientRow {
    pub id: ClientId,
    pub name: String,
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub grant_types: String,
    /// A JSON array of strings; `RedirectUri`s in the domain `Client`.
    pub redirect_uris: String,
    pub can_introspect: bool,
    pub skip_consent: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub id_token_signed_response_alg: String,
    pub allow_hybrid: bool,
    pub allow_password_grant: bool,
    pub post_logout_redirect_uris: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = scopes, check_for_backend(DbBackend))]
pub struct Scope {
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = login_sessions, check_for_backend(DbBackend))]
pub struct LoginSession {
    pub id_hash: String,
    pub user_id: UserId,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = authorization_requests, check_for_backend(DbBackend))]
pub struct AuthorizationRequest {
    pub id: String,
    pub browser_hash: String,
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub redirect_uri_explicit: bool,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub code_challenge_method: Option<CodeChallengeMethod>,
    pub nonce: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub response_type: ResponseType,
    pub response_mode: Option<ResponseMode>,
    pub prompt: Option<Prompt>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub expected_subject: Option<UserId>,
}

impl AuthorizationRequest {
    /// The mode the answer travels in: the one asked for, else the response type's default.
    pub fn effective_response_mode(&self) -> ResponseMode {
        self.response_mode
            .unwrap_or_else(|| self.response_type.default_mode())
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = grants, check_for_backend(DbBackend))]
pub struct Grant {
    pub id: GrantId,
    pub client_id: ClientId,
    pub user_id: Option<UserId>,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
    pub session_hash: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = authorization_codes, check_for_backend(DbBackend))]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub redirect_uri: RedirectUri,
    pub redirect_uri_explicit: bool,
    pub scope: String,
    pub code_challenge: Option<CodeChallenge>,
    pub code_challenge_method: Option<CodeChallengeMethod>,
    pub nonce: Option<String>,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub grant_id: Option<GrantId>,
    pub session_hash: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = access_tokens, check_for_backend(DbBackend))]
pub struct AccessToken {
    pub token_hash: String,
    pub grant_id: Option<GrantId>,
    pub client_id: ClientId,
    pub user_id: Option<UserId>,
    pub scope: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = refresh_tokens, check_for_backend(DbBackend))]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: String,
    pub parent_hash: Option<String>,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = consents, check_for_backend(DbBackend))]
pub struct Consent {
    pub user_id: UserId,
    pub client_id: ClientId,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = signing_keys, check_for_backend(DbBackend))]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: SigningAlgorithm,
    /// Sealed with `keys.encryption_key`; see `oidc::keys`.
    pub private_key_sealed: String,
    pub public_jwk: String,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub publish_until: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_null = true, table_name = user_claims, check_for_backend(DbBackend))]
pub struct UserClaim {
    pub user_id: UserId,
    pub claim: String,
    /// JSON.
    pub value: String,
    pub updated_at: NaiveDateTime,
}
