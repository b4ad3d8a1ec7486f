//! Token guessing, slowed and made visible. Every refused credential (API, JWT or agent token) counts against
//! the address it came from; a source that is refused `limit` times ([`FAILURES_ALLOWED`] unless configured)
//! within [`WINDOW`] gets 429,
//! without a database lookup, until its window ends, and the trail records it once per window. Counts are
//! kept in this process only (each replica limits on its own) and for at most [`SOURCES_KEPT`] sources.
//!
//! Tokens carry 256 random bits, so guessing cannot succeed; what this bounds is the database work a
//! guesser causes, and it tells operators that someone is trying.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Refusals a source may have in one window before it is stopped, by default.
pub const FAILURES_ALLOWED: u32 = 30;
/// How long a window lasts, from a source's first refusal.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Sources whose counts are kept at once; beyond, expired windows are dropped, then the oldest.
pub const SOURCES_KEPT: usize = 10_000;

/// An IPv6 host has a /64 of its own to pick addresses from: it is counted as one source.
fn source_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// What a refusal did to its source's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Still under the limit.
    Below,
    /// This refusal reached the limit: the source is stopped from now on (record it once).
    Stopped,
}

#[derive(Debug)]
pub struct AuthThrottle {
    limit: u32,
    windows: Mutex<HashMap<IpAddr, Window>>,
    refused: AtomicU64,
    throttled: AtomicU64,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        AuthThrottle::new(FAILURES_ALLOWED)
    }
}

impl AuthThrottle {
    /// A throttle stopping a source at its `limit`-th refusal in a window.
    pub fn new(limit: u32) -> Self {
        AuthThrottle {
            limit: limit.max(1),
            windows: Mutex::default(),
            refused: AtomicU64::default(),
            throttled: AtomicU64::default(),
        }
    }

    /// Refusals a source may have in one window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// `Err(retry after)` when `source` is stopped now.
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        let source = source_key(source);
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        match windows.get(&source) {
            Some(window)
                if window.failures >= self.limit && now.duration_since(window.started) < WINDOW =>
            {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                Err(WINDOW.saturating_sub(now.duration_since(window.started)))
            }
            _ => Ok(()),
        }
    }

    /// Counts a refused credential from `source`.
    pub fn refused(&self, source: IpAddr, now: Instant) -> Counted {
        let source = source_key(source);
        self.refused.fetch_add(1, Ordering::Relaxed);
        let Ok(mut windows) = self.windows.lock() else {
            return Counted::Below;
        };
        if windows.len() >= SOURCES_KEPT && !windows.contains_key(&source) {
            windows.retain(|_, window| now.duration_since(window.started) < WINDOW);
            if windows.len() >= SOURCES_KEPT
                && let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, window)| window.started)
                    .map(|(address, _)| *address)
            {
                windows.remove(&oldest);
            }
        }
        let window = windows.entry(source).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        if window.failures == self.limit {
            Counted::Stopped
        } else {
            Counted::Below
        }
    }

    /// Refused credentials since start.
    pub fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Requests answered 429 since start.
    pub fn throttled_total(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_stopped_at_the_limit_until_its_window_ends_and_others_are_not() {
        let throttle = AuthThrottle::default();
        let (guesser, other) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let start = Instant::now();
        for _ in 1..FAILURES_ALLOWED {
            assert_eq!(throttle.refused(guesser, start), Counted::Below);
            assert_eq!(throttle.check(guesser, start), Ok(()));
        }
        assert_eq!(throttle.refused(guesser, start), Counted::Stopped);
        let later = start + Duration::from_secs(10);
        assert_eq!(
            throttle.check(guesser, later),
            Err(WINDOW - Duration::from_secs(10))
        );
        assert_eq!(throttle.check(other, later), Ok(()));
        assert_eq!(
            throttle.refused(guesser, later),
            Counted::Below,
            "recorded once"
        );
        assert_eq!(throttle.check(guesser, start + WINDOW), Ok(()));
        assert_eq!(throttle.refused_total(), u64::from(FAILURES_ALLOWED) + 1);
        assert_eq!(throttle.throttled_total(), 1);
    }

    #[test]
    fn one_ipv6_host_is_one_source_whatever_address_of_its_64_it_uses() {
        let throttle = AuthThrottle::default();
        let now = Instant::now();
        for i in 0..FAILURES_ALLOWED {
            let address: std::net::Ipv6Addr =
                (0x2001_0db8_0000_0001_0000_0000_0000_0000u128 + u128::from(i)).into();
            throttle.refused(IpAddr::V6(address), now);
        }
        let another: std::net::Ipv6Addr = 0x2001_0db8_0000_0001_ffff_0000_0000_0001u128.into();
        assert!(throttle.check(IpAddr::V6(another), now).is_err());
        let next_64: std::net::Ipv6Addr = 0x2001_0db8_0000_0002_0000_0000_0000_0001u128.into();
        assert_eq!(throttle.check(IpAddr::V6(next_64), now), Ok(()));
    }

    #[test]
    fn the_kept_sources_are_bounded() {
        let throttle = AuthThrottle::default();
        let now = Instant::now();
        for i in 0..(SOURCES_KEPT as u32 + 50) {
            throttle.refused(IpAddr::from(i.to_be_bytes()), now);
        }
        let kept = throttle
            .windows
            .lock()
            .map(|windows| windows.len())
            .unwrap_or(0);
        assert!(kept <= SOURCES_KEPT, "{kept}");
    }
}
