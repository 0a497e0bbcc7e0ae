//! The demo service as a client of the auth-server, as the printed curl lines use it.

use serde_json::Value;

/// The demo service (`demo-service`), calling an auth-server as the printed curl lines do.
pub struct ServiceClient {
    pub auth: String,
    pub secret: String,
}

impl ServiceClient {
    /// A client_credentials token.
    pub async fn token(&self, scope: &str) -> String {
        let response = self
            .post(
                "/oauth2/token",
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("a token: {response}"))
            .to_owned()
    }

    /// What introspection says of `token`.
    pub async fn introspect(&self, token: &str) -> Value {
        self.post("/oauth2/introspect", &[("token", token)]).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        reqwest::Client::new()
            .post(format!("{}{path}", self.auth))
            .basic_auth(platform::credentials::SERVICE_CLIENT_ID, Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
