//! The admin CLI as operators and scripts use it: the real binary, its JSON output and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helpers::*;

pub(crate) fn auth_server(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-server"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        .env("AUTH_ADMIN_ACTOR", "test-operator")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the auth-server binary runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub(crate) fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("JSON on stdout: {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test]
async fn an_operator_can_set_up_a_working_client_and_user_from_the_command_line() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();

    let scope = auth_server(
        &url,
        &[
            "scopes",
            "create",
            "read",
            "--description",
            "Read your data",
            "--json",
        ],
        None,
    );
    assert_eq!(stdout_json(&scope)["name"], "read");
    let client = stdout_json(&auth_server(
        &url,
        &[
            "clients",
            "create",
            "--name",
            "Batch",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--json",
        ],
        None,
    ));
    let user = auth_server(
        &url,
        &[
            "users",
            "create",
            "--username",
            "carol",
            "--email",
            "Carol@Example.test",
            "--scope",
            "read",
            "--password-stdin",
            "--json",
        ],
        Some("carol-password\n"),
    );
    let user = stdout_json(&user);
    assert_eq!(user["email"], "carol@example.test");
    assert_eq!(user["scope"], "read");

    let (client_id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    assert!(
        secret.starts_with("ocs_") && secret.len() >= 4 + 43,
        "a generated secret of 256 bits: {secret}"
    );
    let response = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((client_id, secret)),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(tokens(response).await.scope, "read");
}

#[tokio::test]
async fn bad_arguments_are_named_and_exit_with_status_2() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "clients",
                "create",
                "--name",
                "X",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                "http://evil.test/cb",
            ],
            "--redirect-uri",
        ),
        (
            &["clients", "create", "--name", "X", "--grant-type", "implicit"],
            "--grant-type",
        ),
        (
            &[
                "clients",
                "create",
                "--name",
                "X",
                "--grant-type",
                "client_credentials",
                "--scope",
                "nope",
            ],
            "--scope",
        ),
        (
            &[
                "clients",
                "create",
                "--name",
                "X",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "--grant-type",
        ),
        (&["clients", "create", "--name", "X"], "--grant-type"),
    ];
    for (args, named) in cases {
        let output = auth_server(&url, args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} should name {named}: {stderr}");
    }
    let short = auth_server(
        &url,
        &[
            "users",
            "create",
            "--username",
            "d",
            "--email",
            "d@x.test",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("--password-stdin"));
}

#[tokio::test]
async fn admin_actions_are_logged_with_who_did_them_but_never_the_secret() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();

    let output = auth_server(
        &url,
        &[
            "clients",
            "create",
            "--name",
            "Svc",
            "--grant-type",
            "client_credentials",
            "--json",
        ],
        None,
    );

    let created = stdout_json(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("client created") && stderr.contains("test-operator"),
        "{stderr}"
    );
    assert!(!stderr.contains(created["client_secret"].as_str().unwrap()));
}

#[tokio::test]
async fn an_unreachable_database_is_reported_and_exits_with_status_1() {
    let output = auth_server(
        "postgres://postgres@127.0.0.1:1/nothing",
        &["scopes", "list"],
        None,
    );

    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));
}

#[tokio::test]
async fn migrate_applies_the_schema_to_an_empty_database_once() {
    let database = TestDatabase::create();

    let first = auth_server(&database.url, &["migrate"], None);
    let second = auth_server(&database.url, &["migrate"], None);

    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert!(
        String::from_utf8_lossy(&first.stdout).contains(&format!("{migrations} migration(s) applied")),
        "{first:?}"
    );
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("0 migration(s) applied"),
        "{second:?}"
    );
}

#[tokio::test]
async fn the_binary_runs_on_a_sqlite_file_given_as_database_url() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/auth.db", directory.path().display());
    assert!(auth_server(&url, &["migrate"], None).status.success());
    auth_server(&url, &["scopes", "create", "read", "--description", "Read"], None);
    let client = stdout_json(&auth_server(
        &url,
        &[
            "clients",
            "create",
            "--name",
            "Service",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--json",
        ],
        None,
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_auth-server"))
        .env("DATABASE_URL", &url)
        .env("AUTH_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("AUTH_ISSUER", format!("http://127.0.0.1:{port}"))
        .env(
            "AUTH_KEYS__ENCRYPTION_KEY",
            "c3FsaXRlLXRlc3Qta2V5LWVuY3J5cHRpb24ta2V5LTM=",
        )
        .env("AUTH_OUTBOX__RELAY_ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let response = loop {
        let sent = http
            .post(format!("http://127.0.0.1:{port}/oauth2/token"))
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        match sent {
            Ok(response) => break response,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the server never answered: {error}"),
        }
    };
    let _ = server.kill();
    let _ = server.wait();

    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["scope"], "read");
}
