//! Queries on the scope catalogue.

use diesel::prelude::*;
use shared::db::DbConn;

use super::models::Scope;
use super::schema::scopes;
use crate::domain::scope::ScopeSet;

pub fn insert(conn: &mut DbConn, scope: &Scope) -> QueryResult<()> {
    diesel::insert_into(scopes::table)
        .values(scope)
        .execute(conn)
        .map(|_| ())
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Scope>> {
    scopes::table
        .order(scopes::name.asc())
        .select(Scope::as_select())
        .load(conn)
}

pub fn delete(conn: &mut DbConn, name: &str) -> QueryResult<usize> {
    diesel::delete(scopes::table.find(name)).execute(conn)
}

/// The catalogue entries for these names, in name order.
pub fn find_all(conn: &mut DbConn, names: &ScopeSet) -> QueryResult<Vec<Scope>> {
    let names: Vec<&str> = names.iter().collect();
    scopes::table
        .filter(scopes::name.eq_any(names))
        .order(scopes::name.asc())
        .select(Scope::as_select())
        .load(conn)
}

/// The names of `names` that are not in the catalogue.
pub fn unknown_among(conn: &mut DbConn, names: &ScopeSet) -> QueryResult<Vec<String>> {
    let known: Vec<String> = find_all(conn, names)?
        .into_iter()
        .map(|scope| scope.name)
        .collect();
    Ok(names
        .iter()
        .filter(|name| !known.iter().any(|known| known == name))
        .map(str::to_owned)
        .collect())
}
