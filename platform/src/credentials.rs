//! The demo's credentials: the demo user's password and the secrets of the demo clients, generated
//! on first start. The database keeps only their hashes, so the platform keeps them in its data
//! directory (readable by its owner only) to print them at every start.

use serde::{Deserialize, Serialize};

/// The demo user.
pub const DEMO_USERNAME: &str = "demo";
/// The public client whose redirect URI is the demo app (authorization code with PKCE).
pub const APP_CLIENT_ID: &str = "demo-app";
/// The confidential client for client_credentials (and introspection, for the printed curl lines).
pub const SERVICE_CLIENT_ID: &str = "demo-service";
/// The gateway's own client, with which it introspects tokens.
pub const GATEWAY_CLIENT_ID: &str = "resource-gateway";

/// What the "try it" screen and the wiring need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoCredentials {
    pub username: String,
    pub password: String,
    pub app_client_id: String,
    pub service_client_id: String,
    pub service_client_secret: String,
    pub gateway_client_id: String,
    pub gateway_client_secret: String,
}
