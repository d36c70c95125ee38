//! What the network providers (`openai`, `bedrock`) share: the answer's life from the first
//! token on, retries before the first token, TLS roots that need no OS certificate store, and
//! token estimates.

mod live;
mod sse;

pub(crate) use live::{Decoded, EventSource, Live, answer_stream, open_answer};
pub use sse::{SseError, SseReader};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::{FinishReason, ProviderError, ProviderEvent, Usage};

/// The longest `Retry-After` we wait for; a longer one ends the answer with `RateLimited`.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Whether an error before the first token may be retried. Timeouts are not: the user has already
/// waited the whole first-token budget. Client errors (4xx but 408/429) are not: they repeat.
pub(crate) fn retryable_before_first_token(error: &ProviderError) -> bool {
    match error {
        ProviderError::Unavailable(_) | ProviderError::Interrupted(_) => true,
        ProviderError::RateLimited { retry_after } => {
            retry_after.is_none_or(|wait| wait <= MAX_RETRY_AFTER)
        }
        ProviderError::Upstream { status, .. } => *status == 408 || *status >= 500,
        ProviderError::Timeout(_)
        | ProviderError::Malformed(_)
        | ProviderError::Misconfigured(_) => false,
    }
}

/// Runs `attempt` up to `1 + max_retries` times with exponential backoff and jitter, honouring a
/// rate limit's `Retry-After`. Callers only retry work that sent no token to the user yet.
pub(crate) async fn with_retries<T, F, Fut>(
    max_retries: u32,
    attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(4))
        .with_max_times(usize::try_from(max_retries).unwrap_or(usize::MAX))
        .with_jitter();
    attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(retryable_before_first_token)
        .adjust(|error, planned| match (error, planned) {
            // `planned` is None once the attempts are used up: keep it so.
            (ProviderError::RateLimited { retry_after: Some(wait) }, Some(_)) => {
                Some((*wait).min(MAX_RETRY_AFTER))
            }
            _ => planned,
        })
        .notify(|error, wait| {
            ::metrics::counter!(crate::metrics::UPSTREAM_RETRIES).increment(1);
            tracing::warn!(error = %error, wait_ms = wait.as_millis() as u64, "retrying the model request");
        })
        .await
}

/// A rustls configuration trusting the bundled Mozilla roots (`webpki-root-certs`, the same
/// bundle Bedrock's client and the smoke check use: one copy in the binary): the image is
/// `scratch`, with no OS certificate store to read. aws-lc-rs is the crypto provider because it is
/// reqwest's and the AWS SDK's default: one crypto library in the binary, and any other reqwest
/// client in the workspace still finds a provider.
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, ProviderError> {
    let roots = bundled_roots()?;
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ProviderError::Misconfigured(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The bundled roots as rustls trust anchors, parsed from DER each time a client is built (a
/// few per process).
fn bundled_roots() -> Result<rustls::RootCertStore, ProviderError> {
    let mut roots = rustls::RootCertStore::empty();
    let (_, ignored) =
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    if roots.is_empty() {
        return Err(ProviderError::Misconfigured(
            "TLS setup: none of the bundled root certificates parse".to_owned(),
        ));
    }
    if ignored > 0 {
        tracing::warn!(
            ignored,
            "bundled root certificates that do not parse were skipped"
        );
    }
    Ok(roots)
}

/// A rough token count (about 4 characters a token) for upstreams that report no usage.
pub(crate) fn estimate_tokens(text: &str) -> u32 {
    tokens_of_chars(text.chars().count())
}

fn tokens_of_chars(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// An answer's token counts: as the upstream reports them, else estimated from the prompt and
/// the text streamed so far.
#[derive(Debug)]
pub(crate) struct UsageTally {
    prompt_estimate: u32,
    completion_chars: usize,
    reported: Option<Usage>,
}

impl UsageTally {
    pub(crate) fn new(prompt_estimate: u32) -> Self {
        Self {
            prompt_estimate,
            completion_chars: 0,
            reported: None,
        }
    }

    /// Counts streamed text towards the estimate.
    pub(crate) fn add_text(&mut self, text: &str) {
        self.completion_chars += text.chars().count();
    }

    /// The upstream's own counts, which win over the estimate.
    pub(crate) fn report(&mut self, usage: Usage) {
        self.reported = Some(usage);
    }

    /// The answer's closing event; a stop unless the upstream said otherwise.
    pub(crate) fn done_event(&self, finish_reason: Option<FinishReason>) -> ProviderEvent {
        ProviderEvent::Done {
            finish_reason: finish_reason.unwrap_or(FinishReason::Stop),
            usage: self.reported.unwrap_or(Usage {
                prompt_tokens: self.prompt_estimate,
                completion_tokens: tokens_of_chars(self.completion_chars),
            }),
        }
    }
}

/// Prompt tokens of a conversation, estimated: text plus a few tokens of framing a message.
pub(crate) fn estimate_prompt_tokens(messages: &[super::Message]) -> u32 {
    messages
        .iter()
        .map(|m| estimate_tokens(&m.content).saturating_add(4))
        .fold(0u32, u32::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules() {
        assert!(retryable_before_first_token(&ProviderError::Unavailable(
            "x".into()
        )));
        assert!(retryable_before_first_token(&ProviderError::Upstream {
            status: 503,
            message: String::new()
        }));
        assert!(!retryable_before_first_token(&ProviderError::Upstream {
            status: 400,
            message: String::new()
        }));
        assert!(retryable_before_first_token(&ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }));
        assert!(!retryable_before_first_token(&ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(60))
        }));
        assert!(!retryable_before_first_token(&ProviderError::Timeout(
            Duration::from_secs(1)
        )));
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcde"), 2);
    }

    #[test]
    fn a_reported_usage_wins_over_the_estimate() {
        let mut tally = UsageTally::new(9);
        tally.add_text("abcd");
        tally.add_text("é");
        let done = |finish_reason, prompt_tokens, completion_tokens| ProviderEvent::Done {
            finish_reason,
            usage: Usage {
                prompt_tokens,
                completion_tokens,
            },
        };
        assert_eq!(tally.done_event(None), done(FinishReason::Stop, 9, 2));
        tally.report(Usage {
            prompt_tokens: 7,
            completion_tokens: 3,
        });
        assert_eq!(
            tally.done_event(Some(FinishReason::Length)),
            done(FinishReason::Length, 7, 3)
        );
    }

    #[test]
    fn tls_config_builds_with_bundled_roots() {
        assert!(tls_config().is_ok());
    }

    #[test]
    fn every_bundled_root_is_trusted() {
        let roots = bundled_roots().expect("the bundled roots parse");
        assert_eq!(roots.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(roots.len() > 100, "the Mozilla bundle has ~150 roots");
    }
}
