//! The address a request came from, for the guessing limits. Behind reverse proxies the TCP peer is
//! the proxy, so with `throttle.trusted_proxies` = N the address is the one the N-th proxy from us
//! appended to `X-Forwarded-For` (entries further left were written by the client and prove nothing).

use actix_web::HttpRequest;

pub fn of(request: &HttpRequest, trusted_proxies: usize) -> String {
    let peer = request
        .peer_addr()
        .map(|address| address.ip().to_string())
        .unwrap_or_default();
    if trusted_proxies == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    forwarded
        .len()
        .checked_sub(trusted_proxies)
        .and_then(|at| forwarded.get(at))
        .map(|entry| (*entry).to_owned())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn without_trusted_proxies_the_peer_is_the_address_whatever_the_headers_say() {
        let request = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .to_http_request();
        assert_eq!(of(&request, 0), "10.0.0.1");
    }

    #[test]
    fn behind_one_proxy_the_last_entry_is_the_client_and_earlier_ones_are_ignored() {
        let request = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.9"))
            .to_http_request();
        assert_eq!(of(&request, 1), "203.0.113.9");
        assert_eq!(of(&request, 2), "6.6.6.6");
        assert_eq!(
            of(&request, 3),
            "10.0.0.1",
            "fewer entries than proxies: the peer"
        );
    }
}
