//! Raw HTML in an answer is shown as text, never passed on as markup.
//!
//! A model's answer is untrusted text written in markdown, not HTML, and models write about HTML
//! all the time ("put it in a `<style>` element", a JSX snippet outside a code fence). CommonMark
//! passes such tags through as raw HTML; the sanitizer's HTML parser then reads everything after a
//! `<style>`, `<script>`, `<textarea>`, `<title>`, `<xmp>`, `<plaintext>`… as that element's
//! content and drops it, so the reader silently lost the rest of the answer. Escaping here, where
//! the markdown is still understood, keeps both the words and the markdown around them:
//!
//! - a line that opens an HTML block gets its `<` backslash-escaped in the source, so it is read
//!   as the paragraph (list item, quote…) text it is and the markdown after it still renders; an
//!   HTML block would otherwise take the following lines (for `<style>` or `<script>`, the whole
//!   rest of the answer) as raw text;
//! - inline HTML, and any HTML block left, become text events, which the HTML writer escapes.
//!
//! The sanitizer after the writer stays as the second line of defence.

use std::borrow::Cow;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Escaping a block's first line can make one of its later lines open a block of its own (a
/// `<div>` line can interrupt a paragraph), so the source is re-read until no HTML block is left,
/// at most this many times. An answer that needs more (dozens of block-level tags one per line)
/// keeps its remaining blocks as escaped text in a paragraph: every word still shows.
const MAX_PASSES: usize = 8;

/// `markdown` with the `<` opening each HTML block backslash-escaped (see the module docs).
/// Borrowed when there is nothing to escape, which is almost always.
pub fn escape_html_blocks(markdown: &str, options: Options) -> Cow<'_, str> {
    let mut source = Cow::Borrowed(markdown);
    if !markdown.contains('<') {
        return source;
    }
    for _ in 0..MAX_PASSES {
        let starts = html_block_starts(&source, options);
        if starts.is_empty() {
            break;
        }
        source = Cow::Owned(escape_at(&source, &starts));
    }
    source
}

/// Where each HTML block of `source` starts: the `<` of its first line.
fn html_block_starts(source: &str, options: Options) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut first_line = false;
    for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
        match event {
            Event::Start(Tag::HtmlBlock) => first_line = true,
            Event::Html(_) if first_line => {
                first_line = false;
                // The line's text without its container markers (`> `, list indent), and the
                // block's `<` after at most three spaces of indentation.
                let line = &source[range.clone()];
                let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
                if line[indent..].starts_with('<') {
                    starts.push(range.start + indent);
                }
            }
            _ => {}
        }
    }
    starts
}

/// `source` with a backslash before each of `positions` (ascending byte offsets of `<`).
fn escape_at(source: &str, positions: &[usize]) -> String {
    let mut escaped = String::with_capacity(source.len() + positions.len());
    let mut done = 0;
    for &at in positions {
        escaped.push_str(&source[done..at]);
        escaped.push('\\');
        done = at;
    }
    escaped.push_str(&source[done..]);
    escaped
}

/// Raw HTML events as text, which the HTML writer escapes; an HTML block left after
/// [`escape_html_blocks`] becomes a paragraph.
pub fn as_text(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
        Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::markdown_to_html as render;
    use super::super::visible_text::{assert_every_word_visible, corpus};
    use super::*;

    const OPTIONS: Options = super::super::OPTIONS;

    #[test]
    fn the_answer_of_the_bug_report_is_shown_whole() {
        assert_eq!(
            render(
                "To add CSS, put it in a <style> element in the head. Then the page uses it.\n\nSecond paragraph ENDMARK"
            ),
            "<p>To add CSS, put it in a &lt;style&gt; element in the head. Then the page uses it.</p>\n<p>Second paragraph ENDMARK</p>\n"
        );
    }

    #[test]
    fn inline_tags_are_text() {
        assert_eq!(
            render("a <b>bold</b> word, a <br> and <a href=\"https://x.example\">link</a>"),
            "<p>a &lt;b&gt;bold&lt;/b&gt; word, a &lt;br&gt; and &lt;a href=\"https://x.example\"&gt;link&lt;/a&gt;</p>\n"
        );
    }

    #[test]
    fn a_block_tag_line_is_a_paragraph_and_the_markdown_after_it_renders() {
        // Read as an HTML block, `<style>` would take everything up to `</style>` or the end.
        let html = render(
            "<style> elements hold *CSS*.\n\n- one\n- two\n\n```css\np { color: red }\n```\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n",
        );
        assert_eq!(
            html,
            concat!(
                "<p>&lt;style&gt; elements hold <em>CSS</em>.</p>\n",
                "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
                "<pre><code class=\"language-css\">p { color: red }\n</code></pre>\n",
                "<table><thead><tr><th>a</th><th class=\"align-right\">b</th></tr></thead><tbody>\n",
                "<tr><td>1</td><td class=\"align-right\">2</td></tr>\n</tbody></table>\n",
            )
        );
    }

    #[test]
    fn blocks_in_lists_and_quotes_are_escaped_where_they_start() {
        assert_eq!(
            escape_html_blocks("- item\n  <div>\n    <b>x</b>\n  </div>\n", OPTIONS),
            // `</div>` opens a block of its own once `<div>` is text: escaped on the next pass.
            "- item\n  \\<div>\n    <b>x</b>\n  \\</div>\n"
        );
        assert_eq!(
            escape_html_blocks("> <style>\n> a{}\n> </style>\n> after\n", OPTIONS),
            // A closing `</style>` opens no block: it is inline HTML, made text by `as_text`.
            "> \\<style>\n> a{}\n> </style>\n> after\n"
        );
        assert_eq!(
            render("> <style>\n> a{}\n> </style>\n> after\n"),
            "<blockquote>\n<p>&lt;style&gt;\na{}\n&lt;/style&gt;\nafter</p>\n</blockquote>\n"
        );
    }

    #[test]
    fn a_code_fence_inside_an_html_block_stays_code() {
        // Only each block's first line is escaped, then the source is read again: the fence's
        // lines are code, not escaped text.
        let markdown = "<div>\n```html\n<span>hi</span>\n```\n</div>\n";
        assert_eq!(
            render(markdown),
            concat!(
                "<p>&lt;div&gt;</p>\n",
                "<pre><code class=\"language-html\">&lt;span&gt;hi&lt;/span&gt;\n</code></pre>\n",
                "<p>&lt;/div&gt;</p>\n",
            )
        );
    }

    #[test]
    fn code_autolinks_and_plain_text_are_untouched() {
        for markdown in [
            "no tags at all",
            "`<style>` and\n\n```\n<script>\n```\n",
            "    <div>indented code</div>\n",
            "<https://example.com> and <mailto:a@example.com>",
            "a < b and c > d, 1 <2",
        ] {
            assert!(
                matches!(escape_html_blocks(markdown, OPTIONS), Cow::Borrowed(_)),
                "{markdown}"
            );
        }
        assert_eq!(
            render("`<style>` and <https://example.com>"),
            "<p><code>&lt;style&gt;</code> and <a href=\"https://example.com\" target=\"_blank\" rel=\"noopener noreferrer\">https://example.com</a></p>\n"
        );
    }

    #[test]
    fn more_blocks_than_passes_still_show_every_word() {
        // Each `<div>` line interrupts the paragraph before it: one more pass each.
        let markdown: String = (0..MAX_PASSES * 2)
            .map(|i| format!("<div>word{i}</div>\n"))
            .collect();
        let html = render(&markdown);
        assert_every_word_visible(&markdown, &html);
        assert!(!html.contains('\\'), "{html}");
    }

    #[test]
    fn table_cells_with_tags_keep_their_alignment() {
        assert_eq!(
            render("| tag | use |\n|:--|--:|\n| <td class=\"x\"> | <style>a{}</style> |\n"),
            concat!(
                "<table><thead><tr><th class=\"align-left\">tag</th><th class=\"align-right\">use</th></tr></thead><tbody>\n",
                "<tr><td class=\"align-left\">&lt;td class=\"x\"&gt;</td>",
                "<td class=\"align-right\">&lt;style&gt;a{}&lt;/style&gt;</td></tr>\n",
                "</tbody></table>\n",
            )
        );
    }

    #[test]
    fn the_escapes_never_show() {
        for answer in corpus() {
            let html = render(&answer);
            assert!(!html.contains('\\'), "{answer}\n{html}");
        }
    }
}
