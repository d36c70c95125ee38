//! The plain checks: `/health`, `/ready` and `/version`.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde::Deserialize;
use tokio::time::{Instant, timeout};

use crate::config::SmokeConfig;
use crate::http::{describe, excerpt, read_limited};
use crate::report::{Check, ServerVersion};

/// GETs `path` within the request timeout: the status and (bounded) body, or why not.
async fn get(
    client: &Client,
    config: &SmokeConfig,
    path: &str,
) -> Result<(StatusCode, String), String> {
    let url = config.endpoint(path);
    let fetch = async {
        let response = client.get(&url).send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        let body = read_limited(response).await.map_err(|e| describe(&e))?;
        Ok((status, body))
    };
    match timeout(config.request_timeout, fetch).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "GET {path} got no answer within {} ms",
            config.request_timeout.as_millis()
        )),
    }
}

/// `/health` must answer 200.
pub(crate) async fn health(client: &Client, config: &SmokeConfig, round: u32) -> Check {
    let start = Instant::now();
    let (passed, detail) = judge("/health", get(client, config, "/health").await);
    Check::new("health", round, passed, start.elapsed(), detail)
}

/// `/ready` must answer 200 within the request timeout. A 503 is asked again until then: a task
/// that just started may still be loading its knowledge base, which is not a bad build.
pub(crate) async fn ready(client: &Client, config: &SmokeConfig, round: u32) -> Check {
    const RETRY_AFTER: Duration = Duration::from_millis(250);
    let start = Instant::now();
    let until = start + config.request_timeout;
    loop {
        let answer = get(client, config, "/ready").await;
        let unavailable = matches!(answer, Ok((StatusCode::SERVICE_UNAVAILABLE, _)));
        if !unavailable || Instant::now() + RETRY_AFTER >= until {
            let (passed, mut detail) = judge("/ready", answer);
            if unavailable {
                detail.push_str(&format!(
                    " (still after {} ms)",
                    start.elapsed().as_millis()
                ));
            }
            return Check::new("ready", round, passed, start.elapsed(), detail);
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

fn judge(path: &str, answer: Result<(StatusCode, String), String>) -> (bool, String) {
    match answer {
        Ok((StatusCode::OK, body)) => (true, format!("200 {}", excerpt(&body))),
        Ok((status, body)) => (
            false,
            format!("GET {path} answered {status}: {}", excerpt(&body)),
        ),
        Err(e) => (false, e),
    }
}

#[derive(Deserialize)]
struct VersionBody {
    version: Option<String>,
    commit: Option<String>,
    image: Option<String>,
}

/// `/version` must answer 200 with JSON; its `image` must equal the expected one when given.
pub(crate) async fn version(
    client: &Client,
    config: &SmokeConfig,
    round: u32,
) -> (Check, Option<ServerVersion>) {
    let start = Instant::now();
    let (passed, detail, seen) = match get(client, config, "/version").await {
        Ok((StatusCode::OK, body)) => match serde_json::from_str::<VersionBody>(&body) {
            Ok(v) => {
                let seen = ServerVersion {
                    version: v.version.unwrap_or_else(|| "missing".into()),
                    commit: v.commit.unwrap_or_else(|| "missing".into()),
                    image: v.image.unwrap_or_else(|| "missing".into()),
                };
                let described = format!(
                    "version {} commit {} image {}",
                    seen.version, seen.commit, seen.image
                );
                match &config.expect_image {
                    Some(expected) if *expected != seen.image => (
                        false,
                        format!(
                            "image mismatch: expected {expected}, server runs {}",
                            seen.image
                        ),
                        Some(seen),
                    ),
                    _ => (true, described, Some(seen)),
                }
            }
            Err(e) => (
                false,
                format!(
                    "/version is not the expected JSON ({e}): {}",
                    excerpt(&body)
                ),
                None,
            ),
        },
        Ok((status, body)) => (
            false,
            format!("GET /version answered {status}: {}", excerpt(&body)),
            None,
        ),
        Err(e) => (false, e, None),
    };
    (
        Check::new("version", round, passed, start.elapsed(), detail),
        seen,
    )
}
