//! Greenlight's bundled knowledge base: the project's own documentation (`docs/*.md`), embedded
//! in the binary at compile time, split into passages by heading (pulldown-cmark), and searched
//! with BM25 (the `bm25` crate's scorer, English stemming with Snowball). The offline provider
//! answers from it.
//!
//! ```
//! let kb = greenlight_knowledge::KnowledgeBase::load().expect("the bundled docs index");
//! let best = kb.search("how do I roll back a deployment", 3);
//! assert!(best[0].source.starts_with("docs/"));
//! ```

mod analyzer;
pub mod corpus;
mod error;
mod index;
mod split;

pub use error::KnowledgeError;
pub use index::{KnowledgeBase, MAX_QUERY_CHARS, MIN_SCORE};
pub use split::slug;

/// One retrieved passage of the docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The heading path, e.g. `How blue/green works in Greenlight › Health checks`.
    pub title: String,
    /// `docs/<file>.md#<slug>`.
    pub source: String,
    /// The passage's markdown, without its heading.
    pub text: String,
    /// BM25 score; higher is more relevant.
    pub score: f32,
}
