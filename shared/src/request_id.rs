//! A request id on every request: adopted from `x-request-id` when the caller (the gateway) sent a
//! sane one, generated otherwise, echoed in the response header, recorded on the request's span and
//! readable anywhere in the request's task (error bodies use it).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing_actix_web::RootSpanBuilder;

/// The header that carries the id between services.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT_REQUEST_ID: RequestId;
}

/// The id of one request, stored in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Adopts an incoming id if it is short printable ASCII, so a caller cannot inject log lines.
    pub fn adopt_or_generate(incoming: Option<&HeaderValue>) -> Self {
        let adopted = incoming
            .and_then(|value| value.to_str().ok())
            .filter(|value| {
                !value.is_empty()
                    && value.len() <= 128
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .map(str::to_owned);
        RequestId(adopted.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of the request being served by the current task, if any.
pub fn current() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(|id| id.0.clone()).ok()
}

/// Middleware (`actix_web::middleware::from_fn(request_id::middleware)`): wrap it outside
/// `TracingLogger` so the span can record the id.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let id = RequestId::adopt_or_generate(request.headers().get(REQUEST_ID_HEADER));
    request.extensions_mut().insert(id.clone());
    let header = HeaderValue::from_str(id.as_str()).expect("request ids are validated ASCII");
    let mut response = CURRENT_REQUEST_ID.scope(id, next.call(request)).await?;
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    Ok(response)
}

/// Root span builder for `TracingLogger`: a small span (method, route, request id, status) instead
/// of tracing-actix-web's default, whose dozen fields (user agent, client address parsed from the
/// forwarding headers, OpenTelemetry names) cost about a fifth of an introspection request's CPU,
/// since the fmt layer formats every field of every span when it is created.
pub struct RequestIdSpan;

impl RootSpanBuilder for RequestIdSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let extensions = request.extensions();
        let id = extensions
            .get::<RequestId>()
            .map(RequestId::as_str)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = request.match_pattern().as_deref().unwrap_or("unmatched"),
            request.id = %id,
            http.status_code = tracing::field::Empty,
            // Recorded by handlers once the caller is authenticated (an OAuth client id).
            client.id = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: tracing::Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.response().status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.status_code", status.as_u16());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_incoming_id_is_adopted() {
        let value = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(
            RequestId::adopt_or_generate(Some(&value)).as_str(),
            "abc-123_x.y:z"
        );
    }

    #[test]
    fn an_id_with_spaces_or_newlines_or_too_long_is_replaced() {
        for bad in ["a b", "x\ty", &"a".repeat(129), ""] {
            let value = HeaderValue::from_str(bad).unwrap();
            let id = RequestId::adopt_or_generate(Some(&value));
            assert_ne!(id.as_str(), bad);
            assert_eq!(id.as_str().len(), 36, "a fresh uuid replaces {bad:?}");
        }
    }
}
