//! What a stranger can learn from the account forms, and what a flood of them or of authorization
//! requests costs (issue 13; review-security F2, F4 and F7).

use crate::accounts::{ask_for_reset, link_in, queued_emails, register, sign_in, submit, with_registration};
use crate::helpers::*;

/// What a page says, reduced to the sentences a prober compares (pages echo the fields typed).
fn verdict(status: u16, page: &str) -> String {
    let sentences = [
        "Check your inbox",
        "That username is taken",
        "Confirm your email address first",
        "Incorrect username or password",
    ];
    let said: Vec<&str> = sentences
        .into_iter()
        .filter(|sentence| page.contains(sentence))
        .collect();
    format!("{status} {said:?}")
}

/// Every answer a stranger gets for registering `username` with `address` and then probing: the
/// same username again with an address of their own, and a sign-in with the password they typed.
async fn probe(app: &TestApp, client: &TestClient, username: &str, address: &str) -> Vec<String> {
    let browser = Browser::new(app);
    let mut answers = Vec::new();
    for email in [address, &format!("{username}@attacker.test")] {
        let answer = register(&browser, username, email, "attacker-password").await;
        let status = answer.status().as_u16();
        answers.push(verdict(status, &answer.text().await.unwrap()));
    }
    let signed_in = sign_in(app, client, username, "attacker-password").await;
    let status = signed_in.status().as_u16();
    answers.push(verdict(status, &signed_in.text().await.unwrap()));
    answers
}

#[tokio::test]
async fn registration_answers_alike_whether_or_not_the_address_has_an_account_through_any_probe() {
    let app = spawn_app_with(with_registration).await;
    let client = app.standard_fixture(); // alice@example.test has an account

    let taken = probe(&app, &client, "probe-one", "alice@example.test").await;
    let free = probe(&app, &client, "probe-two", "nobody@example.test").await;

    assert_eq!(taken, free, "a stranger cannot tell the two addresses apart");
    assert!(
        taken[0].starts_with("200") && taken[0].contains("Check your inbox"),
        "{taken:?}"
    );
    assert!(taken[1].contains("That username is taken"), "{taken:?}");
    assert!(taken[2].contains("Confirm your email address first"), "{taken:?}");
    // The owner of the taken address kept their account; nothing new was created for it.
    let accounts = app.count("SELECT count(*) AS count FROM users WHERE email = 'alice@example.test'");
    assert_eq!(accounts, 1);
}

/// `auth_password_hashes_total` on `/metrics`.
async fn hashes(app: &TestApp) -> u64 {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("auth_password_hashes_total "))
        .map_or(0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_made_up_reset_link_or_a_taken_username_costs_no_password_hash() {
    let app = spawn_app_with(with_registration).await;
    app.standard_fixture();
    let browser = Browser::new(&app);
    let before = hashes(&app).await;

    // The reset form's CSRF token is bound to the browser and the form, not to the link: a
    // stranger with a link of their own can post any made-up link with it.
    ask_for_reset(&browser, "alice@example.test").await;
    let own_link = link_in(&queued_emails(&app)[0], &app);
    let made_up = submit(
        &browser,
        &own_link,
        "/password/reset",
        &[("token", "oal_made-up"), ("password", &"x".repeat(64))],
    )
    .await;
    assert_eq!(made_up.status(), 400);
    assert!(made_up.text().await.unwrap().contains("This link does not work"));
    let taken = register(&browser, "alice", "someone@example.test", "long-password").await;
    assert_eq!(taken.status(), 400);
    assert_eq!(hashes(&app).await, before, "neither was worth an argon2 hash");

    let created = register(&browser, "newcomer", "newcomer@example.test", "long-password").await;
    assert_eq!(created.status(), 200);
    assert_eq!(
        hashes(&app).await,
        before + 1,
        "a real registration is hashed once"
    );
}

#[tokio::test]
async fn the_account_forms_share_a_per_address_budget_that_counts_every_submission() {
    let app = spawn_app_with(|settings| {
        with_registration(settings);
        settings.throttle.account_forms_per_ip.max_failures = 3;
    })
    .await;
    app.standard_fixture();
    let browser = Browser::new(&app);
    for _ in 0..3 {
        let answered = ask_for_reset(&browser, "a@example.test").await;
        assert_eq!(answered.status(), 200);
    }

    let refused = ask_for_reset(&browser, "a@example.test").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let registration = register(&browser, "newcomer", "newcomer@example.test", "long-password").await;
    assert_eq!(registration.status(), 429, "one budget for every account form");
    assert_eq!(
        app.count("SELECT count(*) AS count FROM users WHERE username = 'newcomer'"),
        0
    );
}

#[tokio::test]
async fn unauthenticated_authorization_requests_are_limited_per_address() {
    let app =
        spawn_app_with(|settings| settings.throttle.authorization_requests_per_ip.max_failures = 2).await;
    let client = app.standard_fixture();
    let browser = Browser::new(&app);
    for state in ["one", "two"] {
        let started = browser.start(&client, "read", &Pkce::new(), state).await;
        assert_eq!(started.status(), 303);
    }

    let refused = browser.start(&client, "read", &Pkce::new(), "three").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    assert_eq!(
        app.count("SELECT count(*) AS count FROM authorization_requests"),
        2
    );
}
