//! Forwarding a request to an upstream: streaming bodies both ways, hop-by-hop headers removed,
//! `X-Forwarded-*`, the request id and the identity headers set, spoofed `X-Auth-*` headers
//! stripped. One circuit breaker per upstream base URL; only requests without a body and with an
//! idempotent method (GET, HEAD, OPTIONS) are retried, on another upstream of the route.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use shared::request_id::RequestId;
use shared::resilience::{Breaker, BreakerError};

use crate::caller::Caller;
use crate::configuration::UpstreamSettings;
use crate::error::GatewayError;
use crate::route_table::Route;

/// What the gateway tells the upstream about the caller.
pub struct Vouched<'a> {
    pub caller: &'a Caller,
    pub identity_token: &'a str,
}

/// The upstream HTTP client of one actix worker. Each worker thread runs its own runtime, and a
/// pooled connection is driven by a task on the runtime that opened it: a client shared by all
/// workers hands connections across threads, and every request then wakes another thread
/// (measured: most of the gateway's CPU went to those wake-ups).
pub struct UpstreamClient(reqwest::Client);

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones we set.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Sends requests to upstreams.
pub struct Forwarder {
    settings: UpstreamSettings,
    breakers: Mutex<HashMap<String, Breaker>>,
}

enum Attempt {
    Answered(reqwest::Response),
    /// Connection refused, reset, or a timeout.
    Unreachable {
        timed_out: bool,
    },
}

impl Forwarder {
    pub fn new(settings: UpstreamSettings) -> Forwarder {
        Forwarder {
            settings,
            breakers: Mutex::new(HashMap::new()),
        }
    }

    /// The HTTP client of one worker thread (see [`UpstreamClient`]).
    pub fn client(&self) -> anyhow::Result<UpstreamClient> {
        let client = reqwest::Client::builder()
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
        vouched: Option<Vouched<'_>>,
    ) -> Result<HttpResponse, GatewayError> {
        let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())
            .map_err(|error| GatewayError::Internal(error.to_string()))?;
        let headers = upstream_headers(request, route, vouched.as_ref());
        let timeout = route
            .timeout
            .unwrap_or(Duration::from_millis(self.settings.timeout_ms));
        let started = std::time::Instant::now();

        let retryable = is_retryable(request);
        let mut body = if retryable {
            None
        } else {
            Some(stream_body(payload))
        };
        let attempts = if retryable {
            self.settings.max_retries + 1
        } else {
            1
        };
        let mut outcome = Err(GatewayError::BadGateway);
        for attempt in 0..attempts {
            let (base, url) = route.upstream_url(attempt as usize, request.path(), request.query_string());
            let mut builder = http
                .0
                .request(method.clone(), url)
                .headers(headers.clone())
                .timeout(timeout);
            if let Some(body) = body.take() {
                builder = builder.body(body);
            }
            outcome = self.attempt(base, builder).await;
            let worth_retrying = match &outcome {
                Ok(Attempt::Answered(response)) => is_unavailable(response.status()),
                Ok(Attempt::Unreachable { .. }) => true,
                Err(_) => false,
            };
            if !worth_retrying || attempt + 1 == attempts {
                break;
            }
            tokio::time::sleep(self.settings.backoff.delay(attempt)).await;
        }
        let result = match outcome {
            Ok(Attempt::Answered(response)) => Ok(relay(response)),
            Ok(Attempt::Unreachable { timed_out: true }) => Err(GatewayError::GatewayTimeout),
            Ok(Attempt::Unreachable { timed_out: false }) => Err(GatewayError::BadGateway),
            Err(error) => Err(error),
        };
        let status = match &result {
            Ok(response) => response.status().as_u16().to_string(),
            Err(error) => actix_web::ResponseError::status_code(error).as_u16().to_string(),
        };
        metrics::histogram!("gateway_upstream_duration_seconds", "route" => route.name.clone(), "status" => status)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// One call through the upstream's breaker. Connection failures, timeouts and 502/503/504
    /// count against the upstream; any other answer is the upstream's business.
    async fn attempt(&self, base: &str, request: reqwest::RequestBuilder) -> Result<Attempt, GatewayError> {
        let breaker = self.breaker(base);
        let sent = breaker
            .call(counts_against_upstream, async {
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

fn counts_against_upstream(_: &UpstreamFailure) -> bool {
    true
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

fn upstream_headers(
    request: &HttpRequest,
    route: &Route,
    vouched: Option<&Vouched<'_>>,
) -> reqwest::header::HeaderMap {
    let connection_listed: Vec<String> = request
        .headers()
        .get_all("connection")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(',').map(|name| name.trim().to_ascii_lowercase()))
        .collect();
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in request.headers() {
        let lower = name.as_str();
        let dropped = HOP_BY_HOP.contains(&lower)
            || connection_listed.iter().any(|listed| listed == lower)
            || lower == "host"
            || lower.starts_with("x-auth-")
            || lower.starts_with("x-forwarded-")
            || lower == "forwarded"
            || (lower == "authorization" && !route.forward_authorization);
        if dropped {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let info = request.connection_info();
    let peer = request
        .peer_addr()
        .map(|address| address.ip().to_string())
        .unwrap_or_default();
    let forwarded_for = match request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
    {
        Some(earlier) => format!("{earlier}, {peer}"),
        None => peer,
    };
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("x-forwarded-for", &forwarded_for);
    set("x-forwarded-proto", info.scheme());
    set("x-forwarded-host", info.host());
    if let Some(id) = request.extensions().get::<RequestId>() {
        set("x-request-id", id.as_str());
    }
    if let Some(vouched) = vouched {
        let caller = vouched.caller;
        set(shared::identity::SUBJECT_HEADER, &caller.subject);
        set(shared::identity::CLIENT_ID_HEADER, &caller.client_id);
        set(shared::identity::SCOPES_HEADER, &caller.scopes.join(" "));
        if let Some(username) = &caller.username {
            set(shared::identity::USERNAME_HEADER, username);
        }
        set(shared::identity::IDENTITY_HEADER, vouched.identity_token);
    }
    headers
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
