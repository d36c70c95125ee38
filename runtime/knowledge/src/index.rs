//! The passages of the bundled docs, indexed for BM25 search over their headings and text.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bm25::{EmbedderBuilder, Embedding, Scorer, TokenEmbedder, TokenEmbedding};

use crate::analyzer::EnglishTokenizer;
use crate::corpus::{DOCUMENTS, Document};
use crate::split::{Section, TITLE_SEPARATOR, split};
use crate::{KnowledgeError, Passage};

/// A match in a passage's own heading counts this much more than one in its text. (Only its
/// own: the document's title, shared by all its passages, would tell them apart by nothing.)
const HEADING_BOOST: f32 = 2.0;
/// Passages scoring below this share only a word common all over the docs with the question
/// ("one", "good"). Set from the `measure` example's scores: answers to the test questions score
/// 5 to 25, single common-word matches under 2.5.
pub const MIN_SCORE: f32 = 3.0;
/// Passages scoring below this share of the best one are dropped, so a clear answer is not
/// padded with passages that share a word with the question.
const RELATIVE_CUTOFF: f32 = 0.35;
/// Longer queries are cut here: a question never needs more, and it bounds the work.
pub const MAX_QUERY_CHARS: usize = 2_000;
/// At most this many distinct terms of a query are searched for.
const MAX_QUERY_TERMS: usize = 64;

/// BM25 over one field (headings or text) of every passage; ids are positions in the passages.
struct Field {
    scorer: Scorer<usize, u32>,
}

impl Field {
    fn index(texts: &[&str]) -> Self {
        let embedder = EmbedderBuilder::<u32, EnglishTokenizer>::with_tokenizer_and_fit_to_corpus(
            EnglishTokenizer::default(),
            texts,
        )
        .build();
        let mut scorer = Scorer::new();
        for (id, text) in texts.iter().enumerate() {
            scorer.upsert(&id, embedder.embed(text));
        }
        Self { scorer }
    }
}

/// The project's documentation, split into passages and indexed for BM25 search.
pub struct KnowledgeBase {
    passages: Vec<Section>,
    topics: Vec<String>,
    tokenizer: EnglishTokenizer,
    headings: Field,
    bodies: Field,
    load_time: Duration,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("passages", &self.passages.len())
            .field("load_time", &self.load_time)
            .finish_non_exhaustive()
    }
}

impl KnowledgeBase {
    /// Splits and indexes the documents bundled into the binary. Takes a few milliseconds; call
    /// it off the thread that must answer quickly.
    pub fn load() -> Result<Self, KnowledgeError> {
        Self::from_documents(DOCUMENTS)
    }

    /// Splits and indexes `documents` (the bundled ones in production; others in tests).
    pub fn from_documents(documents: &[Document]) -> Result<Self, KnowledgeError> {
        let started = Instant::now();
        let passages: Vec<Section> = documents.iter().flat_map(split).collect();
        if passages.is_empty() {
            return Err(KnowledgeError::EmptyCorpus);
        }
        let headings: Vec<&str> = passages.iter().map(|p| p.heading.as_str()).collect();
        let bodies: Vec<&str> = passages.iter().map(|p| p.plain.as_str()).collect();
        let headings = Field::index(&headings);
        let bodies = Field::index(&bodies);

        let mut topics: Vec<String> = Vec::new();
        for passage in &passages {
            let top = passage
                .title
                .split(TITLE_SEPARATOR)
                .next()
                .unwrap_or(&passage.title);
            if !topics.iter().any(|t| t == top) {
                topics.push(top.to_owned());
            }
        }

        Ok(Self {
            passages,
            topics,
            tokenizer: EnglishTokenizer::default(),
            headings,
            bodies,
            load_time: started.elapsed(),
        })
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.passages.len()
    }

    /// Never true for a loaded knowledge base (loading an empty corpus fails).
    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// How long [`KnowledgeBase::load`] took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// The documents' titles, to suggest what can be asked when nothing matched.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The best passages for a question in plain words, best first, at most `limit`; empty when
    /// nothing is relevant. Any text is a valid query: there is no query syntax, so quotes,
    /// colons, parentheses or `AND` are just words (or ignored), and searching cannot fail.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Passage> {
        let query = truncate(query, MAX_QUERY_CHARS);
        let terms = self.tokenizer.distinct_terms(query, MAX_QUERY_TERMS);
        if terms.is_empty() || limit == 0 {
            return Vec::new();
        }
        // Each distinct term once: the same weight whether or not the user repeats a word.
        let query = Embedding(
            terms
                .iter()
                .map(|term| TokenEmbedding {
                    index: <u32 as TokenEmbedder>::embed(term),
                    value: 1.0,
                })
                .collect(),
        );

        // BM25 summed over the fields, as a boolean "should" query over two fields scores.
        let mut scores: HashMap<usize, f32> = HashMap::new();
        for (field, boost) in [(&self.headings, HEADING_BOOST), (&self.bodies, 1.0)] {
            for hit in field.scorer.matches(&query) {
                *scores.entry(hit.id).or_default() += boost * hit.score;
            }
        }
        let mut ranked: Vec<(usize, f32)> = scores.into_iter().collect();
        // Ties keep document order, so results are stable from run to run.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

        let best = ranked.first().map_or(0.0, |(_, score)| *score);
        let floor = MIN_SCORE.max(best * RELATIVE_CUTOFF);
        ranked
            .into_iter()
            .take_while(|(_, score)| *score >= floor)
            .take(limit)
            .filter_map(|(id, score)| {
                let section = self.passages.get(id)?;
                Some(Passage {
                    title: section.title.clone(),
                    source: section.source.clone(),
                    text: section.markdown.clone(),
                    score,
                })
            })
            .collect()
    }
}

/// The first `max` characters of `text`, cut on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("", 3), "");
    }
}
