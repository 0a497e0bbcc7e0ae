//! The headers of a forwarded request: the caller's end-to-end headers without hop-by-hop ones and
//! without any the gateway sets itself (so a caller cannot spoof `X-Auth-*` or `X-Forwarded-*`),
//! then `X-Forwarded-*`, the request id and the identity.

use actix_web::{HttpMessage, HttpRequest};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use shared::request_id::RequestId;

use crate::caller::Caller;
use crate::route_table::Route;

/// What the gateway tells the upstream about the caller: the plain `X-Auth-*` headers and the
/// signed identity token.
pub struct ForwardedIdentity<'a> {
    pub caller: &'a Caller,
    pub identity_token: &'a str,
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones we set.
pub(super) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The headers sent upstream: the request's end-to-end ones, then the ones the gateway sets.
pub(super) fn upstream_headers(
    request: &HttpRequest,
    route: &Route,
    identity: Option<&ForwardedIdentity<'_>>,
) -> HeaderMap {
    let mut headers = end_to_end_headers(request, route);
    set_forwarded(&mut headers, request);
    if let Some(id) = request.extensions().get::<RequestId>() {
        set(&mut headers, "x-request-id", id.as_str());
    }
    if let Some(identity) = identity {
        set_identity(&mut headers, identity);
    }
    headers
}

/// The request's headers minus the hop-by-hop ones (and those its `Connection` names), `Host`, and
/// the ones the gateway sets itself: `X-Auth-*`, `X-Forwarded-*`, `Forwarded`, and `Authorization`
/// unless the route forwards it.
fn end_to_end_headers(request: &HttpRequest, route: &Route) -> HeaderMap {
    let connection_listed: Vec<String> = request
        .headers()
        .get_all("connection")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(',').map(|name| name.trim().to_ascii_lowercase()))
        .collect();
    let mut headers = HeaderMap::new();
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
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// `X-Forwarded-For` (the incoming one with the peer appended), `-Proto` and `-Host`.
fn set_forwarded(headers: &mut HeaderMap, request: &HttpRequest) {
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
    set(headers, "x-forwarded-for", &forwarded_for);
    set(headers, "x-forwarded-proto", info.scheme());
    set(headers, "x-forwarded-host", info.host());
}

/// The `X-Auth-*` headers of `shared::identity`.
fn set_identity(headers: &mut HeaderMap, identity: &ForwardedIdentity<'_>) {
    let caller = identity.caller;
    set(headers, shared::identity::SUBJECT_HEADER, &caller.subject);
    set(headers, shared::identity::CLIENT_ID_HEADER, &caller.client_id);
    set(headers, shared::identity::SCOPES_HEADER, &caller.scopes.join(" "));
    if let Some(username) = &caller.username {
        set(headers, shared::identity::USERNAME_HEADER, username);
    }
    set(
        headers,
        shared::identity::IDENTITY_HEADER,
        identity.identity_token,
    );
}

/// Sets `name` unless `value` cannot be a header value.
fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
