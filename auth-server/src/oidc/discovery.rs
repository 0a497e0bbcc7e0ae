//! The OpenID Connect members of the metadata document (OIDC Discovery §3).

use serde_json::{Value, json};

use super::claims;
use super::keys::SigningAlgorithm;
use crate::configuration::Settings;

/// Adds the OIDC members to the RFC 8414 document.
pub fn extend(metadata: &mut Value, settings: &Settings) {
    let members = json!({
        "jwks_uri": settings.endpoint("/oauth2/jwks"),
        "userinfo_endpoint": settings.endpoint("/oauth2/userinfo"),
        "end_session_endpoint": settings.endpoint("/oauth2/logout"),
        "subject_types_supported": ["public"],
        // The hybrid flow is offered to clients registered with --allow-hybrid.
        "response_types_supported": ["code", "code id_token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "id_token_signing_alg_values_supported":
            SigningAlgorithm::ALL.iter().map(|alg| alg.as_str()).collect::<Vec<_>>(),
        "claims_supported": claims::supported(&settings.oidc.custom_claims),
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if let (Some(metadata), Value::Object(members)) = (metadata.as_object_mut(), members) {
        metadata.extend(members);
    }
}
