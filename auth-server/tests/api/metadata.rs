//! `GET /.well-known/oauth-authorization-server` (RFC 8414): what clients configure themselves from,
//! so it must say exactly what this server does.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::*;

async fn metadata(app: &TestApp) -> Value {
    let response = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("an ASCII content type")
            .starts_with("application/json")
    );
    response.json().await.expect("a JSON document")
}

fn strings(value: &Value) -> BTreeSet<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a JSON array, not {value}"))
        .iter()
        .map(|item| item.as_str().expect("an array of strings"))
        .collect()
}

#[tokio::test]
async fn the_metadata_names_this_issuer_and_its_endpoints() {
    let app = spawn_app().await;

    let metadata = metadata(&app).await;

    assert_eq!(metadata["issuer"], app.issuer.as_str());
    for (member, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("revocation_endpoint", "/oauth2/revoke"),
    ] {
        assert_eq!(metadata[member], format!("{}{path}", app.issuer), "{member}");
    }
}

#[tokio::test]
async fn every_advertised_endpoint_is_served() {
    let app = spawn_app().await;
    let metadata = metadata(&app).await;
    let endpoint = |member: &str| metadata[member].as_str().unwrap().to_owned();

    let authorize = app
        .http
        .get(endpoint("authorization_endpoint"))
        .send()
        .await
        .unwrap();
    assert_ne!(authorize.status(), 404);
    for member in ["token_endpoint", "introspection_endpoint", "revocation_endpoint"] {
        let response = app
            .http
            .post(endpoint(member))
            .form(&[("x", "y")])
            .send()
            .await
            .unwrap();
        assert!(
            [400, 401].contains(&response.status().as_u16()),
            "{member}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn the_metadata_advertises_only_the_code_flow_with_s256_pkce() {
    let app = spawn_app().await;

    let metadata = metadata(&app).await;

    // The hybrid flow (code id_token) is offered to clients that enable it; nothing implicit.
    assert_eq!(
        strings(&metadata["response_types_supported"]),
        BTreeSet::from(["code", "code id_token"])
    );
    let grant_types = strings(&metadata["grant_types_supported"]);
    assert!(grant_types.contains("authorization_code"), "{grant_types:?}");
    assert!(grant_types.contains("refresh_token"), "{grant_types:?}");
    assert!(!grant_types.contains("implicit"), "{grant_types:?}");
    assert!(!grant_types.contains("password"), "{grant_types:?}");
    assert_eq!(
        strings(&metadata["code_challenge_methods_supported"]),
        BTreeSet::from(["S256"])
    );
    let auth_methods = strings(&metadata["token_endpoint_auth_methods_supported"]);
    assert!(!auth_methods.is_empty());
    assert!(
        auth_methods.is_subset(&BTreeSet::from([
            "client_secret_basic",
            "client_secret_post",
            "none"
        ])),
        "{auth_methods:?}"
    );
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn the_metadata_lists_the_scope_catalogue() {
    let app = spawn_app().await;
    for scope in ["read", "write", "admin"] {
        app.create_scope(scope);
    }

    let metadata = metadata(&app).await;

    assert_eq!(
        strings(&metadata["scopes_supported"]),
        BTreeSet::from([
            "address", "admin", "email", "openid", "phone", "profile", "read", "write"
        ])
    );
}
