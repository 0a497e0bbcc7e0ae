//! A registered client as the protocol sees it, and the rules about it.

use super::grant_type::GrantType;
use super::ids::ClientId;
use super::opaque_token;
use super::redirect_uri::{self, RedirectUri};
use super::scope::ScopeSet;
use super::signing_alg::SigningAlgorithm;

/// A registered OAuth client.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<RedirectUri>,
    /// The scopes this client may ask for.
    pub scopes: ScopeSet,
    /// Whether this client (a resource server or the gateway) may call the introspection endpoint.
    pub can_introspect: bool,
    /// First-party clients skip the consent page.
    pub skip_consent: bool,
    /// How this client's id_tokens are signed (`id_token_signed_response_alg`).
    pub id_token_alg: SigningAlgorithm,
    /// Whether this client may use the hybrid flow (`response_type=code id_token`).
    pub allow_hybrid: bool,
    /// Whether this client may use the legacy password grant.
    pub allow_password_grant: bool,
    /// Where RP-initiated logout may send the browser, compared by exact string equality.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
}

/// How a request designated its redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRedirect {
    pub uri: RedirectUri,
    /// Whether the request named it (then the token request must repeat it).
    pub explicit: bool,
}

impl Client {
    pub fn allows_grant(&self, grant_type: GrantType) -> bool {
        match grant_type {
            GrantType::Password => self.allow_password_grant && !self.is_public,
            _ => self.grant_types.contains(&grant_type),
        }
    }

    /// Verifies a presented secret in constant time. Public clients have none to verify.
    pub fn secret_matches(&self, presented: &str) -> bool {
        self.secret_hash
            .as_deref()
            .is_some_and(|stored| opaque_token::matches_hash(presented, stored))
    }

    /// The redirect URI an authorization request designates: the requested one if registered
    /// (exactly), or the only registered one when the request names none.
    pub fn resolve_redirect_uri(&self, requested: Option<&str>) -> Option<ResolvedRedirect> {
        match requested {
            Some(requested) => redirect_uri::resolve(&self.redirect_uris, requested)
                .map(|uri| ResolvedRedirect { uri, explicit: true }),
            None => match self.redirect_uris.as_slice() {
                [only] => Some(ResolvedRedirect {
                    uri: only.clone(),
                    explicit: false,
                }),
                _ => None,
            },
        }
    }

    /// What the client may get of a requested scope. A request without scope gets every scope the
    /// client is allowed (the consent page shows them to the user).
    pub fn allowed_part_of(&self, requested: Option<&ScopeSet>) -> ScopeSet {
        match requested {
            Some(requested) => requested.intersection(&self.scopes),
            None => self.scopes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(redirect_uris: &[&str]) -> Client {
        Client {
            id: "c1".into(),
            name: "Client".into(),
            secret_hash: Some(opaque_token::hash("ocs_secret").into_string()),
            is_public: false,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: redirect_uris
                .iter()
                .map(|uri| RedirectUri::from_stored(uri.to_string()))
                .collect(),
            scopes: ScopeSet::parse("read write").unwrap(),
            can_introspect: false,
            skip_consent: false,
            id_token_alg: SigningAlgorithm::Rs256,
            allow_hybrid: false,
            allow_password_grant: false,
            post_logout_redirect_uris: Vec::new(),
        }
    }

    #[test]
    fn the_only_registered_uri_is_used_when_none_is_requested() {
        let resolved = client(&["https://a.test/cb"]).resolve_redirect_uri(None).unwrap();
        assert_eq!(
            resolved,
            ResolvedRedirect {
                uri: RedirectUri::from_stored("https://a.test/cb".into()),
                explicit: false
            }
        );
    }

    #[test]
    fn with_several_registered_uris_the_request_must_name_one() {
        let client = client(&["https://a.test/cb", "https://a.test/other"]);
        assert_eq!(client.resolve_redirect_uri(None), None);
        assert!(
            client
                .resolve_redirect_uri(Some("https://a.test/other"))
                .unwrap()
                .explicit
        );
    }

    #[test]
    fn secrets_are_checked_against_the_hash() {
        let client = client(&[]);
        assert!(client.secret_matches("ocs_secret"));
        assert!(!client.secret_matches("ocs_Secret"));
        let public = Client {
            secret_hash: None,
            is_public: true,
            ..client
        };
        assert!(!public.secret_matches(""));
    }

    #[test]
    fn the_allowed_part_is_the_intersection_or_everything_when_nothing_was_asked() {
        let client = client(&[]);
        let asked = ScopeSet::parse("read admin").unwrap();
        assert_eq!(client.allowed_part_of(Some(&asked)).to_string(), "read");
        assert_eq!(client.allowed_part_of(None).to_string(), "read write");
    }
}
