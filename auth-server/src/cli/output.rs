//! What the admin subcommands print: JSON with `--json` (the contract), readable lines otherwise.

use serde::Serialize;

use super::CliError;
use crate::admin;

/// Prints `value` as pretty JSON with `--json`, else as the lines `text` makes of it.
pub(super) fn print<T: Serialize>(
    value: &T,
    json: bool,
    text: impl FnOnce(&T) -> Vec<String>,
) -> Result<(), CliError> {
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

/// A new or rotated client's credentials; the secret is shown this once.
pub(super) fn print_credentials(created: &admin::clients::CreatedClient, json: bool) -> Result<(), CliError> {
    print(created, json, |created| {
        let mut lines = vec![format!("client_id:     {}", created.client_id)];
        if let Some(secret) = &created.client_secret {
            lines.push(format!("client_secret: {secret}"));
            lines.push("The secret is shown only now: store it safely.".to_owned());
        }
        lines
    })
}
