//! How text becomes search terms, the same way for documents and for queries.

use rust_stemmers::{Algorithm, Stemmer};

/// Longer "words" are base64, hashes or URLs: nothing a question would contain.
const MAX_WORD_CHARS: usize = 40;

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

/// Splits text into terms: words (runs of letters and digits), lower-cased, stop words removed,
/// then stemmed with the Snowball English stemmer, so that "rolled back deployments" and "roll
/// back a deployment" meet. Stop words go before the stemmer because the list holds unstemmed
/// words.
pub struct EnglishTokenizer {
    stemmer: Stemmer,
}

impl Default for EnglishTokenizer {
    fn default() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

impl EnglishTokenizer {
    /// Every term of `text`, in order, repeats included (term frequencies count them).
    pub fn terms<'a>(&'a self, text: &'a str) -> impl Iterator<Item = String> + 'a {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty() && word.chars().count() <= MAX_WORD_CHARS)
            .map(str::to_lowercase)
            .filter(|word| !STOP_WORDS.contains(&word.as_str()))
            .map(|word| self.stemmer.stem(&word).into_owned())
    }

    /// The distinct terms of `text`, in order of first appearance, at most `max`.
    pub fn distinct_terms(&self, text: &str, max: usize) -> Vec<String> {
        let mut terms: Vec<String> = Vec::new();
        for term in self.terms(text) {
            if terms.len() == max {
                break;
            }
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
        terms
    }
}

impl bm25::Tokenizer for EnglishTokenizer {
    fn tokenize(&self, input_text: &str) -> Vec<String> {
        self.terms(input_text).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_lowercases_and_drops_stop_words() {
        let tokenizer = EnglishTokenizer::default();
        assert_eq!(
            tokenizer.distinct_terms("How do I roll back the Deployments? Rolled-back!", 10),
            ["roll", "back", "deploy"]
        );
        assert_eq!(
            tokenizer.terms("port ports, PORT").collect::<Vec<_>>(),
            ["port", "port", "port"]
        );
    }

    #[test]
    fn caps_and_dedups_terms() {
        let tokenizer = EnglishTokenizer::default();
        assert_eq!(
            tokenizer.distinct_terms("port port listener ports", 10),
            ["port", "listen"]
        );
        assert_eq!(
            tokenizer.distinct_terms("alpha beta gamma delta", 2),
            ["alpha", "beta"]
        );
    }

    #[test]
    fn odd_text_gives_terms_or_nothing() {
        let tokenizer = EnglishTokenizer::default();
        assert!(
            tokenizer
                .distinct_terms("\"():[]{}+-~^*? AND OR", 10)
                .is_empty()
        );
        assert_eq!(
            tokenizer.distinct_terms(&"x".repeat(41), 10),
            Vec::<String>::new()
        );
        assert_eq!(
            tokenizer.distinct_terms("ÜBER café 日本", 10),
            ["über", "café", "日本"]
        );
    }
}
