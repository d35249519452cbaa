//! Who is on the other end of a request: the client address (for the login throttle and the
//! audit log) and whether the connection is TLS (for HSTS and `Secure` cookies).

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use crate::{AppState, Config, accounts::throttle::address_key};

/// The client's address as the throttle keys it (IPv6 by /64); `"unknown"` when the server was
/// not started with connection info (handler tests through `oneshot`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// The client's IP: with `behind_proxy`, the last `X-Forwarded-For` entry (the one our proxy
/// appended; earlier entries are the client's own claims); otherwise the TCP peer.
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, config: &Config) -> Option<IpAddr> {
    if config.behind_proxy {
        return headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|last| last.trim().parse().ok());
    }
    peer.map(|p| p.ip())
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        Ok(Self(
            client_ip(&parts.headers, peer, &state.config)
                .map_or_else(|| "unknown".to_owned(), address_key),
        ))
    }
}

/// Whether the client reached us over TLS: only knowable behind a proxy that says so.
pub fn over_tls(headers: &HeaderMap, config: &Config) -> bool {
    config.behind_proxy
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_addresses_count_only_behind_a_proxy_and_only_the_last_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9"),
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 4000)));
        let direct = Config::default();
        assert_eq!(
            client_ip(&headers, peer, &direct),
            Some([10, 0, 0, 1].into())
        );
        assert!(!over_tls(&headers, &direct));
        let proxied = Config {
            behind_proxy: true,
            ..Config::default()
        };
        assert_eq!(
            client_ip(&headers, peer, &proxied),
            Some([203, 0, 113, 9].into())
        );
        assert!(over_tls(&headers, &proxied));
    }
}
