//! Which claims userinfo releases: the standard ones of OIDC Core §5.4 by scope, plus per-user
//! attributes mapped to scopes by `oidc.custom_claims`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::db::models::{User, UserClaim};
use crate::domain::scope::ScopeSet;
use crate::domain::time;

/// The standard claims each scope releases (OIDC Core §5.4).
pub const STANDARD_CLAIMS: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// Every claim name a scope can release, standard or custom (for the discovery document).
pub fn supported(custom: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut names: Vec<String> = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "azp",
        "sid",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    names.extend(
        STANDARD_CLAIMS
            .iter()
            .flat_map(|(_, claims)| claims.iter().map(|c| (*c).to_owned())),
    );
    names.extend(custom.values().flatten().cloned());
    names.sort();
    names.dedup();
    names
}

/// The userinfo response of `user` for a token of `scope`.
pub fn release(
    user: &User,
    stored: &[UserClaim],
    scope: &ScopeSet,
    custom: &BTreeMap<String, Vec<String>>,
) -> Map<String, Value> {
    let mut known: BTreeMap<&str, Value> = stored
        .iter()
        .filter_map(|claim| Some((claim.claim.as_str(), serde_json::from_str(&claim.value).ok()?)))
        .collect();
    // The account's own columns win over stored attributes of the same name.
    known.insert("preferred_username", Value::from(user.username.clone()));
    known.insert("email", Value::from(user.email.clone()));
    // Set when the user followed a verification link (or a reset link sent to the address).
    known.insert("email_verified", Value::Bool(user.email_verified_at.is_some()));
    known.insert("updated_at", Value::from(time::unix(user.updated_at)));

    let mut released = Map::new();
    released.insert("sub".to_owned(), Value::from(user.id.as_str()));
    let standard = STANDARD_CLAIMS
        .iter()
        .map(|(scope, claims)| (*scope, claims.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()));
    let custom = custom
        .iter()
        .map(|(scope, claims)| (scope.as_str(), claims.clone()));
    for (scope_name, claims) in standard.chain(custom) {
        if !scope.contains(scope_name) {
            continue;
        }
        for claim in claims {
            if claim == "sub" {
                continue;
            }
            if let Some(value) = known.get(claim.as_str()) {
                released.insert(claim, value.clone());
            }
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            id: "u1".into(),
            username: "alice".into(),
            email: "alice@example.test".into(),
            password_hash: String::new(),
            disabled: false,
            created_at: time::now(),
            updated_at: time::now(),
            email_verified_at: None,
        }
    }

    fn claim(name: &str, value: &str) -> UserClaim {
        UserClaim {
            user_id: "u1".into(),
            claim: name.into(),
            value: value.into(),
            updated_at: time::now(),
        }
    }

    #[test]
    fn only_the_claims_of_granted_scopes_are_released() {
        let stored = [
            claim("phone_number", "\"+1 555\""),
            claim("given_name", "\"Alice\""),
        ];
        let released = release(
            &alice(),
            &stored,
            &ScopeSet::parse("openid email").unwrap(),
            &BTreeMap::new(),
        );
        assert_eq!(released["sub"], "u1");
        assert_eq!(released["email"], "alice@example.test");
        assert_eq!(released["email_verified"], false);
        assert!(released.get("phone_number").is_none());
        assert!(released.get("given_name").is_none());
    }

    #[test]
    fn custom_attributes_follow_the_configured_scope() {
        let custom = BTreeMap::from([("employee".to_owned(), vec!["department".to_owned()])]);
        let stored = [claim("department", "\"R&D\"")];
        let with = release(
            &alice(),
            &stored,
            &ScopeSet::parse("openid employee").unwrap(),
            &custom,
        );
        assert_eq!(with["department"], "R&D");
        let without = release(&alice(), &stored, &ScopeSet::parse("openid").unwrap(), &custom);
        assert!(without.get("department").is_none());
    }
}
