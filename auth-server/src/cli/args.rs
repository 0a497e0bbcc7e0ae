//! The `auth-server` command line's grammar (clap). The subcommands, flags and `--json` output are a
//! contract scripts and operators rely on (README, Admin CLI).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::domain::grant_type::GrantType;
use crate::domain::signing_alg::SigningAlgorithm;

#[derive(Debug, Parser)]
#[command(
    name = "auth-server",
    version,
    about = "OAuth 2.1 authorization server and its admin commands"
)]
pub struct Cli {
    /// A YAML file overriding the built-in defaults (otherwise AUTH_CONFIG_FILE, if set).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the authorization server (the default).
    Serve,
    #[command(flatten)]
    Admin(AdminCommand),
}

/// The commands that work on the database and exit.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Apply pending database migrations, then exit.
    Migrate(MigrateArgs),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage the scope catalogue.
    #[command(subcommand)]
    Scopes(ScopesCommand),
    /// Manage the id_token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Apply nothing: wait until another process (the migration Job) has applied every migration
    /// this binary knows, at most SECONDS; exit 1 if it has not by then. Needs only read access.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: active, retired (still published) and expired.
    List(JsonFlag),
    /// Replace the active key of every algorithm now; the old ones stay published until the
    /// tokens they signed have expired. Needs AUTH_KEYS__ENCRYPTION_KEY.
    Rotate(JsonFlag),
    /// Seal every signing key under AUTH_KEYS__ENCRYPTION_KEY, opening those still sealed under
    /// AUTH_KEYS__PREVIOUS_ENCRYPTION_KEY (changing the key-encryption key; deploy/README.md).
    /// All or nothing.
    Reseal(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; a confidential client's secret is printed once.
    Create(CreateClientArgs),
    /// List clients.
    List(JsonFlag),
    /// Show one client.
    Show {
        client_id: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Replace a confidential client's secret; the new one is printed once.
    RotateSecret {
        client_id: String,
        /// Use the first line of standard input as the new secret instead of generating one
        /// (43 to 512 visible ASCII characters; it is not printed).
        #[arg(long)]
        secret_stdin: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Delete a client and everything issued to it.
    Delete { client_id: String },
}

#[derive(Debug, Args)]
pub struct CreateClientArgs {
    /// The client id (letters, digits, '.', '_', '-'; 3 to 64 characters); random when absent.
    #[arg(long = "client-id", value_name = "ID")]
    pub client_id: Option<String>,
    /// Shown to users on the login and consent pages.
    #[arg(long)]
    pub name: String,
    /// A public client (a SPA or native app) has no secret and must use PKCE.
    #[arg(long)]
    pub public: bool,
    /// authorization_code, client_credentials or refresh_token; repeat for several.
    #[arg(long = "grant-type", value_name = "TYPE", required = true)]
    pub grant_types: Vec<GrantType>,
    /// A redirect URI, matched exactly; repeat for several.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// The scopes the client may ask for, space-separated: "read write".
    #[arg(long)]
    pub scope: Option<String>,
    /// Allow this client (a resource server, the gateway) to call the introspection endpoint.
    #[arg(long)]
    pub introspect: bool,
    /// A first-party client: users are not asked for consent.
    #[arg(long)]
    pub skip_consent: bool,
    /// How id_tokens for this client are signed: RS256 (default), ES256 or EdDSA.
    #[arg(long = "id-token-alg", value_name = "ALG")]
    pub id_token_alg: Option<SigningAlgorithm>,
    /// Allow the OpenID Connect hybrid flow (response_type=code id_token).
    #[arg(long)]
    pub allow_hybrid: bool,
    /// Allow the legacy resource owner password grant (confidential clients only; avoid it).
    #[arg(long)]
    pub allow_password_grant: bool,
    /// Where RP-initiated logout may return, matched exactly; repeat for several.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A confidential client's secret from the first line of standard input, for deployments that
    /// keep secrets in a store (43 to 512 visible ASCII characters; it is not printed). Generated
    /// when absent.
    #[arg(long)]
    pub secret_stdin: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// The scopes the user may grant, space-separated.
        #[arg(long)]
        scope: Option<String>,
        /// Read the password from the first line of standard input. Required, and the only way:
        /// the flag is part of the CLI contract, so scripts say where the password comes from.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List users.
    List(JsonFlag),
    /// Set a user's password (read from standard input) and end their sessions and grants.
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user and end their sessions and grants.
    Disable { username: String },
    /// Set a claim userinfo may release (given_name, phone_number, address, a custom attribute...).
    SetClaim {
        username: String,
        claim: String,
        value: String,
        /// The value is JSON (an object for address, a boolean for phone_number_verified, ...).
        #[arg(long)]
        json_value: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScopesCommand {
    /// Add a scope to the catalogue.
    Create {
        name: String,
        /// Shown to users on the consent page.
        #[arg(long)]
        description: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List the catalogue.
    List(JsonFlag),
    /// Remove a scope (clients and users lose it).
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
