//! The routes file as written (TOML) and its validation. A bad file is refused with a message
//! naming the route and the field; validation runs as one named check per rule, in file order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use actix_web::http::Method;
use serde::Deserialize;

use super::{Route, RouteTable, ScopeSpec, Upstream};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesFile {
    #[serde(default)]
    routes: Vec<RouteSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    name: String,
    /// Matches the `Host` header (without port), case-insensitively; any host when absent.
    host: Option<String>,
    /// Matches this path and everything below it, on a segment boundary.
    path_prefix: String,
    /// Allowed methods; all when empty.
    #[serde(default)]
    methods: Vec<String>,
    /// Base URLs, used in turn.
    upstreams: Vec<String>,
    /// Remove `path_prefix` from the path sent upstream.
    #[serde(default)]
    strip_prefix: bool,
    /// No token needed (and none checked).
    #[serde(default)]
    public: bool,
    /// Scopes required for every method, unless `method_scopes` names the method.
    #[serde(default)]
    scopes: ScopeSpec,
    #[serde(default)]
    method_scopes: BTreeMap<String, ScopeSpec>,
    /// Total time for the upstream call; the gateway's default when absent.
    timeout_ms: Option<u64>,
    /// Per client id.
    rate_limit: Option<RateLimitSpec>,
    /// Send the caller's `Authorization` header upstream (off: upstreams get the identity instead).
    #[serde(default)]
    forward_authorization: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub per_second: u32,
    pub burst: u32,
}

/// Why a route file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("cannot read the routes file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the routes file {path} is not valid: {message}")]
    Syntax { path: String, message: String },
    #[error("route {name:?} (routes[{index}]): {field}: {message}")]
    Invalid {
        index: usize,
        name: String,
        field: &'static str,
        message: String,
    },
}

impl RouteTable {
    /// Reads and validates a routes file.
    pub fn load(path: &Path) -> Result<RouteTable, RoutesError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RoutesError::Read {
            path: display.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            RoutesError::Syntax { message, .. } => RoutesError::Syntax {
                path: display,
                message,
            },
            other => other,
        })
    }

    /// Parses and validates the TOML text of a routes file.
    pub fn parse(text: &str) -> Result<RouteTable, RoutesError> {
        let file: RoutesFile = toml::from_str(text).map_err(|error| RoutesError::Syntax {
            path: String::new(),
            message: error.to_string(),
        })?;
        let mut routes: Vec<Route> = Vec::new();
        for (index, spec) in file.routes.into_iter().enumerate() {
            let name = spec.name.clone();
            let route = validate(spec).map_err(|refusal| refusal.of_route(index, &name))?;
            if let Some(other) = routes.iter().find(|other| other.name == route.name) {
                let message = format!("{:?} is used by another route", other.name);
                return Err(Refusal::new("name", message).of_route(index, &route.name));
            }
            routes.push(route);
        }
        Ok(RouteTable::new(routes))
    }
}

/// What is wrong with one field of a route.
struct Refusal {
    field: &'static str,
    message: String,
}

impl Refusal {
    fn new(field: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            field,
            message: message.into(),
        }
    }

    fn of_route(self, index: usize, name: &str) -> RoutesError {
        RoutesError::Invalid {
            index,
            name: name.to_owned(),
            field: self.field,
            message: self.message,
        }
    }
}

/// One route as written, checked rule by rule; the first broken rule is reported.
fn validate(spec: RouteSpec) -> Result<Route, Refusal> {
    check_name(&spec.name)?;
    check_path_prefix(&spec.path_prefix)?;
    let methods = parse_methods(&spec.methods)?;
    let upstreams = parse_upstreams(&spec.upstreams)?;
    check_method_scopes(&spec.method_scopes)?;
    check_public_route_has_no_scopes(&spec)?;
    check_timeout(spec.timeout_ms)?;
    check_rate_limit(spec.rate_limit, spec.public)?;
    Ok(Route {
        name: spec.name,
        host: spec.host,
        path_prefix: spec.path_prefix,
        methods,
        upstreams,
        next_upstream: AtomicUsize::new(0),
        strip_prefix: spec.strip_prefix,
        public: spec.public,
        scopes: spec.scopes,
        method_scopes: spec.method_scopes,
        timeout: spec.timeout_ms.map(Duration::from_millis),
        rate_limit: spec.rate_limit,
        forward_authorization: spec.forward_authorization,
    })
}

fn check_name(name: &str) -> Result<(), Refusal> {
    if name.trim().is_empty() {
        return Err(Refusal::new("name", "must not be empty"));
    }
    Ok(())
}

fn check_path_prefix(path_prefix: &str) -> Result<(), Refusal> {
    if !path_prefix.starts_with('/') {
        let message = format!("{path_prefix:?} must start with /");
        return Err(Refusal::new("path_prefix", message));
    }
    Ok(())
}

/// Methods in any case, as upper-case `Method`s.
fn parse_methods(methods: &[String]) -> Result<Vec<Method>, Refusal> {
    methods
        .iter()
        .map(|method| {
            Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| Refusal::new("methods", format!("{method:?} is not an HTTP method")))
        })
        .collect()
}

/// At least one base URL, each `http` or `https` with a host and without query or fragment.
fn parse_upstreams(upstreams: &[String]) -> Result<Vec<Upstream>, Refusal> {
    if upstreams.is_empty() {
        return Err(Refusal::new("upstreams", "name at least one upstream base URL"));
    }
    upstreams.iter().map(|base| parse_upstream(base)).collect()
}

fn parse_upstream(base: &str) -> Result<Upstream, Refusal> {
    let refuse = |problem: String| Refusal::new("upstreams", format!("{base:?} {problem}"));
    let url = reqwest::Url::parse(base).map_err(|error| refuse(format!("is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(refuse("must be an http or https URL".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("must not have a query or fragment".into()));
    }
    Ok(Upstream {
        base: base.trim_end_matches('/').to_owned(),
        url,
    })
}

/// `method_scopes` keys are written as `Method::as_str` gives them: upper case.
fn check_method_scopes(method_scopes: &BTreeMap<String, ScopeSpec>) -> Result<(), Refusal> {
    for method in method_scopes.keys() {
        if Method::from_bytes(method.as_bytes()).is_err() || method.to_ascii_uppercase() != *method {
            let message = format!("{method:?} is not an upper-case HTTP method");
            return Err(Refusal::new("method_scopes", message));
        }
    }
    Ok(())
}

fn check_public_route_has_no_scopes(spec: &RouteSpec) -> Result<(), Refusal> {
    if spec.public && (!spec.scopes.is_empty() || !spec.method_scopes.is_empty()) {
        let message = "a public route checks no token, so it cannot require scopes";
        return Err(Refusal::new("scopes", message));
    }
    Ok(())
}

fn check_timeout(timeout_ms: Option<u64>) -> Result<(), Refusal> {
    if timeout_ms == Some(0) {
        return Err(Refusal::new("timeout_ms", "must be more than 0"));
    }
    Ok(())
}

fn check_rate_limit(rate_limit: Option<RateLimitSpec>, public: bool) -> Result<(), Refusal> {
    let Some(limit) = rate_limit else {
        return Ok(());
    };
    if limit.per_second == 0 || limit.burst == 0 {
        return Err(Refusal::new(
            "rate_limit",
            "per_second and burst must be more than 0",
        ));
    }
    if public {
        let message = "limits are per client id, and a public route has no client";
        return Err(Refusal::new("rate_limit", message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_route_and_the_field() {
        let cases = [
            (
                r#"[[routes]]
name = "a"
path_prefix = "/a"
upstreams = ["ftp://x"]"#,
                "route \"a\" (routes[0]): upstreams",
            ),
            (
                r#"[[routes]]
name = "b"
path_prefix = "b"
upstreams = ["http://x"]"#,
                "route \"b\" (routes[0]): path_prefix",
            ),
            (
                r#"[[routes]]
name = "c"
path_prefix = "/c"
upstreams = ["http://x"]
public = true
scopes = { all_of = ["s"] }"#,
                "route \"c\" (routes[0]): scopes",
            ),
            (
                r#"[[routes]]
name = "d"
path_prefix = "/d"
upstreams = ["http://x"]
timeout = 5"#,
                "unknown field `timeout`",
            ),
            (
                r#"[[routes]]
name = "e"
path_prefix = "/e""#,
                "missing field `upstreams`",
            ),
        ];
        for (text, expected) in cases {
            let error = RouteTable::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    fn refusal(routes: &str) -> String {
        let text = format!("[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\n{routes}");
        RouteTable::parse(&text).unwrap_err().to_string()
    }

    #[test]
    fn each_rule_is_reported_with_its_field_and_message() {
        let cases = [
            ("upstreams = []", "upstreams: name at least one upstream base URL"),
            (
                "upstreams = [\"http://x/?a=1\"]",
                "upstreams: \"http://x/?a=1\" must not have a query or fragment",
            ),
            (
                "upstreams = [\"x\"]",
                "upstreams: \"x\" is not a URL: relative URL without a base",
            ),
            (
                "methods = [\"G T\"]\nupstreams = []",
                "methods: \"G T\" is not an HTTP method",
            ),
            (
                "upstreams = [\"http://x\"]\nmethod_scopes.get = {}",
                "method_scopes: \"get\" is not an upper-case HTTP method",
            ),
            (
                "upstreams = [\"http://x\"]\ntimeout_ms = 0",
                "timeout_ms: must be more than 0",
            ),
            (
                "upstreams = [\"http://x\"]\nrate_limit = { per_second = 0, burst = 1 }",
                "rate_limit: per_second and burst must be more than 0",
            ),
            (
                "upstreams = [\"http://x\"]\npublic = true\nrate_limit = { per_second = 1, burst = 1 }",
                "rate_limit: limits are per client id, and a public route has no client",
            ),
            (
                "upstreams = [\"http://x\"]\n[[routes]]\nname = \"r\"\npath_prefix = \"/s\"\n\
                 upstreams = [\"http://x\"]",
                "route \"r\" (routes[1]): name: \"r\" is used by another route",
            ),
        ];
        for (routes, expected) in cases {
            let error = refusal(routes);
            assert!(error.ends_with(expected), "{error}");
        }
    }

    #[test]
    fn an_upstream_base_loses_its_trailing_slash_and_keeps_its_path() {
        let table = RouteTable::parse(
            "[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstreams = [\"http://x:9/base/\"]",
        )
        .unwrap();
        let super::super::Match::Found(route) = table.find(None, "/r/1", &Method::GET) else {
            panic!()
        };

        let (base, url) = route.upstream_url(0, "/r/1", "");

        assert_eq!(base, "http://x:9/base");
        assert_eq!(url.as_str(), "http://x:9/base/r/1");
    }
}
