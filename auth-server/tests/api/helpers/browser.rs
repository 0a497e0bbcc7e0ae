//! A browser: keeps cookies, follows no redirect by itself, so a test sees each step of a flow.

use reqwest::header::LOCATION;
pub use shared::testing::html::hidden_field;

use super::{Pkce, TestApp, TestClient, no_redirect_client};

/// A browser: keeps cookies, follows no redirect by itself.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub http: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            http: no_redirect_client(true),
        }
    }

    /// The /oauth2/authorize URL for a client with PKCE and a state.
    pub fn authorize_url(&self, client: &TestClient, scope: &str, pkce: &Pkce, state: &str) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &client.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        self.app.url(&format!("/oauth2/authorize?{query}"))
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        let url = if url.starts_with('/') {
            self.app.url(url)
        } else {
            url.to_owned()
        };
        self.http.get(url).send().await.expect("the server answers")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.app.url(path))
            .form(form)
            .send()
            .await
            .expect("the server answers")
    }

    /// Starts a flow and returns the login page's HTML (following the redirect to /login).
    pub async fn start(
        &self,
        client: &TestClient,
        scope: &str,
        pkce: &Pkce,
        state: &str,
    ) -> reqwest::Response {
        self.get(&self.authorize_url(client, scope, pkce, state)).await
    }

    /// Submits the login form of the page at `login_location`.
    pub async fn submit_login(
        &self,
        login_location: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.get(login_location).await.text().await.unwrap();
        let request = hidden_field(&page, "request");
        let csrf = hidden_field(&page, "csrf_token");
        self.post(
            "/login",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Submits the consent form of the page at `consent_location`.
    pub async fn submit_consent(&self, consent_location: &str, decision: &str) -> reqwest::Response {
        let page = self.get(consent_location).await.text().await.unwrap();
        let request = hidden_field(&page, "request");
        let csrf = hidden_field(&page, "csrf_token");
        self.post(
            "/consent",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("decision", decision),
            ],
        )
        .await
    }

    /// Authorize, sign in, consent if asked; returns the code from the final redirect.
    pub async fn sign_in_and_consent(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        scope: &str,
        pkce: &Pkce,
    ) -> String {
        let state = "xyz";
        let mut response = self.start(client, scope, pkce, state).await;
        let mut location = location(&response);
        if location.starts_with("/login") {
            response = self.submit_login(&location, username, password).await;
            assert_eq!(response.status(), 303, "a successful sign-in answers 303");
            location = crate::helpers::location(&response);
        }
        if location.starts_with("/consent") {
            response = self.submit_consent(&location, "allow").await;
            assert_eq!(response.status(), 303);
            location = crate::helpers::location(&response);
        }
        let params = query_params(&location);
        assert_eq!(
            params.get("state").map(String::as_str),
            Some(state),
            "the state comes back: {location}"
        );
        params
            .get("code")
            .cloned()
            .unwrap_or_else(|| panic!("a code in {location}"))
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("a Location header on a {} response", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The query parameters of a URL (relative or absolute).
pub fn query_params(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map(|(_, query)| query).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}
