//! The `openai` provider: any OpenAI-compatible chat completions API, streamed over SSE.

mod wire;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode, Url};

use super::upstream::{
    Decoded, EventSource, Live, SseError, SseReader, answer_stream, estimate_prompt_tokens,
    open_answer, tls_config, with_retries,
};
use super::{
    ChatRequest, OpenAiSettings, Provider, ProviderError, ProviderEvent, ProviderStream, Readiness,
};
pub use wire::Reader as OpenAiChunkReader;
use wire::{Reader, RequestBody, StreamOptions, error_message};

/// Talks to an OpenAI-compatible `/chat/completions` endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    completions_url: Url,
    model: String,
    first_token_timeout: Duration,
    idle_timeout: Duration,
    max_retries: u32,
    /// OpenAI's own API wants `max_completion_tokens` (newer models reject `max_tokens`); most
    /// compatible servers only know `max_tokens`.
    use_max_completion_tokens: bool,
}

impl OpenAiProvider {
    /// Checks the settings and builds the HTTP client (no network yet).
    pub fn new(settings: OpenAiSettings) -> Result<Self, ProviderError> {
        let base = Url::parse(settings.base_url.trim()).map_err(|e| {
            ProviderError::Misconfigured(format!("OPENAI_BASE_URL is not a URL: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ProviderError::Misconfigured(
                "OPENAI_BASE_URL must be an http:// or https:// URL with a host".to_owned(),
            ));
        }
        let completions_url = Url::parse(&format!(
            "{}/chat/completions",
            base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| ProviderError::Misconfigured(format!("OPENAI_BASE_URL: {e}")))?;
        let is_openai = base.host_str() == Some("api.openai.com");
        let api_key = settings.api_key.filter(|k| !k.trim().is_empty());
        if is_openai && api_key.is_none() {
            return Err(ProviderError::Misconfigured(
                "OPENAI_API_KEY is required for api.openai.com".to_owned(),
            ));
        }
        if settings.model.trim().is_empty() {
            return Err(ProviderError::Misconfigured(
                "LLM_MODEL must name the model for the openai provider".to_owned(),
            ));
        }

        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.trim())).map_err(|_| {
                    ProviderError::Misconfigured(
                        "OPENAI_API_KEY contains characters not allowed in an HTTP header"
                            .to_owned(),
                    )
                })?;
            // Keeps the key out of debug output.
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(settings.connect_timeout)
            .default_headers(headers)
            .user_agent(concat!("greenlight/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Misconfigured(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                completions_url,
                model: settings.model.trim().to_owned(),
                first_token_timeout: settings.first_token_timeout,
                idle_timeout: settings.idle_timeout,
                max_retries: settings.max_retries,
                use_max_completion_tokens: is_openai,
            }),
        })
    }
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.inner.model
    }

    fn readiness(&self) -> Readiness {
        // Everything that can be checked without the network was checked in `new`.
        Readiness::Ready
    }

    fn stream(&self, request: ChatRequest) -> ProviderStream {
        let inner = self.inner.clone();
        let max_tokens = Some(request.max_tokens);
        let body = RequestBody {
            model: &inner.model,
            messages: &request.messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: max_tokens.filter(|_| !inner.use_max_completion_tokens),
            max_completion_tokens: max_tokens.filter(|_| inner.use_max_completion_tokens),
            temperature: request.temperature,
        };
        // Serialized once: every retry sends the same bytes.
        let body = match serde_json::to_vec(&body) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                let error = ProviderError::Malformed(format!("cannot encode the request: {e}"));
                return Box::pin(futures_util::stream::once(async move { Err(error) }));
            }
        };
        let prompt_estimate = estimate_prompt_tokens(&request.messages);
        answer_stream(async move {
            with_retries(inner.max_retries, || {
                open(inner.clone(), body.clone(), prompt_estimate)
            })
            .await
        })
    }
}

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// One attempt: sends the request and waits for the first token, all within the first-token
/// budget.
async fn open(
    inner: Arc<Inner>,
    body: Bytes,
    prompt_estimate: u32,
) -> Result<Live<Sse>, ProviderError> {
    open_answer(inner.first_token_timeout, inner.idle_timeout, async {
        let response = inner
            .client
            .post(inner.completions_url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(send_error)?;
        if !response.status().is_success() {
            return Err(status_error(response).await);
        }
        Ok(Sse {
            body: Box::pin(response.bytes_stream()),
            events: SseReader::new(),
            reader: Reader::new(prompt_estimate),
        })
    })
    .await
}

/// A request that got no response.
fn send_error(error: reqwest::Error) -> ProviderError {
    let error = error.without_url();
    if error.is_connect() {
        ProviderError::Unavailable(format!("cannot connect: {}", source_chain(&error)))
    } else {
        ProviderError::Unavailable(source_chain(&error))
    }
}

/// `error` and its causes, as one line (reqwest's own message says little).
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A non-2xx response.
async fn status_error(response: Response) -> ProviderError {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = response.bytes().await.unwrap_or_default();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ProviderError::RateLimited { retry_after };
    }
    ProviderError::Upstream {
        status: status.as_u16(),
        message: error_message(&body),
    }
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds. The HTTP-date form is not honoured:
/// no known LLM API sends it, and the backoff then applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// The SSE body of an answer being streamed.
struct Sse {
    body: BodyStream,
    events: SseReader,
    reader: Reader,
}

/// One read of the answer: an event's data, or how the body ended.
enum Read {
    Event(Result<String, SseError>),
    Transport(reqwest::Error),
    End,
}

impl EventSource for Sse {
    type Item = Read;

    /// The next event already received, else reads the body until one is complete. Cancel-safe:
    /// bytes are only taken from the body once they are ready, and then kept in `events`.
    async fn next_item(&mut self) -> Self::Item {
        loop {
            if let Some(event) = self.events.next_event() {
                return Read::Event(event);
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.events.push(&bytes),
                Some(Err(error)) => return Read::Transport(error),
                None => return Read::End,
            }
        }
    }

    fn decode(&mut self, item: Self::Item) -> Result<Decoded, ProviderError> {
        match item {
            Read::Event(Ok(data)) => Ok(Decoded {
                delta: self.reader.on_data(&data)?,
                finished: self.reader.is_done(),
            }),
            // An upstream that said why it stopped has answered in full even if the connection
            // then breaks before `[DONE]`.
            Read::Transport(_) | Read::End if self.reader.has_finished() => Ok(Decoded {
                delta: None,
                finished: true,
            }),
            Read::Transport(error) => Err(ProviderError::Interrupted(source_chain(
                &error.without_url(),
            ))),
            Read::Event(Err(SseError::Utf8(error))) => Err(ProviderError::Malformed(format!(
                "the stream is not UTF-8: {error}"
            ))),
            Read::End => Err(ProviderError::Interrupted(
                "the stream ended before the answer was finished".to_owned(),
            )),
        }
    }

    fn finish(&mut self) -> ProviderEvent {
        let done = self.reader.done_event();
        // When the body's end is already buffered, reading it lets the connection go back to the
        // pool; never wait for it.
        let _ = self.body.next().now_or_never();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base_url: &str) -> OpenAiSettings {
        OpenAiSettings {
            base_url: base_url.to_owned(),
            api_key: None,
            model: "m".to_owned(),
            connect_timeout: Duration::from_secs(1),
            first_token_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_retries: 0,
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let err = |url: &str| {
            OpenAiProvider::new(settings(url))
                .err()
                .map(|e| e.to_string())
        };
        assert!(err("not a url").is_some_and(|e| e.contains("OPENAI_BASE_URL")));
        assert!(err("ftp://x/v1").is_some_and(|e| e.contains("OPENAI_BASE_URL")));
        assert!(err("https://api.openai.com/v1").is_some_and(|e| e.contains("OPENAI_API_KEY")));
        let mut no_model = settings("http://127.0.0.1:1/v1");
        no_model.model = " ".to_owned();
        assert!(OpenAiProvider::new(no_model).is_err_and(|e| e.to_string().contains("LLM_MODEL")));
        let mut bad_key = settings("http://127.0.0.1:1/v1");
        bad_key.api_key = Some("a\nb".to_owned());
        assert!(
            OpenAiProvider::new(bad_key).is_err_and(|e| e.to_string().contains("OPENAI_API_KEY"))
        );
    }

    #[test]
    fn https_client_builds_without_an_os_certificate_store() {
        let mut openai = settings("https://api.openai.com/v1/");
        openai.api_key = Some("sk-test".to_owned());
        let provider = OpenAiProvider::new(openai).expect("builds");
        assert_eq!(
            provider.inner.completions_url.as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert!(provider.inner.use_max_completion_tokens);
        // The key never shows in debug output.
        assert!(!format!("{provider:?}").contains("sk-test"));
    }

    #[test]
    fn retry_after_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        headers.clear();
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
