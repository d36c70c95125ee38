//! The HTTP client every check uses, and a bounded body reader.

use futures_util::StreamExt;
use reqwest::{Client, Response};

use crate::config::SmokeConfig;

/// Largest body read from `/health`, `/ready`, `/version` or an error answer: they are tiny JSON.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A client that opens a new connection for every request (no idle pool), so that rounds
/// behind a load balancer reach more than one target. Trusts Mozilla's roots bundled into
/// the binary, so the Lambda and scratch images need no CA store.
pub(crate) fn client(config: &SmokeConfig) -> Result<Client, reqwest::Error> {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok());
    Client::builder()
        .user_agent(concat!("greenlight-smoke/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(0)
        .connect_timeout(config.request_timeout)
        .tls_certs_only(roots)
        .build()
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
pub(crate) fn excerpt(body: &str) -> String {
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
pub(crate) fn describe(err: &dyn std::error::Error) -> String {
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
