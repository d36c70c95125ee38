//! Nothing an answer says may go missing on the page: every word of the markdown's literal text
//! (text, code and raw HTML alike) must be in the visible text of the rendered HTML, as a browser's
//! HTML parser reads it. The corpus (`testdata/raw-html-answers.json`, shared with the browser
//! suite) mentions every element whose content an HTML parser swallows, inline and as blocks,
//! closed and not, in lists, tables and quotes, and JSX/XML outside code fences.

use std::collections::HashMap;

use pulldown_cmark::{Event, Parser};
use scraper::{ElementRef, Html, Node};

use super::{OPTIONS, markdown_to_html};

/// The answers that mention HTML; each ends with the word `ENDMARK`.
pub(super) fn corpus() -> Vec<String> {
    serde_json::from_str(include_str!("testdata/raw-html-answers.json"))
        .expect("the corpus is a JSON array of strings")
}

/// The words of the markdown's literal text: what the answer says, whatever markup it uses.
pub(super) fn markdown_words(markdown: &str) -> Vec<String> {
    let mut text = String::new();
    for event in Parser::new_ext(markdown, OPTIONS) {
        match event {
            // A NUL is no letter and no space: HTML parsers drop it from text.
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                text.extend(t.chars().filter(|&c| c != '\0'));
            }
            // Structure separates words, as the page's layout does.
            _ => text.push(' '),
        }
    }
    words(&text)
}

/// The words a reader sees in `html`: its text nodes, parsed as the browser parses the answer
/// (a fragment in the page's body).
pub(super) fn visible_words(html: &str) -> Vec<String> {
    fn walk(element: ElementRef<'_>, out: &mut String) {
        out.push(' ');
        for child in element.children() {
            match child.value() {
                Node::Text(text) => out.push_str(text),
                Node::Element(_) => walk(ElementRef::wrap(child).expect("an element"), out),
                _ => {}
            }
        }
        out.push(' ');
    }
    let fragment = Html::parse_fragment(html);
    let mut text = String::new();
    walk(fragment.root_element(), &mut text);
    words(&text)
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The words of `markdown` missing from the page (counted: a word said twice must show twice).
pub(super) fn missing_words(markdown: &str, html: &str) -> Vec<String> {
    let mut shown: HashMap<String, usize> = HashMap::new();
    for word in visible_words(html) {
        *shown.entry(word).or_default() += 1;
    }
    let mut missing = Vec::new();
    for word in markdown_words(markdown) {
        match shown.get_mut(&word) {
            Some(count) if *count > 0 => *count -= 1,
            _ => missing.push(word),
        }
    }
    missing
}

#[track_caller]
pub(super) fn assert_every_word_visible(markdown: &str, html: &str) {
    let missing = missing_words(markdown, html);
    assert!(
        missing.is_empty(),
        "missing {missing:?}\n--- markdown\n{markdown}\n--- html\n{html}"
    );
}

#[test]
fn the_check_fails_when_text_is_lost() {
    // What the renderer did before: the parser took the rest for a <style> element's content.
    let markdown = "To add CSS, put it in a <style> element in the head.\n\nSecond ENDMARK";
    let lost = "<p>To add CSS, put it in a </p>";
    assert_eq!(
        missing_words(markdown, lost),
        ["style", "element", "in", "the", "head", "Second", "ENDMARK"]
    );
    // Dropping only the tag is a loss too: the reader was told about an element.
    assert_eq!(
        missing_words("a <b>bold</b> word", "<p>a <b>bold</b> word</p>"),
        ["b", "b"]
    );
    assert!(missing_words("**x** `y` z", "<p><strong>x</strong> <code>y</code> z</p>").is_empty());
    // Repeated words count.
    assert_eq!(missing_words("go go", "<p>go</p>"), ["go"]);
}

#[test]
fn the_corpus_covers_every_swallowing_element() {
    let corpus = corpus();
    for element in [
        "style",
        "script",
        "textarea",
        "title",
        "xmp",
        "noscript",
        "iframe",
        "noembed",
        "plaintext",
    ] {
        let open = format!("<{element}>");
        let close = format!("</{element}>");
        assert!(
            corpus.iter().any(|a| a.starts_with(&open)),
            "{element} as a block"
        );
        assert!(
            corpus
                .iter()
                .any(|a| a.contains(&format!(" {open}")) && !a.contains(&close)),
            "{element} inline, unclosed"
        );
        assert!(
            corpus.iter().any(|a| a.contains(&close)),
            "{element} closed"
        );
        assert!(
            corpus.iter().any(|a| a.contains(&format!("| {open}"))),
            "{element} in a table"
        );
        assert!(
            corpus.iter().any(|a| a.contains(&format!("- {open}"))),
            "{element} in a list"
        );
    }
    assert!(
        corpus
            .iter()
            .any(|a| a.contains("<math><mtext><table><mglyph><style>"))
    );
    assert!(corpus.iter().all(|a| a.contains("ENDMARK")));
}

#[test]
fn every_word_of_an_answer_that_mentions_html_is_shown() {
    let corpus = corpus();
    let losing: Vec<(String, Vec<String>)> = corpus
        .iter()
        .map(|answer| {
            (
                answer.clone(),
                missing_words(answer, &markdown_to_html(answer)),
            )
        })
        .filter(|(_, missing)| !missing.is_empty())
        .collect();
    assert!(
        losing.is_empty(),
        "{} of {} answers lose words, e.g. {:#?}",
        losing.len(),
        corpus.len(),
        &losing[..losing.len().min(3)]
    );
}

#[test]
fn every_word_that_arrived_is_shown_while_the_answer_streams() {
    // A snapshot may be cut anywhere: after each word, and at every character inside a tag.
    for answer in corpus() {
        let mut in_tag = false;
        for (end, c) in answer.char_indices().skip(1) {
            let cut = in_tag || c.is_whitespace();
            in_tag = match c {
                '<' => true,
                '>' | '\n' => false,
                _ => in_tag,
            };
            if cut || in_tag {
                let partial = &answer[..end];
                assert_every_word_visible(partial, &markdown_to_html(partial));
            }
        }
    }
}
