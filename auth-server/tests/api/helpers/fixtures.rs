//! What tests register (scopes, users, clients) and read back, as an operator's admin commands do.

use auth_server::admin;
use auth_server::admin::clients::{ClientSpec, CreatedClient};
use auth_server::domain::grant_type::GrantType;
use secrecy::{ExposeSecret, SecretString};
use shared::db::DbConn;

use super::TestApp;

/// A registered client and its credentials.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

impl TestApp {
    pub fn conn(&self) -> shared::db::PooledDbConn {
        self.pool.get().expect("a test database connection")
    }

    /// `SELECT count(*) AS count ...` on the test database.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        diesel::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), &mut self.conn())
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
            .count
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn create_scope(&self, name: &str) {
        admin::scopes::create(&mut self.conn(), name, &format!("Lets the app {name} your data")).unwrap();
    }

    pub fn create_user(&self, username: &str, password: &str, scope: &str) -> String {
        let spec = admin::users::UserSpec {
            username: username.to_owned(),
            email: format!("{username}@example.test"),
            scope: Some(scope.to_owned()),
            password: SecretString::from(password.to_owned()),
        };
        admin::users::create(&mut self.conn(), &spec).unwrap().id
    }

    pub fn create_client(&self, spec: ClientSpec) -> TestClient {
        let CreatedClient {
            client_id,
            client_secret,
        } = admin::clients::create(&mut self.conn(), &spec).unwrap();
        TestClient {
            id: client_id,
            secret: client_secret,
            redirect_uri: spec.redirect_uris.first().cloned().unwrap_or_default(),
        }
    }

    /// The usual cast: scopes read, write and admin; alice (read write) with password
    /// `alice-password`; a confidential web client allowed read and write.
    pub fn standard_fixture(&self) -> TestClient {
        for scope in ["read", "write", "admin"] {
            self.create_scope(scope);
        }
        self.create_user("alice", "alice-password", "read write");
        self.create_client(web_client_spec())
    }

    /// A confidential client that may introspect.
    pub fn introspector(&self) -> TestClient {
        self.create_client(ClientSpec {
            name: "Resource server".into(),
            grant_types: vec![GrantType::ClientCredentials],
            introspect: true,
            ..Default::default()
        })
    }

    /// Runs a closure on a direct database connection.
    pub fn with_db<T>(&self, work: impl FnOnce(&mut DbConn) -> T) -> T {
        work(&mut self.conn())
    }

    pub fn database_url(&self) -> &str {
        self.settings.database.url.expose_secret()
    }

    /// The id of a user, for comparing with `sub`.
    pub fn user_id(&self, username: &str) -> String {
        auth_server::db::users::find_by_username(&mut self.conn(), username)
            .expect("the users table answers")
            .unwrap_or_else(|| panic!("a user named {username}"))
            .id
            .into_string()
    }
}

/// The spec of a confidential web client with `https://client.test/cb`.
pub fn web_client_spec() -> ClientSpec {
    ClientSpec {
        name: "Web App".into(),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec!["https://client.test/cb".into()],
        scope: Some("read write".into()),
        ..Default::default()
    }
}

/// The spec of a public client (no secret) of the code flow with `https://client.test/cb`.
pub fn public_web_client_spec() -> ClientSpec {
    ClientSpec {
        name: "Mobile App".into(),
        public: true,
        ..web_client_spec()
    }
}

/// The spec of a confidential client that acts on its own behalf (client_credentials only).
pub fn service_client_spec(scope: &str) -> ClientSpec {
    ClientSpec {
        name: "Batch service".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scope: Some(scope.to_owned()),
        ..Default::default()
    }
}
