//! A browser's steps through the pages: forms with their hidden fields, redirects one at a time.

use reqwest::header::LOCATION;
pub use shared::testing::html::hidden_field;

/// A browser: keeps cookies, follows no redirect by itself, so each step of a flow is seen.
pub struct Browser {
    pub http: reqwest::Client,
    /// The auth-server's base URL, which its relative redirects are relative to.
    auth: String,
}

impl Browser {
    pub fn new(auth: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            auth: auth.to_owned(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.auth)
        } else {
            url.to_owned()
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http
            .get(self.absolute(url))
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.absolute(url))
            .form(form)
            .send()
            .await
            .expect("the server answers")
    }

    /// Loads the page at `page`, then submits its form to `action` with `fields`, its CSRF token and
    /// the other hidden fields named in `hidden`.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        hidden: &[&str],
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get(page).await.text().await.unwrap();
        let values: Vec<(String, String)> = std::iter::once("csrf_token")
            .chain(hidden.iter().copied())
            .map(|name| (name.to_owned(), hidden_field(&html, name)))
            .collect();
        let mut form: Vec<(&str, &str)> = values
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    /// Asks for a password reset of the account with `email`, as the forgot-password page does.
    pub async fn ask_password_reset(&self, email: &str) -> reqwest::Response {
        self.submit("/password/forgot", "/password/forgot", &[], &[("email", email)])
            .await
    }

    /// Signs in to the demo app (`demo` is its base URL): its login, the auth-server's login page,
    /// the consent page when asked, then the demo app's callback page.
    pub async fn sign_in_to_demo_app(&self, demo: &str, username: &str, password: &str) -> reqwest::Response {
        let started = self.get(&format!("{demo}/login")).await;
        assert_eq!(started.status(), 302);
        let authorize = self.get(&location(&started)).await;
        let mut next = location(&authorize);
        assert!(
            next.starts_with("/login"),
            "the authorization request asks for a sign-in: {next}"
        );
        let signed_in = self
            .submit(
                &next,
                "/login",
                &["request"],
                &[("username", username), ("password", password)],
            )
            .await;
        assert_eq!(signed_in.status(), 303, "{}", signed_in.text().await.unwrap());
        next = location(&signed_in);
        if next.starts_with("/consent") {
            let consented = self
                .submit(&next, "/consent", &["request"], &[("decision", "allow")])
                .await;
            assert_eq!(consented.status(), 303);
            next = location(&consented);
        }
        assert!(
            next.starts_with(&format!("{demo}/callback?")),
            "back to the demo app: {next}"
        );
        self.get(&next).await
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
