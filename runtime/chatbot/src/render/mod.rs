//! Markdown answers to safe HTML for the browser UI.
//!
//! The model's text (and whatever a retrieved document put in it) is untrusted markdown, not HTML:
//! it is rendered with pulldown-cmark with any raw HTML in it turned into visible text
//! (`raw_html`: a tag the reader should see, not a way to hide the rest of the answer), then
//! cleaned by ammonia against a small allow-list as a second line of defence, so nothing in an
//! answer can run script, load a frame, style the page or navigate to a `javascript:` URL. The UI
//! inserts this HTML as is; the Content-Security-Policy is another, independent wall.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

#[cfg(test)]
mod bundled_docs;
mod raw_html;
mod snapshots;
mod tables;
#[cfg(test)]
mod visible_text;
pub use snapshots::HtmlSnapshots;
use tables::{ALIGN_CLASSES, AlignedTables};

/// The tags the markdown writer produces with [`OPTIONS`]; raw HTML never reaches it as markup,
/// so nothing else can be legitimate. Anything else is dropped; `script` and `style` are dropped
/// with their content.
const ALLOWED_TAGS: &[&str] = &[
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Links may only leave for the web or a mail client.
const URL_SCHEMES: &[&str] = &["http", "https", "mailto"];

static SANITIZER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    builder
        .tags(ALLOWED_TAGS.iter().copied().collect())
        .clean_content_tags(HashSet::from(["script", "style"]))
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href", "title"])),
            ("ol", HashSet::from(["start"])),
            ("code", HashSet::from(["class"])),
            ("th", HashSet::from(["class"])),
            ("td", HashSet::from(["class"])),
        ]))
        .url_schemes(URL_SCHEMES.iter().copied().collect())
        // A relative link in an answer would point into this server: meaningless, so dropped.
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_values(HashMap::from([(
            "a",
            HashMap::from([("target", "_blank")]),
        )]))
        .strip_comments(true)
        .attribute_filter(keep_known_classes);
    builder
});

/// Keeps `class` only where it is ours: the `language-xxx` marker of a fenced block on `<code>`,
/// one column alignment on `<th>`/`<td>`. A model cannot borrow the page's own classes to restyle
/// or hide parts of the UI.
fn keep_known_classes<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    let known = match (element, attribute) {
        ("code", "class") => is_language_class(value),
        ("th" | "td", "class") => ALIGN_CLASSES.contains(&value),
        _ => true,
    };
    known.then_some(Cow::Borrowed(value))
}

fn is_language_class(value: &str) -> bool {
    value.strip_prefix("language-").is_some_and(|lang| {
        !lang.is_empty()
            && lang.len() <= 32
            && lang
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#' | '.'))
    })
}

/// The markdown extensions answers may use.
const OPTIONS: Options = Options::ENABLE_TABLES.union(Options::ENABLE_STRIKETHROUGH);

/// Renders markdown (tables and strikethrough included) to sanitized HTML. Table column
/// alignment comes out as `align-left|center|right` classes on the cells, never as a style.
///
/// Raw HTML in the markdown is shown as text (see `raw_html`).
///
/// Works on partial answers too (an unclosed code fence renders as a code block, a tag cut in
/// the middle is text), so the server can send snapshots while the answer streams.
pub fn markdown_to_html(markdown: &str) -> String {
    let source = raw_html::escape_html_blocks(markdown, OPTIONS);
    // Raw HTML becomes text before the table adapter adds its own cell tags.
    let events = Parser::new_ext(&source, OPTIONS)
        .map(raw_html::as_text)
        .map(image_to_link);
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, AlignedTables::new(events));
    sanitize(&html)
}

/// The second line of defence: whatever the writer produced, only the allow-list leaves.
fn sanitize(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

/// Images become plain links to them: the page's CSP would block remote images anyway, and an
/// image in an answer is a way to make the reader's browser call a third party.
fn image_to_link(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::markdown_to_html as render;
    use super::sanitize;
    use super::visible_text::assert_every_word_visible;

    /// Hostile raw HTML goes both ways it could reach the page: through the renderer (which shows
    /// it as text) and straight to the sanitizer (the second line of defence, tested on its own).
    fn rendered_and_sanitized(input: &str) -> [String; 2] {
        let rendered = render(input);
        assert_every_word_visible(input, &rendered);
        [rendered, sanitize(input)]
    }

    /// Whether any tag of `html` (not its escaped text) contains `needle`.
    fn any_tag_contains(html: &str, needle: &str) -> bool {
        html.split('<')
            .skip(1)
            .any(|tag| tag.split('>').next().unwrap_or_default().contains(needle))
    }

    /// Whatever hostile input went in, no dangerous element or attribute may come out. Only the
    /// markup is checked: the same words as escaped text (`&lt;script&gt;`) are inert.
    fn assert_inert(html: &str) {
        // Text never contains a raw `<` (the renderer escapes it), so each `<` opens a tag.
        for tag in html.split('<').skip(1) {
            let tag = tag
                .split('>')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                super::ALLOWED_TAGS.contains(&name.as_str()),
                "tag <{tag}> survived in {html}"
            );
            for needle in [
                "javascript:",
                "vbscript:",
                "data:",
                "style=",
                "srcdoc",
                "xlink",
            ] {
                assert!(
                    !tag.contains(needle),
                    "{needle:?} survived in <{tag}> of {html}"
                );
            }
            for key in attribute_names(&tag) {
                assert!(
                    ["href", "title", "rel", "target", "class", "start"].contains(&key.as_str()),
                    "attribute {key:?} survived in <{tag}> of {html}"
                );
            }
        }
    }

    /// The attribute names of a tag's inside (`a href="x y" rel=z` -> `href`, `rel`).
    fn attribute_names(tag: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut quote = None;
        let mut current = String::new();
        let mut in_value = false;
        // Skip the tag name itself.
        let rest = tag.trim_start_matches(|c: char| c != ' ' && c != '\n');
        for c in rest.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '=') => {
                    names.push(std::mem::take(&mut current));
                    in_value = true;
                }
                (None, c) if c.is_whitespace() || c == '/' => {
                    if !current.is_empty() && !in_value {
                        names.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    in_value = false;
                }
                (None, c) if !in_value => current.push(c),
                (None, _) => {}
            }
        }
        if !current.is_empty() && !in_value {
            names.push(current);
        }
        names
    }

    #[test]
    fn the_inertness_check_itself_catches_dangerous_markup() {
        for html in [
            "<script>x</script>",
            "<p onclick=\"x\">a</p>",
            "<a href=\"javascript:x\">a</a>",
            "<a title=\"a b\" onmouseover=x>a</a>",
            "<svg></svg>",
            "<p style=\"color:red\">a</p>",
        ] {
            assert!(
                std::panic::catch_unwind(|| assert_inert(html)).is_err(),
                "{html} passed"
            );
        }
        assert_inert(
            "<p><a href=\"https://x.example\" title=\"on=1\" rel=\"noopener noreferrer\">a</a></p>",
        );
    }

    #[test]
    fn renders_common_markdown() {
        let html = render(
            "# Title\n\nSome *em* and **strong**, `code`, ~~gone~~.\n\n- a\n- b\n\n1. one\n2. two\n\n> quote\n",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>em</em>") && html.contains("<strong>strong</strong>"));
        assert!(html.contains("<code>code</code>") && html.contains("<del>gone</del>"));
        assert!(html.contains("<ul>\n<li>a</li>") && html.contains("<ol>\n<li>one</li>"));
        assert!(html.contains("<blockquote>"));
    }

    #[test]
    fn renders_tables() {
        let html = render("| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert_eq!(
            html,
            "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\n<tr><td>1</td><td>2</td></tr>\n</tbody></table>\n"
        );
    }

    #[test]
    fn table_alignment_becomes_classes_not_styles() {
        let html = render(
            "| item | note | qty | price |\n|:--|---|:-:|--:|\n| tea | *hot* | 2 | 3.50 |\n| cake | | 1 | 12.00 | extra |\n| x |\n",
        );
        assert_eq!(
            html,
            concat!(
                "<table><thead><tr>",
                "<th class=\"align-left\">item</th><th>note</th>",
                "<th class=\"align-center\">qty</th><th class=\"align-right\">price</th>",
                "</tr></thead><tbody>\n",
                "<tr><td class=\"align-left\">tea</td><td><em>hot</em></td>",
                "<td class=\"align-center\">2</td><td class=\"align-right\">3.50</td></tr>\n",
                // A row with too many cells is cut, one with too few is padded (GFM).
                "<tr><td class=\"align-left\">cake</td><td></td>",
                "<td class=\"align-center\">1</td><td class=\"align-right\">12.00</td></tr>\n",
                "<tr><td class=\"align-left\">x</td><td></td>",
                "<td class=\"align-center\"></td><td class=\"align-right\"></td></tr>\n",
                "</tbody></table>\n",
            )
        );
        assert_inert(&html);
    }

    #[test]
    fn table_alignment_restarts_with_each_table() {
        let html = render("| a |\n|--:|\n| 1 |\n\ntext\n\n| b |\n|---|\n| 2 |\n");
        assert_eq!(html.matches("align-right").count(), 2, "{html}");
        assert!(
            html.contains("<th>b</th>") && html.contains("<td>2</td>"),
            "{html}"
        );
    }

    #[test]
    fn cells_keep_only_the_alignment_classes() {
        for (input, expected) in [
            (
                "<table><tr><td class=\"align-right\">1</td></tr></table>",
                "<td class=\"align-right\">",
            ),
            (
                "<table><tr><td class=\"align-right hidden\">1</td></tr></table>",
                "<td>",
            ),
            (
                "<table><tr><th class=\"composer\">1</th></tr></table>",
                "<th>",
            ),
            (
                "<table><tr><td class=\"ALIGN-RIGHT\">1</td></tr></table>",
                "<td>",
            ),
            (
                "<table><tr><td style=\"text-align: right\">1</td></tr></table>",
                "<td>",
            ),
        ] {
            // Raw HTML reaches the page as text; the sanitizer must still filter it.
            let html = sanitize(input);
            assert!(html.contains(expected), "{input} gave {html}");
            assert_inert(&html);
            let [rendered, _] = rendered_and_sanitized(input);
            assert!(!any_tag_contains(&rendered, "class"), "{rendered}");
        }
        // The alignment classes mean nothing elsewhere.
        let html = sanitize("<p class=\"align-right\">x</p> <code class=\"align-left\">y</code>");
        assert!(!html.contains("class="), "{html}");
    }

    #[test]
    fn code_blocks_keep_their_language_class() {
        let html = render("```rust\nfn main() { println!(\"<hi>\"); }\n```\n");
        assert_eq!(
            html,
            "<pre><code class=\"language-rust\">fn main() { println!(\"&lt;hi&gt;\"); }\n</code></pre>\n"
        );
    }

    #[test]
    fn unclosed_code_fence_renders_as_code_while_streaming() {
        let html = render("Here:\n\n```python\nprint('x')\n");
        assert!(
            html.contains("<pre><code class=\"language-python\">print('x')"),
            "{html}"
        );
    }

    #[test]
    fn foreign_classes_are_removed() {
        let html = sanitize(
            "<code class=\"composer hidden\">x</code> <code class=\"language-a b\">y</code>",
        );
        assert!(!html.contains("class="), "{html}");
    }

    #[test]
    fn links_open_safely() {
        let html = render("[docs](https://example.com/a?b=1) and <mailto:a@example.com>");
        assert!(
            html.contains(
                "<a href=\"https://example.com/a?b=1\" target=\"_blank\" rel=\"noopener noreferrer\">docs</a>"
            ),
            "{html}"
        );
        assert!(html.contains("href=\"mailto:a@example.com\""), "{html}");
    }

    #[test]
    fn raw_html_links_get_rel_and_target_overwritten() {
        let html =
            sanitize("<a href=\"https://example.com\" rel=\"opener\" target=\"_self\">x</a>");
        assert!(html.contains("rel=\"noopener noreferrer\""), "{html}");
        assert!(html.contains("target=\"_blank\""), "{html}");
        assert!(!html.contains("opener\"") || html.contains("noopener noreferrer\""));
        assert!(!html.contains("_self"), "{html}");
    }

    #[test]
    fn script_tags_are_removed_with_their_content() {
        for input in [
            "<script>window.__pwned = 1</script>",
            "hello <script src=\"https://evil.example/x.js\"></script> world",
            "<SCRIPT>alert(1)</SCRIPT>",
            "<scr<script>ipt>alert(1)</script>",
            "```\n</code></pre><script>alert(1)</script>\n```",
        ] {
            let [rendered, sanitized] = rendered_and_sanitized(input);
            assert_inert(&rendered);
            assert_inert(&sanitized);
            assert!(
                !sanitized.contains("__pwned") && !sanitized.contains("alert(1)</"),
                "{sanitized}"
            );
            // The renderer shows the script as text, every word of it (checked above).
            assert!(!any_tag_contains(&rendered, "script"), "{rendered}");
        }
    }

    #[test]
    fn event_handlers_are_removed() {
        for input in [
            "<img src=x onerror=\"window.__pwned=1\">",
            "<p onclick=\"alert(1)\">click</p>",
            "<a href=\"https://example.com\" onmouseover=\"alert(1)\">x</a>",
            "<b/onmouseover=alert(1)>x</b>",
            "<details open ontoggle=alert(1)>",
            "<body onload=alert(1)>",
        ] {
            for html in rendered_and_sanitized(input) {
                assert_inert(&html);
            }
        }
    }

    #[test]
    fn dangerous_url_schemes_are_removed() {
        for input in [
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](vbscript:msgbox(1))",
            "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            "[click](&#106;avascript:alert(1))",
            "[click](&#x6A;avascript&#58;alert(1))",
            "[click](java%0ascript:alert(1))",
            "[click](<java\tscript:alert(1)>)",
            "[ref]\n\n[ref]: javascript:alert(1)",
            "<javascript:alert(1)>",
            "![img](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
            "<a href=\"&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)\">x</a>",
            "<a href=\" javascript:alert(1)\">x</a>",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<a href=\"vbscript:msgbox(1)\">x</a>",
            "<a href=\"/relative\">x</a>",
            "<a href=\"//evil.example\">x</a>",
        ] {
            for html in rendered_and_sanitized(input) {
                assert_inert(&html);
                assert!(
                    !any_tag_contains(&html, "href=\"/"),
                    "relative link survived in {html}"
                );
            }
        }
    }

    #[test]
    fn svg_math_iframes_objects_forms_are_removed() {
        for input in [
            "<svg onload=alert(1)><circle r=10 /></svg>",
            "<svg><script>alert(1)</script></svg>",
            "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
            "<object data=\"javascript:alert(1)\"></object><embed src=x>",
            "<form action=\"https://evil.example\"><input name=p></form>",
            "<link rel=stylesheet href=https://evil.example/x.css><meta http-equiv=refresh content=\"0;url=javascript:alert(1)\">",
            "<base href=\"https://evil.example/\">",
            "<style>body{display:none}</style>",
            "<div style=\"position:fixed;inset:0\">cover</div>",
        ] {
            for html in rendered_and_sanitized(input) {
                assert_inert(&html);
            }
        }
    }

    #[test]
    fn entity_and_unclosed_tricks_stay_text() {
        for input in [
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "<img src=x onerror=alert(1)",
            "<a href=\"javascript:alert(1)",
            "<scr\0ipt>alert(1)</script>",
            "<!--<script>alert(1)</script>-->",
            "<![CDATA[<script>alert(1)</script>]]>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
        ] {
            for html in rendered_and_sanitized(input) {
                assert_inert(&html);
            }
        }
        // Escaped markup is shown to the reader, not interpreted.
        assert_eq!(
            render("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
        );
    }

    #[test]
    fn images_become_links() {
        let html = render("![a chart](https://example.com/c.png)");
        assert_eq!(
            html,
            "<p><a href=\"https://example.com/c.png\" target=\"_blank\" rel=\"noopener noreferrer\">a chart</a></p>\n"
        );
    }

    #[test]
    fn empty_and_plain_inputs() {
        assert_eq!(render(""), "");
        assert_eq!(render("plain"), "<p>plain</p>\n");
    }
}
