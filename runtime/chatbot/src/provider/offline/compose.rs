//! What the offline provider says: the search query from the conversation, the answer text from
//! the retrieved passages, and its division into streamed pieces within the token budget.

use greenlight_knowledge::Passage;

use crate::provider::{FinishReason, Message, Role, Source};

/// Opens every offline answer, so nobody mistakes retrieved passages for a model's reply.
pub const LABEL: &str = "Offline mode: no language model is configured, so here are the most \
                         relevant passages from the Greenlight docs.";

/// Opens the answer when nothing matched.
pub const NO_MATCH: &str = "Offline mode: no language model is configured, and nothing in the \
                            Greenlight docs matches your question.";

/// A last user message shorter than this many words is a follow-up ("and the port?"): the
/// previous user message is searched with it.
const FOLLOW_UP_WORDS: usize = 5;

/// A passage longer than this is shown up to the block where it passes the limit; the `sources`
/// event still carries all of it.
const MAX_QUOTED_CHARS: usize = 1_500;

/// Pieces hold whole words up to about this many characters, so a stream has a few hundred
/// events, not thousands.
const PIECE_CHARS: usize = 24;

/// What to search for: the last user message, and for a short follow-up the one before it too.
pub fn search_query(messages: &[Message]) -> String {
    let mut asked = messages
        .iter()
        .rev()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str());
    let last = asked.next().unwrap_or_default();
    match asked.next() {
        Some(previous) if last.split_whitespace().count() < FOLLOW_UP_WORDS => {
            format!("{previous}\n{last}")
        }
        _ => last.to_owned(),
    }
}

/// The sources event's entries, numbered from 1 as cited in the answer.
pub fn sources(passages: &[Passage]) -> Vec<Source> {
    passages
        .iter()
        .zip(1u32..)
        .map(|(p, id)| Source {
            id,
            title: p.title.clone(),
            source: p.source.clone(),
            passage: p.text.clone(),
            score: p.score,
        })
        .collect()
}

/// The answer as markdown: the label, then each passage as a quote under its number, title and
/// source.
pub fn answer(passages: &[Passage]) -> String {
    let mut text = format!("{LABEL}\n\n");
    for (p, id) in passages.iter().zip(1u32..) {
        text.push_str(&format!("**[{id}] {}** (`{}`)\n\n", p.title, p.source));
        text.push_str(&quote(&shorten(&p.text)));
        text.push_str("\n\n");
    }
    text.truncate(text.trim_end().len());
    text
}

/// The answer when nothing matched: say so, and what can be asked instead.
pub fn no_match(topics: &[String]) -> String {
    let mut text = format!("{NO_MATCH}\n\nThe docs cover:\n\n");
    for topic in topics {
        text.push_str(&format!("- {topic}\n"));
    }
    text.push_str(
        "\nTry a question about one of them, for example \"How do I roll back a deployment?\", \
         \"What port is the test listener on?\" or \"How long do streams drain after SIGTERM?\"",
    );
    text
}

/// `text` as a markdown block quote (the render tests quote the bundled docs with it too).
pub(crate) fn quote(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The leading blocks (paragraphs, lists, tables: split at blank lines) of `text` that fit in
/// [`MAX_QUOTED_CHARS`], at least one; "…" marks a cut.
fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return text.to_owned();
    }
    let mut kept = String::new();
    for block in text.split("\n\n") {
        if !kept.is_empty() && kept.chars().count() + block.chars().count() > MAX_QUOTED_CHARS {
            kept.push_str("\n\n…");
            break;
        }
        if !kept.is_empty() {
            kept.push_str("\n\n");
        }
        kept.push_str(block);
    }
    kept
}

/// Rough token count of `text` (about four characters a token for English), for usage and
/// `max_tokens` without a tokenizer: the offline provider has no model whose tokens to count.
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// Prompt tokens: every message's content plus a few tokens of framing each, as chat APIs count.
pub fn prompt_tokens(messages: &[Message]) -> u32 {
    messages
        .iter()
        .map(|m| estimate_tokens(&m.content).saturating_add(4))
        .fold(0u32, u32::saturating_add)
}

/// `text` cut into pieces of whole words (each with the whitespace after it), about
/// [`PIECE_CHARS`] long, as many as fit in `max_tokens`; `Length` when some were left out.
pub fn pieces(text: &str, max_tokens: u32) -> (Vec<String>, FinishReason) {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in words(text) {
        if !current.is_empty() && current.len() + word.len() > PIECE_CHARS {
            pieces.push(std::mem::take(&mut current));
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        pieces.push(current);
    }

    let mut sent = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        sent.push_str(piece);
        if estimate_tokens(&sent) > max_tokens {
            pieces.truncate(i);
            return (pieces, FinishReason::Length);
        }
    }
    (pieces, FinishReason::Stop)
}

/// Words with the whitespace that follows each: concatenated they give back `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let space_end = rest[word_end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| word_end + i);
        let (word, tail) = rest.split_at(space_end);
        rest = tail;
        Some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Message {
        Message {
            role: Role::User,
            content: text.to_owned(),
        }
    }

    fn assistant(text: &str) -> Message {
        Message {
            role: Role::Assistant,
            content: text.to_owned(),
        }
    }

    fn passage(title: &str, text: &str) -> Passage {
        Passage {
            title: title.to_owned(),
            source: "docs/x.md#y".to_owned(),
            text: text.to_owned(),
            score: 4.5,
        }
    }

    #[test]
    fn query_is_the_last_user_message() {
        let messages = [
            user("How do blue/green deployments work here?"),
            assistant("…"),
            user("What port does the test listener use?"),
        ];
        assert_eq!(
            search_query(&messages),
            "What port does the test listener use?"
        );
    }

    #[test]
    fn short_follow_ups_bring_the_previous_question() {
        let messages = [
            user("How does the green-light hook check green?"),
            assistant("…"),
            user("and its budgets?"),
        ];
        assert_eq!(
            search_query(&messages),
            "How does the green-light hook check green?\nand its budgets?"
        );
        assert_eq!(search_query(&[user("budgets?")]), "budgets?");
        assert_eq!(search_query(&[]), "");
    }

    #[test]
    fn answer_is_labelled_numbered_and_quoted() {
        let text = answer(&[
            passage("Doc › First", "Line one.\n\n- item"),
            passage("Doc › Second", "Other."),
        ]);
        assert_eq!(
            text,
            format!(
                "{LABEL}\n\n**[1] Doc › First** (`docs/x.md#y`)\n\n> Line one.\n>\n> - item\n\n\
                 **[2] Doc › Second** (`docs/x.md#y`)\n\n> Other."
            )
        );
    }

    #[test]
    fn long_passages_are_cut_between_blocks() {
        let block = "word ".repeat(100);
        let long = [block.trim(); 5].join("\n\n");
        let text = answer(&[passage("Long", &long)]);
        assert!(text.ends_with("\n>\n> …"), "{text}");
        assert!(text.len() < long.len());
    }

    #[test]
    fn no_match_names_topics() {
        let text = no_match(&["Deploying".to_owned(), "Operating".to_owned()]);
        assert!(text.starts_with(NO_MATCH));
        assert!(text.contains("- Deploying\n- Operating\n"));
    }

    #[test]
    fn sources_are_numbered_from_one() {
        let sources = sources(&[passage("A", "a"), passage("B", "b")]);
        assert_eq!(sources.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(sources[1].title, "B");
        assert_eq!(sources[1].passage, "b");
    }

    #[test]
    fn pieces_rebuild_the_text() {
        let text = "Offline  mode:\n\n> a quote with `code` and ünïcödé 🚀 words\nend";
        let (pieces, finish) = pieces(text, u32::MAX);
        assert_eq!(pieces.concat(), text);
        assert_eq!(finish, FinishReason::Stop);
        assert!(pieces.len() > 2);
        assert!(pieces.iter().all(|p| !p.is_empty()));
    }

    #[test]
    fn pieces_stop_at_the_token_budget() {
        let text = "alpha beta gamma delta ".repeat(50);
        let (pieces, finish) = pieces(&text, 20);
        assert_eq!(finish, FinishReason::Length);
        let sent = pieces.concat();
        assert!(estimate_tokens(&sent) <= 20);
        assert!(text.starts_with(&sent));
        assert!(!sent.is_empty());
        assert_eq!(pieces_of_zero(), (Vec::new(), FinishReason::Length));
    }

    fn pieces_of_zero() -> (Vec<String>, FinishReason) {
        pieces("some text", 0)
    }

    #[test]
    fn token_estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(prompt_tokens(&[user("abcd"), user("")]), 9);
    }
}
