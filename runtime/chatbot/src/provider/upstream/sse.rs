//! The `data` of server-sent events, read from an upstream's body as it arrives.
//!
//! Hand-written rather than `eventsource-stream` (which this replaces on the relay's hot path):
//! that crate copies every network read into a new `String`, copies the rest of its buffer into
//! another one after every line, parses each line char by char and allocates the event's type and
//! id on every event, about a dozen allocations and three copies per token. This reader keeps the
//! unparsed bytes in one buffer, finds line ends with `memchr`, never rescans bytes it has already
//! looked at, and builds only the one `String` the caller gets. The provider only ever reads the
//! `data` field, so `event`, `id` and `retry` are recognised and ignored. Fuzzed against
//! `eventsource-stream` (runtime/fuzz/tests/sse_parser.rs): same data for every well-formed stream
//! cut anywhere.
//!
//! Follows the WHATWG parsing rules: an optional byte order mark, lines ended by CRLF, CR or LF,
//! `:` comments, `field: value` with one optional space, `data` lines joined with LF, an event
//! dispatched on an empty line only if it has data. Unlike `eventsource-stream`, a line that is not
//! UTF-8 is an error at once (that crate stops parsing at the first bad byte and reports it when
//! the body ends).

use bytes::{Buf, BytesMut};

/// Why a stream is not readable as server-sent events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("a line is not UTF-8: {0}")]
    Utf8(#[from] std::str::Utf8Error),
}

/// Parses an SSE stream fed in arbitrary pieces.
#[derive(Debug, Default)]
pub struct SseReader {
    /// Bytes received and not yet consumed: the current, unfinished line (and anything after it).
    buffer: BytesMut,
    /// How far into `buffer` no line end was found, so a long line is scanned only once.
    scanned: usize,
    /// The data of the event being built, each `data` line followed by LF.
    data: String,
    /// Whether the event being built has a `data` field (an empty one counts).
    has_data: bool,
    /// Whether the first line was seen (a byte order mark may only start the stream).
    started: bool,
}

const LF: u8 = b'\n';
const CR: u8 = b'\r';
const BOM: &[u8] = "\u{feff}".as_bytes();

impl SseReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The data of the next complete event in what was pushed so far; `None` until more arrives.
    pub fn next_event(&mut self) -> Option<Result<String, SseError>> {
        loop {
            let (line_len, eol_len) = self.next_line()?;
            let line = self.buffer.split_to(line_len);
            self.buffer.advance(eol_len);
            self.scanned = 0;
            match self.on_line(&line) {
                Ok(Some(data)) => return Some(Ok(data)),
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// The length of the next complete line and of its end (1 or 2 bytes), if there is one. A CR
    /// at the very end of what arrived waits for the next byte: it may be the first half of CRLF.
    fn next_line(&mut self) -> Option<(usize, usize)> {
        let from = self.scanned;
        let Some(at) = memchr::memchr2(LF, CR, &self.buffer[from..]).map(|i| from + i) else {
            self.scanned = self.buffer.len();
            return None;
        };
        if self.buffer[at] == LF {
            return Some((at, 1));
        }
        match self.buffer.get(at + 1) {
            None => {
                self.scanned = at;
                None
            }
            Some(&LF) => Some((at, 2)),
            Some(_) => Some((at, 1)),
        }
    }

    /// One line (without its end): the event's data when it completes one.
    fn on_line(&mut self, line: &[u8]) -> Result<Option<String>, SseError> {
        let line = if std::mem::replace(&mut self.started, true) {
            line
        } else {
            line.strip_prefix(BOM).unwrap_or(line)
        };
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line[0] == b':' {
            // A comment carries nothing, but like every line it must be text: a stream that is
            // not UTF-8 is refused at its first bad line, whatever field holds it.
            std::str::from_utf8(line)?;
            return Ok(None);
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        if name == b"data" {
            self.data.push_str(std::str::from_utf8(value)?);
            self.data.push('\n');
            self.has_data = true;
        } else {
            // `event`, `id`, `retry` and unknown fields: nothing the provider reads, but the
            // stream must still be text.
            std::str::from_utf8(line)?;
        }
        Ok(None)
    }

    /// Ends the event being built: its data without the last LF, if it had any data.
    fn dispatch(&mut self) -> Option<String> {
        if !std::mem::replace(&mut self.has_data, false) {
            return None;
        }
        self.data.pop();
        Some(std::mem::take(&mut self.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event's data, feeding `pieces` one after another.
    fn events(pieces: &[&[u8]]) -> Vec<Result<String, SseError>> {
        let mut reader = SseReader::new();
        let mut out = Vec::new();
        for piece in pieces {
            reader.push(piece);
            while let Some(event) = reader.next_event() {
                out.push(event);
            }
        }
        out
    }

    fn ok(data: &[&str]) -> Vec<Result<String, SseError>> {
        data.iter().map(|d| Ok((*d).to_owned())).collect()
    }

    #[test]
    fn the_spec_examples() {
        let stream = b"data: YHOO\ndata: +2\ndata: 10\n\n: test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
        assert_eq!(
            events(&[stream]),
            ok(&[
                "YHOO\n+2\n10",
                "first event",
                "second event",
                " third event"
            ])
        );
        // `data` with no colon is an empty data line; two of them are one LF.
        assert_eq!(events(&[b"data\n\ndata\ndata\n\ndata:\n"]), ok(&["", "\n"]));
    }

    #[test]
    fn every_line_end_and_every_cut() {
        let stream = "\u{feff}data: a\r\ndata: é\rdata:b\n\r\nevent: x\n: c\ndata: [DONE]\r\r\n";
        let want = ok(&["a\né\nb", "[DONE]"]);
        let bytes = stream.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(
                events(&[&bytes[..cut], &bytes[cut..]]),
                want,
                "cut at {cut}"
            );
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(events(&one_by_one), want);
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        assert_eq!(events(&[b"data: a\n", b"data: b"]), ok(&[]));
        // A CR at the end may be half of CRLF: the line waits for the next byte.
        assert_eq!(events(&[b"data: a\r\r"]), ok(&[]));
        assert_eq!(events(&[b"data: a\r\r", b"x"]), ok(&["a"]));
        assert_eq!(events(&[b"data: a\r"]), ok(&[]));
    }

    #[test]
    fn a_bom_only_at_the_start_is_skipped() {
        assert_eq!(
            events(&[b"\xef\xbb", b"\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n"]),
            ok(&["x"])
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_error() {
        let got = events(&[b"data: ok\n\ndata: \xff\n\n"]);
        assert_eq!(got[0], Ok("ok".to_owned()));
        assert!(matches!(got[1], Err(SseError::Utf8(_))));
        assert!(matches!(
            events(&[b"event: \xc3\n"])[..],
            [Err(SseError::Utf8(_))]
        ));
        // A comment too (found by runtime/fuzz's sse_parser::any_bytes).
        assert!(matches!(
            events(&[b":\x80\ndata: \n\n"])[..],
            [Err(SseError::Utf8(_)), ..]
        ));
    }
}
