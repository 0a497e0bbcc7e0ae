//! Matching a request to a route at run time, and where the route sends it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::Method;
use serde::Deserialize;

use super::RateLimitSpec;

/// One upstream of a route.
#[derive(Debug)]
pub struct Upstream {
    /// The base URL as written, without trailing `/`: the name of its circuit breaker.
    pub base: String,
    /// The same, parsed.
    pub url: reqwest::Url,
}

/// One validated route.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub(super) host: Option<String>,
    pub(super) path_prefix: String,
    pub(super) methods: Vec<Method>,
    /// Used in turn; never empty.
    pub upstreams: Vec<Upstream>,
    pub(super) next_upstream: AtomicUsize,
    pub strip_prefix: bool,
    pub public: bool,
    pub(super) scopes: ScopeSpec,
    pub(super) method_scopes: BTreeMap<String, ScopeSpec>,
    pub timeout: Option<Duration>,
    pub rate_limit: Option<RateLimitSpec>,
    pub forward_authorization: bool,
}

/// The scopes a route (or one of its methods) requires, as written in the routes file.
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

    pub(super) fn is_empty(&self) -> bool {
        self.all_of.is_empty() && self.any_of.is_empty()
    }
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

    /// The turn of a new request in the round robin: its first attempt goes to
    /// `upstream_url(turn, ..)`, a retry to `turn + 1`, and so on through the other upstreams.
    pub fn first_turn(&self) -> usize {
        self.next_upstream.fetch_add(1, Ordering::Relaxed)
    }

    /// How many upstreams the route has (each is tried at most once per round of turns).
    pub fn upstream_count(&self) -> usize {
        self.upstreams.len()
    }

    /// The upstream of `turn` (see [`first_turn`](Self::first_turn)): its base and the full URL
    /// of `path` and `query` there.
    pub fn upstream_url(&self, turn: usize, path: &str, query: &str) -> (&str, reqwest::Url) {
        let upstream = &self.upstreams[turn % self.upstreams.len()];
        let mut url = upstream.url.clone();
        let joined = format!("{}{}", url.path().trim_end_matches('/'), self.upstream_path(path));
        url.set_path(&joined);
        url.set_query((!query.is_empty()).then_some(query));
        (&upstream.base, url)
    }

    /// The path sent upstream.
    pub fn upstream_path<'p>(&self, path: &'p str) -> Cow<'p, str> {
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

    /// The length of the prefix that decides between matching routes (the longest wins).
    fn prefix_len(&self) -> usize {
        self.path_prefix.trim_end_matches('/').len()
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

/// A validated set of routes (read with [`RouteTable::load`] or [`RouteTable::parse`]).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// A table of routes that were validated together (unique names).
    pub(super) fn new(routes: Vec<Route>) -> RouteTable {
        RouteTable { routes }
    }

    /// The route for a request: among routes whose host and path match, the longest prefix.
    pub fn find(&self, host: Option<&str>, path: &str, method: &Method) -> Match<'_> {
        let mut candidates: Vec<&Route> = self
            .routes
            .iter()
            .filter(|route| route.matches_host(host) && route.matches_path(path))
            .collect();
        candidates.sort_by_key(|route| std::cmp::Reverse(route.prefix_len()));
        let Some(longest) = candidates.first().map(|route| route.prefix_len()) else {
            return Match::NotFound;
        };
        let same_prefix = candidates.iter().filter(|route| route.prefix_len() == longest);
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
    fn prefixes_are_stripped_when_asked() {
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
    fn each_request_starts_one_turn_later_and_its_retries_go_round_the_other_upstreams() {
        let table = RouteTable::parse(
            "[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\n\
             upstreams = [\"http://a:1\", \"http://b:1\", \"http://c:1\"]",
        )
        .unwrap();
        let Match::Found(route) = table.find(None, "/r", &Method::GET) else {
            panic!()
        };
        let base = |turn: usize| route.upstream_url(turn, "/r", "").0.to_owned();

        let (first, second) = (route.first_turn(), route.first_turn());

        assert_eq!(second, first + 1, "round robin");
        let attempts: Vec<String> = (second..second + 3).map(base).collect();
        assert_eq!(
            attempts,
            ["http://b:1", "http://c:1", "http://a:1"],
            "never the same one twice"
        );
    }

    /// A table with one route at `/{segments}` over `upstreams` upstreams.
    fn one_route(segments: &[String], upstreams: usize, strip_prefix: bool) -> (String, RouteTable) {
        let prefix = format!("/{}", segments.join("/"));
        let bases: Vec<String> = (0..upstreams)
            .map(|n| format!("\"http://127.0.0.1:{}/base{n}\"", 9000 + n))
            .collect();
        let upstreams = bases.join(", ");
        let text = format!(
            "[[routes]]\nname = \"r\"\npath_prefix = \"{prefix}\"\nupstreams = [{upstreams}]\n\
             strip_prefix = {strip_prefix}\n"
        );
        (prefix, RouteTable::parse(&text).unwrap())
    }

    fn segments() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
        proptest::collection::vec("[a-z0-9_-]{1,8}", 1..4)
    }

    proptest::proptest! {
        #[test]
        fn any_route_file_is_parsed_or_refused_without_panicking(text in "(?s).{0,400}") {
            let _ = RouteTable::parse(&text);
        }

        #[test]
        fn a_prefix_matches_itself_and_below_on_segment_boundaries_only(
            segments in segments(),
            rest in "[a-zA-Z0-9/._%~-]{0,30}",
            host in proptest::option::of(".{0,30}"),
        ) {
            let (prefix, table) = one_route(&segments, 1, false);
            let path = format!("{prefix}{rest}");
            let found = matches!(table.find(host.as_deref(), &path, &Method::GET), Match::Found(_));
            proptest::prop_assert_eq!(found, rest.is_empty() || rest.starts_with('/'), "{}", path);
        }

        /// For any path the gateway lets through (ambiguous ones are refused before routing), the
        /// URL sent upstream is under the upstream's base and has exactly the route's prefix removed.
        #[test]
        fn the_upstream_url_of_any_path_stays_under_the_upstream_and_strips_exactly_the_prefix(
            segments in segments(),
            rest in "(/[a-zA-Z0-9._~%-]{0,10}){0,4}",
            query in "[a-z0-9=&]{0,20}",
            turn in 0usize..1000,
        ) {
            let (prefix, table) = one_route(&segments, 3, true);
            proptest::prop_assume!(!super::super::is_ambiguous_path(&format!("{prefix}{rest}")));
            let Match::Found(route) = table.find(None, &format!("{prefix}{rest}"), &Method::GET) else {
                panic!("{prefix}{rest} is under {prefix}");
            };
            let (base, url) = route.upstream_url(turn, &format!("{prefix}{rest}"), &query);
            let upstream = turn % 3;
            proptest::prop_assert_eq!(base, format!("http://127.0.0.1:{}/base{upstream}", 9000 + upstream));
            let below = if rest.is_empty() { "/" } else { rest.as_str() };
            let expected_path = format!("/base{upstream}{below}");
            proptest::prop_assert_eq!(url.path(), expected_path.as_str());
            proptest::prop_assert_eq!(url.query().unwrap_or(""), query.as_str());
        }

        /// Successive turns from any starting point visit every upstream once before repeating:
        /// a retry (the next turn) never goes back to the upstream that just failed.
        #[test]
        fn successive_turns_rotate_through_every_upstream(upstreams in 1usize..6, first in 0usize..10_000) {
            let (_, table) = one_route(&["r".to_owned()], upstreams, false);
            let Match::Found(route) = table.find(None, "/r", &Method::GET) else { panic!() };
            let visited: std::collections::BTreeSet<String> = (first..first + upstreams)
                .map(|turn| route.upstream_url(turn, "/r", "").0.to_owned())
                .collect();
            proptest::prop_assert_eq!(visited.len(), upstreams);
        }
    }
}
