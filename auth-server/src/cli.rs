//! The `auth-server` command line: `serve` (the default), `migrate`, and the admin subcommands, the
//! way a Django project has management commands. `--json` output is a contract scripts rely on.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use shared::db::DbConn;

use crate::admin::{self, AdminError};
use crate::configuration::Settings;
use crate::startup::Application;
use shared::configuration::Layered;

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
    /// Apply pending database migrations, then exit.
    Migrate,
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

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: active, retired (still published) and expired.
    List(JsonFlag),
    /// Replace the active key of every algorithm now; the old ones stay published until the
    /// tokens they signed have expired. Needs AUTH_KEYS__ENCRYPTION_KEY.
    Rotate(JsonFlag),
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
    pub grant_types: Vec<String>,
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
    pub id_token_alg: Option<String>,
    /// Allow the OpenID Connect hybrid flow (response_type=code id_token).
    #[arg(long)]
    pub allow_hybrid: bool,
    /// Allow the legacy resource owner password grant (confidential clients only; avoid it).
    #[arg(long)]
    pub allow_password_grant: bool,
    /// Where RP-initiated logout may return, matched exactly; repeat for several.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
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
        /// Read the password from the first line of standard input.
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

/// Runs a parsed command line and returns the process exit code: 0 on success, 2 for a bad
/// argument, 1 for any other failure.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load(cli.config.clone()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let outcome = match command {
        Command::Serve => serve(settings).await,
        command => {
            shared::telemetry::init_for_cli(&settings.log);
            tokio::task::spawn_blocking(move || run_admin(&settings, command))
                .await
                .map_err(|error| CliError::Other(anyhow::anyhow!("the command failed: {error}")))
                .and_then(|outcome| outcome)
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Other(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

enum CliError {
    Usage(String),
    Other(anyhow::Error),
}

impl From<AdminError> for CliError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::InvalidArgument { .. } => CliError::Usage(error.to_string()),
            other => CliError::Other(other.into()),
        }
    }
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    shared::telemetry::init("auth-server", &settings.log);
    let issuer = settings.issuer.clone();
    if is_plain_http_off_loopback(&issuer) {
        tracing::warn!(issuer = %issuer, "the issuer is plain http on a non-loopback host: use https outside local development (RFC 8414)");
    }
    let application = Application::build(settings).await.map_err(CliError::Other)?;
    let port = application.port();
    tracing::info!(port, issuer = %issuer, "auth-server listening on port {port}");
    application
        .run_until_stopped()
        .await
        .map_err(|error| CliError::Other(error.into()))
}

fn run_admin(settings: &Settings, command: Command) -> Result<(), CliError> {
    let session = shared::db::SessionSettings {
        statement_timeout_ms: settings.database.statement_timeout_ms,
    };
    let mut conn = shared::db::connect(settings.database.url.expose_secret(), &session).map_err(|error| {
        CliError::Other(anyhow::anyhow!(
            "cannot connect to the database (DATABASE_URL): {error}"
        ))
    })?;
    match command {
        Command::Serve => unreachable_serve(),
        Command::Migrate => {
            let applied =
                shared::db::run_migrations(&mut conn, crate::db::MIGRATIONS).map_err(CliError::Other)?;
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::Clients(command) => clients(&mut conn, command),
        Command::Users(command) => users(&mut conn, command),
        Command::Scopes(command) => scopes(&mut conn, command),
        Command::Keys(command) => keys(&mut conn, settings, command),
    }
}

fn unreachable_serve() -> Result<(), CliError> {
    Err(CliError::Other(anyhow::anyhow!("serve is not an admin command")))
}

fn clients(conn: &mut DbConn, command: ClientsCommand) -> Result<(), CliError> {
    match command {
        ClientsCommand::Create(args) => {
            let spec = admin::clients::ClientSpec {
                client_id: args.client_id,
                name: args.name,
                public: args.public,
                grant_types: args.grant_types,
                redirect_uris: args.redirect_uris,
                scope: args.scope,
                introspect: args.introspect,
                skip_consent: args.skip_consent,
                id_token_signed_response_alg: args.id_token_alg,
                allow_hybrid: args.allow_hybrid,
                allow_password_grant: args.allow_password_grant,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
            };
            let created = admin::clients::create(conn, &spec)?;
            print_credentials(&created, args.output.json)
        }
        ClientsCommand::List(output) => {
            let clients = admin::clients::list(conn)?;
            print(&clients, output.json, |clients| {
                clients
                    .iter()
                    .map(|c| format!("{}\t{}\t{}", c.client_id, c.name, c.grant_types.join(",")))
                    .collect()
            })
        }
        ClientsCommand::Show { client_id, output } => {
            let client = admin::clients::show(conn, &client_id)?;
            print(&client, output.json, |c| {
                vec![
                    format!("client_id:     {}", c.client_id),
                    format!("name:          {}", c.name),
                    format!("public:        {}", c.public),
                    format!("grant_types:   {}", c.grant_types.join(" ")),
                    format!("redirect_uris: {}", c.redirect_uris.join(" ")),
                    format!("scope:         {}", c.scope),
                    format!("introspect:    {}", c.introspect),
                    format!("skip_consent:  {}", c.skip_consent),
                    format!("id_token_alg:  {}", c.id_token_signed_response_alg),
                    format!("allow_hybrid:  {}", c.allow_hybrid),
                    format!("password_grant: {}", c.allow_password_grant),
                    format!(
                        "post_logout_redirect_uris: {}",
                        c.post_logout_redirect_uris.join(" ")
                    ),
                ]
            })
        }
        ClientsCommand::RotateSecret { client_id, output } => {
            let rotated = admin::clients::rotate_secret(conn, &client_id)?;
            print_credentials(&rotated, output.json)
        }
        ClientsCommand::Delete { client_id } => {
            admin::clients::delete(conn, &client_id)?;
            println!("client {client_id} deleted");
            Ok(())
        }
    }
}

fn print_credentials(created: &admin::clients::CreatedClient, json: bool) -> Result<(), CliError> {
    print(created, json, |created| {
        let mut lines = vec![format!("client_id:     {}", created.client_id)];
        if let Some(secret) = &created.client_secret {
            lines.push(format!("client_secret: {secret}"));
            lines.push("The secret is shown only now: store it safely.".to_owned());
        }
        lines
    })
}

fn users(conn: &mut DbConn, command: UsersCommand) -> Result<(), CliError> {
    match command {
        UsersCommand::Create {
            username,
            email,
            scope,
            password_stdin: _,
            output,
        } => {
            let password = read_password()?;
            let spec = admin::users::UserSpec {
                username,
                email,
                scope,
                password,
            };
            let user = admin::users::create(conn, &spec)?;
            print(&user, output.json, |user| {
                vec![format!("user {} created with id {}", user.username, user.id)]
            })
        }
        UsersCommand::List(output) => {
            let users = admin::users::list(conn)?;
            print(&users, output.json, |users| {
                users
                    .iter()
                    .map(|u| {
                        format!(
                            "{}\t{}\t{}{}",
                            u.id,
                            u.username,
                            u.scope,
                            if u.disabled { "\t(disabled)" } else { "" }
                        )
                    })
                    .collect()
            })
        }
        UsersCommand::SetPassword {
            username,
            password_stdin: _,
        } => {
            let password = read_password()?;
            admin::users::set_password(conn, &username, &password)?;
            println!("password of {username} set; their sessions and tokens were revoked");
            Ok(())
        }
        UsersCommand::SetClaim {
            username,
            claim,
            value,
            json_value,
        } => {
            admin::user_claims::set_claim(conn, &username, &claim, &value, json_value)?;
            println!("claim {claim} of {username} set");
            Ok(())
        }
        UsersCommand::Disable { username } => {
            admin::users::disable(conn, &username)?;
            println!("user {username} disabled; their sessions and tokens were revoked");
            Ok(())
        }
    }
}

fn scopes(conn: &mut DbConn, command: ScopesCommand) -> Result<(), CliError> {
    match command {
        ScopesCommand::Create {
            name,
            description,
            output,
        } => {
            let scope = admin::scopes::create(conn, &name, &description)?;
            print(&scope, output.json, |scope| {
                vec![format!("scope {} created", scope.name)]
            })
        }
        ScopesCommand::List(output) => {
            let scopes = admin::scopes::list(conn)?;
            print(&scopes, output.json, |scopes| {
                scopes
                    .iter()
                    .map(|s| format!("{}\t{}", s.name, s.description))
                    .collect()
            })
        }
        ScopesCommand::Delete { name } => {
            admin::scopes::delete(conn, &name)?;
            println!("scope {name} deleted");
            Ok(())
        }
    }
}

fn keys(conn: &mut DbConn, settings: &Settings, command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::List(output) => {
            let keys = admin::keys::list(conn)?;
            print(&keys, output.json, |keys| {
                keys.iter()
                    .map(|key| format!("{}\t{}\t{}\t{}", key.kid, key.alg, key.status, key.created_at))
                    .collect()
            })
        }
        KeysCommand::Rotate(output) => {
            let rotated = admin::keys::rotate(conn, settings)?;
            print(&serde_json::json!({ "rotated": rotated }), output.json, |_| {
                rotated
                    .iter()
                    .map(|kid| format!("new signing key {kid}"))
                    .collect()
            })
        }
    }
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<SecretString, CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|error| {
        CliError::Other(anyhow::anyhow!(
            "cannot read the password from standard input: {error}"
        ))
    })?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CliError::Usage(
            "--password-stdin: standard input held no password".to_owned(),
        ));
    }
    Ok(SecretString::from(password))
}

fn print<T: Serialize>(value: &T, json: bool, text: impl FnOnce(&T) -> Vec<String>) -> Result<(), CliError> {
    if json {
        let encoded = serde_json::to_string_pretty(value).map_err(|error| CliError::Other(error.into()))?;
        println!("{encoded}");
    } else {
        for line in text(value) {
            println!("{line}");
        }
    }
    Ok(())
}

/// Plain http is for local development only (RFC 8414 wants https).
fn is_plain_http_off_loopback(issuer: &str) -> bool {
    url::Url::parse(issuer).is_ok_and(|url| {
        url.scheme() == "http"
            && !matches!(url.host(), Some(url::Host::Domain("localhost")))
            && !matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            && !matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    })
}
