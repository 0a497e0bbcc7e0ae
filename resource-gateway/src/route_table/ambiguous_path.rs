//! Paths that a URL parser would rewrite are refused before routing: dot segments (`.` and `..`,
//! also percent-encoded), backslashes and control characters. The route is chosen on the path as
//! received, but the URL sent upstream is parsed by WHATWG rules, which resolve `..` and `%2e%2e`,
//! read `\` as `/` and drop tabs and newlines. So `/public/../admin` would be checked as the public
//! route and arrive upstream as `/admin`, and `/admin\x` could fall to a catch-all route and arrive
//! as `/admin/x`: ways round every scope. Browsers and HTTP libraries never send such paths, so
//! only a crafted request has them (nginx and Envoy normalise instead; refusing is stricter).

/// Whether parsing `path` as a URL would change it in a way that matters to routing.
pub fn is_ambiguous(path: &str) -> bool {
    path.contains('\\') || path.chars().any(char::is_control) || has_dot_segment(path)
}

/// Whether `path` has a `.` or `..` segment, percent-encoded or not. Runs on every request, so it
/// allocates nothing and most paths (no `.`, no `%`) are settled by one scan.
fn has_dot_segment(path: &str) -> bool {
    path.contains(['.', '%']) && path.split('/').any(is_dot_segment)
}

/// `.` or `..`, each dot written as `.` or `%2e` in either case.
fn is_dot_segment(segment: &str) -> bool {
    let (mut rest, mut dots) = (segment.as_bytes(), 0);
    while !rest.is_empty() && dots < 3 {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
        dots += 1;
    }
    rest.is_empty() && (1..=2).contains(&dots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_a_url_parser_would_rewrite_is_found() {
        for path in [
            "/a/../b",
            "/a/./b",
            "/a/..",
            "/a/%2e%2e/b",
            "/a/%2E%2e/b",
            "/a/.%2e/b",
            "/a/%2e/b",
            "/a\\..\\b",
            "/admin\\x",
            "/ad\tmin",
            "/..",
        ] {
            assert!(is_ambiguous(path), "{path:?}");
        }
    }

    proptest::proptest! {
        /// Every path that is not refused reaches the upstream exactly as it was routed: the URL
        /// parser rewrites nothing in it.
        #[test]
        fn a_path_let_through_is_never_rewritten_by_url_parsing(path in "/[a-z.%2eE/\\\\\t]{0,20}") {
            let mut url = reqwest::Url::parse("http://upstream.test").unwrap();
            url.set_path(&path);
            if !is_ambiguous(&path) {
                proptest::prop_assert_eq!(url.path(), path.as_str());
            }
        }
    }

    #[test]
    fn dots_inside_names_are_fine() {
        for path in [
            "/",
            "/a/b.json",
            "/a/..b",
            "/a/b..",
            "/.well-known/x",
            "/a/...",
            "/a/%2e%2e%2e",
            "/a/%5c",
        ] {
            assert!(!is_ambiguous(path), "{path}");
        }
    }
}
