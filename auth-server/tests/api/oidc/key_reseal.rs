//! Changing the key-encryption key without downtime: with the new key current and the old one as
//! `keys.previous_encryption_key`, the server keeps signing, `auth-server keys reseal` seals every
//! signing key under the new key (all or nothing), and then the old key can go.

use std::process::{Command, Output};

use auth_server::domain::signing_alg::SigningAlgorithm;
use auth_server::oidc::keys::{self, KeyEncryptionKey};
use secrecy::SecretString;

use crate::cli::stdout_json;
use crate::helpers::*;

const NEW_KEY: &str = "bmV3LWtleS1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyE=";
const THIRD_KEY: &str = "dGhpcmQta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=";

/// `auth-server keys ARGS` with `current` as the key-encryption key and `previous`, if any.
fn keys_command(database_url: &str, args: &[&str], current: &str, previous: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-server"));
    command
        .arg("keys")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("AUTH_KEYS__ENCRYPTION_KEY", current)
        .env("AUTH_ADMIN_ACTOR", "test-operator");
    if let Some(previous) = previous {
        command.env("AUTH_KEYS__PREVIOUS_ENCRYPTION_KEY", previous);
    }
    command.output().expect("the auth-server binary runs")
}

fn kek(current: &str) -> KeyEncryptionKey {
    KeyEncryptionKey::from_setting(Some(&SecretString::from(current))).unwrap()
}

/// Whether every algorithm's active key opens under `current` alone.
fn active_keys_open_under(app: &TestApp, current: &str) -> bool {
    let mut conn = app.pool.get().unwrap();
    SigningAlgorithm::ALL
        .into_iter()
        .all(|alg| keys::signing_key(&mut conn, &kek(current), alg).is_ok())
}

#[tokio::test]
async fn reseal_moves_every_signing_key_to_the_new_key_and_the_old_one_can_go() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();
    stdout_json(&keys_command(
        &url,
        &["rotate", "--json"],
        TEST_KEY_ENCRYPTION_KEY,
        None,
    ));
    assert!(!active_keys_open_under(&app, NEW_KEY));

    let resealed = stdout_json(&keys_command(
        &url,
        &["reseal", "--json"],
        NEW_KEY,
        Some(TEST_KEY_ENCRYPTION_KEY),
    ));
    let again = stdout_json(&keys_command(
        &url,
        &["reseal", "--json"],
        NEW_KEY,
        Some(TEST_KEY_ENCRYPTION_KEY),
    ));

    assert_eq!(
        resealed,
        serde_json::json!({ "resealed": 6, "unchanged": 0 }),
        "active and retired"
    );
    assert_eq!(again, serde_json::json!({ "resealed": 0, "unchanged": 6 }));
    assert!(
        active_keys_open_under(&app, NEW_KEY),
        "the new key alone opens them"
    );
    assert!(!active_keys_open_under(&app, TEST_KEY_ENCRYPTION_KEY));
    let rotated = keys_command(&url, &["rotate"], NEW_KEY, None);
    assert!(rotated.status.success(), "the old key is no longer needed");
}

#[tokio::test]
async fn a_key_that_neither_opens_stops_the_reseal_and_nothing_is_written() {
    let app = spawn_app().await;
    let url = app.database_url().to_owned();
    // The retired keys are sealed under the test key, the active ones under a third key.
    stdout_json(&keys_command(&url, &["rotate", "--json"], THIRD_KEY, None));

    // Current NEW, previous THIRD: the active keys open, the retired ones do not.
    let failed = keys_command(&url, &["reseal"], NEW_KEY, Some(THIRD_KEY));

    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("cannot be unsealed"), "{stderr}");
    assert!(
        !stderr.contains(NEW_KEY) && !stderr.contains(THIRD_KEY),
        "no key in the output"
    );
    assert!(
        active_keys_open_under(&app, THIRD_KEY),
        "the keys that did open were not resealed: the reseal is all or nothing"
    );
}

#[tokio::test]
async fn during_the_change_a_server_with_both_keys_signs_id_tokens() {
    let app = spawn_app().await;
    let mut settings = app.settings.keys.clone();
    settings.previous_encryption_key = settings.encryption_key.replace(SecretString::from(NEW_KEY));
    let both = KeyEncryptionKey::from_settings(&settings).unwrap();
    let mut conn = app.pool.get().unwrap();

    for alg in SigningAlgorithm::ALL {
        assert!(
            keys::signing_key(&mut conn, &both, alg).is_ok(),
            "{alg} signs under the previous key"
        );
    }
    assert_eq!(keys::reseal(&mut conn, &both).unwrap().resealed, 3);
    assert!(active_keys_open_under(&app, NEW_KEY));
}
