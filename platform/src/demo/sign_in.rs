//! The demo app's sign-in, as a relying party does it: `/login` sends the browser to the
//! authorization endpoint with a PKCE challenge, a `state` bound to the browser by a cookie and a
//! `nonce`; `/callback` checks the state, redeems the code with the verifier, verifies the id_token
//! against the JWKS (signature, issuer, audience, nonce), calls userinfo, and calls the demo API
//! through the gateway with the access token. The page shows all of it.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::DemoApp;

/// The cookie that binds a sign-in's `state` to the browser that started it.
const STATE_COOKIE: &str = "demo_state";
/// The scopes the demo app asks for.
const SCOPE: &str = "openid profile email api:read";

/// A sign-in in progress.
#[derive(Clone)]
pub struct Pending {
    verifier: String,
    nonce: String,
}

#[derive(Template)]
#[template(path = "demo_home.html")]
struct HomePage<'a> {
    client_id: &'a str,
    username: &'a str,
    auth: &'a str,
    gateway: &'a str,
    mailbox: String,
    jobs: &'a str,
}

#[derive(Template)]
#[template(path = "demo_signed_in.html")]
struct SignedInPage {
    who: String,
    logout_url: String,
    api_url: String,
    api_status: u16,
    api_body: String,
    id_token_claims: String,
    userinfo: String,
    token_response: String,
}

#[derive(Template)]
#[template(path = "demo_error.html")]
struct ErrorPage<'a> {
    message: &'a str,
}

pub async fn get_home(app: web::Data<DemoApp>) -> HttpResponse {
    let addresses = &app.addresses;
    page(&HomePage {
        client_id: &app.client_id,
        username: &app.username,
        auth: &app.issuer,
        gateway: &addresses.gateway,
        mailbox: format!("{}/mail", addresses.email),
        jobs: &addresses.jobs,
    })
}

/// Starts a sign-in: a fresh verifier, state and nonce, and a redirect to the authorization endpoint.
pub async fn get_login(app: web::Data<DemoApp>) -> HttpResponse {
    let verifier = random();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (random(), random());
    let mut authorize =
        url::Url::parse(&format!("{}/oauth2/authorize", app.issuer)).expect("the issuer is a URL");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", &redirect_uri(&app))
        .append_pair("scope", SCOPE)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    app.pending.insert(state.clone(), Pending { verifier, nonce });
    HttpResponse::Found()
        .insert_header((header::LOCATION, authorize.to_string()))
        .cookie(
            Cookie::build(STATE_COOKIE, state)
                .path("/callback")
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish(),
        )
        .finish()
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finishes a sign-in and shows what it got.
pub async fn get_callback(
    app: web::Data<DemoApp>,
    request: HttpRequest,
    query: web::Query<Callback>,
) -> HttpResponse {
    match finish(&app, &request, query.into_inner()).await {
        Ok(page) => self::page(&page),
        Err(message) => {
            let mut response = self::page(&ErrorPage { message: &message });
            *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
            response
        }
    }
}

async fn finish(app: &DemoApp, request: &HttpRequest, callback: Callback) -> Result<SignedInPage, String> {
    if let Some(error) = callback.error {
        let description = callback.error_description.unwrap_or_default();
        return Err(format!(
            "The authorization server answered {error}: {description}"
        ));
    }
    let (Some(code), Some(state)) = (callback.code, callback.state) else {
        return Err("The callback has no code or no state.".to_owned());
    };
    let same_browser = request
        .cookie(STATE_COOKIE)
        .is_some_and(|cookie| cookie.value() == state);
    let pending = app
        .pending
        .remove(&state)
        .filter(|_| same_browser)
        .ok_or("This sign-in was not started in this browser, or it was already finished.")?;

    let token_response: serde_json::Value = app
        .http
        .post(format!("{}/oauth2/token", app.addresses.auth))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri(app)),
            ("client_id", &app.client_id),
            ("code_verifier", &pending.verifier),
        ])
        .send()
        .await
        .map_err(|error| format!("The token endpoint cannot be reached: {error}"))?
        .json()
        .await
        .map_err(|error| format!("The token endpoint answered something other than JSON: {error}"))?;
    let text = |name: &str| token_response[name].as_str().map(str::to_owned);
    let (Some(access_token), Some(id_token)) = (text("access_token"), text("id_token")) else {
        return Err(format!("The code was refused: {token_response}"));
    };
    let claims = verify_id_token(app, &id_token, &pending.nonce).await?;
    let userinfo = get_json(
        app,
        &format!("{}/oauth2/userinfo", app.addresses.auth),
        &access_token,
    )
    .await;
    // The name to greet: userinfo's (the id_token of a code flow carries only the subject).
    let username = userinfo
        .as_ref()
        .ok()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .and_then(|claims| claims["preferred_username"].as_str().map(str::to_owned));
    let api_url = format!("{}/api/profile", app.addresses.gateway);
    let (api_status, api_body) = match get_json(app, &api_url, &access_token).await {
        Ok(body) => (200, body),
        Err((status, body)) => (status, body),
    };
    let mut logout = url::Url::parse(&format!("{}/oauth2/logout", app.issuer)).expect("the issuer is a URL");
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", &format!("{}/", app.addresses.demo));
    Ok(SignedInPage {
        who: username.unwrap_or_else(|| claims["sub"].as_str().unwrap_or("?").to_owned()),
        logout_url: logout.to_string(),
        api_url,
        api_status,
        api_body,
        id_token_claims: pretty(&claims),
        userinfo: userinfo.unwrap_or_else(|(status, body)| format!("HTTP {status}\n{body}")),
        token_response: pretty(&token_response),
    })
}

/// The id_token's claims, once its signature (a key of the JWKS, the algorithm the key is for),
/// issuer, audience, expiry and nonce have been checked.
async fn verify_id_token(app: &DemoApp, id_token: &str, nonce: &str) -> Result<serde_json::Value, String> {
    let header = jsonwebtoken::decode_header(id_token)
        .map_err(|error| format!("The id_token is malformed: {error}"))?;
    let jwks: JwkSet = app
        .http
        .get(format!("{}/oauth2/jwks", app.addresses.auth))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|error| format!("The JWKS cannot be fetched: {error}"))?
        .json()
        .await
        .map_err(|error| format!("The JWKS is not a JWK Set: {error}"))?;
    let jwk = header
        .kid
        .as_deref()
        .and_then(|kid| jwks.find(kid))
        .ok_or("The id_token is signed with a key the JWKS does not publish.")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|error| format!("The JWKS key cannot be used: {error}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[&app.client_id]);
    validation.set_issuer(&[&app.issuer]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation)
        .map_err(|error| format!("The id_token does not verify: {error}"))?
        .claims;
    if claims["nonce"].as_str() != Some(nonce) {
        return Err("The id_token's nonce is not the one this sign-in sent.".to_owned());
    }
    Ok(claims)
}

/// GET `url` with the bearer token: the body, pretty if JSON; or the status and body of a refusal.
async fn get_json(app: &DemoApp, url: &str, access_token: &str) -> Result<String, (u16, String)> {
    let response = app
        .http
        .get(url)
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|error| (0, error.to_string()))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let shown = serde_json::from_str::<serde_json::Value>(&body)
        .map(|json| pretty(&json))
        .unwrap_or(body);
    if (200..300).contains(&status) {
        Ok(shown)
    } else {
        Err((status, shown))
    }
}

fn redirect_uri(app: &DemoApp) -> String {
    format!("{}/callback", app.addresses.demo)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// 256 random bits, base64url (43 characters: a valid PKCE verifier too).
fn random() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn page(page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(error) => {
            tracing::error!(%error, "a demo page did not render");
            HttpResponse::InternalServerError().finish()
        }
    }
}
