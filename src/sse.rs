//! A byte-level Server-Sent-Events parser over any `Read` (WHATWG "event stream" rules).
//!
//! Lines end with LF, CRLF or a lone CR, also when the terminator is split across reads.
//! A leading UTF-8 BOM is skipped. Lines are decoded as UTF-8 only once complete, so a
//! character split across reads is fine; invalid UTF-8 is a protocol error rather than being
//! replaced silently. One line and one event's data together may not exceed `max_event_bytes`.

use std::io::{self, Read};

use crate::error::{Error, ErrorKind, Result};

const READ_SIZE: usize = 16 << 10;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event. `event` is empty when no `event:` field was given. (The client reads
/// `EventRef`s; owned events serve the tests and fuzz targets.)
#[cfg(any(test, fuzzing))]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

/// One dispatched event, borrowed from the reader until its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub event: &'a str,
    pub data: &'a str,
    pub id: Option<&'a str>,
}

#[cfg(any(test, fuzzing))]
impl EventRef<'_> {
    pub fn to_owned(self) -> Event {
        Event { event: self.event.into(), data: self.data.into(), id: self.id.map(Into::into) }
    }
}

/// The fields of the event being read. Kept apart from the read buffer so a line can be
/// parsed straight out of the buffer while they change.
#[derive(Default)]
struct Fields {
    data: String,
    has_data: bool,
    event: String,
    id: Option<String>,
    /// The last call handed out `data` and `event`: clear them before reading on.
    dispatched: bool,
}

impl Fields {
    fn field(&mut self, line: &str, max_event_bytes: usize) -> Result<()> {
        if line.starts_with(':') {
            return Ok(());
        }
        let (name, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match name {
            "data" => {
                if self.data.len() + value.len() + 1 > max_event_bytes {
                    return Err(too_large(max_event_bytes));
                }
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {} // `retry` and unknown fields carry nothing for this client
        }
        Ok(())
    }
}

/// Where `next_line` left a complete line.
enum Line {
    /// `buf[start..end]`: the whole line arrived in one read (no copy made).
    Buf(usize, usize),
    /// In `line`: it was put together from several reads.
    Joined,
}

/// Pulls events out of a byte stream.
pub struct EventReader<R> {
    inner: R,
    /// Read buffer, allocated once; `buf[pos..end]` is not parsed yet.
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    line: Vec<u8>,
    /// The previous line ended in CR: an LF right after it belongs to that terminator.
    after_cr: bool,
    bom_checked: bool,
    eof: bool,
    fields: Fields,
    max_event_bytes: usize,
}

impl<R: Read> EventReader<R> {
    pub fn new(inner: R) -> EventReader<R> {
        EventReader::with_limit(inner, crate::limits::MAX_EVENT_BYTES)
    }

    pub fn with_limit(inner: R, max_event_bytes: usize) -> EventReader<R> {
        EventReader {
            inner,
            buf: vec![0u8; READ_SIZE].into_boxed_slice(),
            pos: 0,
            end: 0,
            line: Vec::new(),
            after_cr: false,
            bom_checked: false,
            eof: false,
            fields: Fields::default(),
            max_event_bytes,
        }
    }

    /// The next event, or `None` at the end of the input. An event not closed by a blank
    /// line when the input ends is discarded, as the SSE rules say.
    #[cfg(any(test, fuzzing))]
    pub fn next_event(&mut self) -> std::result::Result<Option<Event>, ReadError> {
        Ok(self.next_event_ref()?.map(EventRef::to_owned))
    }

    /// The next event, borrowing the reader's buffers until the next call; `None` at the end
    /// of the input. An event not closed by a blank line when the input ends is discarded, as
    /// the SSE rules say.
    pub fn next_event_ref(&mut self) -> std::result::Result<Option<EventRef<'_>>, ReadError> {
        if self.fields.dispatched {
            self.fields.dispatched = false;
            self.fields.data.clear();
            self.fields.event.clear();
        }
        loop {
            let at = match self.next_line()? {
                Some(at) => at,
                None => return Ok(None),
            };
            let bytes = match at {
                Line::Buf(start, end) => &self.buf[start..end],
                Line::Joined => &self.line[..],
            };
            if bytes.is_empty() {
                if self.fields.has_data {
                    break;
                }
                self.fields.event.clear(); // a blank line without data resets the event type
                continue;
            }
            let line = std::str::from_utf8(bytes)
                .map_err(|_| ReadError::Parse(Error::protocol("invalid UTF-8 in the event stream")))?;
            self.fields.field(line, self.max_event_bytes).map_err(ReadError::Parse)?;
        }
        let f = &mut self.fields;
        f.has_data = false;
        f.dispatched = true;
        let data = f.data.strip_suffix('\n').unwrap_or(&f.data);
        Ok(Some(EventRef { event: &f.event, data, id: f.id.as_deref() }))
    }

    /// True when the input ended with a partly received event or line.
    pub fn ended_mid_event(&self) -> bool {
        self.eof && (self.fields.has_data || !self.line.is_empty() || !self.fields.event.is_empty())
    }

    /// The next complete line without its terminator, or `None` at end of input.
    fn next_line(&mut self) -> std::result::Result<Option<Line>, ReadError> {
        self.line.clear();
        loop {
            if self.pos < self.end {
                let rest = &self.buf[self.pos..self.end];
                if self.after_cr {
                    self.after_cr = false;
                    if rest[0] == b'\n' {
                        self.pos += 1;
                        continue;
                    }
                }
                if let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
                    self.check_size(self.line.len() + i)?;
                    self.after_cr = rest[i] == b'\r';
                    let start = self.pos;
                    self.pos += i + 1;
                    if self.line.is_empty() {
                        return Ok(Some(Line::Buf(start, start + i)));
                    }
                    self.line.extend_from_slice(&self.buf[start..start + i]);
                    return Ok(Some(Line::Joined));
                }
                self.check_size(self.line.len() + rest.len())?;
                self.line.extend_from_slice(rest);
                self.pos = self.end;
            }
            if self.eof || !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn check_size(&self, line_len: usize) -> std::result::Result<(), ReadError> {
        if self.fields.data.len() + line_len > self.max_event_bytes {
            return Err(ReadError::Parse(too_large(self.max_event_bytes)));
        }
        Ok(())
    }

    /// Reads more input; false at end of input.
    fn fill(&mut self) -> std::result::Result<bool, ReadError> {
        self.pos = 0;
        self.end = 0;
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            }
        };
        self.end = n;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        if !self.bom_checked {
            self.skip_bom()?;
        }
        Ok(true)
    }

    /// Skips a BOM at the very start, reading more if the first read split it.
    fn skip_bom(&mut self) -> std::result::Result<(), ReadError> {
        while self.end < BOM.len() && BOM.starts_with(&self.buf[..self.end]) {
            let n = match self.inner.read(&mut self.buf[self.end..BOM.len()]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            };
            if n == 0 {
                break;
            }
            self.end += n;
        }
        self.bom_checked = true;
        if self.buf[..self.end].starts_with(BOM) {
            self.pos = BOM.len();
        }
        Ok(())
    }
}

/// Why `next_event` failed: the transport, or the bytes it delivered.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Parse(Error),
}

fn too_large(limit: usize) -> Error {
    Error::new(ErrorKind::TooLarge, format!("an event in the reply exceeds the {limit}-byte limit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its input in pieces of the given sizes, to split terminators and characters.
    struct Pieces {
        data: Vec<u8>,
        sizes: Vec<usize>,
        at: usize,
        turn: usize,
    }

    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.turn % self.sizes.len()];
            self.turn += 1;
            let n = size.min(out.len()).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn events_split(input: &[u8], sizes: &[usize]) -> Vec<Event> {
        let mut r = EventReader::new(Pieces { data: input.to_vec(), sizes: sizes.to_vec(), at: 0, turn: 0 });
        let mut out = Vec::new();
        while let Some(e) = r.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    fn datas(input: &[u8]) -> Vec<String> {
        // Every split size from 1 byte up must give the same events.
        let whole: Vec<String> = events_split(input, &[usize::MAX]).into_iter().map(|e| e.data).collect();
        for size in 1..8 {
            let split: Vec<String> = events_split(input, &[size]).into_iter().map(|e| e.data).collect();
            assert_eq!(split, whole, "split into {size}-byte reads");
        }
        whole
    }

    #[test]
    fn line_ends_lf_crlf_and_lone_cr() {
        assert_eq!(datas(b"data: a\n\ndata: b\n\n"), ["a", "b"]);
        assert_eq!(datas(b"data: a\r\n\r\ndata: b\r\n\r\n"), ["a", "b"]);
        assert_eq!(datas(b"data: a\r\rdata: b\r\r"), ["a", "b"]);
        assert_eq!(datas(b"data: a\r\n\ndata: b\r\r\n"), ["a", "b"]);
    }

    #[test]
    fn multi_line_data_comments_and_fields() {
        let input = b": keep-alive\nevent: delta\nid: 7\ndata: one\ndata:two\ndata\nretry: 10\n\n";
        let ev = events_split(input, &[3]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data, "one\ntwo\n");
        assert_eq!(ev[0].event, "delta");
        assert_eq!(ev[0].id.as_deref(), Some("7"));
    }

    #[test]
    fn only_one_leading_space_is_removed() {
        assert_eq!(datas(b"data:  x \n\n"), [" x "]);
    }

    #[test]
    fn blank_lines_without_data_dispatch_nothing() {
        assert_eq!(datas(b"\n\n: c\n\nevent: x\n\ndata: y\n\n"), ["y"]);
    }

    #[test]
    fn bom_is_skipped_even_when_split() {
        assert_eq!(datas(b"\xEF\xBB\xBFdata: a\n\n"), ["a"]);
        // A BOM later in the stream is content, not skipped.
        assert_eq!(datas(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"), ["a"]);
    }

    #[test]
    fn multibyte_utf8_split_across_reads() {
        let input = "data: 北科大 AI 助手\n\n".as_bytes();
        for size in 1..6 {
            let ev = events_split(input, &[size]);
            assert_eq!(ev[0].data, "北科大 AI 助手");
        }
    }

    #[test]
    fn incomplete_last_event_is_discarded_and_reported() {
        let mut r = EventReader::new(&b"data: a\n\ndata: b\n"[..]);
        assert_eq!(r.next_event().unwrap().unwrap().data, "a");
        assert!(r.next_event().unwrap().is_none());
        assert!(r.ended_mid_event());
        let mut r = EventReader::new(&b"data: a\n\n"[..]);
        r.next_event().unwrap();
        assert!(r.next_event().unwrap().is_none());
        assert!(!r.ended_mid_event());
    }

    #[test]
    fn invalid_utf8_is_a_protocol_error() {
        let mut r = EventReader::new(&b"data: \xff\xfe\n\n"[..]);
        match r.next_event() {
            Err(ReadError::Parse(e)) => assert_eq!(e.kind, ErrorKind::Protocol),
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn long_lines_are_fine_but_capped() {
        let long = "x".repeat(100_000);
        let input = format!("data: {long}\n\n");
        assert_eq!(datas(input.as_bytes()), std::slice::from_ref(&long));
        let mut r = EventReader::with_limit(input.as_bytes(), 50_000);
        match r.next_event() {
            Err(ReadError::Parse(e)) => assert_eq!(e.kind, ErrorKind::TooLarge),
            other => panic!("expected too_large, got {other:?}"),
        }
        // Many data lines that add up past the cap fail too.
        let many = "data: 0123456789\n".repeat(10_000) + "\n";
        let mut r = EventReader::with_limit(many.as_bytes(), 50_000);
        assert!(matches!(r.next_event(), Err(ReadError::Parse(e)) if e.kind == ErrorKind::TooLarge));
    }

    #[test]
    fn io_errors_are_passed_on() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            }
        }
        let mut r = EventReader::new(Broken);
        assert!(matches!(r.next_event(), Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset));
    }

    #[test]
    fn vectors_parse() {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/stream-ustb2026.sse")).unwrap();
        let ev = events_split(&raw, &[7]);
        assert_eq!(ev.len(), 10);
        assert!(ev.iter().all(|e| e.data.starts_with("{\"e\":0")));
    }
}
