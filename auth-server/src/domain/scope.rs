//! Scope lists (RFC 6749 §3.3): space-delimited, case-sensitive tokens of printable ASCII without
//! `"` or `\`. Stored and shown sorted, so equal sets have equal text.

use std::collections::BTreeSet;
use std::fmt;

/// A set of scope names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

/// A scope list that breaks the RFC 6749 grammar.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the scope {0:?} contains characters that are not allowed in a scope")]
pub struct InvalidScope(pub String);

impl ScopeSet {
    /// Parses a space-delimited list. Repeated spaces and repeated names are tolerated.
    pub fn parse(text: &str) -> Result<Self, InvalidScope> {
        let mut names = BTreeSet::new();
        for name in text.split(' ').filter(|name| !name.is_empty()) {
            if !is_valid_name(name) {
                return Err(InvalidScope(name.to_owned()));
            }
            names.insert(name.to_owned());
        }
        Ok(ScopeSet(names))
    }

    /// Builds a set from names already known to be valid (read from the database).
    pub fn from_names<I: IntoIterator<Item = String>>(names: I) -> Self {
        ScopeSet(names.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).cloned().collect())
    }

    /// Names of this set missing from `other`.
    pub fn difference<'a>(&'a self, other: &'a ScopeSet) -> impl Iterator<Item = &'a str> {
        self.0.difference(&other.0).map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
            first = false;
        }
        Ok(())
    }
}

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_sorts_and_deduplicates() {
        let scopes = ScopeSet::parse("write  read write").unwrap();
        assert_eq!(scopes.to_string(), "read write");
    }

    #[test]
    fn an_empty_list_is_the_empty_set() {
        assert!(ScopeSet::parse("").unwrap().is_empty());
        assert!(ScopeSet::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn quotes_backslashes_and_non_ascii_are_refused() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "tab\there"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        let scopes = ScopeSet::parse("Read read").unwrap();
        assert_eq!(scopes.iter().count(), 2);
    }

    #[test]
    fn set_operations() {
        let a = ScopeSet::parse("a b c").unwrap();
        let b = ScopeSet::parse("b c d").unwrap();
        assert_eq!(a.intersection(&b).to_string(), "b c");
        assert_eq!(a.union(&b).to_string(), "a b c d");
        assert!(ScopeSet::parse("b").unwrap().is_subset(&a));
        assert_eq!(a.difference(&b).collect::<Vec<_>>(), vec!["a"]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// A name RFC 6749 §3.3 allows: `%x21 / %x23-5B / %x5D-7E`, one or more.
    fn name() -> impl Strategy<Value = String> {
        "[!#-\\[\\]-~]{1,16}"
    }

    proptest! {
        #[test]
        fn a_set_reads_back_from_its_own_text(names in vec(name(), 0..8)) {
            let set = ScopeSet::from_names(names);
            prop_assert_eq!(ScopeSet::parse(&set.to_string()), Ok(set));
        }

        #[test]
        fn spaces_between_names_and_repeated_names_change_nothing(
            names in vec(name(), 1..6),
            gaps in vec(1usize..4, 6),
        ) {
            let spaced: String = names
                .iter()
                .zip(&gaps)
                .map(|(name, gap)| format!("{name}{}", " ".repeat(*gap)))
                .collect();
            let once = ScopeSet::parse(&names.join(" ")).unwrap();
            let doubled = format!("  {spaced}{}", names.join(" "));
            prop_assert_eq!(ScopeSet::parse(&doubled), Ok(once));
        }

        #[test]
        fn a_name_with_a_quote_a_backslash_or_a_control_character_is_refused(
            before in "[a-z]{0,4}",
            bad in prop_oneof![
                Just('"'),
                Just('\\'),
                (0u8..0x20).prop_map(char::from),
                Just('\u{7f}'),
                Just('\u{e9}'),
            ],
            after in "[a-z]{0,4}",
        ) {
            let text = format!("read {before}{bad}{after}");
            let parsed = ScopeSet::parse(&text);
            prop_assert!(parsed.is_err());
        }

        #[test]
        fn parsing_any_text_never_panics_and_keeps_only_valid_names(text in "\\PC{0,64}") {
            if let Ok(set) = ScopeSet::parse(&text) {
                prop_assert!(set.iter().all(is_valid_name));
            }
        }
    }
}
