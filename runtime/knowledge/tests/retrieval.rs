//! Retrieval quality and robustness of the bundled knowledge base.

use std::sync::OnceLock;

use greenlight_knowledge::{KnowledgeBase, MIN_SCORE};

fn kb() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| KnowledgeBase::load().expect("the bundled docs load"))
}

fn first_source(query: &str) -> String {
    let hits = kb().search(query, 3);
    hits.first()
        .map(|p| p.source.clone())
        .unwrap_or_else(|| panic!("no passage for {query:?}"))
}

#[test]
fn loads_every_bundled_document() {
    let kb = kb();
    assert!(kb.len() >= 30, "only {} passages", kb.len());
    assert!(!kb.is_empty());
    for topic in [
        "Greenlight overview",
        "Deploying Greenlight to AWS",
        "How blue/green works in Greenlight",
        "Configuring the chatbot server",
        "Operating Greenlight",
        "Greenlight contracts",
    ] {
        assert!(kb.topics().iter().any(|t| t == topic), "missing {topic}");
    }
}

#[test]
fn questions_find_their_section_first() {
    let cases = [
        (
            "how do I roll back a deployment",
            "docs/deploy.md#rolling-back-a-deployment",
        ),
        (
            "what port is the test listener",
            "docs/blue-green.md#the-two-listeners",
        ),
        ("What is Greenlight?", "docs/overview.md#what-greenlight-is"),
        (
            "how long is the drain window after SIGTERM",
            "docs/blue-green.md#draining-and-stop-timings",
        ),
        (
            "tell me about the health checks",
            "docs/blue-green.md#health-checks",
        ),
        (
            "when does production traffic shift to green",
            "docs/blue-green.md#traffic-shift",
        ),
        ("where do I find the logs", "docs/operations.md#logs"),
        (
            "what do I need before deploying? prerequisites",
            "docs/deploy.md#prerequisites",
        ),
        (
            "how do I use Bedrock",
            "docs/configuration.md#bedrock-provider",
        ),
        (
            "which alarms trigger an automatic rollback",
            "docs/blue-green.md#auto-rollback-on-alarms",
        ),
        (
            "Unable to update task definition on services with a CODE_DEPLOY deployment controller",
            "docs/operations.md#unable-to-update-task-definition-on-a-code_deploy-service",
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(first_source(query), expected, "for {query:?}");
    }
}

#[test]
fn stemming_matches_other_word_forms() {
    // "rolled", "deployments" are not written in the rollback section's heading.
    assert_eq!(
        first_source("rolled back deployments"),
        "docs/deploy.md#rolling-back-a-deployment"
    );
}

#[test]
fn passages_carry_title_source_text_and_score() {
    let hits = kb().search("what port is the test listener", 3);
    let best = &hits[0];
    assert_eq!(
        best.title,
        "How blue/green works in Greenlight › The two listeners"
    );
    assert!(best.text.contains("8080"), "{}", best.text);
    assert!(
        !best.text.starts_with('#'),
        "the heading is not part of the text"
    );
    assert!(best.score >= MIN_SCORE);
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
}

#[test]
fn limit_is_respected() {
    assert!(kb().search("blue green deployment", 2).len() <= 2);
    assert!(kb().search("blue green deployment", 0).is_empty());
    assert!(!kb().search("blue green deployment", usize::MAX).is_empty());
}

#[test]
fn nonsense_and_off_topic_questions_find_nothing() {
    for query in [
        "xyzzy frobnicate quux",
        "what is the capital of France?",
        "banana bread recipe",
        "",
        "   ",
        "the and of is",
        "hello",
        "one",
    ] {
        let hits = kb().search(query, 5);
        assert!(
            hits.is_empty(),
            "{query:?} found {:?}",
            hits.first().map(|h| &h.source)
        );
    }
}

#[test]
fn query_syntax_and_odd_input_never_fail() {
    let long = "deployment rollback ".repeat(600);
    let unicode_long = "ünïcödé 🚀 ".repeat(1500);
    let queries = [
        "\"unterminated quote",
        "title:rollback",
        "(((port",
        "port)))",
        "AND OR NOT",
        "rollback AND OR",
        "+port -listener ~2 ^3 *",
        "field:[a TO b]",
        "\\ / \\\\ {} [] ^ ~ * ?",
        "日本語のテスト",
        "🚀🔥",
        "\0\u{1}\u{7f}",
        "a\u{0301}\u{200b}b",
        long.as_str(),
        unicode_long.as_str(),
    ];
    for query in queries {
        for passage in kb().search(query, 5) {
            assert!(passage.source.starts_with("docs/"));
        }
    }
    // Words inside query syntax still count.
    assert_eq!(
        first_source("title:(\"test listener\" AND port)"),
        "docs/blue-green.md#the-two-listeners"
    );
}
