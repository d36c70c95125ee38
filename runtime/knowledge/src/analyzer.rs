//! How text becomes search terms, the same way for documents and for queries.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};

/// The name the analyzer is registered under in the index.
pub const NAME: &str = "en_docs";

/// Words that carry no topic. Lucene's English list (tantivy's) lacks the words questions are
/// made of ("what", "how", "do", "I"), which would otherwise match headings such as
/// "What Greenlight is" for any question; so the list is kept here, Lucene's words first.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    // Lucene's English stop words.
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
    // Question words, pronouns and auxiliaries.
    "what", "which", "who", "whom", "whose", "where", "when", "why", "how", "i", "me", "my", "we",
    "us", "our", "you", "your", "he", "she", "him", "her", "its", "them", "those", "do", "does",
    "did", "doing", "done", "can", "could", "should", "would", "may", "might", "must", "shall",
    "am", "were", "been", "being", "have", "has", "had", "here", "so", "than", "too", "very",
    "just", "also", "any", "some", "about", "from", "s", "t",
    // Chat filler.
    "please", "tell", "explain", "show", "know", "hi", "hello", "hey", "thanks", "thank",
];

/// Words, lower-cased, accents folded, stop words removed, then stemmed (English), so that
/// "rolled back deployments" and "roll back a deployment" meet. Stop words go before the
/// stemmer because the list holds unstemmed words.
pub fn english() -> TextAnalyzer {
    let stop_words = StopWordFilter::remove(STOP_WORDS.iter().map(|w| (*w).to_owned()));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(stop_words)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The distinct terms of `text`, in order of first appearance, at most `max`.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str, max: usize) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while terms.len() < max && stream.advance() {
        let term = &stream.token().text;
        if !terms.iter().any(|t| t == term) {
            terms.push(term.clone());
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_folds_and_drops_stop_words() {
        let mut analyzer = english();
        assert_eq!(
            terms(
                &mut analyzer,
                "How do I roll back the Deployments? Café!",
                10
            ),
            ["roll", "back", "deploy", "cafe"]
        );
    }

    #[test]
    fn caps_and_dedups_terms() {
        let mut analyzer = english();
        assert_eq!(
            terms(&mut analyzer, "port port listener ports", 10),
            ["port", "listen"]
        );
        assert_eq!(
            terms(&mut analyzer, "alpha beta gamma delta", 2),
            ["alpha", "beta"]
        );
    }
}
