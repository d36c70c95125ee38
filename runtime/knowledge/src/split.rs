//! Splits a markdown document into passages, one per heading, with pulldown-cmark.

use std::collections::HashMap;
use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::corpus::Document;

/// Separates the levels of a passage's heading path in its title.
pub const TITLE_SEPARATOR: &str = " › ";

/// One heading's section of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading path, e.g. `How blue/green works in Greenlight › Health checks`.
    pub title: String,
    /// The section's own heading, the last part of `title`.
    pub heading: String,
    /// `docs/<file>.md#<slug>`, the anchor GitHub renders for the heading.
    pub source: String,
    /// The section's markdown as written, without its heading: what users are shown.
    pub markdown: String,
    /// The section's text without markup: what is indexed.
    pub plain: String,
}

/// The section being read: where its body starts and its text so far.
struct Open {
    title: String,
    heading: String,
    source: String,
    body_start: usize,
    plain: String,
}

/// Splits `doc` at every heading. Text before the first heading and sections with no text of
/// their own (a heading directly followed by a sub-heading) give no passage.
pub fn split(doc: &Document) -> Vec<Section> {
    let markdown = doc.markdown;
    let mut sections = Vec::new();
    let mut path: Vec<(u8, String)> = Vec::new();
    let mut slugs = SlugCounter::default();
    let mut open: Option<Open> = None;
    let mut heading: Option<(u8, String, Range<usize>)> = None;

    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).into_offset_iter();
    for (event, range) in parser {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                if let Some(section) = open.take() {
                    sections.extend(close(section, markdown, range.start));
                }
                heading = Some((level as u8, String::new(), range));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text, range)) = heading.take() {
                    let text = text.trim().to_owned();
                    path.retain(|(l, _)| *l < level);
                    let slug = slugs.unique(&text);
                    path.push((level, text.clone()));
                    let title = path
                        .iter()
                        .map(|(_, t)| t.as_str())
                        .collect::<Vec<_>>()
                        .join(TITLE_SEPARATOR);
                    open = Some(Open {
                        title,
                        heading: text,
                        source: format!("{}#{slug}", doc.path),
                        body_start: range.end,
                        plain: String::new(),
                    });
                }
            }
            Event::Text(text) | Event::Code(text) => match (&mut heading, &mut open) {
                (Some((_, heading_text, _)), _) => heading_text.push_str(&text),
                (None, Some(section)) => {
                    section.plain.push_str(&text);
                    section.plain.push(' ');
                }
                (None, None) => {}
            },
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, heading_text, _)) = &mut heading {
                    heading_text.push(' ');
                }
            }
            _ => {}
        }
    }
    if let Some(section) = open.take() {
        sections.extend(close(section, markdown, markdown.len()));
    }
    sections
}

fn close(section: Open, markdown: &str, body_end: usize) -> Option<Section> {
    let body = markdown.get(section.body_start..body_end)?.trim();
    let plain = section
        .plain
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if plain.is_empty() {
        return None;
    }
    Some(Section {
        title: section.title,
        heading: section.heading,
        source: section.source,
        markdown: body.to_owned(),
        plain,
    })
}

/// GitHub's heading anchors: `-1`, `-2`, ... for repeated headings in one document.
#[derive(Default)]
struct SlugCounter {
    seen: HashMap<String, usize>,
}

impl SlugCounter {
    fn unique(&mut self, heading: &str) -> String {
        let base = slug(heading);
        let count = self.seen.entry(base.clone()).or_insert(0);
        let slug = if *count == 0 {
            base
        } else {
            format!("{base}-{count}")
        };
        *count += 1;
        slug
    }
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens.
/// Written here because the slug crates follow other rules (they collapse hyphens, for one).
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Preamble without heading.

# Guide

Intro text.

## Setup `cargo`

Run *this*:

```sh
cargo build
```

## Empty

### Deep part

| a | b |
| - | - |
| c | d |

## Setup cargo

Again.
";

    fn sample() -> Vec<Section> {
        split(&Document {
            path: "docs/guide.md",
            markdown: SAMPLE,
        })
    }

    #[test]
    fn one_section_per_heading_with_heading_path_titles() {
        let titles: Vec<_> = sample().into_iter().map(|s| s.title).collect();
        assert_eq!(
            titles,
            [
                "Guide",
                "Guide › Setup cargo",
                "Guide › Empty › Deep part",
                "Guide › Setup cargo",
            ]
        );
    }

    #[test]
    fn sources_are_github_anchors_and_unique() {
        let sources: Vec<_> = sample().into_iter().map(|s| s.source).collect();
        assert_eq!(
            sources,
            [
                "docs/guide.md#guide",
                "docs/guide.md#setup-cargo",
                "docs/guide.md#deep-part",
                "docs/guide.md#setup-cargo-1",
            ]
        );
    }

    #[test]
    fn markdown_is_kept_and_plain_text_has_no_markup() {
        let sections = sample();
        let setup = &sections[1];
        assert_eq!(setup.markdown, "Run *this*:\n\n```sh\ncargo build\n```");
        assert_eq!(setup.plain, "Run this : cargo build");
        assert_eq!(sections[2].plain, "a b c d");
    }

    #[test]
    fn slugs_follow_github() {
        assert_eq!(
            slug("How blue/green works in Greenlight"),
            "how-bluegreen-works-in-greenlight"
        );
        assert_eq!(slug("`POST /api/chat`"), "post-apichat");
        assert_eq!(
            slug("First deploy with cdk deploy"),
            "first-deploy-with-cdk-deploy"
        );
        assert_eq!(slug("Ünïcode — dash"), "ünïcode--dash");
    }
}
