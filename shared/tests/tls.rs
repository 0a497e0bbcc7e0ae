//! TLS on the listeners every service starts through `HttpService`, the admin listener, and what
//! the services' own HTTPS clients trust: a real rustls server, real certificates from a CA made
//! per test, and reqwest as the client.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::error::Error as _;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use shared::configuration::ShutdownSettings;
use shared::health::Readiness;
use shared::server::tls::{ServerTls, TlsSettings};
use shared::server::{HttpService, ListenSettings, Listeners};
use shared::testing::tls::TestCa;
use tempfile::TempDir;

struct Served {
    port: u16,
    admin_port: Option<u16>,
}

async fn serve(tls: &TlsSettings, admin: bool) -> Served {
    let listeners = Listeners::bind(ListenSettings {
        listen_addr: "127.0.0.1:0",
        admin_listen_addr: if admin { "127.0.0.1:0" } else { "" },
        tls,
        env_prefix: "TEST",
    })
    .unwrap();
    let shutdown = ShutdownSettings {
        drain_delay_ms: 0,
        timeout_ms: 1000,
    };
    let routes = |cfg: &mut web::ServiceConfig| {
        cfg.route(
            "/hello",
            web::get().to(|| async { HttpResponse::Ok().body("hi") }),
        );
    };
    let service = HttpService::start(listeners, 1, shutdown, Readiness::new(Vec::new()), routes).unwrap();
    let served = Served {
        port: service.port(),
        admin_port: service.admin_port(),
    };
    tokio::spawn(service.run_until_stopped());
    served
}

/// A client trusting the system's roots and `ca_file` (empty: the system's roots only).
fn client_trusting(ca_file: &str) -> reqwest::Client {
    let settings = TlsSettings {
        ca_file: ca_file.to_owned(),
        ..TlsSettings::default()
    };
    settings
        .trust(reqwest::Client::builder())
        .unwrap()
        .build()
        .unwrap()
}

fn write_ca(dir: &TempDir, name: &str, ca: &TestCa) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, ca.pem()).unwrap();
    path.to_string_lossy().into_owned()
}

/// The whole chain of causes, where rustls names why it refused.
fn causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(" / ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_tls_listener_serves_https_to_a_client_that_trusts_its_ca() {
    let dir = TempDir::new().unwrap();
    let settings = TestCa::new("platform test CA").tls_settings(dir.path());
    let served = serve(&settings, false).await;

    let response = client_trusting(&settings.ca_file)
        .get(format!("https://localhost:{}/hello", served.port))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hi");
}

#[tokio::test]
async fn a_client_refuses_a_certificate_no_root_it_trusts_vouches_for() {
    let dir = TempDir::new().unwrap();
    let settings = TestCa::new("the server's CA").tls_settings(dir.path());
    let served = serve(&settings, false).await;
    let another_ca = write_ca(&dir, "another-ca.pem", &TestCa::new("another CA"));
    let url = format!("https://127.0.0.1:{}/hello", served.port);

    for client in [client_trusting(""), client_trusting(&another_ca)] {
        let error = client.get(&url).send().await.unwrap_err();

        assert!(error.is_connect(), "{error:?}");
        assert!(causes(&error).contains("UnknownIssuer"), "{}", causes(&error));
    }
}

#[tokio::test]
async fn a_client_refuses_a_certificate_for_another_name() {
    let dir = TempDir::new().unwrap();
    let ca = TestCa::new("platform test CA");
    let mut settings = ca.tls_settings(dir.path());
    let leaf = ca.leaf_for(&["auth-server.elsewhere.example"]);
    let (cert_file, key_file) = leaf.write(dir.path());
    settings.cert_file = cert_file.to_string_lossy().into_owned();
    settings.key_file = key_file.to_string_lossy().into_owned();
    let served = serve(&settings, false).await;

    let error = client_trusting(&settings.ca_file)
        .get(format!("https://localhost:{}/hello", served.port))
        .send()
        .await
        .unwrap_err();

    assert!(
        causes(&error).contains("not valid for name"),
        "{}",
        causes(&error)
    );
}

#[tokio::test]
async fn a_renewed_certificate_is_served_from_the_next_connection_without_a_restart() {
    let dir = TempDir::new().unwrap();
    let settings = TestCa::new("the first CA").tls_settings(dir.path());
    let served = serve(&settings, false).await;
    let url = format!("https://localhost:{}/hello", served.port);
    let renewing_ca = TestCa::new("the renewing CA");
    let renewed_ca_file = write_ca(&dir, "renewed-ca.pem", &renewing_ca);

    renewing_ca.leaf().write(dir.path());

    // The reloader checks every second (tls.reload_interval_secs = 1); a fresh client opens a new
    // connection each round, as a new handshake is what picks up the certificate.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match client_trusting(&renewed_ca_file).get(&url).send().await {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                break;
            }
            Err(error) if Instant::now() < deadline => {
                assert!(causes(&error).contains("UnknownIssuer"), "{}", causes(&error));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the renewed certificate was never served: {}", causes(&error)),
        }
    }
    let old = client_trusting(&settings.ca_file)
        .get(&url)
        .send()
        .await
        .unwrap_err();
    assert!(causes(&old).contains("UnknownIssuer"), "{}", causes(&old));
}

#[tokio::test]
async fn a_renewal_whose_key_does_not_match_keeps_the_certificate_in_use() {
    let dir = TempDir::new().unwrap();
    let ca = TestCa::new("platform test CA");
    let settings = ca.tls_settings(dir.path());
    let tls = ServerTls::load(&settings).unwrap().unwrap();
    let (first, second) = (ca.leaf(), ca.leaf());

    std::fs::write(&settings.cert_file, &first.cert_pem).unwrap();
    std::fs::write(&settings.key_file, &second.key_pem).unwrap();
    bump_mtime(&settings.cert_file);

    assert!(!tls.reload_if_changed(), "a mismatched pair was taken into use");

    std::fs::write(&settings.key_file, &first.key_pem).unwrap();
    bump_mtime(&settings.key_file);
    assert!(
        tls.reload_if_changed(),
        "the matching pair, once complete, is taken"
    );
}

#[tokio::test]
async fn a_certificate_that_cannot_be_used_stops_the_start_naming_the_files() {
    let dir = TempDir::new().unwrap();
    let ca = TestCa::new("platform test CA");
    let mut settings = ca.tls_settings(dir.path());
    let other_key = dir.path().join("other-key.pem");
    std::fs::write(&other_key, ca.leaf().key_pem).unwrap();
    settings.key_file = other_key.to_string_lossy().into_owned();

    let mismatched = ServerTls::load(&settings).err().unwrap().to_string();
    assert!(mismatched.contains("other-key.pem"), "{mismatched}");
    assert!(mismatched.contains("does not belong"), "{mismatched}");

    settings.cert_file = dir.path().join("missing.pem").to_string_lossy().into_owned();
    let missing = ServerTls::load(&settings).err().unwrap().to_string();
    assert!(missing.contains("missing.pem"), "{missing}");

    settings.cert_file = String::new();
    let half = ServerTls::load(&settings).err().unwrap().to_string();
    assert!(
        half.contains("tls.cert_file and tls.key_file go together"),
        "{half}"
    );
}

#[test]
fn a_ca_bundle_that_cannot_be_read_is_an_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let not_pem = dir.path().join("not-a-bundle.pem");
    std::fs::write(&not_pem, "hello").unwrap();

    for ca_file in [not_pem, dir.path().join("absent.pem")] {
        let settings = TlsSettings {
            ca_file: ca_file.to_string_lossy().into_owned(),
            ..TlsSettings::default()
        };
        let error = settings
            .trust(reqwest::Client::builder())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains(&settings.ca_file), "{error}");
        assert!(error.contains("tls.ca_file"), "{error}");
    }
}

#[tokio::test]
async fn the_admin_listener_takes_health_and_metrics_off_the_public_one() {
    let dir = TempDir::new().unwrap();
    let settings = TestCa::new("platform test CA").tls_settings(dir.path());
    let served = serve(&settings, true).await;
    let client = client_trusting(&settings.ca_file);
    let status = |port: u16, path: &'static str| {
        let request = client.get(format!("https://localhost:{port}{path}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let admin = served.admin_port.unwrap();

    assert_eq!(status(served.port, "/hello").await, 200);
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            status(served.port, path).await,
            404,
            "{path} on the public listener"
        );
        assert_eq!(status(admin, path).await, 200, "{path} on the admin listener");
    }
    assert_eq!(
        status(admin, "/hello").await,
        404,
        "the admin listener serves only its own"
    );
}

#[tokio::test]
async fn without_tls_settings_the_listeners_speak_plain_http() {
    let served = serve(&TlsSettings::default(), true).await;

    let hello = reqwest::get(format!("http://127.0.0.1:{}/hello", served.port))
        .await
        .unwrap();
    let ready = reqwest::get(format!("http://127.0.0.1:{}/readyz", served.admin_port.unwrap()))
        .await
        .unwrap();

    assert_eq!(hello.status(), 200);
    assert_eq!(ready.status(), 200);
}

/// Moves a file's modification time a minute ahead, so a rewrite within the same clock tick still
/// reads as a change.
fn bump_mtime(path: &str) {
    let file = std::fs::File::options().append(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
}
