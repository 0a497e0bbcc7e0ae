//! A new user's journeys through the platform, as a browser makes them.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_demo_user_signs_in_to_the_demo_app_consents_and_sees_the_code_redeemed_and_the_api_called() {
    let platform = spawn_platform().await;
    let browser = Browser::new(&platform.addresses.auth);

    let page = browser
        .sign_in_to_demo_app(
            &platform.addresses.demo,
            &platform.credentials.username,
            &platform.credentials.password,
        )
        .await;

    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Signed in as demo"), "{html}");
    // userinfo, with the profile claim the demo data gives the user.
    assert!(html.contains("&#34;name&#34;: &#34;Demo User&#34;"), "{html}");
    // The API through the gateway saw the user and the scope.
    assert!(html.contains("HTTP 200"), "{html}");
    assert!(html.contains("&#34;username&#34;: &#34;demo&#34;"), "{html}");
    assert!(html.contains("Hello from the demo API"), "{html}");
}

#[tokio::test]
async fn a_second_sign_in_skips_the_consent_already_given() {
    let platform = spawn_platform().await;
    let browser = Browser::new(&platform.addresses.auth);
    let (demo, user, password) = (
        &platform.addresses.demo,
        &platform.credentials.username,
        &platform.credentials.password,
    );
    browser.sign_in_to_demo_app(demo, user, password).await;

    let started = browser.get(&format!("{demo}/login")).await;
    let authorize = browser.get(&location(&started)).await;

    // Signed in and consented: straight back to the app with a code.
    let back = location(&authorize);
    assert!(back.starts_with(&format!("{demo}/callback?code=")), "{back}");
    assert_eq!(browser.get(&back).await.status(), 200);
}

#[tokio::test]
async fn a_callback_the_browser_did_not_start_is_refused() {
    let platform = spawn_platform().await;
    let browser = Browser::new(&platform.addresses.auth);

    let forged = browser
        .get(&format!(
            "{}/callback?code=abc&state=forged",
            platform.addresses.demo
        ))
        .await;

    assert_eq!(forged.status(), 400);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("not started in this browser")
    );
}

#[tokio::test]
async fn a_new_user_registers_follows_the_link_from_the_mailbox_and_signs_in() {
    let platform = spawn_platform().await;
    let browser = Browser::new(&platform.addresses.auth);

    let registered = browser
        .submit(
            "/register",
            "/register",
            &[],
            &[
                ("username", "grace"),
                ("email", "grace@example.test"),
                ("password", "a-long-password"),
            ],
        )
        .await;
    assert_eq!(registered.status(), 200);
    assert!(registered.text().await.unwrap().contains("Check your inbox"));

    let link = wait_for_link(
        &platform.addresses.email,
        "grace@example.test",
        &format!("{}/verify-email", platform.issuer),
    )
    .await;
    let token = link.split_once("token=").unwrap().1.to_owned();
    let confirmed = browser
        .submit(&link, "/verify-email", &[], &[("token", &token)])
        .await;
    assert!(confirmed.text().await.unwrap().contains("Address confirmed"));

    let page = browser
        .sign_in_to_demo_app(&platform.addresses.demo, "grace", "a-long-password")
        .await;
    let html = page.text().await.unwrap();
    assert!(html.contains("Signed in as grace"), "{html}");
    assert!(
        html.contains("HTTP 200"),
        "the registration scope includes api:read: {html}"
    );
}

#[tokio::test]
async fn a_password_reset_arrives_in_the_mailbox_and_the_new_password_signs_in() {
    let platform = spawn_platform().await;
    let browser = Browser::new(&platform.addresses.auth);

    let asked = browser.ask_password_reset("demo@example.com").await;
    assert_eq!(asked.status(), 200);
    let link = wait_for_link(
        &platform.addresses.email,
        "demo@example.com",
        &format!("{}/password/reset", platform.issuer),
    )
    .await;
    let token = link.split_once("token=").unwrap().1.to_owned();
    let reset = browser
        .submit(
            &link,
            "/password/reset",
            &[],
            &[("token", &token), ("password", "a-brand-new-password")],
        )
        .await;
    assert_eq!(reset.status(), 200, "{}", reset.text().await.unwrap());

    let page = browser
        .sign_in_to_demo_app(&platform.addresses.demo, "demo", "a-brand-new-password")
        .await;
    assert!(page.text().await.unwrap().contains("Signed in as demo"));
}

#[tokio::test]
async fn the_demo_api_refuses_a_missing_token_and_a_token_without_the_write_scope() {
    let platform = spawn_platform().await;
    let http = reqwest::Client::new();
    let api = format!("{}/api/things", platform.addresses.gateway);

    let anonymous = http.get(&api).send().await.unwrap();
    let reader = platform.service().token("api:read").await;
    let write_with_read_scope = http.post(&api).bearer_auth(&reader).send().await.unwrap();
    let read = http.get(&api).bearer_auth(&reader).send().await.unwrap();

    assert_eq!(anonymous.status(), 401);
    assert_eq!(write_with_read_scope.status(), 403);
    assert_eq!(read.status(), 200);
    let echoed: Value = read.json().await.unwrap();
    assert_eq!(echoed["path"], "/echo/things");
    assert_eq!(echoed["identity"]["client_id"], "demo-service");
}

#[tokio::test]
async fn the_echo_upstream_refuses_a_request_that_did_not_come_through_the_gateway() {
    let platform = spawn_platform().await;

    let direct = reqwest::get(format!("{}/echo/hello", platform.addresses.demo))
        .await
        .unwrap();

    assert_eq!(direct.status(), 401);
}
