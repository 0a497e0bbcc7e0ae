//! The gateway answers its probes (the standard surface itself is tested in `shared`).

use serde_json::Value;

use crate::helpers::standard;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_while_running() {
    let (gateway, _auth, _upstream) = standard().await;

    assert_eq!(
        gateway
            .http
            .get(gateway.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = gateway.http.get(gateway.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}
