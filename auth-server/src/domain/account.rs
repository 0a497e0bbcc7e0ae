//! The rules on account fields, shared by the admin CLI and the registration form.

/// 1 to 150 characters, without spaces or control characters.
pub fn username(username: &str) -> Result<String, &'static str> {
    let valid = !username.is_empty()
        && username.chars().count() <= 150
        && username.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if valid {
        Ok(username.to_owned())
    } else {
        Err("1 to 150 characters, without spaces or control characters")
    }
}

/// A light check (the address is proven by the verification email); stored in lower case.
pub fn email(email: &str) -> Result<String, &'static str> {
    let email = email.trim();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        });
    if valid {
        Ok(email.to_lowercase())
    } else {
        Err("not a valid email address")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn emails_are_trimmed_and_lowercased_and_nonsense_refused() {
        assert_eq!(super::email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@localhost",
            "@example.com",
            "a da@example.com",
            "ada@.com",
        ] {
            assert!(super::email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_have_no_spaces() {
        assert!(super::username("ada").is_ok());
        assert!(super::username("a da").is_err());
        assert!(super::username("").is_err());
    }
}
