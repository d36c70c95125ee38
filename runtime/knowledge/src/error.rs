//! Why the knowledge base could not be loaded.

/// Loading the knowledge base failed. Searching never fails: bad queries just match nothing.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("the bundled documents hold no passage to index")]
    EmptyCorpus,
}
