//! The route table: which requests go to which upstream, with which scopes, read from a TOML file.
//! A bad file is refused with a message naming the route and the field; the table in use is swapped
//! whole on reload, so a request sees either the old routes or the new ones.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::Method;
use serde::Deserialize;

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

#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    /// Every one of these.
    #[serde(default)]
    pub all_of: Vec<String>,
    /// At least one of these (when not empty).
    #[serde(default)]
    pub any_of: Vec<String>,
}

impl ScopeSpec {
    /// Whether `granted` satisfies the requirement.
    pub fn is_met_by(&self, granted: &[String]) -> bool {
        let has = |scope: &String| granted.iter().any(|held| held == scope);
        self.all_of.iter().all(has) && (self.any_of.is_empty() || self.any_of.iter().any(has))
    }

    /// The scopes to name in an `insufficient_scope` challenge.
    pub fn describe(&self) -> String {
        self.all_of
            .iter()
            .chain(&self.any_of)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub per_second: u32,
    pub burst: u32,
}

/// One validated route.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    host: Option<String>,
    path_prefix: String,
    methods: Vec<Method>,
    pub upstreams: Vec<String>,
    /// The same, parsed once.
    upstream_urls: Vec<reqwest::Url>,
    next_upstream: AtomicUsize,
    pub strip_prefix: bool,
    pub public: bool,
    scopes: ScopeSpec,
    method_scopes: BTreeMap<String, ScopeSpec>,
    pub timeout: Option<Duration>,
    pub rate_limit: Option<RateLimitSpec>,
    pub forward_authorization: bool,
}

/// The result of matching a request.
#[derive(Debug)]
pub enum Match<'a> {
    Found(&'a Route),
    /// A route has this path but not this method; the methods it allows.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

impl Route {
    /// The scopes this method needs.
    pub fn required_scopes(&self, method: &Method) -> &ScopeSpec {
        self.method_scopes.get(method.as_str()).unwrap_or(&self.scopes)
    }

    /// The upstream for the next call (round robin; `offset` moves on for retries): its base and
    /// the full URL of `path` and `query` there.
    pub fn upstream_url(&self, offset: usize, path: &str, query: &str) -> (&str, reqwest::Url) {
        let turn = if offset == 0 {
            self.next_upstream.fetch_add(1, Ordering::Relaxed)
        } else {
            offset
        };
        let index = turn % self.upstreams.len();
        let mut url = self.upstream_urls[index].clone();
        let joined = format!("{}{}", url.path().trim_end_matches('/'), self.upstream_path(path));
        url.set_path(&joined);
        url.set_query((!query.is_empty()).then_some(query));
        (&self.upstreams[index], url)
    }

    /// The path sent upstream.
    pub fn upstream_path<'p>(&self, path: &'p str) -> std::borrow::Cow<'p, str> {
        if !self.strip_prefix || self.path_prefix == "/" {
            return path.into();
        }
        let rest = path
            .strip_prefix(self.path_prefix.trim_end_matches('/'))
            .unwrap_or(path);
        if rest.starts_with('/') {
            rest.into()
        } else {
            format!("/{rest}").into()
        }
    }

    fn matches_path(&self, path: &str) -> bool {
        let prefix = self.path_prefix.trim_end_matches('/');
        prefix.is_empty()
            || path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    fn matches_host(&self, host: Option<&str>) -> bool {
        match (&self.host, host) {
            (None, _) => true,
            (Some(expected), Some(host)) => {
                let without_port = host.rsplit_once(':').map(|(name, _)| name).unwrap_or(host);
                expected.eq_ignore_ascii_case(without_port)
            }
            (Some(_), None) => false,
        }
    }
}

/// A validated set of routes.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
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
        let mut routes = Vec::new();
        for (index, spec) in file.routes.into_iter().enumerate() {
            let route = validate(index, spec)?;
            if let Some(other) = routes.iter().find(|other: &&Route| other.name == route.name) {
                return Err(invalid(
                    index,
                    &route.name,
                    "name",
                    format!("{:?} is used by another route", other.name),
                ));
            }
            routes.push(route);
        }
        Ok(RouteTable { routes })
    }

    /// The route for a request: among routes whose host and path match, the longest prefix.
    pub fn find(&self, host: Option<&str>, path: &str, method: &Method) -> Match<'_> {
        let mut candidates: Vec<&Route> = self
            .routes
            .iter()
            .filter(|route| route.matches_host(host) && route.matches_path(path))
            .collect();
        candidates.sort_by_key(|route| std::cmp::Reverse(route.path_prefix.trim_end_matches('/').len()));
        let Some(longest) = candidates
            .first()
            .map(|route| route.path_prefix.trim_end_matches('/').len())
        else {
            return Match::NotFound;
        };
        let same_prefix = candidates
            .iter()
            .filter(|route| route.path_prefix.trim_end_matches('/').len() == longest);
        let mut allowed = Vec::new();
        for route in same_prefix {
            if route.methods.is_empty() || route.methods.contains(method) {
                return Match::Found(route);
            }
            allowed.extend(route.methods.iter().cloned());
        }
        Match::MethodNotAllowed(allowed)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn invalid(index: usize, name: &str, field: &'static str, message: impl Into<String>) -> RoutesError {
    RoutesError::Invalid {
        index,
        name: name.to_owned(),
        field,
        message: message.into(),
    }
}

fn validate(index: usize, spec: RouteSpec) -> Result<Route, RoutesError> {
    let name = spec.name.clone();
    let fail = |field: &'static str, message: String| invalid(index, &name, field, message);
    if spec.name.trim().is_empty() {
        return Err(fail("name", "must not be empty".into()));
    }
    if !spec.path_prefix.starts_with('/') {
        return Err(fail(
            "path_prefix",
            format!("{:?} must start with /", spec.path_prefix),
        ));
    }
    let methods = spec
        .methods
        .iter()
        .map(|method| {
            Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| fail("methods", format!("{method:?} is not an HTTP method")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if spec.upstreams.is_empty() {
        return Err(fail("upstreams", "name at least one upstream base URL".into()));
    }
    let mut upstreams = Vec::new();
    for upstream in &spec.upstreams {
        let parsed = reqwest::Url::parse(upstream)
            .map_err(|error| fail("upstreams", format!("{upstream:?} is not a URL: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(fail(
                "upstreams",
                format!("{upstream:?} must be an http or https URL"),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(fail(
                "upstreams",
                format!("{upstream:?} must not have a query or fragment"),
            ));
        }
        upstreams.push(upstream.trim_end_matches('/').to_owned());
    }
    for method in spec.method_scopes.keys() {
        if Method::from_bytes(method.as_bytes()).is_err() || method.to_ascii_uppercase() != *method {
            return Err(fail(
                "method_scopes",
                format!("{method:?} is not an upper-case HTTP method"),
            ));
        }
    }
    if spec.public
        && (!spec.scopes.all_of.is_empty()
            || !spec.scopes.any_of.is_empty()
            || !spec.method_scopes.is_empty())
    {
        return Err(fail(
            "scopes",
            "a public route checks no token, so it cannot require scopes".into(),
        ));
    }
    if spec.timeout_ms == Some(0) {
        return Err(fail("timeout_ms", "must be more than 0".into()));
    }
    if let Some(limit) = spec.rate_limit {
        if limit.per_second == 0 || limit.burst == 0 {
            return Err(fail(
                "rate_limit",
                "per_second and burst must be more than 0".into(),
            ));
        }
        if spec.public {
            return Err(fail(
                "rate_limit",
                "limits are per client id, and a public route has no client".into(),
            ));
        }
    }
    Ok(Route {
        name: spec.name,
        host: spec.host,
        path_prefix: spec.path_prefix,
        methods,
        upstream_urls: upstreams
            .iter()
            .filter_map(|upstream| reqwest::Url::parse(upstream).ok())
            .collect(),
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

/// The table in use, replaced whole on reload.
#[derive(Clone, Default)]
pub struct SharedRoutes(Arc<RwLock<Arc<RouteTable>>>);

impl SharedRoutes {
    pub fn new(table: RouteTable) -> Self {
        SharedRoutes(Arc::new(RwLock::new(Arc::new(table))))
    }

    /// The current table (cheap: an `Arc` clone under a read lock).
    pub fn current(&self) -> Arc<RouteTable> {
        self.0.read().map(|table| table.clone()).unwrap_or_default()
    }

    pub fn replace(&self, table: RouteTable) {
        if let Ok(mut current) = self.0.write() {
            *current = Arc::new(table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[[routes]]
name = "orders"
path_prefix = "/orders"
methods = ["GET", "POST"]
upstreams = ["http://127.0.0.1:9000/"]
scopes = { all_of = ["orders:read"] }
method_scopes.POST = { all_of = ["orders:write"] }

[[routes]]
name = "order-admin"
path_prefix = "/orders/admin"
upstreams = ["http://127.0.0.1:9001"]
strip_prefix = true

[[routes]]
name = "status"
host = "status.example.com"
path_prefix = "/"
public = true
upstreams = ["http://127.0.0.1:9002"]
"#;

    fn name(found: Match<'_>) -> String {
        match found {
            Match::Found(route) => route.name.clone(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn the_longest_matching_prefix_wins_on_segment_boundaries() {
        let table = RouteTable::parse(EXAMPLE).unwrap();
        assert_eq!(name(table.find(None, "/orders", &Method::GET)), "orders");
        assert_eq!(name(table.find(None, "/orders/42", &Method::GET)), "orders");
        assert_eq!(
            name(table.find(None, "/orders/admin/x", &Method::DELETE)),
            "order-admin"
        );
        assert!(matches!(
            table.find(None, "/ordersx", &Method::GET),
            Match::NotFound
        ));
        assert!(matches!(
            table.find(Some("api.example.com"), "/other", &Method::GET),
            Match::NotFound
        ));
        assert_eq!(
            name(table.find(Some("STATUS.example.com:8080"), "/anything", &Method::GET)),
            "status"
        );
    }

    #[test]
    fn a_method_the_route_does_not_allow_is_reported_with_the_allowed_ones() {
        let table = RouteTable::parse(EXAMPLE).unwrap();
        let Match::MethodNotAllowed(allowed) = table.find(None, "/orders/1", &Method::DELETE) else {
            panic!()
        };
        assert_eq!(allowed, [Method::GET, Method::POST]);
    }

    #[test]
    fn scopes_depend_on_the_method() {
        let table = RouteTable::parse(EXAMPLE).unwrap();
        let Match::Found(route) = table.find(None, "/orders", &Method::POST) else {
            panic!()
        };
        assert_eq!(route.required_scopes(&Method::POST).all_of, ["orders:write"]);
        assert_eq!(route.required_scopes(&Method::GET).all_of, ["orders:read"]);
        let spec = ScopeSpec {
            all_of: vec!["a".into()],
            any_of: vec!["b".into(), "c".into()],
        };
        assert!(spec.is_met_by(&["a".into(), "c".into()]));
        assert!(!spec.is_met_by(&["a".into()]));
        assert!(!spec.is_met_by(&["b".into()]));
    }

    #[test]
    fn prefixes_are_stripped_when_asked_and_upstreams_rotate() {
        let table = RouteTable::parse(EXAMPLE).unwrap();
        let Match::Found(admin) = table.find(None, "/orders/admin/users", &Method::GET) else {
            panic!()
        };
        assert_eq!(admin.upstream_path("/orders/admin/users"), "/users");
        assert_eq!(admin.upstream_path("/orders/admin"), "/");
        let Match::Found(orders) = table.find(None, "/orders/1", &Method::GET) else {
            panic!()
        };
        assert_eq!(orders.upstream_path("/orders/1"), "/orders/1");
        let (base, url) = orders.upstream_url(0, "/orders/1", "page=2");
        assert_eq!(base, "http://127.0.0.1:9000");
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/orders/1?page=2");
    }

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
}
