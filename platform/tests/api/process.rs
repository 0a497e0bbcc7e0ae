//! The real binary: a restart keeps everything, an email in flight when the process is killed is
//! delivered after the restart, SIGTERM stops every service and exits 0, and a start that cannot go
//! on stops with one line naming the problem and what to do.

use std::time::Duration;

use serde_json::Value;
use shared::testing::smtp_sink::SmtpSink;

use crate::helpers::*;

/// The demo service's secret, as the screen prints it.
fn service_secret(screen: &str) -> String {
    let line = screen.lines().find(|line| line.contains("TOKEN=$(curl")).unwrap();
    let credentials = line
        .split_whitespace()
        .skip_while(|word| *word != "-u")
        .nth(1)
        .unwrap();
    credentials.split_once(':').unwrap().1.to_owned()
}

/// The demo user's password, as the screen prints it.
fn password(screen: &str) -> String {
    let line = screen
        .lines()
        .find(|line| line.contains("sign in to the demo app"))
        .unwrap();
    line.rsplit(" / ").next().unwrap().trim().to_owned()
}

async fn key_ids(auth: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{auth}/oauth2/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_restart_keeps_clients_users_tokens_and_keys_and_sigterm_exits_0() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let first = PlatformProcess::start(&data_dir, &[]);
    let auth = first.address("auth-server");
    let keys = key_ids(&auth).await;
    let secret = service_secret(&first.screen);
    let issued = ServiceClient {
        auth,
        secret: secret.clone(),
    }
    .token("api:write")
    .await;
    let first_screen = first.screen.clone();

    let stopped = first.stop("TERM").await;
    assert!(stopped.success(), "SIGTERM exits 0: {stopped:?}");
    let again = PlatformProcess::start(&data_dir, &[]);
    let auth = again.address("auth-server");

    assert_eq!(service_secret(&again.screen), secret, "the same demo credentials");
    assert_eq!(password(&again.screen), password(&first_screen));
    let service = ServiceClient {
        auth: auth.clone(),
        secret: secret.clone(),
    };
    assert_eq!(
        service.introspect(&issued).await["active"],
        true,
        "the token survived"
    );
    assert_eq!(key_ids(&auth).await, keys, "the same signing keys");
    let browser = Browser::new(&auth);
    let page = browser
        .sign_in_to_demo_app(&again.address("demo app"), "demo", &password(&again.screen))
        .await;
    assert!(page.text().await.unwrap().contains("Signed in as demo"));
}

#[tokio::test]
async fn an_email_in_flight_when_the_process_is_killed_is_delivered_after_the_restart() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let sink = SmtpSink::start().await;
    sink.stall_next();
    let running = PlatformProcess::start(&data_dir, &[("SMTP_URL", &sink.url())]);
    let auth = running.address("auth-server");
    let browser = Browser::new(&auth);
    browser.ask_password_reset("demo@example.com").await;
    // The email-service has handed the message to the SMTP server and waits for its answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sink.attempts() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the email never reached the SMTP server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let killed = running.stop("KILL").await;
    assert!(!killed.success());
    let restarted = PlatformProcess::start(&data_dir, &[]);

    // The link names the address the auth-server had when it wrote the email.
    let link = wait_for_link(&restarted.address("email-service"), "demo@example.com", &auth).await;
    assert!(link.contains("/password/reset?token="), "{link}");
}

#[tokio::test]
async fn a_second_copy_on_the_same_data_directory_stops_with_one_line_naming_the_other() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let running = PlatformProcess::start(&data_dir, &[]);

    let (status, log) = start_refused(&data_dir, &[]);

    assert_eq!(status.code(), Some(1));
    let errors: Vec<&str> = log.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(errors[0].contains("already running"), "{log}");
    assert!(errors[0].contains(&format!("pid {}", running.pid())), "{log}");
}

#[tokio::test]
async fn a_busy_port_stops_the_start_naming_the_service_and_the_setting_before_any_data_is_written() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();

    let (status, log) = start_refused(&data_dir, &[("AUTH_LISTEN_ADDR", &address)]);

    assert_eq!(status.code(), Some(1));
    let error = log
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        error.contains(&address) && error.contains("auth-server"),
        "{error}"
    );
    assert!(error.contains("AUTH_LISTEN_ADDR"), "{error}");
    assert!(!data_dir.join("platform.db").exists(), "no database was created");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_stops_the_start_and_is_left_as_it_was() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let garbage = vec![0x42u8; 8192];
    std::fs::write(data_dir.join("platform.db"), &garbage).unwrap();

    let (status, log) = start_refused(&data_dir, &[]);

    assert_eq!(status.code(), Some(1));
    let error = log
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(error.contains("not a usable SQLite database"), "{error}");
    assert!(error.contains("move it away"), "{error}");
    assert_eq!(std::fs::read(data_dir.join("platform.db")).unwrap(), garbage);
}

#[tokio::test]
async fn a_data_directory_that_cannot_be_created_stops_the_start_naming_the_option() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();

    let (status, log) = start_refused(&file.join("data"), &[]);

    assert_eq!(status.code(), Some(1));
    let error = log
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(error.contains("cannot create the data directory"), "{error}");
    assert!(error.contains("--data-dir"), "{error}");
}
