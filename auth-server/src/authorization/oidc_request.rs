//! The OpenID Connect parameters of an authorization request (OIDC Core §3.1.2.1, §3.3.2):
//! `response_type=code id_token`, `response_mode`, `prompt`, `max_age`, `login_hint`,
//! `id_token_hint`.

/// The OIDC parameters of a validated request, as stored with it.
#[derive(Debug, Clone, Default)]
pub struct OidcParams {
    /// `code`, or `code id_token` (hybrid).
    pub response_type: Option<String>,
    /// `query`, `fragment` or `form_post`; `None`: the response type's default.
    pub response_mode: Option<String>,
    /// Space-separated subset of `none login consent`.
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}
