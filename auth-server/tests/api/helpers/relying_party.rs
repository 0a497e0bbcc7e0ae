//! The relying-party libraries' HTTP: the `oauth2` and `openidconnect` crates over our reqwest.

use std::future::Future;
use std::pin::Pin;

pub type HttpFuture = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, reqwest::Error>> + Send>>;

/// The `oauth2` and `openidconnect` crates (one `oauth2` 5 underneath) speak `http` types; this adapts
/// our reqwest 0.13 to them (their own adapter is for reqwest 0.12, left out with default features).
pub fn rp_http(client: reqwest::Client) -> impl Fn(oauth2::HttpRequest) -> HttpFuture {
    move |request| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok(builder
                .body(response.bytes().await?.to_vec())
                .expect("a valid response"))
        })
    }
}
