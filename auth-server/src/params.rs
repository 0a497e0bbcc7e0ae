//! OAuth request parameters (query strings and form bodies) with the protocol's rules: a parameter
//! sent more than once is an error, a parameter sent without a value counts as absent (RFC 6749 §3.1),
//! and unknown parameters are ignored.

/// The decoded parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// A parameter that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("the parameter {0} is repeated")]
    Repeated(String),
    /// NUL cannot be stored as text (PostgreSQL refuses it) and is never legitimate in a parameter.
    #[error("the parameter {0} contains a NUL character")]
    Nul(String),
}

impl Params {
    /// Decodes `application/x-www-form-urlencoded` bytes (a body, or a query string).
    pub fn parse(encoded: &[u8]) -> Self {
        Params {
            pairs: form_urlencoded::parse(encoded).into_owned().collect(),
        }
    }

    /// The value of `name`, if sent once with a non-empty value.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ParamError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ParamError::Repeated(name.to_owned()));
        }
        if first.is_some_and(|value| value.contains('\0')) {
            return Err(ParamError::Nul(name.to_owned()));
        }
        Ok(first.filter(|value| !value.is_empty()))
    }

    /// Whether `name` was sent at all (even empty).
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_decoded() {
        let params = Params::parse(b"state=a%26b%3Dc+d&x=%E2%9C%93");
        assert_eq!(params.get("state"), Ok(Some("a&b=c d")));
        assert_eq!(params.get("x"), Ok(Some("\u{2713}")));
    }

    #[test]
    fn a_repeated_parameter_is_an_error_even_with_equal_values() {
        let params = Params::parse(b"code=a&code=a");
        assert_eq!(params.get("code"), Err(ParamError::Repeated("code".into())));
    }

    #[test]
    fn a_nul_character_is_refused() {
        let params = Params::parse(b"client_id=a%00b");
        assert_eq!(params.get("client_id"), Err(ParamError::Nul("client_id".into())));
    }

    #[test]
    fn an_empty_value_counts_as_absent() {
        let params = Params::parse(b"scope=&state");
        assert_eq!(params.get("scope"), Ok(None));
        assert_eq!(params.get("state"), Ok(None));
        assert!(params.contains("scope"));
        assert_eq!(params.get("missing"), Ok(None));
    }
}

#[cfg(test)]
mod properties {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn what_a_client_encodes_once_reads_back_and_a_repeated_name_is_refused(
            pairs in vec(("[a-z_]{1,12}", "\\PC{0,24}"), 1..8),
        ) {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &pairs {
                serializer.append_pair(name, value);
            }
            let params = Params::parse(serializer.finish().as_bytes());
            for (name, value) in &pairs {
                let sent = pairs.iter().filter(|(other, _)| other == name).count();
                let read = params.get(name);
                if sent > 1 {
                    prop_assert_eq!(read, Err(ParamError::Repeated(name.clone())));
                } else if value.contains('\0') {
                    prop_assert_eq!(read, Err(ParamError::Nul(name.clone())));
                } else {
                    prop_assert_eq!(read, Ok(Some(value.as_str()).filter(|value| !value.is_empty())));
                }
            }
        }

        #[test]
        fn any_bytes_parse_without_panicking(bytes in vec(any::<u8>(), 0..256)) {
            let params = Params::parse(&bytes);
            let _ = params.get("code");
        }
    }
}
