//! Forwarding a request to an upstream: streaming bodies both ways, hop-by-hop headers removed,
//! `X-Forwarded-*`, the request id and the identity headers set, spoofed `X-Auth-*` headers
//! stripped. One circuit breaker per upstream base URL; an upstream whose breaker is open is
//! skipped for the next one of the route. Only requests without a body and with an idempotent
//! method (GET, HEAD, OPTIONS) are retried after being sent, on the next upstream of the route.
//! The header policy is in `headers.rs`.

mod headers;

use shared::server::tls::TlsSettings;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use futures_util::StreamExt;
use shared::resilience::{Breaker, BreakerError};

use crate::configuration::UpstreamSettings;
use crate::error::GatewayError;
use crate::route_table::Route;

use self::headers::{HOP_BY_HOP, upstream_headers};

pub use self::headers::ForwardedIdentity;

/// The upstream HTTP client of one actix worker. Each worker thread runs its own runtime, and a
/// pooled connection is driven by a task on the runtime that opened it: a client shared by all
/// workers hands connections across threads, and every request then wakes another thread
/// (measured: most of the gateway's CPU went to those wake-ups).
pub struct UpstreamClient(reqwest::Client);

/// Sends requests to upstreams.
pub struct Forwarder {
    settings: UpstreamSettings,
    /// The CA certificates of `tls.ca_file`, read once for every worker's client.
    ca_certificates: Vec<reqwest::Certificate>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

/// What each attempt of one forwarded request sends.
struct Outgoing {
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
    /// The body of a request that is sent once; `None` for a retryable (body-less) one.
    body: Option<reqwest::Body>,
    attempts: u32,
}

/// How one attempt ended, when the upstream's breaker let it through.
enum Attempt {
    Answered(reqwest::Response),
    /// Connection refused, reset, or a timeout.
    Unreachable {
        timed_out: bool,
    },
}

impl Forwarder {
    /// Forwards with `settings`; `https` upstreams are verified against the system's roots and
    /// `tls.ca_file`.
    pub fn new(settings: UpstreamSettings, tls: &TlsSettings) -> anyhow::Result<Forwarder> {
        Ok(Forwarder {
            settings,
            ca_certificates: tls.ca_certificates()?,
            breakers: Mutex::new(HashMap::new()),
        })
    }

    /// The HTTP client of one worker thread (see [`UpstreamClient`]).
    pub fn client(&self) -> anyhow::Result<UpstreamClient> {
        let client = reqwest::Client::builder()
            .tls_certs_merge(self.ca_certificates.clone())
            .connect_timeout(Duration::from_millis(self.settings.connect_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(UpstreamClient(client))
    }

    /// Forwards the request and relays the answer.
    pub async fn forward(
        &self,
        http: &UpstreamClient,
        request: &HttpRequest,
        payload: web::Payload,
        route: &Route,
        identity: Option<ForwardedIdentity<'_>>,
    ) -> Result<HttpResponse, GatewayError> {
        let outgoing = self.outgoing(request, payload, route, identity.as_ref())?;
        let started = std::time::Instant::now();
        let outcome = self.send_with_retries(http, request, route, outgoing).await;
        let result = match outcome {
            Ok(Attempt::Answered(response)) => Ok(relay(response)),
            Ok(Attempt::Unreachable { timed_out: true }) => Err(GatewayError::GatewayTimeout),
            Ok(Attempt::Unreachable { timed_out: false }) => Err(GatewayError::BadGateway),
            Err(error) => Err(error),
        };
        record_duration(route, &result, started);
        result
    }

    /// What every attempt sends: a request that may be retried goes without its body.
    fn outgoing(
        &self,
        request: &HttpRequest,
        payload: web::Payload,
        route: &Route,
        identity: Option<&ForwardedIdentity<'_>>,
    ) -> Result<Outgoing, GatewayError> {
        let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())
            .context("the request's method cannot be sent upstream")
            .map_err(GatewayError::Internal)?;
        let headers = upstream_headers(request, route, identity);
        let timeout = route
            .timeout
            .unwrap_or(Duration::from_millis(self.settings.timeout_ms));
        let retryable = is_retryable(request);
        Ok(Outgoing {
            method,
            headers,
            timeout,
            body: (!retryable).then(|| stream_body(payload)),
            attempts: if retryable {
                self.settings.max_retries + 1
            } else {
                1
            },
        })
    }

    /// Sends `outgoing` to the route's upstreams in turn, from this request's turn of the round
    /// robin. An upstream whose breaker is open is skipped: nothing was sent, so even a request
    /// with a body moves on to the next. A sent attempt is retried on the next upstream while it is
    /// worth it (unreachable, 502-504) and attempts remain. Every upstream refusing gives the
    /// breaker's 503; otherwise the last sent attempt's outcome.
    async fn send_with_retries(
        &self,
        http: &UpstreamClient,
        request: &HttpRequest,
        route: &Route,
        mut outgoing: Outgoing,
    ) -> Result<Attempt, GatewayError> {
        let mut turn = route.first_turn();
        let (mut sent, mut refused_in_a_row) = (0, 0);
        let mut outcome = Err(GatewayError::BadGateway);
        while sent < outgoing.attempts && refused_in_a_row < route.upstream_count() {
            let (base, url) = route.upstream_url(turn, request.path(), request.query_string());
            turn += 1;
            let result = self.attempt(http, base, url, &mut outgoing).await;
            if matches!(result, Err(GatewayError::UpstreamUnavailable(_))) {
                refused_in_a_row += 1;
                if sent == 0 {
                    outcome = result;
                }
                continue;
            }
            refused_in_a_row = 0;
            sent += 1;
            let worth_retrying = match &result {
                Ok(Attempt::Answered(response)) => is_unavailable(response.status()),
                Ok(Attempt::Unreachable { .. }) => true,
                Err(_) => false,
            };
            outcome = result;
            if !worth_retrying || sent == outgoing.attempts {
                break;
            }
            tokio::time::sleep(self.settings.backoff.delay(sent - 1)).await;
        }
        outcome
    }

    /// One call through the upstream's breaker. Connection failures, timeouts and 502/503/504
    /// count against the upstream; any other answer is the upstream's business. The request is
    /// built only once the breaker lets it through, so a refusal leaves the body for the next
    /// upstream.
    async fn attempt(
        &self,
        http: &UpstreamClient,
        base: &str,
        url: reqwest::Url,
        outgoing: &mut Outgoing,
    ) -> Result<Attempt, GatewayError> {
        let breaker = self.breaker(base);
        let sent = breaker
            // Every `UpstreamFailure` counts: answers that do not count against the upstream are `Ok`.
            .call(|_| true, async {
                let mut request = http
                    .0
                    .request(outgoing.method.clone(), url)
                    .headers(outgoing.headers.clone())
                    .timeout(outgoing.timeout);
                if let Some(body) = outgoing.body.take() {
                    request = request.body(body);
                }
                request
                    .send()
                    .await
                    .map_err(UpstreamFailure::from)
                    .and_then(UpstreamFailure::check)
            })
            .await;
        match sent {
            Ok(response) => Ok(Attempt::Answered(response)),
            Err(BreakerError::Inner(UpstreamFailure::Unavailable(response))) => {
                Ok(Attempt::Answered(*response))
            }
            Err(BreakerError::Inner(UpstreamFailure::Unreachable { timed_out })) => {
                Ok(Attempt::Unreachable { timed_out })
            }
            Err(BreakerError::Rejected { retry_after }) => {
                Err(GatewayError::UpstreamUnavailable(retry_after))
            }
        }
    }

    fn breaker(&self, base: &str) -> Breaker {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        breakers
            .entry(base.to_owned())
            .or_insert_with(|| Breaker::new(format!("upstream {base}"), &self.settings.breaker))
            .clone()
    }
}

/// An upstream call that counts as a failure of the upstream.
enum UpstreamFailure {
    Unreachable {
        timed_out: bool,
    },
    /// 502, 503 or 504: relayed as is if it is the last attempt.
    Unavailable(Box<reqwest::Response>),
}

impl UpstreamFailure {
    fn check(response: reqwest::Response) -> Result<reqwest::Response, UpstreamFailure> {
        if is_unavailable(response.status()) {
            Err(UpstreamFailure::Unavailable(Box::new(response)))
        } else {
            Ok(response)
        }
    }
}

impl From<reqwest::Error> for UpstreamFailure {
    fn from(error: reqwest::Error) -> Self {
        UpstreamFailure::Unreachable {
            timed_out: error.is_timeout(),
        }
    }
}

/// `gateway_upstream_duration_seconds{route, status}`: the time from the first attempt to the answer.
fn record_duration(route: &Route, result: &Result<HttpResponse, GatewayError>, started: std::time::Instant) {
    let status = match result {
        Ok(response) => response.status().as_u16().to_string(),
        Err(error) => actix_web::ResponseError::status_code(error).as_u16().to_string(),
    };
    metrics::histogram!(
        "gateway_upstream_duration_seconds",
        "route" => route.name.clone(),
        "status" => status
    )
    .record(started.elapsed().as_secs_f64());
}

fn is_unavailable(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// Only body-less requests with an idempotent method are retried: a POST may have had effects,
/// and a streamed body cannot be sent twice.
fn is_retryable(request: &HttpRequest) -> bool {
    let idempotent = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let has_body = request.headers().contains_key("transfer-encoding")
        || request
            .headers()
            .get("content-length")
            .is_some_and(|length| length.as_bytes() != b"0");
    idempotent && !has_body
}

/// The request body as a stream reqwest can send. actix's payload is not `Send`, so a local task
/// feeds a channel.
fn stream_body(mut payload: web::Payload) -> reqwest::Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(8);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|error| std::io::Error::other(error.to_string()));
            if sender.send(chunk).await.is_err() {
                break;
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    reqwest::Body::wrap_stream(stream)
}

/// The upstream's answer, streamed back without its hop-by-hop headers.
fn relay(response: reqwest::Response) -> HttpResponse {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut relayed = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) || name.as_str() == "content-length" {
            continue;
        }
        relayed.append_header((name.as_str(), value.as_bytes()));
    }
    let length = response.content_length();
    let body = response
        .bytes_stream()
        .map(|chunk| chunk.map_err(|_| actix_web::error::ErrorBadGateway("the upstream body broke off")));
    match length {
        // A known length is kept (not turned into chunked), so clients can show progress.
        Some(length) => relayed.no_chunking(length).streaming(body),
        None => relayed.streaming(body),
    }
}
