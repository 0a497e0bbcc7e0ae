//! The actix-web extractor giving a handler the identity the gateway vouched for, and the scope
//! checks a handler makes on it.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::error::{IdentityError, TokenRejection};
use super::verifier::IdentityVerifier;
use super::{IDENTITY_HEADER, IdentityClaims};
use crate::bearer::{self, NotSole};

/// The verified identity of the caller, read from `X-Auth-Identity` with the app's
/// `web::Data<IdentityVerifier>`. Extraction fails with 401 (no or bad token), 503 (the gateway's
/// keys cannot be fetched) or 500 (no verifier registered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayIdentity(pub IdentityClaims);

impl GatewayIdentity {
    /// Succeeds when every scope of `all_of` was granted; otherwise a 403 naming the missing ones.
    pub fn require_scopes(&self, all_of: &[&str]) -> Result<(), IdentityError> {
        let missing: Vec<String> = all_of
            .iter()
            .filter(|required| !self.has_scope(required))
            .map(|required| (*required).to_owned())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(IdentityError::MissingScopes(missing))
        }
    }

    /// Succeeds when at least one scope of `any_of` was granted (or `any_of` is empty); otherwise a
    /// 403 naming the accepted scopes.
    pub fn require_any_scope(&self, any_of: &[&str]) -> Result<(), IdentityError> {
        if any_of.is_empty() || any_of.iter().any(|accepted| self.has_scope(accepted)) {
            Ok(())
        } else {
            Err(IdentityError::NoAcceptedScope(
                any_of.iter().map(|scope| (*scope).to_owned()).collect(),
            ))
        }
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes().any(|granted| granted == scope)
    }
}

impl FromRequest for GatewayIdentity {
    type Error = IdentityError;
    type Future = LocalBoxFuture<'static, Result<GatewayIdentity, IdentityError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let verifier = request.app_data::<web::Data<IdentityVerifier>>().cloned();
        let token = identity_token(request);
        Box::pin(async move {
            let verifier = verifier.ok_or(IdentityError::NotConfigured)?;
            let claims = verifier.verify(&token?).await?;
            tracing::Span::current().record("client.id", claims.client_id.as_str());
            Ok(GatewayIdentity(claims))
        })
    }
}

/// The one `X-Auth-Identity` value. Two of them mean something other than the gateway wrote the
/// request's headers, since the gateway strips incoming `X-Auth-*` ones.
fn identity_token(request: &HttpRequest) -> Result<String, IdentityError> {
    match bearer::sole_value(request.headers(), IDENTITY_HEADER) {
        Ok(Some(token)) => Ok(token.to_owned()),
        Ok(None) => Err(IdentityError::Missing),
        Err(NotSole) => Err(IdentityError::Invalid(TokenRejection::Malformed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_with(scope: &str) -> GatewayIdentity {
        GatewayIdentity(IdentityClaims {
            iss: "gateway".into(),
            aud: "orders".into(),
            sub: "alice".into(),
            client_id: "web".into(),
            scope: scope.into(),
            username: Some("alice".into()),
            iat: 0,
            exp: 0,
        })
    }

    #[test]
    fn require_scopes_names_only_the_missing_ones() {
        let identity = identity_with("orders:read profile");

        let refused = identity.require_scopes(&["orders:read", "orders:write", "admin"]);

        let Err(IdentityError::MissingScopes(missing)) = refused else {
            panic!("expected missing scopes, got {refused:?}");
        };
        assert_eq!(missing, ["orders:write", "admin"]);
        assert!(identity.require_scopes(&["profile", "orders:read"]).is_ok());
    }

    #[test]
    fn a_scope_is_matched_whole_not_as_a_prefix() {
        let identity = identity_with("orders:readonly");

        assert!(identity.require_scopes(&["orders:read"]).is_err());
        assert!(identity.require_any_scope(&["orders", "orders:read"]).is_err());
    }

    #[test]
    fn require_any_scope_accepts_one_of_them_and_an_empty_list() {
        let identity = identity_with("orders:write");

        assert!(
            identity
                .require_any_scope(&["orders:read", "orders:write"])
                .is_ok()
        );
        assert!(identity.require_any_scope(&[]).is_ok());
        assert!(matches!(
            identity.require_any_scope(&["admin"]),
            Err(IdentityError::NoAcceptedScope(accepted)) if accepted == ["admin"]
        ));
    }
}
