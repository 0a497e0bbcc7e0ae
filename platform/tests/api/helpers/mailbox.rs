//! The mailbox, read as a script reads it (`/mail/api/messages`).

use std::time::{Duration, Instant};

use serde_json::Value;

/// The mailbox's messages, newest first (`/mail/api/messages`).
pub async fn mailbox(email_base: &str) -> Vec<Value> {
    reqwest::get(format!("{email_base}/mail/api/messages"))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

/// Waits (at most 20 s) for an email to `recipient` whose text carries a link starting with
/// `prefix`, and returns the link.
pub async fn wait_for_link(email_base: &str, recipient: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = mailbox(email_base).await.into_iter().find_map(|message| {
            let text = message["text_body"].as_str()?;
            (message["recipient"] == recipient && text.contains(prefix))
                .then(|| link_starting_with(text, prefix))
        });
        if let Some(link) = found {
            return link;
        }
        assert!(
            Instant::now() < deadline,
            "no email to {recipient} with a link to {prefix} in the mailbox: {:?}",
            mailbox(email_base).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first link of a text that starts with `prefix`.
fn link_starting_with(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).expect("the text has the link");
    text[start..]
        .split(char::is_whitespace)
        .next()
        .unwrap()
        .to_owned()
}
