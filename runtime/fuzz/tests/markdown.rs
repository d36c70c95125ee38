//! Fuzz target: the markdown renderer. Answers come from a model and may carry anything; the HTML
//! the browser gets must never run script, and the streaming snapshots must see every delta.

use std::time::Duration;

use greenlight::fuzzing::{HtmlSnapshots, markdown_to_html};
use greenlight_fuzz::{fuzz, unsafe_html};
use proptest::prelude::*;

/// Pieces that build markdown and hostile HTML; generated strings add anything else.
const SYNTAX: &[&str] = &[
    "\n",
    "\n\n",
    "# ",
    "## ",
    "- ",
    "1. ",
    "> ",
    "```",
    "```rust\n",
    "~~~",
    "    ",
    "|",
    "| --- |",
    "---",
    "*",
    "**",
    "_",
    "`",
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "<",
    ">",
    "&",
    "&amp;",
    "&#x3C;",
    "\\",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "<a href=\"javascript:x\">",
    "<svg onload=alert(1)>",
    "<iframe src=x>",
    "[x]: javascript:alert(1)\n",
    "<details open ontoggle=alert(1)>",
    "data:text/html;base64,PHNjcmlwdD4=",
    "<style>",
    "<!--",
    "-->",
    "<![CDATA[",
    "\u{0}",
    "\r\n",
    "\t",
    "<b>",
    "</b>",
    "<p onclick=x>",
    "<ScRiPt>",
    "https://example.com",
    "<https://example.com>",
    "<javascript:alert(1)>",
];

fn pieces() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![3 => prop::sample::select(SYNTAX).prop_map(str::to_owned), 1 => any::<String>()],
        0..60,
    )
}

fn safe(markdown: &str, html: &str) -> Result<(), TestCaseError> {
    match unsafe_html(html) {
        None => Ok(()),
        Some(why) => Err(TestCaseError::fail(format!(
            "{why}: markdown {markdown:?} rendered to {html:?}"
        ))),
    }
}

#[test]
fn rendered_html_never_runs_script() {
    fuzz(
        "markdown::rendered_html_never_runs_script",
        pieces(),
        |pieces| {
            let markdown = pieces.concat();
            safe(&markdown, &markdown_to_html(&markdown))
        },
    );
}

#[test]
fn raw_strings_render() {
    fuzz(
        "markdown::raw_strings_render",
        prop::collection::vec(any::<u8>(), 0..4000),
        |bytes| {
            let markdown = String::from_utf8_lossy(&bytes);
            safe(&markdown, &markdown_to_html(&markdown))
        },
    );
}

#[test]
fn streamed_snapshots_are_safe_and_complete() {
    fuzz(
        "markdown::streamed_snapshots_are_safe_and_complete",
        pieces(),
        |pieces| {
            // Each piece is one delta, as a model streams them; no throttling, so every push renders.
            let mut snapshots = HtmlSnapshots::new(Duration::ZERO);
            for delta in &pieces {
                if let Some(html) = snapshots.push(delta) {
                    safe(snapshots.text(), &html)?;
                }
            }
            if let Some(html) = snapshots.finish() {
                safe(snapshots.text(), &html)?;
            }
            prop_assert_eq!(
                snapshots.text(),
                pieces.concat(),
                "the snapshots saw every delta"
            );
            Ok(())
        },
    );
}
