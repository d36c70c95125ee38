//! Throttled HTML snapshots of an answer while it streams (the `html` event of `/api/chat`).
//!
//! Rendering the whole answer on every token would cost O(n²) over a long answer, so a snapshot
//! is rendered at most once per interval, and the interval grows with the answer's length: the
//! total rendering work stays roughly linear however long the model talks. The browser shows the
//! raw deltas that arrived since the last snapshot, so nothing looks stuck in between.

use std::time::{Duration, Instant};

use super::markdown_to_html;

/// Answers up to this many bytes are re-rendered every `interval`; longer ones proportionally
/// less often.
const BYTES_PER_INTERVAL: usize = 8 * 1024;

#[derive(Debug)]
pub struct HtmlSnapshots {
    text: String,
    interval: Duration,
    last: Option<Instant>,
    /// Text arrived since the last snapshot.
    dirty: bool,
}

impl HtmlSnapshots {
    /// `interval`: the shortest time between two snapshots (e.g. 75 ms).
    pub fn new(interval: Duration) -> Self {
        Self {
            text: String::new(),
            interval,
            last: None,
            dirty: false,
        }
    }

    /// Adds a delta; returns a snapshot when one is due.
    pub fn push(&mut self, delta: &str) -> Option<String> {
        self.push_at(delta, Instant::now())
    }

    /// The last snapshot, if anything arrived since the previous one. Call at the end of the
    /// answer, whether it ended well or not, so the page shows everything it received rendered.
    pub fn finish(&mut self) -> Option<String> {
        self.dirty.then(|| self.render(Instant::now()))
    }

    /// The whole answer so far, as received.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn push_at(&mut self, delta: &str, now: Instant) -> Option<String> {
        if delta.is_empty() {
            return None;
        }
        self.text.push_str(delta);
        self.dirty = true;
        let due = match self.last {
            None => true,
            Some(last) => now.saturating_duration_since(last) >= self.current_interval(),
        };
        due.then(|| self.render(now))
    }

    fn current_interval(&self) -> Duration {
        let factor = (self.text.len() / BYTES_PER_INTERVAL).max(1);
        self.interval
            .saturating_mul(u32::try_from(factor).unwrap_or(u32::MAX))
    }

    fn render(&mut self, now: Instant) -> String {
        self.last = Some(now);
        self.dirty = false;
        markdown_to_html(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_delta_renders_then_at_most_once_per_interval() {
        let start = Instant::now();
        let mut snapshots = HtmlSnapshots::new(MS * 100);
        assert_eq!(
            snapshots.push_at("**a", start).as_deref(),
            Some("<p>**a</p>\n")
        );
        assert_eq!(snapshots.push_at("b**", start + MS * 10), None);
        assert_eq!(snapshots.push_at(" c", start + MS * 99), None);
        assert_eq!(
            snapshots.push_at(" d", start + MS * 100).as_deref(),
            Some("<p><strong>ab</strong> c d</p>\n")
        );
        assert_eq!(snapshots.push_at(" e", start + MS * 150), None);
        assert_eq!(
            snapshots.finish().as_deref(),
            Some("<p><strong>ab</strong> c d e</p>\n")
        );
        assert_eq!(
            snapshots.finish(),
            None,
            "nothing new since the last snapshot"
        );
        assert_eq!(snapshots.text(), "**ab** c d e");
    }

    #[test]
    fn a_streamed_table_keeps_its_alignment_in_every_snapshot() {
        let start = Instant::now();
        let mut snapshots = HtmlSnapshots::new(MS * 100);
        // The header and delimiter row arrive first: already a table, already aligned.
        assert_eq!(
            snapshots
                .push_at("| item | price |\n|---|--:|\n", start)
                .as_deref(),
            Some(
                "<table><thead><tr><th>item</th><th class=\"align-right\">price</th></tr></thead><tbody>\n</tbody></table>\n"
            )
        );
        snapshots.push_at("| tea | 3.50 |", start + MS * 10);
        assert_eq!(
            snapshots.finish().as_deref(),
            Some(concat!(
                "<table><thead><tr><th>item</th><th class=\"align-right\">price</th></tr></thead><tbody>\n",
                "<tr><td>tea</td><td class=\"align-right\">3.50</td></tr>\n",
                "</tbody></table>\n"
            ))
        );
    }

    #[test]
    fn an_answer_about_html_keeps_every_word_in_every_snapshot() {
        let start = Instant::now();
        let mut snapshots = HtmlSnapshots::new(MS);
        let answer = "To add CSS, put it in a <style> element in the head.\n\n<textarea>\nnotes\n\n- item ENDMARK";
        // Deltas cut inside the tags too, as a model's tokens are.
        let mut sent = 0;
        for (i, delta) in answer.split_inclusive(['<', ' ', '>']).enumerate() {
            sent += delta.len();
            let snapshot = snapshots
                .push_at(delta, start + MS * u32::try_from(i).expect("few deltas"))
                .expect("one snapshot per interval");
            crate::render::visible_text::assert_every_word_visible(&answer[..sent], &snapshot);
        }
        assert!(snapshots.text() == answer);
    }

    #[test]
    fn empty_deltas_change_nothing() {
        let mut snapshots = HtmlSnapshots::new(MS);
        assert_eq!(snapshots.push(""), None);
        assert_eq!(snapshots.finish(), None);
    }

    #[test]
    fn long_answers_are_rendered_less_often() {
        let start = Instant::now();
        let mut snapshots = HtmlSnapshots::new(MS * 100);
        let chunk = "word ".repeat(1024); // 5 KiB
        assert!(snapshots.push_at(&chunk, start).is_some());
        for i in 1..=3 {
            snapshots.push_at(&chunk, start + MS * (i * 10));
        }
        // 20 KiB now: the interval is 2 × 100 ms, counted from the first snapshot.
        assert_eq!(snapshots.push_at("x", start + MS * 150), None);
        assert!(snapshots.push_at("x", start + MS * 200).is_some());
    }

    #[test]
    fn total_renders_over_a_long_answer_stay_bounded() {
        let start = Instant::now();
        let mut snapshots = HtmlSnapshots::new(MS * 50);
        let mut renders = 0;
        // 20 000 tokens one millisecond apart: ~100 KiB of answer over 20 s.
        for i in 0..20_000u32 {
            if snapshots.push_at("tok  ", start + MS * i).is_some() {
                renders += 1;
            }
        }
        // A fixed 50 ms throttle would render 400 times; the growing interval far fewer.
        assert!(renders < 200, "{renders} renders");
        assert!(renders > 10, "{renders} renders");
    }
}
