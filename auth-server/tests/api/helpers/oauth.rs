//! OAuth requests as clients make them: the token, introspection and revocation endpoints, the code
//! flow end to end, and the error format every refusal must have.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Browser, TestApp, TestClient};

/// A PKCE pair.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce { verifier, challenge }
    }
}

/// Tokens from a successful token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl TestApp {
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(form_encode(id), Some(form_encode(secret)));
        }
        request.send().await.expect("the server answers")
    }

    /// POST /oauth2/token authenticated with client_secret_basic (or as a public client).
    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        match &client.secret {
            Some(secret) => {
                self.post_form("/oauth2/token", form, Some((&client.id, secret)))
                    .await
            }
            None => {
                let mut with_id = form.to_vec();
                with_id.push(("client_id", &client.id));
                self.post_form("/oauth2/token", &with_id, None).await
            }
        }
    }

    pub async fn introspect(&self, introspector: &TestClient, token: &str) -> Value {
        let response = self
            .post_form(
                "/oauth2/introspect",
                &[("token", token)],
                Some((&introspector.id, introspector.secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn refresh(&self, client: &TestClient, refresh_token: &str) -> reqwest::Response {
        self.token(
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .await
    }

    /// Runs the whole authorization code flow in a fresh browser and returns the code.
    pub async fn authorization_code(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        scope: &str,
        pkce: &Pkce,
    ) -> String {
        let browser = Browser::new(self);
        browser
            .sign_in_and_consent(client, username, password, scope, pkce)
            .await
    }

    /// Authorization code flow and code exchange: the tokens alice gets for `client`.
    pub async fn tokens_for_alice(&self, client: &TestClient, scope: &str) -> Tokens {
        let pkce = Pkce::new();
        let code = self
            .authorization_code(client, "alice", "alice-password", scope, &pkce)
            .await;
        let response = self.exchange_code(client, &code, &pkce.verifier).await;
        assert_eq!(response.status(), 200, "the code exchange succeeds");
        tokens(response).await
    }

    pub async fn exchange_code(&self, client: &TestClient, code: &str, verifier: &str) -> reqwest::Response {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// POSTs a form to `path` as `client`: client_secret_basic when it has a secret, otherwise
    /// (a public client) with only `client_id` in the body.
    pub async fn post_as_client(
        &self,
        client: &TestClient,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        match &client.secret {
            Some(secret) => self.post_form(path, form, Some((&client.id, secret))).await,
            None => {
                let mut with_id = form.to_vec();
                with_id.push(("client_id", &client.id));
                self.post_form(path, &with_id, None).await
            }
        }
    }

    /// POST /oauth2/token with `grant_type=client_credentials` and, if given, a scope.
    pub async fn client_credentials(&self, client: &TestClient, scope: Option<&str>) -> reqwest::Response {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(scope.map(|scope| ("scope", scope)));
        self.token(client, &form).await
    }

    /// POST /oauth2/revoke of `token` by `client`.
    pub async fn revoke(&self, client: &TestClient, token: &str) -> reqwest::Response {
        self.post_as_client(client, "/oauth2/revoke", &[("token", token)])
            .await
    }
}

pub async fn tokens(response: reqwest::Response) -> Tokens {
    let body: Value = response.json().await.unwrap();
    Tokens {
        access_token: body["access_token"].as_str().expect("an access token").to_owned(),
        refresh_token: body["refresh_token"].as_str().map(str::to_owned),
        scope: body["scope"].as_str().unwrap_or_default().to_owned(),
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (for Basic credentials, RFC 6749 §2.3.1).
pub fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Checks an OAuth error response (RFC 6749 §5.2) and returns its body: the status, `no-store` and
/// `no-cache`, a JSON body with the error code, a description of the allowed characters only, and
/// the request id that the `x-request-id` header also carries.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "the status of a {error} error"
    );
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("an ASCII content type")
            .starts_with("application/json"),
        "{headers:?}"
    );
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().expect("an error_description");
    assert!(
        description
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
        "error_description has characters outside %x20-21 / %x23-5B / %x5D-7E: {description:?}"
    );
    let request_id = body["request_id"].as_str().expect("a request_id");
    assert_eq!(headers["x-request-id"], request_id);
    body
}
