//! Self-service accounts: registration with email verification, password reset and the security
//! alert. The emails are checked where the auth-server puts them, in its outbox (their delivery
//! through RabbitMQ and the email-service is tested in the e2e crate).

use diesel::prelude::*;
use shared::messaging::contracts::{EmailTemplate, Envelope, SendEmail};
use shared::messaging::outbox::outbox_messages;

use crate::helpers::*;

/// The email commands in the outbox, oldest first.
pub(crate) fn queued_emails(app: &TestApp) -> Vec<Envelope<SendEmail>> {
    app.with_db(|conn| {
        outbox_messages::table
            .filter(outbox_messages::message_type.eq("email.send"))
            .order(outbox_messages::created_at.asc())
            .select(outbox_messages::body)
            .load::<String>(conn)
            .unwrap()
    })
    .iter()
    .map(|body| serde_json::from_str(body).unwrap())
    .collect()
}

/// The path and query of the link an email carries.
pub(crate) fn link_in(email: &Envelope<SendEmail>, app: &TestApp) -> String {
    let link = &email.payload.variables["link"];
    link.strip_prefix(&app.issuer)
        .unwrap_or_else(|| panic!("{link} is on {}", app.issuer))
        .to_owned()
}

/// Loads the page at `page`, then submits its form to `action` with `fields` and its CSRF token.
pub(crate) async fn submit(
    browser: &Browser<'_>,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = browser.get(page).await.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token");
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(action, &form).await
}

/// Submits the "forgot your password" form for `email`.
pub(crate) async fn ask_for_reset(browser: &Browser<'_>, email: &str) -> reqwest::Response {
    submit(
        browser,
        "/password/forgot",
        "/password/forgot",
        &[("email", email)],
    )
    .await
}

pub(crate) async fn register(
    browser: &Browser<'_>,
    username: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    submit(
        browser,
        "/register",
        "/register",
        &[("username", username), ("email", email), ("password", password)],
    )
    .await
}

/// Signs in through an authorization request; returns the answer to the login form.
pub(crate) async fn sign_in(
    app: &TestApp,
    client: &TestClient,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let browser = Browser::new(app);
    let started = browser.start(client, "read", &Pkce::new(), "s").await;
    browser
        .submit_login(&location(&started), username, password)
        .await
}

pub(crate) fn with_registration(settings: &mut auth_server::configuration::Settings) {
    settings.accounts.registration_enabled = true;
    settings.accounts.registration_scope = "read".to_owned();
}

#[tokio::test]
async fn registration_is_closed_unless_enabled() {
    let app = spawn_app().await;

    let page = Browser::new(&app).get("/register").await;

    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("Registration is closed"));
}

#[tokio::test]
async fn a_new_account_signs_in_only_after_its_address_is_confirmed_by_a_single_use_link() {
    let app = spawn_app_with(with_registration).await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);

    let registered = register(&browser, "grace", "Grace@Example.test", "grace-password").await;
    assert_eq!(registered.status(), 200);
    assert!(registered.text().await.unwrap().contains("Check your inbox"));

    let emails = queued_emails(&app);
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].payload.to, "grace@example.test");
    assert_eq!(emails[0].payload.template, EmailTemplate::VerifyEmail);
    assert_eq!(emails[0].payload.variables["username"], "grace");
    let link = link_in(&emails[0], &app);
    assert!(link.starts_with("/verify-email?token=oal_"), "{link}");

    let refused = sign_in(&app, &client, "grace", "grace-password").await;
    assert_eq!(refused.status(), 200);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Confirm your email address first")
    );

    // Opening the link changes nothing (mail scanners open links); the button confirms.
    let token = query_params(&link)["token"].clone();
    let confirmed = submit(&browser, &link, "/verify-email", &[("token", &token)]).await;
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().await.unwrap().contains("Address confirmed"));
    let again = submit(&browser, &link, "/verify-email", &[("token", &token)]).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("This link does not work"));

    let signed_in = sign_in(&app, &client, "grace", "grace-password").await;
    assert_eq!(signed_in.status(), 303, "confirmed: the sign-in goes on");
}

#[tokio::test]
async fn unconfirmed_accounts_may_sign_in_when_the_setting_allows_it() {
    let app = spawn_app_with(|settings| {
        with_registration(settings);
        settings.accounts.require_verified_email = false;
    })
    .await;
    let client = app.standard_fixture();
    register(
        &Browser::new(&app),
        "grace",
        "grace@example.test",
        "grace-password",
    )
    .await;

    let signed_in = sign_in(&app, &client, "grace", "grace-password").await;

    assert_eq!(signed_in.status(), 303);
}

#[tokio::test]
async fn a_taken_username_is_said_but_a_taken_address_is_not_revealed() {
    let app = spawn_app_with(with_registration).await;
    app.standard_fixture(); // alice, alice@example.test
    let browser = Browser::new(&app);

    let taken_name = register(&browser, "alice", "someone@example.test", "long-password").await;
    assert_eq!(taken_name.status(), 400);
    assert!(
        taken_name
            .text()
            .await
            .unwrap()
            .contains("That username is taken")
    );

    let taken_address = register(&browser, "alice2", "alice@example.test", "long-password").await;
    assert_eq!(taken_address.status(), 200);
    assert!(taken_address.text().await.unwrap().contains("Check your inbox"));
    assert!(
        queued_emails(&app).is_empty(),
        "nothing is sent, nothing is created"
    );
    let users: i64 = app.with_db(|conn| {
        auth_server::db::schema::users::table
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(users, 1);

    let weak = register(&browser, "bob", "bob@example.test", "short").await;
    assert_eq!(weak.status(), 400);
    assert!(weak.text().await.unwrap().contains("at least 8 characters"));
}

#[tokio::test]
async fn account_forms_refuse_submissions_without_their_csrf_token() {
    let app = spawn_app_with(with_registration).await;
    let browser = Browser::new(&app);
    browser.get("/password/forgot").await; // The browser cookie is set.

    for path in [
        "/password/forgot",
        "/register",
        "/verify-email",
        "/verify-email/resend",
        "/password/reset",
    ] {
        let refused = browser
            .post(path, &[("email", "alice@example.test"), ("csrf_token", "forged")])
            .await;
        assert_eq!(refused.status(), 403, "{path}");
    }
    assert!(queued_emails(&app).is_empty());
}

#[tokio::test]
async fn a_password_reset_answers_the_same_for_unknown_addresses_and_sends_nothing() {
    let app = spawn_app().await;
    app.standard_fixture();
    let browser = Browser::new(&app);

    let unknown = ask_for_reset(&browser, "nobody@example.test").await;
    let known = ask_for_reset(&browser, "ALICE@example.test").await;

    assert_eq!(unknown.status(), known.status());
    let (unknown, known) = (unknown.text().await.unwrap(), known.text().await.unwrap());
    assert_eq!(unknown, known);
    let emails = queued_emails(&app);
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].payload.to, "alice@example.test");
    assert_eq!(emails[0].payload.template, EmailTemplate::PasswordReset);
}

#[tokio::test]
async fn a_password_reset_sets_the_password_once_and_ends_every_session_and_token_family() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let before = app.tokens_for_alice(&client, "read").await;
    let browser = Browser::new(&app);
    ask_for_reset(&browser, "alice@example.test").await;
    let link = link_in(&queued_emails(&app)[0], &app);
    let token = query_params(&link)["token"].clone();

    let too_short = submit(
        &browser,
        &link,
        "/password/reset",
        &[("token", &token), ("password", "short")],
    )
    .await;
    assert_eq!(too_short.status(), 400);
    let changed = submit(
        &browser,
        &link,
        "/password/reset",
        &[("token", &token), ("password", "a-new-password")],
    )
    .await;
    assert_eq!(changed.status(), 200);
    assert!(changed.text().await.unwrap().contains("Password changed"));

    // The link worked once.
    let reopened = browser.get(&link).await;
    assert_eq!(reopened.status(), 400);
    // Every family of alice is revoked: her old refresh token and access token are dead.
    assert_oauth_error(
        app.refresh(&client, before.refresh_token.as_deref().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
    let introspector = app.introspector();
    assert_eq!(
        app.introspect(&introspector, &before.access_token).await["active"],
        false
    );
    // The old password no longer works; the new one does.
    let old = sign_in(&app, &client, "alice", "alice-password").await;
    assert_eq!(old.status(), 200);
    assert_eq!(
        sign_in(&app, &client, "alice", "a-new-password").await.status(),
        303
    );
    // She is told.
    let emails = queued_emails(&app);
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[1].payload.template, EmailTemplate::PasswordChanged);
    assert_eq!(emails[1].payload.to, "alice@example.test");
}

#[tokio::test]
async fn an_expired_reset_link_does_not_work() {
    let app = spawn_app().await;
    app.standard_fixture();
    let browser = Browser::new(&app);
    ask_for_reset(&browser, "alice@example.test").await;
    let link = link_in(&queued_emails(&app)[0], &app);
    app.with_db(|conn| {
        diesel::sql_query("UPDATE account_links SET expires_at = expires_at - INTERVAL '2 hours'")
            .execute(conn)
            .unwrap()
    });

    let page = browser.get(&link).await;

    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("This link does not work"));
}

#[tokio::test]
async fn one_user_gets_at_most_the_hourly_number_of_account_emails() {
    let app = spawn_app().await;
    app.standard_fixture();
    let browser = Browser::new(&app);

    for _ in 0..5 {
        let answer = ask_for_reset(&browser, "alice@example.test").await;
        assert_eq!(answer.status(), 200);
    }

    assert_eq!(queued_emails(&app).len(), 3, "accounts.max_emails_per_hour");
}

#[tokio::test]
async fn a_refresh_token_reuse_queues_a_security_alert_to_the_user() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    let tokens = app.tokens_for_alice(&client, "read").await;
    let stolen = tokens.refresh_token.unwrap();
    assert_eq!(app.refresh(&client, &stolen).await.status(), 200);

    assert_oauth_error(app.refresh(&client, &stolen).await, 400, "invalid_grant").await;

    let emails = queued_emails(&app);
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].payload.template, EmailTemplate::SecurityAlert);
    assert_eq!(emails[0].payload.to, "alice@example.test");
    let reuses: i64 = app.with_db(|conn| {
        auth_server::db::schema::account_events::table
            .filter(auth_server::db::schema::account_events::kind.eq("refresh_token_reuse"))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(reuses, 1);
}
