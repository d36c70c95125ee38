//! The in-memory tantivy index over the bundled passages, and BM25 search over it.

use std::time::{Duration, Instant};

use tantivy::collector::TopDocs;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{DocAddress, Index, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::analyzer;
use crate::corpus::{DOCUMENTS, Document};
use crate::split::{Section, TITLE_SEPARATOR, split};
use crate::{KnowledgeError, Passage};

/// A match in a passage's own heading counts this much more than one in its text. (Only its
/// own: the document's title, shared by all its passages, would tell them apart by nothing.)
const TITLE_BOOST: f32 = 2.0;
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
/// Field name of the passage's position in [`KnowledgeBase::passages`].
const PASSAGE_FIELD: &str = "passage";

/// The project's documentation, split into passages and indexed for BM25 search.
pub struct KnowledgeBase {
    passages: Vec<Section>,
    topics: Vec<String>,
    searcher: Searcher,
    analyzer: TextAnalyzer,
    title: Field,
    body: Field,
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
    /// Splits and indexes the documents bundled into the binary. Takes milliseconds; call it off
    /// the thread that must answer quickly.
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
        let analyzer = analyzer::english();

        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer::NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let title = schema.add_text_field("title", text.clone());
        let body = schema.add_text_field("body", text);
        let position = schema.add_u64_field(PASSAGE_FIELD, FAST);

        let tokenizers = TokenizerManager::default();
        tokenizers.register(analyzer::NAME, analyzer.clone());
        let index = Index::builder()
            .schema(schema.build())
            .tokenizers(tokenizers)
            .create_in_ram()?;

        // The writer's memory arena and threads live only in this block: dropping the writer
        // after `wait_merging_threads` frees them, so only the small built segment stays.
        {
            let options = IndexWriterOptions::builder()
                .num_worker_threads(1)
                .num_merge_threads(1)
                .build();
            let mut writer: IndexWriter = index.writer_with_options(options)?;
            for (i, passage) in passages.iter().enumerate() {
                let mut doc = TantivyDocument::new();
                doc.add_text(title, &passage.heading);
                doc.add_text(body, &passage.plain);
                doc.add_u64(position, i as u64);
                writer.add_document(doc)?;
            }
            writer.commit()?;
            writer.wait_merging_threads()?;
        }
        // Manual reloads: the index never changes, and no watcher thread is started.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();

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
            searcher,
            analyzer,
            title,
            body,
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
    /// colons, parentheses or `AND` are just words (or ignored).
    pub fn search(&self, query: &str, limit: usize) -> Vec<Passage> {
        // The index lives in memory and is never written after load, so the search itself has
        // nothing that can fail at run time; an error here would be a tantivy bug, and answering
        // "nothing found" is the safe response to it.
        self.try_search(query, limit).unwrap_or_default()
    }

    /// [`KnowledgeBase::search`], reporting the search engine's errors.
    pub fn try_search(&self, query: &str, limit: usize) -> Result<Vec<Passage>, KnowledgeError> {
        let limit = limit.min(self.passages.len());
        if limit == 0 {
            return Ok(Vec::new());
        }
        let query = truncate(query, MAX_QUERY_CHARS);
        let mut analyzer = self.analyzer.clone();
        let terms = analyzer::terms(&mut analyzer, query, MAX_QUERY_TERMS);
        if terms.is_empty() {
            return Ok(Vec::new());
        }

        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 2);
        for term in &terms {
            let in_title = TermQuery::new(
                Term::from_field_text(self.title, term),
                IndexRecordOption::WithFreqs,
            );
            let in_body = TermQuery::new(
                Term::from_field_text(self.body, term),
                IndexRecordOption::WithFreqs,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(in_title), TITLE_BOOST)),
            ));
            clauses.push((Occur::Should, Box::new(in_body)));
        }
        let hits = self
            .searcher
            .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit))?;

        let best = hits.first().map_or(0.0, |(score, _)| *score);
        let floor = MIN_SCORE.max(best * RELATIVE_CUTOFF);
        let mut passages = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            if score < floor {
                break;
            }
            if let Some(section) = self.passage_at(address)? {
                passages.push(Passage {
                    title: section.title.clone(),
                    source: section.source.clone(),
                    text: section.markdown.clone(),
                    score,
                });
            }
        }
        Ok(passages)
    }

    fn passage_at(&self, address: DocAddress) -> Result<Option<&Section>, KnowledgeError> {
        let positions = self
            .searcher
            .segment_reader(address.segment_ord)
            .fast_fields()
            .u64(PASSAGE_FIELD)?;
        Ok(positions
            .first(address.doc_id)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.passages.get(i)))
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
