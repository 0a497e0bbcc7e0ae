//! The "try it" screen: every line works as printed.

use serde_json::Value;

use crate::helpers::*;

/// The shell lines of the screen, as a person would paste them.
fn shell_lines(screen: &str) -> Vec<String> {
    screen
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with("TOKEN=") || line.starts_with("curl "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_shell_line_of_the_screen_works_as_printed() {
    let platform = spawn_platform().await;
    let lines = shell_lines(&platform.screen);
    assert_eq!(lines.len(), 6, "{}", platform.screen);
    // One shell, as a person pasting the lines one after the other; a marker after each output.
    let script: String = lines
        .iter()
        .map(|line| format!("{line}\necho\necho '=====' \n"))
        .collect();

    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .await
        .expect("bash runs");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let outputs: Vec<&str> = stdout.split("=====\n").map(str::trim).collect();
    assert_eq!(outputs[0], "", "setting TOKEN prints nothing");
    let api: Value =
        serde_json::from_str(outputs[1]).unwrap_or_else(|_| panic!("JSON from the API: {}", outputs[1]));
    assert_eq!(
        api["identity"]["client_id"],
        platform.credentials.service_client_id
    );
    assert_eq!(api["identity"]["scope"], "api:read");
    let introspection: Value = serde_json::from_str(outputs[2]).unwrap();
    assert_eq!(introspection["active"], true);
    assert_eq!(outputs[3], "", "a revocation answers 200 with no body");
    assert!(outputs[4].starts_with("HTTP/1.1 401"), "{}", outputs[4]);
    assert!(outputs[4].contains("error=\"invalid_token\""), "{}", outputs[4]);
    let authorize = outputs[5];
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", platform.issuer)),
        "{authorize}"
    );
    // The authorization request it prints is one the auth-server takes: it asks for a sign-in.
    let browser = Browser::new(&platform.addresses.auth);
    let answer = browser.get(authorize).await;
    assert!(
        answer.status().is_redirection(),
        "{}",
        answer.text().await.unwrap()
    );
    assert!(location(&answer).starts_with("/login"));
}

#[tokio::test]
async fn every_page_the_screen_names_opens() {
    let platform = spawn_platform().await;
    let urls: Vec<&str> = platform
        .screen
        .split_whitespace()
        .filter(|word| word.starts_with("http://") && word.trim_start_matches("http://").contains('/'))
        // The shell lines' endpoints take a POST; they are run by the test above.
        .filter(|word| !word.contains("/oauth2/") && !word.contains("/api/") && !word.contains("/login"))
        .collect();
    assert!(urls.len() >= 5, "{}", platform.screen);

    for url in urls {
        let page = reqwest::get(url).await.unwrap();
        assert_eq!(page.status(), 200, "{url}");
    }
    // The demo app's home page, and the credentials the screen gives for it.
    let home = reqwest::get(&platform.addresses.demo)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Sign in with the platform"));
    assert!(platform.screen.contains(&format!(
        "as {} / {}",
        platform.credentials.username, platform.credentials.password
    )));
}
