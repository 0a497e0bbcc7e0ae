//! Client registration. Secrets are generated here and shown once, or, when the deployment keeps
//! them in a secret store (compose's `.env`, a Kubernetes Secret), supplied by the operator: at
//! least 43 characters, as a 256-bit random value encodes. Either way only the SHA-256 is stored.

use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use shared::db::DbConn;

use super::{AdminError, actor, scopes};
use crate::db;
use crate::db::models::ClientRow;
use crate::domain::grant_type::{self, GrantType};
use crate::domain::ids::ClientId;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::redirect_uri::{self, RedirectUri};
use crate::domain::signing_alg::SigningAlgorithm;
use crate::domain::time;

/// What an operator asks for when registering a client.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// A client id of the operator's choosing (letters, digits, `.`, `_`, `-`; 3 to 64); a random
    /// one when `None`.
    pub client_id: Option<String>,
    pub name: String,
    pub public: bool,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<String>,
    pub scope: Option<String>,
    pub introspect: bool,
    pub skip_consent: bool,
    /// RS256 when `None` (OpenID Connect's default).
    pub id_token_signed_response_alg: Option<SigningAlgorithm>,
    pub allow_hybrid: bool,
    /// The legacy resource owner password grant; off unless asked for.
    pub allow_password_grant: bool,
    pub post_logout_redirect_uris: Vec<String>,
    /// The operator's own secret for a confidential client (`--secret-stdin`); generated when `None`.
    pub secret: Option<SecretString>,
}

/// The shortest secret an operator may supply: 32 random bytes in base64url (43 characters);
/// `openssl rand -hex 32` gives 64.
pub const MIN_SUPPLIED_SECRET_CHARS: usize = 43;

/// The new client's credentials; a generated secret is shown this once and never again (a supplied
/// one is not echoed: `None`).
#[derive(Debug, Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// A client as `clients list|show` print it (never the secret or its hash).
#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub scope: String,
    pub introspect: bool,
    pub skip_consent: bool,
    pub id_token_signed_response_alg: String,
    pub allow_hybrid: bool,
    pub allow_password_grant: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub created_at: NaiveDateTime,
}

pub fn create(conn: &mut DbConn, spec: &ClientSpec) -> Result<CreatedClient, AdminError> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AdminError::invalid(
            "--name",
            "the name is shown on the login page: 1 to 200 characters",
        ));
    }
    let grant_types = validate_grant_types(spec)?;
    let redirect_uris = validate_redirect_uris(spec, &grant_types)?;
    let oidc = validate_oidc_settings(spec, &grant_types)?;
    if spec.public && spec.introspect {
        return Err(AdminError::invalid(
            "--introspect",
            "a public client cannot authenticate, so it cannot introspect",
        ));
    }

    let client_id = match &spec.client_id {
        Some(chosen) => validate_client_id(chosen)?,
        None => ClientId::random(),
    };
    if spec.public && spec.secret.is_some() {
        return Err(AdminError::invalid(
            "--secret-stdin",
            "a public client has no secret",
        ));
    }
    let secret = match spec.public {
        true => None,
        false => Some(new_secret(spec.secret.as_ref())?),
    };
    let now = time::now();
    let row = ClientRow {
        id: client_id.clone(),
        name: name.to_owned(),
        secret_hash: secret.as_ref().map(|secret| secret.hash.as_str().to_owned()),
        is_public: spec.public,
        grant_types: grant_type::format_list(&grant_types),
        redirect_uris: serde_json::to_string(&redirect_uris).map_err(anyhow::Error::from)?,
        can_introspect: spec.introspect,
        skip_consent: spec.skip_consent,
        created_at: now,
        updated_at: now,
        id_token_signed_response_alg: oidc.alg.as_str().to_owned(),
        allow_hybrid: spec.allow_hybrid,
        allow_password_grant: spec.allow_password_grant,
        post_logout_redirect_uris: serde_json::to_string(&oidc.post_logout_redirect_uris)
            .map_err(anyhow::Error::from)?,
    };
    shared::db::transaction(conn, |conn| {
        let allowed = scopes::parse_known(conn, spec.scope.as_deref())?;
        db::clients::insert(conn, &row).map_err(|error| {
            if db::is_unique_violation(&error) {
                AdminError::Conflict(format!("a client with the id {client_id:?} already exists"))
            } else {
                error.into()
            }
        })?;
        db::clients::insert_scopes(conn, &client_id, &allowed)?;
        Ok::<_, AdminError>(())
    })?;
    tracing::info!(admin.actor = %actor(), client.id = %client_id, "client created");
    Ok(CreatedClient {
        client_id: client_id.into_string(),
        client_secret: secret.and_then(|secret| secret.shown),
    })
}

/// A client secret: the hash to store, and the value to show once (only when generated here).
struct NewSecret {
    hash: opaque_token::TokenHash,
    shown: Option<String>,
}

fn new_secret(supplied: Option<&SecretString>) -> Result<NewSecret, AdminError> {
    let Some(supplied) = supplied else {
        let generated = opaque_token::generate(TokenKind::ClientSecret);
        return Ok(NewSecret {
            hash: generated.hash,
            shown: Some(generated.value),
        });
    };
    let value = supplied.expose_secret();
    let printable = value.bytes().all(|byte| byte.is_ascii_graphic());
    if value.chars().count() < MIN_SUPPLIED_SECRET_CHARS || value.len() > 512 || !printable {
        return Err(AdminError::invalid(
            "--secret-stdin",
            "a supplied secret is 43 to 512 visible ASCII characters, as random as a generated one \
             (openssl rand -hex 32)",
        ));
    }
    Ok(NewSecret {
        hash: opaque_token::hash(value),
        shown: None,
    })
}

/// A chosen client id: it travels in URLs, forms and Basic credentials, so only characters that
/// need no encoding in any of them (and never `:`, which Basic authentication splits on).
fn validate_client_id(chosen: &str) -> Result<ClientId, AdminError> {
    let allowed = |character: char| character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-');
    if (3..=64).contains(&chosen.len()) && chosen.chars().all(allowed) {
        Ok(ClientId::from(chosen))
    } else {
        Err(AdminError::invalid(
            "--client-id",
            "3 to 64 characters: letters, digits, '.', '_' and '-'",
        ))
    }
}

fn validate_grant_types(spec: &ClientSpec) -> Result<Vec<GrantType>, AdminError> {
    if spec.grant_types.is_empty() {
        return Err(AdminError::invalid(
            "--grant-type",
            "give at least one grant type",
        ));
    }
    let mut grant_types = Vec::new();
    for grant_type in &spec.grant_types {
        if !grant_types.contains(grant_type) {
            grant_types.push(*grant_type);
        }
    }
    if grant_types.contains(&GrantType::Password) {
        return Err(AdminError::invalid(
            "--grant-type",
            "the legacy password grant is enabled with --allow-password-grant, not as a grant type",
        ));
    }
    if spec.public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(AdminError::invalid(
            "--grant-type",
            "client_credentials is for confidential clients, not --public ones",
        ));
    }
    if grant_types.contains(&GrantType::RefreshToken) && !grant_types.contains(&GrantType::AuthorizationCode)
    {
        return Err(AdminError::invalid(
            "--grant-type",
            "refresh_token is only issued with authorization_code",
        ));
    }
    Ok(grant_types)
}

fn validate_redirect_uris(
    spec: &ClientSpec,
    grant_types: &[GrantType],
) -> Result<Vec<RedirectUri>, AdminError> {
    let uses_redirects = grant_types.contains(&GrantType::AuthorizationCode);
    if uses_redirects && spec.redirect_uris.is_empty() {
        return Err(AdminError::invalid(
            "--redirect-uri",
            "authorization_code needs at least one redirect URI",
        ));
    }
    if !uses_redirects && !spec.redirect_uris.is_empty() {
        return Err(AdminError::invalid(
            "--redirect-uri",
            "redirect URIs are only used with --grant-type authorization_code",
        ));
    }
    let mut uris: Vec<RedirectUri> = Vec::new();
    for uri in &spec.redirect_uris {
        let valid = redirect_uri::validate_for_registration(uri)
            .map_err(|error| AdminError::invalid("--redirect-uri", error.to_string()))?;
        if !uris.contains(&valid) {
            uris.push(valid);
        }
    }
    Ok(uris)
}

struct OidcSettings {
    alg: SigningAlgorithm,
    post_logout_redirect_uris: Vec<RedirectUri>,
}

fn validate_oidc_settings(spec: &ClientSpec, grant_types: &[GrantType]) -> Result<OidcSettings, AdminError> {
    let alg = spec
        .id_token_signed_response_alg
        .unwrap_or(SigningAlgorithm::Rs256);
    if spec.allow_hybrid && !grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(AdminError::invalid(
            "--allow-hybrid",
            "the hybrid flow needs --grant-type authorization_code",
        ));
    }
    if spec.allow_password_grant && spec.public {
        return Err(AdminError::invalid(
            "--allow-password-grant",
            "the legacy password grant is for confidential clients only",
        ));
    }
    let mut uris: Vec<RedirectUri> = Vec::new();
    for uri in &spec.post_logout_redirect_uris {
        let valid = redirect_uri::validate_for_registration(uri)
            .map_err(|error| AdminError::invalid("--post-logout-redirect-uri", error.to_string()))?;
        if !uris.contains(&valid) {
            uris.push(valid);
        }
    }
    Ok(OidcSettings {
        alg,
        post_logout_redirect_uris: uris,
    })
}

pub fn list(conn: &mut DbConn) -> Result<Vec<ClientView>, AdminError> {
    let rows = db::clients::list(conn)?;
    rows.into_iter().map(|row| view(conn, row)).collect()
}

pub fn show(conn: &mut DbConn, client_id: &str) -> Result<ClientView, AdminError> {
    let row = db::clients::find(conn, &ClientId::from(client_id))?.ok_or_else(|| not_found(client_id))?;
    view(conn, row)
}

/// Replaces a confidential client's secret; the old one stops working at once in the database and
/// within `oauth.client_cache_ttl_ms` in running servers.
pub fn rotate_secret(
    conn: &mut DbConn,
    client_id: &str,
    supplied: Option<&SecretString>,
) -> Result<CreatedClient, AdminError> {
    let client_id = ClientId::from(client_id);
    let row = db::clients::find(conn, &client_id)?.ok_or_else(|| not_found(client_id.as_str()))?;
    if row.is_public {
        return Err(AdminError::invalid(
            "CLIENT_ID",
            "a public client has no secret to rotate",
        ));
    }
    let secret = new_secret(supplied)?;
    db::clients::set_secret_hash(conn, &client_id, &secret.hash, time::now())?;
    tracing::info!(admin.actor = %actor(), client.id = %client_id, "client secret rotated");
    Ok(CreatedClient {
        client_id: client_id.into_string(),
        client_secret: secret.shown,
    })
}

/// Deletes a client and, through the foreign keys, every code, token and consent issued to it.
pub fn delete(conn: &mut DbConn, client_id: &str) -> Result<(), AdminError> {
    if db::clients::delete(conn, &ClientId::from(client_id))? == 0 {
        return Err(not_found(client_id));
    }
    tracing::info!(admin.actor = %actor(), client.id = %client_id, "client deleted");
    Ok(())
}

fn view(conn: &mut DbConn, row: ClientRow) -> Result<ClientView, AdminError> {
    let scope = db::clients::scopes_of(conn, &row.id)?;
    Ok(ClientView {
        redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
        grant_types: row
            .grant_types
            .split(' ')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
        client_id: row.id.into_string(),
        name: row.name,
        public: row.is_public,
        scope: scope.to_string(),
        introspect: row.can_introspect,
        skip_consent: row.skip_consent,
        id_token_signed_response_alg: row.id_token_signed_response_alg,
        allow_hybrid: row.allow_hybrid,
        allow_password_grant: row.allow_password_grant,
        post_logout_redirect_uris: serde_json::from_str(&row.post_logout_redirect_uris).unwrap_or_default(),
        created_at: row.created_at,
    })
}

fn not_found(client_id: &str) -> AdminError {
    AdminError::NotFound(format!("no client with id {client_id}"))
}
