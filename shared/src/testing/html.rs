//! Reading the platform's own pages in tests, as a browser's form submission does.

/// The value of the input named `name` (a hidden field: a CSRF token, a request id) in a page the
/// platform renders.
///
/// # Panics
/// When the page has no such field: the test needs it.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("a field named {name} in the page:\n{html}"));
    let rest = &html[start..];
    let value_start = rest
        .find("value=\"")
        .map(|at| at + "value=\"".len())
        .unwrap_or_else(|| panic!("a value for the field {name} in the page:\n{html}"));
    let value_end = rest[value_start..]
        .find('"')
        .unwrap_or_else(|| panic!("the end of the value of {name} in the page:\n{html}"));
    rest[value_start..value_start + value_end].to_owned()
}
