//! `auth-server users set-claim`: the profile claims and custom attributes userinfo releases.

use shared::db::DbConn;

use super::{AdminError, actor};
use crate::db;
use crate::domain::time;

/// Claims that come from the account itself, not from stored attributes.
const RESERVED: [&str; 5] = [
    "sub",
    "email",
    "email_verified",
    "preferred_username",
    "updated_at",
];

/// Sets one claim of a user. `value` is stored as a JSON string, or parsed as JSON with
/// `value_is_json` (for structured claims such as `address`).
pub fn set_claim(
    conn: &mut DbConn,
    username: &str,
    claim: &str,
    value: &str,
    value_is_json: bool,
) -> Result<(), AdminError> {
    let valid_name = !claim.is_empty()
        && claim.len() <= 64
        && claim
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    if !valid_name {
        return Err(AdminError::invalid(
            "CLAIM",
            "1 to 64 characters of a-z, 0-9 and _",
        ));
    }
    if RESERVED.contains(&claim) {
        return Err(AdminError::invalid(
            "CLAIM",
            "this claim comes from the account itself and cannot be set",
        ));
    }
    let json = if value_is_json {
        serde_json::from_str::<serde_json::Value>(value)
            .map_err(|_| AdminError::invalid("VALUE", "--json-value: the value is not valid JSON"))?
    } else {
        serde_json::Value::from(value)
    };
    let user = db::users::find_by_username(conn, username)?
        .ok_or_else(|| AdminError::NotFound(format!("no user named {username}")))?;
    db::user_claims::set(conn, &user.id, claim, &json.to_string(), time::now())?;
    // The value may be personal data: the log names only the claim.
    tracing::info!(admin.actor = %actor(), user.id = %user.id, claim, "user claim set");
    Ok(())
}
