//! The two servers of the identity tests: a fake gateway serving its JWKS (and counting the hits)
//! and an upstream app whose handler takes `GatewayIdentity`; plus signing keys and tokens.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, middleware, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use shared::identity::{
    GatewayIdentity, IDENTITY_HEADER, IdentityClaims, IdentityError, IdentitySettings, IdentityVerifier,
};
use shared::request_id;

pub const ISSUER: &str = "https://gateway.test";
pub const AUDIENCE: &str = "orders";
pub const INVALID_TOKEN_CHALLENGE: &str = "Bearer realm=\"upstream\", error=\"invalid_token\"";

/// One of the gateway's Ed25519 signing keys.
pub struct GatewayKey {
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Jwk,
}

impl GatewayKey {
    pub fn generate(kid: &str) -> GatewayKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // PKCS#8 v1: `Jwk::from_encoding_key` takes an Ed25519 key only as the 48-byte v1 document
        // and answers InvalidEddsaKey for the v2 one `generate_pkcs8` makes (signing takes both).
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng).unwrap();
        let encoding = EncodingKey::from_ed_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        GatewayKey {
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    pub fn sign(&self, claims: &IdentityClaims) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Signs with this key but names `kid` in the header.
    pub fn sign_as(&self, kid: &str, claims: &IdentityClaims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn claims() -> IdentityClaims {
    IdentityClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "alice".into(),
        client_id: "web-app".into(),
        scope: "profile orders:read".into(),
        username: Some("alice".into()),
        iat: now(),
        exp: now() + 60,
    }
}

/// The gateway's `/.well-known/jwks.json`, on port 0.
pub struct FakeGateway {
    jwks_url: String,
    keys: Arc<Mutex<JwkSet>>,
    hits: Arc<AtomicUsize>,
    server: ServerHandle,
}

impl FakeGateway {
    pub fn start(published: &[&GatewayKey]) -> FakeGateway {
        let keys = Arc::new(Mutex::new(JwkSet { keys: Vec::new() }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), hits.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let (served, counted) = (served.clone(), counted.clone());
            App::new().route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    async move { HttpResponse::Ok().json(body) }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let gateway = FakeGateway {
            jwks_url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
            keys,
            hits,
            server: server.handle(),
        };
        tokio::spawn(server);
        for key in published {
            gateway.publish(key);
        }
        gateway
    }

    pub fn publish(&self, key: &GatewayKey) {
        self.keys.lock().unwrap().keys.push(key.jwk.clone());
    }

    pub fn withdraw(&self, kid: &str) {
        self.keys
            .lock()
            .unwrap()
            .keys
            .retain(|jwk| jwk.common.key_id.as_deref() != Some(kid));
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops the server: from now on the JWKS cannot be reached.
    pub async fn go_down(&self) {
        self.server.stop(false).await;
    }

    /// Settings with one JWKS fetch an hour at most, and cached keys good for an hour.
    pub fn settings(&self) -> IdentitySettings {
        IdentitySettings {
            jwks_url: self.jwks_url.clone(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_refresh_secs: 3600,
            jwks_max_age_secs: 3600,
            jwks_timeout_ms: 2000,
            leeway_secs: 30,
        }
    }
}

/// An upstream service whose `/orders` needs the `orders:read` scope and echoes the claims.
pub struct Upstream {
    address: String,
    client: reqwest::Client,
}

async fn get_orders(identity: GatewayIdentity) -> Result<HttpResponse, IdentityError> {
    identity.require_scopes(&["orders:read"])?;
    Ok(HttpResponse::Ok().json(&identity.0))
}

impl Upstream {
    pub fn start(settings: IdentitySettings) -> Upstream {
        let verifier = web::Data::new(IdentityVerifier::new(&settings).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(request_id::middleware))
                .app_data(verifier.clone())
                .route("/orders", web::get().to(get_orders))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Upstream {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    pub async fn get_orders(&self, identity: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}/orders", self.address));
        if let Some(token) = identity {
            request = request.header(IDENTITY_HEADER, token);
        }
        request.send().await.unwrap()
    }
}

/// Asserts a 401 with the invalid_token challenge, and returns its body's message.
pub async fn assert_unauthorized(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], INVALID_TOKEN_CHALLENGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    body["message"].as_str().unwrap().to_owned()
}

/// A token whose header or payload segment was replaced by `json`, its signature kept.
pub fn with_segment(token: &str, index: usize, json: &Value) -> String {
    let mut segments: Vec<String> = token.split('.').map(str::to_owned).collect();
    segments[index] = URL_SAFE_NO_PAD.encode(json.to_string());
    segments.join(".")
}
