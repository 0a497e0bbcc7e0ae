//! Discovery, the JWKS and the signing keys.

use serde_json::Value;

use super::*;

async fn get_json(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

#[tokio::test]
async fn the_openid_configuration_is_the_rfc_8414_document_with_the_oidc_members() {
    let app = spawn_app().await;

    let (_, openid) = get_json(&app, "/.well-known/openid-configuration").await;
    let (_, oauth) = get_json(&app, "/.well-known/oauth-authorization-server").await;

    assert_eq!(openid, oauth, "one document under both names");
    assert_eq!(openid["issuer"], app.issuer.as_str());
    assert_eq!(openid["jwks_uri"], app.url("/oauth2/jwks"));
    assert_eq!(openid["userinfo_endpoint"], app.url("/oauth2/userinfo"));
    assert_eq!(openid["subject_types_supported"], serde_json::json!(["public"]));
    assert_eq!(
        openid["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"])
    );
    assert_eq!(openid["request_uri_parameter_supported"], false);
    let scopes = openid["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&Value::from("openid")));
}

#[tokio::test]
async fn the_jwks_is_cacheable_and_publishes_one_public_key_per_algorithm_without_private_members() {
    let app = spawn_app().await;

    let (headers, jwks) = get_json(&app, "/oauth2/jwks").await;

    let cache_control = headers["cache-control"].to_str().unwrap();
    assert!(cache_control.contains("max-age="), "{cache_control}");
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|key| key["alg"].as_str().unwrap()).collect();
    assert_eq!(algs.len(), 3, "{jwks}");
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{alg} in {algs:?}");
    }
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private} published in {key}");
        }
    }
}

#[tokio::test]
async fn private_keys_are_stored_sealed_not_in_the_clear() {
    let app = spawn_app().await;

    let sealed: Vec<String> = app.with_db(|conn| {
        use auth_server::db::schema::signing_keys;
        use diesel::prelude::*;
        signing_keys::table
            .select(signing_keys::private_key_sealed)
            .load(conn)
            .unwrap()
    });

    assert_eq!(sealed.len(), 3);
    for value in sealed {
        assert!(!value.contains("PRIVATE KEY"));
        // A PKCS#8 document starts with a DER SEQUENCE (0x30); the sealed form starts with a nonce.
        let bytes = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(&value).unwrap()
        };
        assert!(bytes.len() > 12 + 16);
    }
}

#[tokio::test]
async fn the_server_refuses_to_start_without_the_key_encryption_key() {
    let database = TestDatabase::create();
    let mut settings = test_settings(&database.url);
    settings.keys.encryption_key = None;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();

    let built = auth_server::startup::Application::build_with_listener(settings, listener).await;

    let error = built.err().expect("no server without keys.encryption_key");
    assert!(
        format!("{error:#}").contains("AUTH_KEYS__ENCRYPTION_KEY"),
        "{error:#}"
    );
}

#[tokio::test]
async fn an_id_token_carries_the_oidc_claims_of_the_code_flow() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);

    let tokens = code_flow_tokens(&app, &client, &[("nonce", "n-0S6_WzA2Mj")]).await;

    let id_token = tokens["id_token"].as_str().expect("an id_token");
    let header = jwt_header(id_token);
    assert_eq!(header["alg"], "RS256");
    let claims = jwt_payload(id_token);
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["sub"], app.user_id("alice").as_str());
    assert_eq!(claims["aud"], client.id.as_str());
    assert_eq!(claims["azp"], client.id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 3600);
    assert!(claims["auth_time"].as_i64().unwrap() <= iat);
    assert!(claims["at_hash"].is_string());
    assert!(claims["sid"].is_string());
}

#[tokio::test]
async fn without_a_nonce_the_code_flow_still_succeeds_and_without_openid_there_is_no_id_token() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);

    let with_openid = code_flow_tokens(&app, &client, &[]).await;
    let without_openid = code_flow_tokens(&app, &client, &[("scope", "read")]).await;

    assert!(
        jwt_payload(with_openid["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
    assert!(without_openid.get("id_token").is_none(), "{without_openid}");
}

#[tokio::test]
async fn a_replica_started_while_the_database_is_down_serves_the_keys_once_it_returns() {
    let database = TestDatabase::create();
    {
        let mut conn = database.connect();
        shared::db::run_migrations(&mut conn, auth_server::db::MIGRATIONS).unwrap();
    }
    let proxy = shared::testing::fault_proxy::FaultProxy::start("127.0.0.1:5432").await;
    let proxied_url = format!(
        "postgres://postgres@127.0.0.1:{}/{}{LOCAL_OPTIONS}",
        proxy.port, database.name
    );
    let mut settings = test_settings(&proxied_url);
    settings.database.migrate_on_start = false;
    settings.database.acquire_timeout_ms = 500;
    proxy.cut();

    let app = start(database, settings).await;
    let while_down = app.http.get(app.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(while_down.status(), 503);
    proxy.restore();

    let (_, jwks) = get_json(&app, "/oauth2/jwks").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3, "{jwks}");
}
