//! A sign-in racing a password change or an account disable must not survive it. The interleaving
//! is forced, not hoped for: a trigger makes the insert of the new session (login page) or family
//! (password grant) sleep for a second, and the change runs while it sleeps, after the password
//! was checked and before the sign-in commits.

use auth_server::admin::clients::ClientSpec;
use secrecy::SecretString;

use crate::helpers::*;

/// Runs an admin change on alice off the async threads (it may wait on her row's lock).
async fn meanwhile(
    app: &TestApp,
    change: fn(&mut shared::db::DbConn) -> Result<(), auth_server::admin::AdminError>,
) {
    wait_for_the_sleeping_insert(app).await;
    let pool = app.pool.clone();
    tokio::task::spawn_blocking(move || change(&mut pool.get().unwrap()))
        .await
        .unwrap()
        .unwrap();
}

fn change_password(conn: &mut shared::db::DbConn) -> Result<(), auth_server::admin::AdminError> {
    auth_server::admin::users::set_password(conn, "alice", &SecretString::from("a-brand-new-password"))
}

fn disable(conn: &mut shared::db::DbConn) -> Result<(), auth_server::admin::AdminError> {
    auth_server::admin::users::disable(conn, "alice")
}

#[tokio::test]
async fn a_password_change_during_a_sign_in_ends_the_session_the_sign_in_creates() {
    let app = spawn_app().await;
    let client = app.standard_fixture();
    slow_inserts_into(&app, "login_sessions");
    let browser = Browser::new(&app);
    let login = location(&browser.start(&client, "read", &Pkce::new(), "s").await);

    let (_, ()) = tokio::join!(
        browser.submit_login(&login, "alice", "alice-password"),
        meanwhile(&app, change_password)
    );

    let live = app.count(&format!(
        "SELECT count(*) AS count FROM login_sessions WHERE user_id = '{}' AND revoked_at IS NULL",
        app.user_id("alice")
    ));
    assert_eq!(live, 0, "a session outlived the password change");
    let silently = format!(
        "{}&prompt=none",
        browser.authorize_url(&client, "read", &Pkce::new(), "s")
    );
    let answer = location(&browser.get(&silently).await);
    assert_eq!(
        query_params(&answer)["error"],
        "login_required",
        "the browser is signed out"
    );
}

#[tokio::test]
async fn a_disable_during_a_password_grant_revokes_the_family_the_grant_creates() {
    let app = spawn_app().await;
    app.standard_fixture();
    let client = app.create_client(ClientSpec {
        allow_password_grant: true,
        ..service_client_spec("read")
    });
    slow_inserts_into(&app, "grants");
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "alice-password"),
        ("scope", "read"),
    ];

    let (issued, ()) = tokio::join!(app.token(&client, &form), meanwhile(&app, disable));

    // Issued before the disable committed, or refused after: either way nothing stays usable.
    if issued.status() == 200 {
        let tokens: serde_json::Value = issued.json().await.unwrap();
        let introspector = app.introspector();
        // A refresh token too, when the client is registered for them.
        for token in ["access_token", "refresh_token"]
            .into_iter()
            .filter(|name| tokens[name].is_string())
        {
            let answer = app
                .introspect(&introspector, tokens[token].as_str().unwrap())
                .await;
            assert_eq!(answer["active"], false, "the {token} outlived the disable");
        }
    } else {
        assert_oauth_error(issued, 400, "invalid_grant").await;
    }
}
