//! The demo API's upstream: any request the gateway forwards to `/echo/...` is answered with what it
//! was and who made it, as the gateway vouched in the signed `X-Auth-Identity` header (checked with
//! the gateway's JWKS by `shared::identity`, as any upstream service of the platform would). A
//! request that did not come through the gateway is refused with 401.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use shared::identity::{CLIENT_ID_HEADER, GatewayIdentity, SCOPES_HEADER, SUBJECT_HEADER, USERNAME_HEADER};

pub async fn echo(identity: GatewayIdentity, request: HttpRequest) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    HttpResponse::Ok().json(json!({
        "message": "Hello from the demo API, behind the resource-gateway",
        "method": request.method().as_str(),
        "path": request.path(),
        "identity": identity.0,
        "plain_headers": {
            SUBJECT_HEADER: header(SUBJECT_HEADER),
            CLIENT_ID_HEADER: header(CLIENT_ID_HEADER),
            SCOPES_HEADER: header(SCOPES_HEADER),
            USERNAME_HEADER: header(USERNAME_HEADER),
        },
        "request_id": header("x-request-id"),
    }))
}
