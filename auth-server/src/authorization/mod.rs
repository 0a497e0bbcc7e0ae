//! The front channel of the authorization code flow: validating `/oauth2/authorize`, the login
//! session, and moving a pending request through login and consent to a code.

pub mod answer;
pub mod flow;
pub mod oidc_request;
pub mod request;
pub mod session;
