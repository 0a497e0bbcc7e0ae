//! The admin subcommands: each opens one connection, calls `crate::admin`, and prints the outcome.

use std::io::BufRead;

use secrecy::{ExposeSecret, SecretString};
use shared::db::DbConn;

use super::CliError;
use super::args::*;
use super::output::{print, print_credentials};
use crate::admin;
use crate::configuration::Settings;

/// Runs an admin command on a connection of its own.
pub(super) fn run(settings: &Settings, command: AdminCommand) -> Result<(), CliError> {
    let session = shared::db::SessionSettings {
        statement_timeout_ms: settings.database.statement_timeout_ms,
    };
    let mut conn = shared::db::connect(settings.database.url.expose_secret(), &session).map_err(|error| {
        CliError::Other(anyhow::anyhow!(
            "cannot connect to the database (DATABASE_URL): {error}"
        ))
    })?;
    match command {
        AdminCommand::Migrate(_) => {
            let applied =
                shared::db::run_migrations(&mut conn, crate::db::MIGRATIONS).map_err(CliError::Other)?;
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        AdminCommand::Clients(command) => clients(&mut conn, command),
        AdminCommand::Users(command) => users(&mut conn, command),
        AdminCommand::Scopes(command) => scopes(&mut conn, command),
        AdminCommand::Keys(command) => keys(&mut conn, settings, command),
    }
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
                secret: args
                    .secret_stdin
                    .then(|| read_stdin_line("--secret-stdin"))
                    .transpose()?,
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
        ClientsCommand::RotateSecret {
            client_id,
            secret_stdin,
            output,
        } => {
            let supplied = secret_stdin
                .then(|| read_stdin_line("--secret-stdin"))
                .transpose()?;
            let rotated = admin::clients::rotate_secret(conn, &client_id, supplied.as_ref())?;
            print_credentials(&rotated, output.json)
        }
        ClientsCommand::Delete { client_id } => {
            admin::clients::delete(conn, &client_id)?;
            println!("client {client_id} deleted");
            Ok(())
        }
    }
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
            let password = read_stdin_line("--password-stdin")?;
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
            let password = read_stdin_line("--password-stdin")?;
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
        KeysCommand::Reseal(output) => {
            let outcome = admin::keys::reseal(conn, settings)?;
            print(&outcome, output.json, |outcome| {
                vec![format!(
                    "resealed {} signing keys under the current key-encryption key; {} already were",
                    outcome.resealed, outcome.unchanged
                )]
            })
        }
    }
}

/// The first line of standard input, without its line ending (for the `--*-stdin` flag `flag`).
fn read_stdin_line(flag: &str) -> Result<SecretString, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| CliError::Other(anyhow::anyhow!("{flag}: cannot read standard input: {error}")))?;
    let value = line.trim_end_matches(['\r', '\n']).to_owned();
    if value.is_empty() {
        return Err(CliError::Usage(format!("{flag}: standard input held nothing")));
    }
    Ok(SecretString::from(value))
}
