//! The `offline` provider: answers with no network and no model, from the knowledge base of the
//! project's own docs bundled into the binary (`greenlight-knowledge`).
//!
//! The knowledge base is indexed on a thread of its own when the provider is created, so the
//! server binds and answers `/health` at once; `readiness()` says "knowledge base not loaded"
//! until the index is ready. An answer is the label, then the best passages quoted with their
//! sources, streamed in small pieces like a model's answer.

pub(crate) mod compose;

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use greenlight_knowledge::{KnowledgeBase, KnowledgeError};
use tokio::sync::watch;

use crate::provider::{
    ChatRequest, Provider, ProviderError, ProviderEvent, ProviderStream, Readiness, Usage,
};

/// The model name the offline provider reports by default.
pub const DEFAULT_MODEL: &str = "greenlight-offline";

/// The readiness reason while the index is being built; `GET /ready` shows it.
pub const NOT_LOADED: &str = "knowledge base not loaded";

/// How long an answer asked for before the index is ready waits for it. Loading takes
/// milliseconds; this only matters when a chat arrives in the first instant after start.
const LOAD_WAIT: Duration = Duration::from_secs(5);

/// Settings of the offline provider.
#[derive(Debug, Clone)]
pub struct OfflineSettings {
    /// Shown by `/version` and `/v1/models`.
    pub model: String,
    /// Pause before each streamed piece after the first, so the answer streams like a model's;
    /// zero sends the whole answer at once (benchmarks).
    pub pacing: Duration,
    /// How many passages an answer quotes at most.
    pub passages: usize,
}

impl Default for OfflineSettings {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.to_owned(),
            pacing: Duration::from_millis(3),
            passages: 3,
        }
    }
}

/// Where loading the knowledge base stands.
#[derive(Clone)]
enum Load {
    Loading,
    Loaded(Arc<KnowledgeBase>),
    Failed(String),
}

/// Answers from the bundled docs. Create with [`OfflineProvider::spawn`].
pub struct OfflineProvider {
    settings: OfflineSettings,
    load: watch::Sender<Load>,
}

impl OfflineProvider {
    /// Starts loading the bundled knowledge base on a thread of its own and returns at once.
    pub fn spawn(settings: OfflineSettings) -> Arc<Self> {
        Self::spawn_with(settings, KnowledgeBase::load)
    }

    /// [`OfflineProvider::spawn`] with another loader (tests: a slow or failing one).
    fn spawn_with<F>(settings: OfflineSettings, loader: F) -> Arc<Self>
    where
        F: FnOnce() -> Result<KnowledgeBase, KnowledgeError> + Send + 'static,
    {
        let (load, _) = watch::channel(Load::Loading);
        let done = load.clone();
        let spawned = std::thread::Builder::new()
            .name("knowledge-load".to_owned())
            .spawn(move || {
                let state = match loader() {
                    Ok(kb) => Load::Loaded(Arc::new(kb)),
                    Err(error) => Load::Failed(error.to_string()),
                };
                done.send_replace(state);
            });
        if let Err(error) = spawned {
            load.send_replace(Load::Failed(format!(
                "cannot start the loading thread: {error}"
            )));
        }
        Arc::new(Self { settings, load })
    }

    /// A provider over an already loaded knowledge base.
    #[cfg(test)]
    pub fn with_knowledge_base(settings: OfflineSettings, kb: Arc<KnowledgeBase>) -> Arc<Self> {
        let (load, _) = watch::channel(Load::Loaded(kb));
        Arc::new(Self { settings, load })
    }

    /// The knowledge base once loaded.
    #[cfg(test)]
    pub fn knowledge_base(&self) -> Option<Arc<KnowledgeBase>> {
        match &*self.load.borrow() {
            Load::Loaded(kb) => Some(Arc::clone(kb)),
            Load::Loading | Load::Failed(_) => None,
        }
    }

    /// Waits until loading has finished, well or not, and returns the resulting readiness.
    #[cfg(test)]
    pub async fn loaded(&self) -> Readiness {
        let mut load = self.load.subscribe();
        // The sender lives in `self`, so waiting cannot fail while `self` is borrowed.
        let _ = load.wait_for(|l| !matches!(l, Load::Loading)).await;
        self.readiness()
    }
}

impl Provider for OfflineProvider {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn model(&self) -> &str {
        &self.settings.model
    }

    fn readiness(&self) -> Readiness {
        match &*self.load.borrow() {
            Load::Loaded(_) => Readiness::Ready,
            Load::Loading => Readiness::NotReady(NOT_LOADED.to_owned()),
            Load::Failed(error) => {
                Readiness::NotReady(format!("knowledge base failed to load: {error}"))
            }
        }
    }

    fn stream(&self, request: ChatRequest) -> ProviderStream {
        let load = self.load.subscribe();
        let settings = self.settings.clone();
        let pacing = settings.pacing;
        stream::once(async move {
            let kb = wait_for_knowledge_base(load).await?;
            Ok(plan(&kb, &request, &settings))
        })
        .flat_map(move |planned| match planned {
            Ok(events) => paced(events, pacing),
            Err(error) => stream::iter([Err(error)]).boxed(),
        })
        .boxed()
    }
}

/// The loaded knowledge base, waiting for it while it loads (up to [`LOAD_WAIT`]).
async fn wait_for_knowledge_base(
    mut load: watch::Receiver<Load>,
) -> Result<Arc<KnowledgeBase>, ProviderError> {
    let finished =
        tokio::time::timeout(LOAD_WAIT, load.wait_for(|l| !matches!(l, Load::Loading))).await;
    match finished {
        Ok(Ok(state)) => match &*state {
            Load::Loaded(kb) => Ok(Arc::clone(kb)),
            Load::Failed(error) => Err(ProviderError::Misconfigured(format!(
                "knowledge base failed to load: {error}"
            ))),
            Load::Loading => Err(ProviderError::Unavailable(NOT_LOADED.to_owned())),
        },
        // The loader thread ended without a result (it panicked).
        Ok(Err(_)) => Err(ProviderError::Unavailable(NOT_LOADED.to_owned())),
        Err(_) => Err(ProviderError::Unavailable(format!(
            "{NOT_LOADED} after {LOAD_WAIT:?}"
        ))),
    }
}

/// The whole answer to `request`: sources (when something matched), deltas, done.
fn plan(
    kb: &KnowledgeBase,
    request: &ChatRequest,
    settings: &OfflineSettings,
) -> Vec<ProviderEvent> {
    let query = compose::search_query(&request.messages);
    let searching = std::time::Instant::now();
    let passages = kb.search(&query, settings.passages);
    ::metrics::histogram!(crate::metrics::RETRIEVAL).record(searching.elapsed().as_secs_f64());
    let mut events = Vec::new();
    let text = if passages.is_empty() {
        compose::no_match(kb.topics())
    } else {
        events.push(ProviderEvent::Sources(compose::sources(&passages)));
        compose::answer(&passages)
    };
    let (pieces, finish_reason) = compose::pieces(&text, request.max_tokens);
    let usage = Usage {
        prompt_tokens: compose::prompt_tokens(&request.messages),
        completion_tokens: compose::estimate_tokens(&pieces.concat()),
    };
    events.extend(pieces.into_iter().map(ProviderEvent::Delta));
    events.push(ProviderEvent::Done {
        finish_reason,
        usage,
    });
    events
}

/// Streams `events`, pausing `pacing` before every delta but the first. Dropping the stream
/// drops the pending pause with it: nothing runs on after a client goes away.
fn paced(events: Vec<ProviderEvent>, pacing: Duration) -> ProviderStream {
    stream::unfold(
        (events.into_iter(), false),
        move |(mut events, mut delta_sent)| async move {
            let event = events.next()?;
            if matches!(event, ProviderEvent::Delta(_)) {
                if delta_sent && !pacing.is_zero() {
                    tokio::time::sleep(pacing).await;
                }
                delta_sent = true;
            }
            Some((Ok(event), (events, delta_sent)))
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::sync::mpsc;
    use std::time::Instant;

    use futures_util::StreamExt;

    use super::*;
    use crate::provider::{FinishReason, Message, Role};

    fn kb() -> Arc<KnowledgeBase> {
        static KB: OnceLock<Arc<KnowledgeBase>> = OnceLock::new();
        Arc::clone(KB.get_or_init(|| Arc::new(KnowledgeBase::load().expect("the docs load"))))
    }

    fn settings(pacing: Duration) -> OfflineSettings {
        OfflineSettings {
            pacing,
            ..OfflineSettings::default()
        }
    }

    fn loaded(pacing: Duration) -> Arc<OfflineProvider> {
        OfflineProvider::with_knowledge_base(settings(pacing), kb())
    }

    fn ask(question: &str, max_tokens: u32) -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "You are Greenlight's assistant.".to_owned(),
                },
                Message {
                    role: Role::User,
                    content: question.to_owned(),
                },
            ],
            max_tokens,
            temperature: None,
        }
    }

    async fn collect(provider: &OfflineProvider, request: ChatRequest) -> Vec<ProviderEvent> {
        provider
            .stream(request)
            .map(|event| event.expect("the offline provider does not fail once loaded"))
            .collect()
            .await
    }

    /// The finish reason and usage of the `Done` that must end `events`.
    fn done_last(events: &[ProviderEvent]) -> (FinishReason, Usage) {
        match events.last() {
            Some(ProviderEvent::Done {
                finish_reason,
                usage,
            }) => (*finish_reason, *usage),
            other => panic!("done last, got {other:?}"),
        }
    }

    fn text_of(events: &[ProviderEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                ProviderEvent::Delta(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn answers_with_sources_first_then_labelled_deltas_then_done() {
        let provider = loaded(Duration::ZERO);
        let events = collect(&provider, ask("How do I roll back a deployment?", 4096)).await;

        let ProviderEvent::Sources(sources) = &events[0] else {
            panic!("sources first, got {:?}", events[0]);
        };
        assert!(!sources.is_empty() && sources.len() <= 3);
        assert_eq!(
            sources.iter().map(|s| s.id).collect::<Vec<_>>(),
            (1..=sources.len() as u32).collect::<Vec<_>>()
        );
        assert_eq!(
            sources[0].source,
            "docs/deploy.md#rolling-back-a-deployment"
        );
        assert!(sources[0].passage.contains("stop-deployment"));

        let deltas = &events[1..events.len() - 1];
        assert!(deltas.len() > 10, "streamed in pieces");
        assert!(
            deltas
                .iter()
                .all(|e| matches!(e, ProviderEvent::Delta(t) if !t.is_empty()))
        );
        let text = text_of(&events);
        assert!(text.starts_with(compose::LABEL), "{text}");
        assert!(text.contains("**[1] Deploying Greenlight to AWS › Rolling back a deployment** (`docs/deploy.md#rolling-back-a-deployment`)"));
        assert!(text.contains("> There are three ways"));

        let (finish_reason, usage) = done_last(&events);
        assert_eq!(finish_reason, FinishReason::Stop);
        assert_eq!(usage.completion_tokens, compose::estimate_tokens(&text));
        assert!(usage.prompt_tokens > 10);
    }

    #[tokio::test]
    async fn no_match_says_so_and_suggests_topics() {
        let provider = loaded(Duration::ZERO);
        let events = collect(&provider, ask("xyzzy plugh frobnicate", 4096)).await;
        assert!(
            events
                .iter()
                .all(|e| !matches!(e, ProviderEvent::Sources(_)))
        );
        let text = text_of(&events);
        assert!(text.starts_with(compose::NO_MATCH), "{text}");
        assert!(text.contains("- How blue/green works in Greenlight"));
        assert!(matches!(
            events.last(),
            Some(ProviderEvent::Done {
                finish_reason: FinishReason::Stop,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn max_tokens_cuts_the_answer_with_length() {
        let provider = loaded(Duration::ZERO);
        let events = collect(&provider, ask("what port is the test listener", 16)).await;
        let text = text_of(&events);
        assert!(
            !text.is_empty() && compose::estimate_tokens(&text) <= 16,
            "{text}"
        );
        assert!(compose::LABEL.starts_with(&text));
        let (finish_reason, usage) = done_last(&events);
        assert_eq!(finish_reason, FinishReason::Length);
        assert!(usage.completion_tokens <= 16);
    }

    #[tokio::test]
    async fn pieces_are_paced() {
        let provider = loaded(Duration::from_millis(2));
        let started = Instant::now();
        let events = collect(&provider, ask("what port is the test listener", 60)).await;
        let deltas = events
            .iter()
            .filter(|e| matches!(e, ProviderEvent::Delta(_)))
            .count();
        assert!(deltas >= 5);
        assert!(started.elapsed() >= Duration::from_millis(2 * (deltas as u64 - 1)));
    }

    #[tokio::test]
    async fn not_ready_until_loaded_and_answers_waiting_for_the_load() {
        let (release, gate) = mpsc::channel::<()>();
        let provider = OfflineProvider::spawn_with(settings(Duration::ZERO), move || {
            gate.recv().ok();
            KnowledgeBase::load()
        });
        assert_eq!(
            provider.readiness(),
            Readiness::NotReady(NOT_LOADED.to_owned())
        );
        assert!(provider.knowledge_base().is_none());

        // A chat that arrives during the load waits for it instead of failing.
        let answer = tokio::spawn({
            let provider = Arc::clone(&provider);
            async move { collect(&provider, ask("what port is the test listener", 512)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!answer.is_finished());
        release.send(()).expect("the loader waits");

        assert_eq!(provider.loaded().await, Readiness::Ready);
        assert_eq!(provider.readiness(), Readiness::Ready);
        let events = answer.await.expect("the chat task ends");
        assert!(matches!(events[0], ProviderEvent::Sources(_)));
        assert!(matches!(events.last(), Some(ProviderEvent::Done { .. })));
    }

    #[tokio::test]
    async fn a_failed_load_is_not_ready_and_fails_chats() {
        let provider = OfflineProvider::spawn_with(settings(Duration::ZERO), || {
            Err(KnowledgeError::EmptyCorpus)
        });
        let Readiness::NotReady(reason) = provider.loaded().await else {
            panic!("a failed load is not ready");
        };
        assert!(
            reason.starts_with("knowledge base failed to load: "),
            "{reason}"
        );
        let events: Vec<_> = provider.stream(ask("port", 64)).collect().await;
        assert_eq!(events.len(), 1);
        let Err(error) = &events[0] else {
            panic!("an error, got {:?}", events[0]);
        };
        assert!(matches!(error, ProviderError::Misconfigured(_)));
    }

    #[tokio::test]
    async fn spawn_loads_the_bundled_docs() {
        let provider = OfflineProvider::spawn(OfflineSettings::default());
        assert_eq!(provider.name(), "offline");
        assert_eq!(provider.model(), DEFAULT_MODEL);
        assert_eq!(provider.loaded().await, Readiness::Ready);
        assert!(provider.knowledge_base().is_some_and(|kb| kb.len() > 20));
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_it_at_once() {
        // Mid-answer: with an hour between pieces, the stream is parked in its pause.
        let provider = loaded(Duration::from_secs(3600));
        let mut stream = provider.stream(ask("what port is the test listener", 4096));
        assert!(matches!(
            stream.next().await,
            Some(Ok(ProviderEvent::Sources(_)))
        ));
        assert!(matches!(
            stream.next().await,
            Some(Ok(ProviderEvent::Delta(_)))
        ));
        let next = tokio::time::timeout(Duration::from_millis(20), stream.next()).await;
        assert!(next.is_err(), "the next piece waits for the pacing");
        let started = Instant::now();
        drop(stream);
        assert!(started.elapsed() < Duration::from_millis(50));

        // While waiting for the load: the dropped stream lets go of the provider's state.
        let (release, gate) = mpsc::channel::<()>();
        let provider = OfflineProvider::spawn_with(settings(Duration::ZERO), move || {
            gate.recv().ok();
            Err(KnowledgeError::EmptyCorpus)
        });
        let mut stream = provider.stream(ask("port", 64));
        let waited = tokio::time::timeout(Duration::from_millis(20), stream.next()).await;
        assert!(waited.is_err(), "the answer waits for the load");
        assert_eq!(provider.load.receiver_count(), 1);
        drop(stream);
        assert_eq!(provider.load.receiver_count(), 0);
        release.send(()).expect("the loader waits");
    }
}
