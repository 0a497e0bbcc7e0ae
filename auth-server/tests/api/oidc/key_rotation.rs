//! Key rotation never breaks a valid token: a retired key stays in the JWKS until every token it
//! signed has expired, and then leaves it.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;

use super::*;

async fn jwks(app: &TestApp) -> JwkSet {
    app.http
        .get(app.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies an id_token the way a relying party does: the key named by `kid`, from the JWKS only,
/// with the key's own algorithm.
async fn verify_through_jwks(app: &TestApp, client: &TestClient, id_token: &str) -> Result<Value, String> {
    let kid = jwt_header(id_token)["kid"].as_str().unwrap().to_owned();
    let set = jwks(app).await;
    let jwk: &Jwk = set
        .find(&kid)
        .ok_or_else(|| format!("{kid} is not in the JWKS"))?;
    let alg = jwk
        .common
        .key_algorithm
        .expect("the JWK names its algorithm")
        .to_string();
    let mut validation = Validation::new(alg.parse().unwrap());
    validation.set_issuer(&[&app.issuer]);
    validation.set_audience(&[&client.id]);
    jsonwebtoken::decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .map(|data| data.claims)
        .map_err(|error| error.to_string())
}

fn rs256_kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .filter(|key| key.common.key_algorithm.map(|alg| alg.to_string()).as_deref() == Some("RS256"))
        .map(|key| key.common.key_id.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn a_token_signed_by_a_rotated_key_still_verifies_through_the_jwks() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let before = code_flow_tokens(&app, &client, &[]).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = jwt_header(&before)["kid"].as_str().unwrap().to_owned();

    let rotated = app.with_db(|conn| auth_server::admin::keys::rotate(conn, &app.settings).unwrap());

    assert_eq!(rotated.len(), 3, "one new key per algorithm");
    let published = rs256_kids(&jwks(&app).await);
    assert_eq!(
        published.len(),
        2,
        "the retired key is still published: {published:?}"
    );
    assert!(published.contains(&old_kid));
    verify_through_jwks(&app, &client, &before)
        .await
        .expect("the token signed before the rotation still verifies");
    let after = code_flow_tokens(&app, &client, &[]).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_kid = jwt_header(&after)["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid, "new tokens are signed by the new key");
    assert!(rotated.contains(&new_kid));
    verify_through_jwks(&app, &client, &after).await.unwrap();
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired() {
    let app = spawn_app().await;
    let client = oidc_fixture(&app);
    let before = code_flow_tokens(&app, &client, &[]).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = jwt_header(&before)["kid"].as_str().unwrap().to_owned();
    app.with_db(|conn| auth_server::admin::keys::rotate(conn, &app.settings).unwrap());

    // The publication window is the id_token lifetime: move it into the past instead of waiting.
    let retired_until: chrono::NaiveDateTime = app.with_db(|conn| {
        use auth_server::db::schema::signing_keys;
        use diesel::prelude::*;
        let until = signing_keys::table
            .find(&old_kid)
            .select(signing_keys::publish_until)
            .first::<Option<chrono::NaiveDateTime>>(conn)
            .unwrap()
            .expect("a retired key has a publication deadline");
        diesel::update(signing_keys::table.find(&old_kid))
            .set(
                signing_keys::publish_until
                    .eq(auth_server::domain::time::now() - chrono::TimeDelta::seconds(1)),
            )
            .execute(conn)
            .unwrap();
        until
    });

    let token_exp = jwt_payload(&before)["exp"].as_i64().unwrap();
    assert!(
        retired_until.and_utc().timestamp() >= token_exp,
        "published at least until the last token it signed expires"
    );
    assert!(!rs256_kids(&jwks(&app).await).contains(&old_kid));
    let keys = app.with_db(|conn| auth_server::admin::keys::list(conn).unwrap());
    let old = keys.iter().find(|key| key.kid == old_kid).unwrap();
    assert_eq!(old.status.to_string(), "expired");
}

#[tokio::test]
async fn the_scheduled_rotation_replaces_a_key_older_than_the_interval() {
    let app = spawn_app_with(|settings| {
        settings.keys.rotation_interval_secs = 24 * 3600;
        settings.keys.rotation_check_interval_secs = 1;
    })
    .await;
    let original = rs256_kids(&jwks(&app).await);
    assert_eq!(original.len(), 1);
    // Age the active keys past the interval rather than waiting a day.
    app.with_db(|conn| {
        use auth_server::db::schema::signing_keys;
        use diesel::prelude::*;
        diesel::update(signing_keys::table)
            .set(signing_keys::created_at.eq(auth_server::domain::time::now() - chrono::TimeDelta::days(2)))
            .execute(conn)
            .unwrap();
    });

    let mut published = original.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while published.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no rotation within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        published = rs256_kids(&jwks(&app).await);
    }

    assert!(published.contains(&original[0]), "the old key stays published");
    assert_eq!(
        published.len(),
        2,
        "one rotation, not one per check: {published:?}"
    );
}

#[tokio::test]
async fn concurrent_rotations_leave_exactly_one_active_key_per_algorithm() {
    let app = spawn_app().await;
    let kek =
        auth_server::oidc::keys::KeyEncryptionKey::from_setting(app.settings.keys.encryption_key.as_ref())
            .unwrap();
    let kek = std::sync::Arc::new(kek);

    let rotations: Vec<_> = (0..4)
        .map(|_| {
            let (pool, kek) = (app.pool.clone(), kek.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                auth_server::oidc::keys::rotate(&mut conn, &kek, None, 3600).unwrap()
            })
        })
        .collect();
    for rotation in rotations {
        rotation.join().unwrap();
    }

    let keys = app.with_db(|conn| auth_server::admin::keys::list(conn).unwrap());
    for alg in ["RS256", "ES256", "EdDSA"] {
        let active = keys
            .iter()
            .filter(|key| key.alg.as_str() == alg && key.status.to_string() == "active")
            .count();
        assert_eq!(active, 1, "{alg}: {keys:?}");
    }
    let published = jwks(&app).await;
    assert_eq!(
        published.keys.len(),
        keys.iter()
            .filter(|key| key.status.to_string() != "expired")
            .count()
    );
}
