//! The scope catalogue.

use serde::Serialize;
use shared::db::DbConn;

use super::{AdminError, actor};
use crate::db;
use crate::db::models::Scope;
use crate::domain::scope::is_valid_name;
use crate::domain::time;

/// A catalogue entry as the CLI prints it.
#[derive(Debug, Serialize)]
pub struct ScopeView {
    pub name: String,
    pub description: String,
}

pub fn create(conn: &mut DbConn, name: &str, description: &str) -> Result<ScopeView, AdminError> {
    if !is_valid_name(name) {
        return Err(AdminError::invalid(
            "NAME",
            format!("{name:?} is not a valid scope name (printable ASCII, no spaces, quotes or backslashes)"),
        ));
    }
    if description.trim().is_empty() {
        return Err(AdminError::invalid(
            "--description",
            "the description is shown on the consent page and must not be empty",
        ));
    }
    let scope = Scope {
        name: name.to_owned(),
        description: description.trim().to_owned(),
        created_at: time::now(),
    };
    db::scopes::insert(conn, &scope).map_err(|error| {
        if db::is_unique_violation(&error) {
            AdminError::Conflict(format!("the scope {name} already exists"))
        } else {
            error.into()
        }
    })?;
    tracing::info!(admin.actor = %actor(), scope = %name, "scope created");
    Ok(ScopeView {
        name: scope.name,
        description: scope.description,
    })
}

pub fn list(conn: &mut DbConn) -> Result<Vec<ScopeView>, AdminError> {
    Ok(db::scopes::list(conn)?
        .into_iter()
        .map(|scope| ScopeView {
            name: scope.name,
            description: scope.description,
        })
        .collect())
}

/// Deletes a scope; clients and users lose it from their allowed lists. Tokens already issued keep it
/// until they expire.
pub fn delete(conn: &mut DbConn, name: &str) -> Result<(), AdminError> {
    if db::scopes::delete(conn, name)? == 0 {
        return Err(AdminError::NotFound(format!("no scope named {name}")));
    }
    tracing::info!(admin.actor = %actor(), scope = %name, "scope deleted");
    Ok(())
}

/// Parses a `--scope` value and checks every name is in the catalogue.
pub fn parse_known(
    conn: &mut DbConn,
    scope: Option<&str>,
) -> Result<crate::domain::scope::ScopeSet, AdminError> {
    let scopes = crate::domain::scope::ScopeSet::parse(scope.unwrap_or_default())
        .map_err(|error| AdminError::invalid("--scope", error.to_string()))?;
    let unknown = db::scopes::unknown_among(conn, &scopes)?;
    if !unknown.is_empty() {
        return Err(AdminError::invalid(
            "--scope",
            format!(
                "unknown scope {}; create it first with `auth-server scopes create`",
                unknown.join(", ")
            ),
        ));
    }
    Ok(scopes)
}
