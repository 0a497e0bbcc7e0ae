//! Every hop over TLS, as the prod overlay runs it: the client to the gateway, the gateway to the
//! auth-server (introspection) and to the upstream, and the upstream's identity extractor to the
//! gateway's JWKS, each certificate signed by the cluster's private CA that every service trusts
//! through `tls.ca_file`. A service that does not trust the CA refuses to talk, and fails closed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod support;

use auth_server::admin::clients::CreatedClient;
use shared::server::tls::TlsSettings;
use shared::testing::tls::TestCa;
use support::in_process::{AuthServer, Gateway, SeenHeaders, identity_settings, listeners, start_upstream};
use tempfile::TempDir;

/// The settings of a service with its own certificate from `ca`, in a directory of its own.
fn certificate(ca: &TestCa) -> (TlsSettings, TempDir) {
    let dir = TempDir::new().unwrap();
    (ca.tls_settings(dir.path()), dir)
}

/// A client trusting `ca_file`.
fn client(ca_file: &str) -> reqwest::Client {
    let trust = TlsSettings {
        ca_file: ca_file.to_owned(),
        ..TlsSettings::default()
    };
    trust.trust(reqwest::Client::builder()).unwrap().build().unwrap()
}

/// The auth-server, a gateway and its upstream, each with its TLS settings (certificate, and the
/// CA its clients trust), and a client registered for the API.
struct Cluster {
    auth: AuthServer,
    gateway: Gateway,
    seen: SeenHeaders,
    api_client: CreatedClient,
}

impl Cluster {
    async fn start(auth_tls: &TlsSettings, gateway_tls: &TlsSettings, upstream_tls: &TlsSettings) -> Cluster {
        let auth = AuthServer::start(auth_tls).await;
        let (api_client, gateway_client) = (auth.register("billing", false), auth.register("gateway", true));
        let (gateway_listeners, gateway_address) = listeners(gateway_tls);
        let (upstream, seen) = start_upstream(identity_settings(&gateway_address), upstream_tls).await;
        let gateway = Gateway::start(
            (gateway_listeners, gateway_address),
            &auth,
            &gateway_client,
            &upstream,
            gateway_tls,
            30,
        )
        .await;
        Cluster {
            auth,
            gateway,
            seen,
            api_client,
        }
    }

    /// A token from the auth-server (trusting `auth_ca`), then the API through the gateway
    /// (trusting `gateway_ca`).
    async fn call_the_api(&self, auth_ca: &str, gateway_ca: &str) -> reqwest::Response {
        let token = self.auth.token(&client(auth_ca), &self.api_client).await;
        client(gateway_ca)
            .get(format!("{}/orders/7", self.gateway.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_token_passes_when_every_hop_is_tls_verified_against_the_cluster_ca() {
    let ca = TestCa::new("cluster CA");
    let ((auth_tls, _a), (gateway_tls, _g), (upstream_tls, _u)) =
        (certificate(&ca), certificate(&ca), certificate(&ca));
    let cluster = Cluster::start(&auth_tls, &gateway_tls, &upstream_tls).await;
    assert!(cluster.gateway.address.starts_with("https://"));

    let response = cluster
        .call_the_api(&auth_tls.ca_file, &gateway_tls.ca_file)
        .await;

    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap());
    assert_eq!(
        cluster.seen.lock().unwrap()[0]["x-auth-client-id"],
        cluster.api_client.client_id,
        "the upstream verified the identity with the JWKS fetched over TLS"
    );
}

#[tokio::test]
async fn a_gateway_that_does_not_trust_the_auth_servers_certificate_fails_closed() {
    let (cluster_ca, other_ca) = (TestCa::new("cluster CA"), TestCa::new("another CA"));
    // The gateway (and its upstream) trust only the other CA and the system's roots: the
    // auth-server's certificate is not vouched for.
    let ((auth_tls, _a), (gateway_tls, _g)) = (certificate(&cluster_ca), certificate(&other_ca));
    let cluster = Cluster::start(&auth_tls, &gateway_tls, &gateway_tls).await;

    let response = cluster
        .call_the_api(&auth_tls.ca_file, &gateway_tls.ca_file)
        .await;

    assert_eq!(
        response.status(),
        503,
        "no verdict from an unverified auth-server"
    );
    assert!(
        cluster.seen.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn a_gateway_that_does_not_trust_the_upstreams_certificate_does_not_forward() {
    let (cluster_ca, other_ca) = (TestCa::new("cluster CA"), TestCa::new("another CA"));
    let ((auth_tls, _a), (gateway_tls, _g)) = (certificate(&cluster_ca), certificate(&cluster_ca));
    let (upstream_tls, _u) = certificate(&other_ca);
    let cluster = Cluster::start(&auth_tls, &gateway_tls, &upstream_tls).await;

    let response = cluster
        .call_the_api(&auth_tls.ca_file, &gateway_tls.ca_file)
        .await;

    assert_eq!(
        response.status(),
        502,
        "an upstream with an unverified certificate is unreachable"
    );
    assert!(cluster.seen.lock().unwrap().is_empty());
}
