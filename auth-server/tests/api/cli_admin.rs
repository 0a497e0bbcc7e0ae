//! The admin CLI's commands on clients, keys and claims: list, show, rotate, delete, the OIDC
//! settings of a client, a chosen client id, key rotation and user claims.

use std::process::Command;

use auth_server::domain::ids::UserId;

use crate::cli::{auth_server, stdout_json};
use crate::helpers::*;

#[tokio::test]
async fn list_show_rotate_and_delete_work_and_never_print_the_secret_again() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();
    let created = stdout_json(&auth_server(
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
    ));
    let (client_id, old_secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );

    let listed = auth_server(&url, &["clients", "list", "--json"], None);
    let shown = auth_server(&url, &["clients", "show", client_id, "--json"], None);
    assert_eq!(stdout_json(&listed)[0]["client_id"], client_id);
    assert_eq!(stdout_json(&shown)["name"], "Svc");
    for output in [&listed, &shown] {
        assert!(!String::from_utf8_lossy(&output.stdout).contains(old_secret));
    }

    let rotated = stdout_json(&auth_server(
        &url,
        &["clients", "rotate-secret", client_id, "--json"],
        None,
    ));
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);
    let with_old = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((client_id, old_secret)),
        )
        .await;
    assert_eq!(with_old.status(), 401);
    let with_new = app
        .post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((client_id, new_secret)),
        )
        .await;
    assert_eq!(with_new.status(), 200);

    assert!(
        auth_server(&url, &["clients", "delete", client_id], None)
            .status
            .success()
    );
    let missing = auth_server(&url, &["clients", "show", client_id], None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no client with id"));
}

#[tokio::test]
async fn keys_rotate_replaces_every_signing_key_and_keys_list_shows_the_retired_ones() {
    let app = spawn_app().await;
    let with_key = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_auth-server"))
            .args(args)
            .env("DATABASE_URL", app.database_url())
            .env("AUTH_KEYS__ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_KEY)
            .env("AUTH_ADMIN_ACTOR", "test-operator")
            .output()
            .unwrap();
        stdout_json(&output)
    };

    let rotated = with_key(&["keys", "rotate", "--json"]);
    let listed = with_key(&["keys", "list", "--json"]);

    assert_eq!(rotated["rotated"].as_array().unwrap().len(), 3);
    let statuses: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|status| **status == "active").count(), 3);
    assert_eq!(statuses.iter().filter(|status| **status == "retired").count(), 3);
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains("private"), "no private part is listed: {text}");
    let without_key = auth_server(app.database_url(), &["keys", "rotate"], None);
    assert_eq!(without_key.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&without_key.stderr).contains("AUTH_KEYS__ENCRYPTION_KEY"));
}

#[tokio::test]
async fn the_oidc_client_settings_are_set_by_flags_and_shown_back() {
    let app = spawn_app().await;

    let created = stdout_json(&auth_server(
        app.database_url(),
        &[
            "clients",
            "create",
            "--name",
            "RP",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://rp.test/cb",
            "--scope",
            "openid",
            "--id-token-alg",
            "EdDSA",
            "--allow-hybrid",
            "--allow-password-grant",
            "--post-logout-redirect-uri",
            "https://rp.test/bye",
            "--json",
        ],
        None,
    ));
    let client_id = created["client_id"].as_str().unwrap();
    let shown = stdout_json(&auth_server(
        app.database_url(),
        &["clients", "show", client_id, "--json"],
        None,
    ));
    let bad_alg = auth_server(
        app.database_url(),
        &[
            "clients",
            "create",
            "--name",
            "RP",
            "--grant-type",
            "client_credentials",
            "--id-token-alg",
            "HS256",
        ],
        None,
    );

    assert_eq!(shown["id_token_signed_response_alg"], "EdDSA");
    assert_eq!(shown["allow_hybrid"], true);
    assert_eq!(shown["allow_password_grant"], true);
    assert_eq!(
        shown["post_logout_redirect_uris"],
        serde_json::json!(["https://rp.test/bye"])
    );
    assert_eq!(bad_alg.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_alg.stderr).contains("--id-token-alg"));
}

#[tokio::test]
async fn users_set_claim_stores_a_string_or_json_claim_and_refuses_the_account_columns() {
    let app = spawn_app().await;
    let alice = UserId::from(app.create_user("alice", "alice-password", "openid"));

    let name = auth_server(
        app.database_url(),
        &["users", "set-claim", "alice", "given_name", "Alice"],
        None,
    );
    let address = auth_server(
        app.database_url(),
        &[
            "users",
            "set-claim",
            "alice",
            "address",
            r#"{"country":"GB"}"#,
            "--json-value",
        ],
        None,
    );
    let email = auth_server(
        app.database_url(),
        &["users", "set-claim", "alice", "email", "x@y.test"],
        None,
    );

    assert!(name.status.success(), "{name:?}");
    assert!(address.status.success(), "{address:?}");
    assert_eq!(email.status.code(), Some(2));
    let stored: Vec<(String, String)> = app.with_db(|conn| {
        auth_server::db::user_claims::of_user(conn, &alice)
            .unwrap()
            .into_iter()
            .map(|claim| (claim.claim, claim.value))
            .collect()
    });
    assert!(
        stored.contains(&("given_name".into(), r#""Alice""#.into())),
        "{stored:?}"
    );
    assert!(
        stored.contains(&("address".into(), r#"{"country":"GB"}"#.into())),
        "{stored:?}"
    );
}

#[tokio::test]
async fn a_chosen_client_id_is_kept_and_a_bad_one_exits_2_naming_the_flag() {
    let app = spawn_app().await;
    let create = |client_id: &str| {
        auth_server(
            app.database_url(),
            &[
                "clients",
                "create",
                "--client-id",
                client_id,
                "--name",
                "Billing",
                "--grant-type",
                "client_credentials",
                "--json",
            ],
            None,
        )
    };

    let chosen = stdout_json(&create("billing-service"));
    let again = create("billing-service");
    let bad = create("billing service");

    assert_eq!(chosen["client_id"], "billing-service");
    assert_eq!(
        again.status.code(),
        Some(1),
        "a second client with the id is a conflict"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--client-id"));
}

#[tokio::test]
async fn a_secret_supplied_on_standard_input_is_the_one_that_works_and_is_never_printed() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();
    let supplied = "b3f1d1c8a0e94f6fa2d7c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0";
    let created = auth_server(
        &url,
        &[
            "clients",
            "create",
            "--client-id",
            "gateway",
            "--name",
            "Gateway",
            "--grant-type",
            "client_credentials",
            "--secret-stdin",
            "--json",
        ],
        Some(&format!("{supplied}\n")),
    );
    assert!(created.status.success(), "{created:?}");
    assert_eq!(stdout_json(&created)["client_secret"], serde_json::Value::Null);
    assert!(!String::from_utf8_lossy(&created.stdout).contains(supplied));
    let token = |secret: &'static str| {
        app.post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some(("gateway", secret)),
        )
    };
    assert_eq!(token(supplied).await.status(), 200);

    let replacement = "Zm9vYmFyLWJhei1xdXV4LTAxMjM0NTY3ODktYWJjZGVmZ2hpams";
    let rotated = auth_server(
        &url,
        &["clients", "rotate-secret", "gateway", "--secret-stdin"],
        Some(&format!("{replacement}\n")),
    );
    assert!(rotated.status.success(), "{rotated:?}");
    assert!(!String::from_utf8_lossy(&rotated.stdout).contains(replacement));
    assert_eq!(token(supplied).await.status(), 401);
    assert_eq!(token(replacement).await.status(), 200);
}

#[tokio::test]
async fn a_short_or_blank_supplied_secret_is_refused_naming_the_flag() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();
    let create = |stdin: &str| {
        auth_server(
            &url,
            &[
                "clients",
                "create",
                "--name",
                "Svc",
                "--grant-type",
                "client_credentials",
                "--secret-stdin",
            ],
            Some(stdin),
        )
    };
    for stdin in [
        "too-short-to-be-random\n",
        "\n",
        &format!("{} with spaces\n", "x".repeat(43)),
    ] {
        let refused = create(stdin);
        assert_eq!(refused.status.code(), Some(2), "{stdin:?}: {refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("--secret-stdin"),
            "{refused:?}"
        );
    }
    let listed = stdout_json(&auth_server(&url, &["clients", "list", "--json"], None));
    assert_eq!(listed, serde_json::json!([]), "nothing half-written");
}
