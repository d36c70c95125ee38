//! Per-client rate limit, keyed on the address the ALB forwards. It knows nothing of chats: the
//! router puts it in front of the chat routes.
//!
//! The ALB appends the peer it saw to `X-Forwarded-For`, so the RIGHTMOST entry is the real client;
//! entries to its left come from the client and can be forged. Without the header (no ALB), the
//! socket peer is the key.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The client a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey(pub IpAddr);

impl ClientKey {
    fn of(req: &Request) -> Self {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        Self::from_parts(req.headers(), peer)
    }

    /// The rightmost parseable `X-Forwarded-For` entry, else the socket peer, else unspecified.
    pub fn from_parts(headers: &HeaderMap, peer: Option<SocketAddr>) -> Self {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .next_back();
        Self(
            forwarded
                .or(peer.map(|p| p.ip()))
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        )
    }
}

/// A keyed token bucket (governor) with idle keys evicted, so memory stays bounded.
pub struct ClientRateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    per_minute: u32,
    /// Per-process random key: logs carry a hash of the client address, not the address.
    hasher: RandomState,
}

impl ClientRateLimiter {
    /// `None` when `per_minute` is 0 (rate limiting off).
    pub fn new(per_minute: u32, burst: u32) -> Option<Arc<Self>> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        Some(Arc::new(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            per_minute,
            hasher: RandomState::new(),
        }))
    }

    /// Ok, or how long the client must wait.
    pub fn check(&self, key: ClientKey) -> Result<(), Duration> {
        self.limiter
            .check_key(&key.0)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Drops keys whose bucket is full again (indistinguishable from a new client).
    pub fn evict_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    #[cfg(test)]
    pub fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }

    /// A non-reversible (keyed, per-process) tag of the client for log lines.
    pub fn client_tag(&self, key: ClientKey) -> String {
        format!("{:016x}", self.hasher.hash_one(key.0))
    }

    /// Evicts idle clients every `period` until the runtime stops.
    pub fn spawn_eviction(self: &Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(limiter) = weak.upgrade() else { break };
                limiter.evict_idle();
            }
        });
    }
}

/// Middleware: puts the request's [`ClientKey`] in its extensions, for [`limit`], the handlers and
/// the log.
pub async fn identify_client(mut req: Request, next: Next) -> Response {
    let key = ClientKey::of(&req);
    req.extensions_mut().insert(key);
    next.run(req).await
}

/// Middleware: 429 with `Retry-After` and a JSON error when the client is over the limit.
pub async fn limit(
    State(limiter): State<Arc<ClientRateLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    // Normally set by `identify_client`, which runs first.
    let key = req
        .extensions()
        .get::<ClientKey>()
        .copied()
        .unwrap_or_else(|| ClientKey::of(&req));
    match limiter.check(key) {
        Ok(()) => next.run(req).await,
        Err(wait) => ApiError::rate_limited(wait, limiter.per_minute).reject(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn uses_the_rightmost_forwarded_entry() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().expect("addr");
        let key = ClientKey::from_parts(&headers(&["1.1.1.1, 2.2.2.2"]), Some(peer));
        assert_eq!(key.0.to_string(), "2.2.2.2");
        // Two header lines are one list, in order.
        let key = ClientKey::from_parts(&headers(&["1.1.1.1", "3.3.3.3, 4.4.4.4"]), Some(peer));
        assert_eq!(key.0.to_string(), "4.4.4.4");
        let key = ClientKey::from_parts(&headers(&["2001:db8::1"]), Some(peer));
        assert_eq!(key.0.to_string(), "2001:db8::1");
    }

    #[test]
    fn falls_back_to_the_peer() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().expect("addr");
        assert_eq!(
            ClientKey::from_parts(&headers(&[]), Some(peer)).0,
            peer.ip()
        );
        assert_eq!(
            ClientKey::from_parts(&headers(&["garbage"]), Some(peer)).0,
            peer.ip()
        );
        assert!(
            ClientKey::from_parts(&headers(&[]), None)
                .0
                .is_unspecified()
        );
    }

    #[test]
    fn limits_per_client_and_evicts() {
        let limiter = ClientRateLimiter::new(60, 2).expect("enabled");
        let a = ClientKey("1.1.1.1".parse().expect("ip"));
        let b = ClientKey("2.2.2.2".parse().expect("ip"));
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).expect_err("third is over the burst");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check(b).is_ok());
        assert_eq!(limiter.tracked_clients(), 2);
        assert!(ClientRateLimiter::new(0, 5).is_none());
    }
}
