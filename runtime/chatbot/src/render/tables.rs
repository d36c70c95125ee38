//! Table column alignment as class names instead of inline styles.
//!
//! pulldown-cmark writes a column's alignment (`| --: |`) as `style="text-align: right"`, which the
//! sanitizer must drop (a style attribute can cover or hide the page) and the CSP would block
//! anyway. This adapter takes the alignments off the table and writes each cell's opening tag
//! itself, with one of [`ALIGN_CLASSES`], which the stylesheet knows and the sanitizer lets
//! through on `th`/`td` only.

use pulldown_cmark::{Alignment, CowStr, Event, Tag, TagEnd};

/// The only classes a table cell may carry (see `.markdown .align-*` in style.css).
pub const ALIGN_CLASSES: &[&str] = &["align-left", "align-center", "align-right"];

/// Wraps a parser's events; see the module documentation.
pub struct AlignedTables<I> {
    events: I,
    alignments: Vec<Alignment>,
    in_head: bool,
    column: usize,
}

impl<I> AlignedTables<I> {
    pub fn new(events: I) -> Self {
        Self {
            events,
            alignments: Vec::new(),
            in_head: false,
            column: 0,
        }
    }

    fn cell_name(&self) -> &'static str {
        if self.in_head { "th" } else { "td" }
    }

    fn open_cell(&self) -> Event<'static> {
        let class = match self.alignments.get(self.column) {
            Some(Alignment::Left) => " class=\"align-left\"",
            Some(Alignment::Center) => " class=\"align-center\"",
            Some(Alignment::Right) => " class=\"align-right\"",
            Some(Alignment::None) | None => "",
        };
        Event::InlineHtml(CowStr::from(format!("<{}{class}>", self.cell_name())))
    }
}

impl<'a, I: Iterator<Item = Event<'a>>> Iterator for AlignedTables<I> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        let event = self.events.next()?;
        Some(match event {
            Event::Start(Tag::Table(alignments)) => {
                self.alignments = alignments;
                // No alignments left for the HTML writer: it writes no style attribute.
                Event::Start(Tag::Table(Vec::new()))
            }
            Event::Start(Tag::TableHead) => {
                self.in_head = true;
                self.column = 0;
                event
            }
            Event::End(TagEnd::TableHead) => {
                self.in_head = false;
                event
            }
            Event::Start(Tag::TableRow) => {
                self.column = 0;
                event
            }
            Event::Start(Tag::TableCell) => self.open_cell(),
            Event::End(TagEnd::TableCell) => {
                let close = Event::InlineHtml(CowStr::from(format!("</{}>", self.cell_name())));
                self.column += 1;
                close
            }
            other => other,
        })
    }
}
