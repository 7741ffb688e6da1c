//! The brute-force brake on the token endpoint, and where a request comes from.
//!
//! Failed client authentications are counted per source — an IPv4 address, or an IPv6
//! /64 (one host owns a whole /64, so counting per IPv6 address would give it 2^64
//! budgets). A source gets at most `max_failures` failed verifications in any
//! `window`: the window slides, and a refused source may try again as soon as its oldest
//! counted failure is a window old (that is the `Retry-After`).
//!
//! The budget holds however many requests arrive at once. A verification that has not
//! finished yet (an Argon2 run takes tens of milliseconds) holds a [`Reservation`]
//! against the budget until it ends: it becomes a counted failure if it fails and is
//! released if it succeeds. A request that would go past the budget is refused before
//! any hash work, and a cheap check (plaintext secret, unknown id) is answered only if
//! the budget still has room once it is done ([`Throttle::settle`]), so concurrent guesses
//! cannot learn more than `max_failures` answers per window.
//!
//! Counters live in a moka cache with a fixed capacity, so memory stays bounded whatever
//! the number of sources; each source's counter is updated under its own lock.

use std::{
    collections::VecDeque,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use moka::sync::Cache;
use poem::http::{HeaderMap, header::HeaderName};

/// The most sources tracked at once.
const CAPACITY: u64 = 100_000;

/// A source that used up its budget: seconds until it may try again (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Seconds until it may try again.
    pub retry_after: u64,
}

#[derive(Debug, Default)]
struct Budget {
    /// When each counted failure happened, oldest first; never more than `max_failures`.
    failures: VecDeque<Instant>,
    /// Verifications under way.
    in_flight: u32,
}

impl Budget {
    fn forget_older_than(&mut self, now: Instant, window: Duration) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.failures.pop_front();
        }
    }

    fn used(&self) -> u64 {
        self.failures.len() as u64 + u64::from(self.in_flight)
    }

    /// How long the source must wait: until its oldest counted failure lapses when its
    /// counted failures alone use the budget, else a second (what is under way ends
    /// within about two).
    fn throttled(&self, now: Instant, window: Duration, max: u64) -> Throttled {
        if (self.failures.len() as u64) < max {
            return Throttled { retry_after: 1 };
        }
        let retry_after = self.failures.front().map_or(1, |oldest| {
            let lapses = (*oldest + window).saturating_duration_since(now);
            lapses.as_secs() + u64::from(lapses.subsec_nanos() > 0)
        });
        Throttled {
            retry_after: retry_after.max(1),
        }
    }
}

/// The failure budgets of every source: at most `max_failures` failed client
/// authentications per source in any `window`.
pub struct Throttle {
    budgets: Cache<IpAddr, Arc<Mutex<Budget>>>,
    max_failures: u32,
    window: Duration,
}

impl Throttle {
    /// At most `max_failures` (at least 1) failed verifications per source in any
    /// `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            budgets: Cache::builder()
                .max_capacity(CAPACITY)
                // A source with nothing in flight is forgotten a window after its last
                // failure; one still verifying is kept alive by its reservation's use.
                .time_to_idle(window.max(Duration::from_secs(1)))
                .build(),
            max_failures: max_failures.max(1),
            window,
        }
    }

    /// The key a source is counted under: IPv4 addresses one by one, IPv6 per /64.
    pub fn key(address: IpAddr) -> IpAddr {
        match address.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            v4 => v4,
        }
    }

    /// Runs `f` on the source's budget with old failures forgotten; `create` says whether
    /// a source with no budget yet gets one (else `f` is not run and `None` returned).
    fn with_budget<T>(
        &self,
        address: IpAddr,
        create: bool,
        f: impl FnOnce(&mut Budget, Instant) -> T,
    ) -> Option<T> {
        let key = Self::key(address);
        let budget = if create {
            self.budgets.get_with(key, Default::default)
        } else {
            self.budgets.get(&key)?
        };
        let mut budget = budget.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        budget.forget_older_than(now, self.window);
        Some(f(&mut budget, now))
    }

    /// Refuses a source whose counted failures use up its budget: checked before a
    /// token request's body is read. Verifications under way do not count here (a request
    /// may yet wait for one of them instead of verifying); [`Throttle::reserve`] counts
    /// them before any new verification starts.
    pub fn check(&self, address: IpAddr) -> Result<(), Throttled> {
        let (max, window) = (u64::from(self.max_failures), self.window);
        self.with_budget(address, false, |budget, now| {
            if budget.failures.len() as u64 >= max {
                Err(budget.throttled(now, window, max))
            } else {
                Ok(())
            }
        })
        .unwrap_or(Ok(()))
    }

    /// Settles a check that needed no reservation because it ended at once: `failures`
    /// failed verifications (0: it succeeded). The answer may be given only if the budget
    /// has room for them (for a success: any room at all); otherwise the source is
    /// throttled and the answer withheld, so concurrent guesses learn nothing past the
    /// budget.
    pub fn settle(&self, address: IpAddr, failures: u32) -> Result<(), Throttled> {
        let (max, window) = (u64::from(self.max_failures), self.window);
        let needed = u64::from(failures.max(1));
        self.with_budget(address, failures > 0, |budget, now| {
            if budget.used() + needed > max {
                return Err(budget.throttled(now, window, max));
            }
            budget
                .failures
                .extend(std::iter::repeat_n(now, failures as usize));
            Ok(())
        })
        .unwrap_or(Ok(()))
    }

    /// Reserves `count` verifications for `address` before they start, or refuses the
    /// source if that would go past its budget.
    pub fn reserve(
        self: &Arc<Self>,
        address: IpAddr,
        count: u32,
    ) -> Result<Reservation, Throttled> {
        let (max, window) = (u64::from(self.max_failures), self.window);
        let clean = self
            .with_budget(address, true, |budget, now| {
                if budget.used() + u64::from(count) > max {
                    return Err(budget.throttled(now, window, max));
                }
                let clean = budget.used() == 0;
                budget.in_flight += count;
                Ok(clean)
            })
            .unwrap_or(Ok(true))?;
        Ok(Reservation {
            throttle: self.clone(),
            address,
            count,
            started: Arc::new(AtomicBool::new(false)),
            clean,
        })
    }
}

/// Verifications under way, held against their source's budget. [`Reservation::settle`]
/// turns them into counted failures or releases them. Dropped unsettled (the request was
/// abandoned), they count as failures if any of the work had started — else going away
/// mid-verification would make Argon2 work free — and are released if none had.
pub struct Reservation {
    throttle: Arc<Throttle>,
    address: IpAddr,
    count: u32,
    started: Arc<AtomicBool>,
    clean: bool,
}

impl Reservation {
    /// Whether the source had neither a counted failure nor a verification under way when
    /// this was reserved: a client starting up, not a guesser (whose second concurrent
    /// guess is no longer clean).
    pub fn clean(&self) -> bool {
        self.clean
    }

    /// A flag for the work to raise when it starts.
    pub fn started_flag(&self) -> Arc<AtomicBool> {
        self.started.clone()
    }

    /// Ends the verifications: counted as failures if they `failed`, else released.
    pub fn settle(mut self, failed: bool) {
        self.end(failed);
    }

    /// Gives the reservation back, counting it as failures if `failed`; once.
    fn end(&mut self, failed: bool) {
        let count = std::mem::take(&mut self.count);
        if count == 0 {
            return;
        }
        self.throttle
            .with_budget(self.address, failed, |budget, now| {
                budget.in_flight = budget.in_flight.saturating_sub(count);
                if failed {
                    budget
                        .failures
                        .extend(std::iter::repeat_n(now, count as usize));
                }
            });
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let started = self.started.load(Ordering::Acquire);
        self.end(started);
    }
}

/// The address a request comes from, canonical (an IPv4-mapped IPv6 address, as a
/// dual-stack listener reports IPv4 peers, is the IPv4 address): the peer, or — when
/// the peer is a trusted proxy — the rightmost `X-Forwarded-For` entry that is not one.
/// Entries may carry a port (`203.0.113.7:51234`, `[2001:db8::1]:443`).
pub fn source_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
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
            match forwarded_address(entry.trim()) {
                Some(ip) if is_trusted(&ip) => client = ip,
                Some(ip) => return ip,
                // An entry that is not an address: stop at the last one we could trust.
                None => return client,
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, with or without a port and brackets.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(ip.to_canonical())
}

/// An address or CIDR block, as [`crate::TokenEndpointBuilder::trusted_proxies`] takes
/// them: re-exported so a user need not depend on ipnet.
pub use ipnet::IpNet;

/// The trusted proxies (addresses and CIDR blocks), as route data.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max: u32) -> Arc<Throttle> {
        Arc::new(Throttle::new(max, Duration::from_secs(60)))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_is_refused_after_max_failures_and_others_are_not() {
        let t = throttle(3);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(t.settle(a, 1).is_ok());
        assert!(t.settle(a, 1).is_ok());
        assert!(t.check(a).is_ok());
        assert!(t.settle(a, 1).is_ok());
        let wait = t.check(a).unwrap_err().retry_after;
        assert!((59..=60).contains(&wait), "{wait}");
        // Past the budget, neither a failure nor a success is answered.
        assert!(t.settle(a, 1).is_err());
        assert!(t.settle(a, 0).is_err());
        assert!(t.check(b).is_ok());
        assert!(t.settle(b, 0).is_ok());
    }

    #[test]
    fn verifications_in_flight_count_against_the_budget_until_they_end() {
        let t = throttle(3);
        let a = ip("192.0.2.1");
        let first = t.reserve(a, 2).unwrap();
        let second = t.reserve(a, 1).unwrap();
        assert_eq!(
            t.reserve(a, 1).err(),
            Some(Throttled { retry_after: 1 }),
            "three in flight use the budget"
        );
        assert!(
            t.check(a).is_ok(),
            "requests may still come in to wait for those"
        );
        assert!(t.settle(a, 0).is_err());
        first.settle(false);
        assert!(
            t.reserve(a, 2).is_ok(),
            "a success gives its reservation back"
        );
        drop(second);
        let abandoned = t.reserve(a, 1).unwrap();
        abandoned.started_flag().store(true, Ordering::Release);
        drop(abandoned);
        assert!(
            t.reserve(a, 3).is_err(),
            "work abandoned after it started counts"
        );
        let two = t.reserve(a, 1).unwrap();
        two.settle(true);
        assert!(
            t.reserve(a, 2).is_err(),
            "two counted failures, one slot left"
        );
        assert!(t.settle(a, 2).is_err(), "both forms failing need two slots");
        assert!(t.settle(a, 1).is_ok());
        let wait = t.check(a).unwrap_err().retry_after;
        assert!((59..=60).contains(&wait), "{wait}");
    }

    #[test]
    fn only_a_source_with_nothing_counted_and_nothing_in_flight_is_clean() {
        let t = throttle(10);
        let a = ip("192.0.2.1");
        let first = t.reserve(a, 1).unwrap();
        assert!(first.clean());
        // A burst of guesses: only the first is clean.
        let second = t.reserve(a, 1).unwrap();
        assert!(!second.clean());
        drop(second);
        first.settle(true);
        assert!(!t.reserve(a, 1).unwrap().clean(), "a counted failure");
        assert!(t.reserve(ip("192.0.2.2"), 2).unwrap().clean());
    }

    #[test]
    fn the_window_slides_and_retry_after_names_the_oldest_failure() {
        let t = Arc::new(Throttle::new(2, Duration::from_millis(300)));
        let a = ip("192.0.2.1");
        t.settle(a, 1).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        t.settle(a, 1).unwrap();
        assert_eq!(t.check(a).unwrap_err().retry_after, 1);
        std::thread::sleep(Duration::from_millis(200));
        // The first failure lapsed: one more try, then refused again.
        assert!(t.check(a).is_ok());
        t.settle(a, 1).unwrap();
        assert!(t.check(a).is_err());
    }

    #[test]
    fn ipv6_sources_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let t = throttle(2);
        t.settle(ip("2001:db8:1:2::1"), 1).unwrap();
        t.settle(ip("2001:db8:1:2:ffff::9"), 1).unwrap();
        assert!(t.check(ip("2001:db8:1:2::77")).is_err(), "same /64");
        assert!(t.check(ip("2001:db8:1:3::1")).is_ok(), "another /64");
        t.settle(ip("::ffff:192.0.2.9"), 1).unwrap();
        t.settle(ip("192.0.2.9"), 1).unwrap();
        assert!(t.check(ip("192.0.2.9")).is_err(), "one IPv4 source");
        assert!(t.check(ip("192.0.2.10")).is_ok());
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
        let trusted: Vec<IpNet> = vec!["10.0.0.1/32".parse().unwrap()];
        let check = |peer: &str, forwarded: &[&str]| {
            source_address(ip(peer), &headers(forwarded), &trusted)
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
        // A dual-stack listener reports the proxy as an IPv4-mapped address.
        assert_eq!(
            check("::ffff:10.0.0.1", &["203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_entries_may_carry_ports_and_brackets_and_proxies_may_be_blocks() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let check = |peer: &str, forwarded: &[&str]| {
            source_address(ip(peer), &headers(forwarded), &trusted)
        };
        assert_eq!(check("10.9.8.7", &["203.0.113.7:51234"]), ip("203.0.113.7"));
        assert_eq!(check("10.9.8.7", &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(check("10.9.8.7", &["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(
            check(
                "fd00::5",
                &["198.51.100.1, ::ffff:203.0.113.8, 10.1.1.1:80"]
            ),
            ip("203.0.113.8")
        );
        assert_eq!(check("11.0.0.1", &["203.0.113.7"]), ip("11.0.0.1"));
    }
}
