//! Demo data, made on first start (and mended on later ones): a scope catalogue for the demo API, a
//! user, a public client whose redirect URI is the demo app, a confidential client for
//! client_credentials, and the gateway's own client. It goes in through the auth-server's admin
//! functions, exactly as an operator's `auth-server clients create` would.
//!
//! Nothing is half-written: the rows commit in one transaction, and the credentials file is
//! written (whole, then renamed) inside it, before the commit. A crash in between leaves a file
//! whose clients do not exist, which the next start notices and replaces.

use auth_server::admin::clients::ClientSpec;
use auth_server::admin::users::UserSpec;
use auth_server::admin::{self, AdminError};
use auth_server::domain::grant_type::GrantType;
use auth_server::domain::ids::ClientId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use secrecy::SecretString;
use shared::auth_schema::clients;
use shared::db::DbConn;

use crate::credentials::{
    APP_CLIENT_ID, DEMO_USERNAME, DemoCredentials, GATEWAY_CLIENT_ID, SERVICE_CLIENT_ID,
};
use crate::data_dir::{CREDENTIALS_FILE as CREDENTIALS_FILE_NAME, DataDir};
use crate::error::StartError;

/// The scopes of the demo API behind the gateway.
const API_SCOPES: [(&str, &str); 2] = [
    ("api:read", "Read your data through the demo API"),
    ("api:write", "Change your data through the demo API"),
];

/// Makes or mends the demo data and returns its credentials. `demo_url` is the demo app's base
/// URL, which its client's redirect URI follows from one start to the next.
pub fn seed(conn: &mut DbConn, data_dir: &DataDir, demo_url: &str) -> Result<DemoCredentials, StartError> {
    let stored: Option<DemoCredentials> = data_dir
        .read(CREDENTIALS_FILE_NAME)?
        .and_then(|content| serde_json::from_slice(&content).ok());
    shared::db::transaction(conn, |conn| {
        let seeded = client_exists(conn, APP_CLIENT_ID)? && client_exists(conn, SERVICE_CLIENT_ID)?;
        let credentials = match stored {
            Some(credentials) if seeded && client_exists(conn, GATEWAY_CLIENT_ID)? => credentials,
            _ => {
                let credentials = create_demo_data(conn, demo_url)?;
                let file = serde_json::to_vec_pretty(&credentials).map_err(|error| {
                    StartError::new(format!("cannot encode the demo credentials: {error}"))
                })?;
                data_dir.write_secret(CREDENTIALS_FILE_NAME, &file)?;
                credentials
            }
        };
        follow_demo_url(conn, demo_url)?;
        Ok(credentials)
    })
}

/// Creates whatever part of the demo data is missing, and gives fresh secrets to what exists.
fn create_demo_data(conn: &mut DbConn, demo_url: &str) -> Result<DemoCredentials, StartError> {
    for (name, description) in API_SCOPES {
        // In a savepoint each: a refused insert must not spoil the transaction (PostgreSQL's rule).
        if let Err(error) =
            shared::db::transaction(conn, |conn| admin::scopes::create(conn, name, description))
        {
            ignore_conflict(error)?;
        }
    }
    let password = random_secret();
    let spec = UserSpec {
        username: DEMO_USERNAME.to_owned(),
        email: "demo@example.com".to_owned(),
        scope: Some("openid profile email api:read api:write".to_owned()),
        password: SecretString::from(password.clone()),
    };
    let user = shared::db::transaction(conn, |conn| admin::users::create(conn, &spec));
    match user {
        Ok(_) => {
            admin::user_claims::set_claim(conn, DEMO_USERNAME, "name", "Demo User", false).map_err(failed)?
        }
        Err(AdminError::Conflict(_)) => {
            admin::users::set_password(conn, DEMO_USERNAME, &SecretString::from(password.clone()))
                .map_err(failed)?;
        }
        Err(error) => return Err(failed(error)),
    }
    ensure_client(
        conn,
        ClientSpec {
            client_id: Some(APP_CLIENT_ID.to_owned()),
            name: "Demo app".to_owned(),
            public: true,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            redirect_uris: vec![format!("{demo_url}/callback")],
            scope: Some("openid profile email api:read".to_owned()),
            post_logout_redirect_uris: vec![format!("{demo_url}/")],
            ..ClientSpec::default()
        },
    )?;
    let service_client_secret = ensure_client(
        conn,
        ClientSpec {
            client_id: Some(SERVICE_CLIENT_ID.to_owned()),
            name: "Demo service".to_owned(),
            grant_types: vec![GrantType::ClientCredentials],
            scope: Some("api:read api:write".to_owned()),
            introspect: true,
            ..ClientSpec::default()
        },
    )?;
    let gateway_client_secret = ensure_client(
        conn,
        ClientSpec {
            client_id: Some(GATEWAY_CLIENT_ID.to_owned()),
            name: "Resource gateway".to_owned(),
            grant_types: vec![GrantType::ClientCredentials],
            introspect: true,
            ..ClientSpec::default()
        },
    )?;
    Ok(DemoCredentials {
        username: DEMO_USERNAME.to_owned(),
        password,
        app_client_id: APP_CLIENT_ID.to_owned(),
        service_client_id: SERVICE_CLIENT_ID.to_owned(),
        service_client_secret: service_client_secret.unwrap_or_default(),
        gateway_client_id: GATEWAY_CLIENT_ID.to_owned(),
        gateway_client_secret: gateway_client_secret.unwrap_or_default(),
    })
}

/// Creates the client, or gives an existing confidential one a new secret. Returns the secret.
fn ensure_client(conn: &mut DbConn, spec: ClientSpec) -> Result<Option<String>, StartError> {
    let client_id = spec.client_id.clone().unwrap_or_default();
    if client_exists(conn, &client_id)? {
        if spec.public {
            return Ok(None);
        }
        return Ok(admin::clients::rotate_secret(conn, &client_id, None)
            .map_err(failed)?
            .client_secret);
    }
    Ok(admin::clients::create(conn, &spec).map_err(failed)?.client_secret)
}

/// The demo app's redirect URIs follow its address (a test, or `PLATFORM_DEMO_LISTEN_ADDR`, may
/// move it between starts).
fn follow_demo_url(conn: &mut DbConn, demo_url: &str) -> Result<(), StartError> {
    let redirect_uris = serde_json::json!([format!("{demo_url}/callback")]).to_string();
    let logout_uris = serde_json::json!([format!("{demo_url}/")]).to_string();
    diesel::update(clients::table.find(APP_CLIENT_ID))
        .set((
            clients::redirect_uris.eq(redirect_uris),
            clients::post_logout_redirect_uris.eq(logout_uris),
        ))
        .execute(conn)
        .map_err(|error| StartError::new(format!("cannot store the demo app's address: {error}")))?;
    Ok(())
}

fn client_exists(conn: &mut DbConn, client_id: &str) -> Result<bool, StartError> {
    auth_server::db::clients::find(conn, &ClientId::from(client_id))
        .map(|found| found.is_some())
        .map_err(|error| StartError::new(format!("cannot read the demo clients: {error}")))
}

fn ignore_conflict(error: AdminError) -> Result<(), StartError> {
    match error {
        AdminError::Conflict(_) => Ok(()),
        other => Err(failed(other)),
    }
}

fn failed(error: AdminError) -> StartError {
    StartError::new(format!("cannot create the demo data: {error}"))
}

/// 128 random bits, base64url: a password nobody guesses and anyone can paste.
fn random_secret() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl From<diesel::result::Error> for StartError {
    fn from(error: diesel::result::Error) -> StartError {
        StartError::new(format!("the demo data could not be stored: {error}"))
    }
}
