//! The HTTP client every check uses, and a bounded body reader.

use std::net::{IpAddr, SocketAddr};

use futures_util::StreamExt;
use reqwest::{Client, Response};

use crate::config::SmokeConfig;

/// Largest body read from `/health`, `/ready`, `/version` or an error answer: they are tiny JSON.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A client that opens a new connection for every request (no idle pool), so that rounds
/// behind a load balancer reach more than one target. Trusts Mozilla's roots bundled into
/// the binary, so the Lambda and scratch images need no CA store.
///
/// With `connect_to`, connections go to those addresses in turn (the next one when a connect
/// fails), starting at a different one each round so every load balancer node gets checked.
pub(crate) fn client(config: &SmokeConfig, round: u32) -> Result<Client, reqwest::Error> {
    let mut builder = Client::builder()
        .user_agent(concat!("greenlight-smoke/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(0)
        .connect_timeout(config.request_timeout)
        .tls_certs_only(tls_roots());
    if let (Some(host), false) = (config.base_url.host_str(), config.connect_to.is_empty()) {
        builder = builder.resolve_to_addrs(host, &rotated(&config.connect_to, round));
    }
    builder.build()
}

/// Mozilla's roots, bundled into the binary: the Lambda and scratch images have no CA store.
pub fn tls_roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
}

/// The addresses as socket addresses (port 0: reqwest keeps the URL's port), rotated by round.
fn rotated(addresses: &[IpAddr], round: u32) -> Vec<SocketAddr> {
    let start = usize::try_from(round).unwrap_or(0) % addresses.len().max(1);
    addresses[start..]
        .iter()
        .chain(&addresses[..start])
        .map(|ip| SocketAddr::new(*ip, 0))
        .collect()
}

/// Reads at most [`MAX_BODY_BYTES`] of a body; a longer body is cut there.
pub(crate) async fn read_limited(response: Response) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = MAX_BODY_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A short, one-line excerpt of a body for a failure detail.
pub fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MAX {
        format!("{}…", flat.chars().take(MAX).collect::<String>())
    } else {
        flat
    }
}

/// An error with its sources ("error sending request: connection refused"), which reqwest's
/// Display alone leaves out.
pub fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_start_at_different_addresses() {
        let ips: Vec<IpAddr> = vec![[10, 0, 0, 1].into(), [10, 0, 1, 1].into()];
        let first = |round| rotated(&ips, round)[0].ip();
        assert_eq!(first(0), ips[0]);
        assert_eq!(first(1), ips[1]);
        assert_eq!(first(2), ips[0]);
        assert_eq!(rotated(&ips, 7).len(), 2, "every address stays a fallback");
        assert!(rotated(&[], 3).is_empty());
    }
}
