//! The mailbox's pages: the list, one email with its links clickable, its HTML part under a policy
//! that runs no script.

use crate::helpers::*;

#[tokio::test]
async fn the_mailbox_lists_an_email_and_shows_it_with_its_link_clickable() {
    let platform = spawn_platform().await;
    let browser = Browser::new(&platform.addresses.auth);
    browser.ask_password_reset("demo@example.com").await;
    let link = wait_for_link(
        &platform.addresses.email,
        "demo@example.com",
        &format!("{}/password/reset", platform.issuer),
    )
    .await;
    let email = &platform.addresses.email;
    let message_id = mailbox(email).await[0]["message_id"].as_str().unwrap().to_owned();

    let list = reqwest::get(format!("{email}/mail")).await.unwrap();
    let one = reqwest::get(format!("{email}/mail/{message_id}")).await.unwrap();
    let html = reqwest::get(format!("{email}/mail/{message_id}/html"))
        .await
        .unwrap();
    let missing = reqwest::get(format!("{email}/mail/no-such-message"))
        .await
        .unwrap();

    assert_eq!(list.status(), 200);
    assert!(
        list.text()
            .await
            .unwrap()
            .contains(&format!("/mail/{message_id}"))
    );
    assert_eq!(one.status(), 200);
    let page = one.text().await.unwrap();
    assert!(
        page.contains(&format!("<a href=\"{}\">", link.replace('&', "&amp;"))),
        "{page}"
    );
    assert_eq!(html.status(), 200);
    let policy = html.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("script-src"), "{policy}");
    assert_eq!(missing.status(), 404);
}
