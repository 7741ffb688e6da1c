//! The brute-force brake on the token endpoint: failed client authentications are counted
//! per source address, and an address that fails `throttle.max_failures` times within
//! `throttle.window_seconds` gets 429 on every token request for the next window. Other
//! addresses are unaffected, so an attacker cannot lock a legitimate client out.
//!
//! The counters live in a moka cache with a fixed capacity, so memory stays bounded
//! whatever the number of addresses; the per-key upsert is atomic.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use moka::sync::Cache;
use poem::{
    FromRequest, Request, RequestBody,
    http::{HeaderMap, header::HeaderName},
};

use crate::{config::ThrottleConfig, error::Error};

/// The most addresses tracked at once.
const CAPACITY: u64 = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

pub struct Throttle {
    failures: Cache<IpAddr, Failures>,
    max_failures: u32,
    window: Duration,
}

impl Throttle {
    pub fn new(config: &ThrottleConfig) -> Self {
        let window = Duration::from_secs(config.window_seconds);
        Self {
            failures: Cache::builder()
                .max_capacity(CAPACITY)
                // An address is forgotten a window after its last failure.
                .time_to_live(window * 2)
                .build(),
            max_failures: config.max_failures,
            window,
        }
    }

    /// `Err(seconds to wait)` while `address` is blocked.
    pub fn check(&self, address: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        match self.failures.get(&address).and_then(|f| f.blocked_until) {
            Some(until) if until > now => Err((until - now).as_secs_f64().ceil().max(1.0) as u64),
            _ => Ok(()),
        }
    }

    /// Counts a failed client authentication from `address`.
    pub fn record_failure(&self, address: IpAddr) {
        let now = Instant::now();
        let (max, window) = (self.max_failures, self.window);
        self.failures.entry(address).and_upsert_with(|previous| {
            let mut f = match previous.map(|e| e.into_value()) {
                Some(f)
                    if now.duration_since(f.since) < window
                        && f.blocked_until.is_none_or(|u| u > now) =>
                {
                    f
                }
                _ => Failures {
                    count: 0,
                    since: now,
                    blocked_until: None,
                },
            };
            f.count = f.count.saturating_add(1);
            if f.count >= max && f.blocked_until.is_none() {
                f.blocked_until = Some(now + window);
            }
            f
        });
    }
}

/// The address a request comes from: the peer, or — when the peer is a trusted proxy —
/// the rightmost `X-Forwarded-For` entry that is not a trusted proxy.
pub fn source_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for value in headers
        .get_all(HeaderName::from_static("x-forwarded-for"))
        .iter()
        .rev()
    {
        let Ok(value) = value.to_str() else { break };
        for entry in value.rsplit(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) if trusted.contains(&ip) => client = ip,
                Ok(ip) => return ip,
                // An entry that is not an address: stop at the last one we could trust.
                Err(_) => return client,
            }
        }
    }
    client
}

/// The client's address, resolved once; refuses the request with 429 while that address
/// is throttled. Taken by the token endpoint before its body, so a blocked address is
/// refused without its body being read.
pub struct ClientAddress(pub Option<IpAddr>);

/// The trusted proxies, as route data.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

impl<'a> FromRequest<'a> for ClientAddress {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let trusted = request
            .data::<TrustedProxies>()
            .map(|t| t.0.as_slice())
            .unwrap_or_default();
        let address = request
            .remote_addr()
            .as_socket_addr()
            .map(|peer| source_address(peer.ip(), request.headers(), trusted));
        if let (Some(address), Some(throttle)) =
            (address, request.data::<std::sync::Arc<Throttle>>())
            && let Err(retry_after) = throttle.check(address)
        {
            if let Some(metrics) = request.data::<std::sync::Arc<crate::telemetry::Metrics>>() {
                metrics.throttled();
            }
            return Err(Error::TooManyRequests { retry_after }.into());
        }
        Ok(ClientAddress(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max: u32) -> Throttle {
        Throttle::new(&ThrottleConfig {
            max_failures: max,
            window_seconds: 60,
        })
    }

    #[test]
    fn an_address_is_blocked_after_max_failures_and_others_are_not() {
        let t = throttle(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        t.record_failure(a);
        t.record_failure(a);
        assert!(t.check(a).is_ok());
        t.record_failure(a);
        let wait = t.check(a).unwrap_err();
        assert!((59..=60).contains(&wait), "{wait}");
        assert!(t.check(b).is_ok());
    }

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let check = |peer: &str, forwarded: &[&str]| {
            source_address(ip(peer), &headers(forwarded), &[proxy])
        };
        // Not from a proxy: the header is ignored.
        assert_eq!(check("198.51.100.7", &["203.0.113.9"]), ip("198.51.100.7"));
        // From the proxy: the rightmost untrusted entry.
        assert_eq!(
            check("10.0.0.1", &["1.1.1.1, 203.0.113.9"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            check("10.0.0.1", &["203.0.113.9, 10.0.0.1"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            check("10.0.0.1", &["1.1.1.1", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        assert_eq!(check("10.0.0.1", &[]), ip("10.0.0.1"));
        assert_eq!(check("10.0.0.1", &["garbage"]), ip("10.0.0.1"));
    }
}
