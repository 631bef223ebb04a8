//! The SSE reader: random and mutated streams never panic, and give the same events (or the
//! same error) however the input is split into reads.

use std::io::{self, Read};

use super::{mutate, run, text, vectors, Rng};
use crate::error::ErrorKind;
use crate::limits::MAX_EVENT_BYTES as DEFAULT_MAX_EVENT_BYTES;
use crate::sse::{Event, EventReader, ReadError};

/// Hands out `data` in reads of the given sizes (cycled); 0 in the list is skipped, since a
/// 0-byte read means end of input.
struct Reads {
    data: Vec<u8>,
    sizes: Vec<usize>,
    at: usize,
    turn: usize,
}

impl Read for Reads {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = size.min(out.len()).min(self.data.len() - self.at);
        out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Everything the reader said: the events, then how it ended (Ok(ended_mid_event) or the
/// error kind).
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    end: Result<bool, ErrorKind>,
}

fn parse(input: &[u8], sizes: Vec<usize>, limit: usize) -> Outcome {
    let mut r = EventReader::with_limit(Reads { data: input.to_vec(), sizes, at: 0, turn: 0 }, limit);
    let mut events = Vec::new();
    loop {
        match r.next_event() {
            Ok(Some(e)) => {
                assert!(e.data.len() <= limit, "an event of {} bytes passed the {limit}-byte limit", e.data.len());
                events.push(e);
            }
            Ok(None) => return Outcome { events, end: Ok(r.ended_mid_event()) },
            Err(ReadError::Parse(e)) => {
                assert!(matches!(e.kind, ErrorKind::Protocol | ErrorKind::TooLarge), "unexpected error kind: {e:?}");
                return Outcome { events, end: Err(e.kind) };
            }
            Err(ReadError::Io(e)) => panic!("the in-memory reader never fails, yet: {e}"),
        }
    }
}

/// A random event stream: fields, comments, blank lines, odd values, mixed line ends, maybe a
/// BOM, invalid UTF-8 and a long line.
fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.one_in(4) {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let ends: &[&[u8]] = match rng.below(4) {
        0 => &[b"\n"],
        1 => &[b"\r\n"],
        2 => &[b"\r"],
        _ => &[b"\n", b"\r\n", b"\r"],
    };
    for _ in 0..rng.size(40) {
        match rng.below(12) {
            0..=3 => {
                out.extend_from_slice(if rng.one_in(3) { b"data:" } else { b"data: " });
                out.extend_from_slice(text(rng, 30).as_bytes());
            }
            4 => out.extend_from_slice(b"data"),
            5 => out.extend_from_slice(format!("event: {}", text(rng, 8)).as_bytes()),
            6 => out.extend_from_slice(format!("id: {}", text(rng, 8)).as_bytes()),
            7 => out.extend_from_slice(format!(":{}", text(rng, 20)).as_bytes()),
            8 => out.extend_from_slice(format!("{}: {}", text(rng, 5), text(rng, 5)).as_bytes()),
            9 => {
                out.extend_from_slice(b"data: ");
                let bad: &[&[u8]] = &[b"\xFF", b"\xC3", b"\xE5\x8C", b"\xED\xA0\x80", b"\xF8\x88\x80\x80\x80"];
                out.extend_from_slice(rng.pick::<&[u8]>(bad));
            }
            10 if rng.one_in(8) => {
                out.extend_from_slice(b"data: ");
                out.extend(std::iter::repeat_n(b'x', 1000 + rng.below(40_000)));
            }
            _ => {} // a blank line: dispatch
        }
        out.extend_from_slice(rng.pick::<&[u8]>(ends));
    }
    if rng.one_in(2) {
        out.extend_from_slice(rng.pick::<&[u8]>(ends));
    }
    out
}

/// Read sizes: one size, or a random list, always including small ones.
fn random_sizes(rng: &mut Rng, len: usize) -> Vec<usize> {
    match rng.below(3) {
        0 => vec![1 + rng.below(4)],
        1 => vec![1 + rng.below(len.max(1))],
        _ => (0..1 + rng.below(16)).map(|_| 1 + rng.size(len.max(1))).collect(),
    }
}

#[test]
fn sse_reader_split_invariant() {
    let seeds = vectors();
    run("sse", 10000, |rng| {
        let input = match rng.below(3) {
            0 => generate(rng),
            1 => {
                let base = rng.pick(seeds.as_slice()).as_slice();
                mutate(rng, base)
            }
            _ => {
                let g = generate(rng);
                mutate(rng, &g)
            }
        };
        let limit = if rng.one_in(3) { 16 + rng.size(4096) } else { DEFAULT_MAX_EVENT_BYTES };
        let whole = parse(&input, vec![usize::MAX], limit);
        let sizes = random_sizes(rng, input.len());
        let split = parse(&input, sizes.clone(), limit);
        assert_eq!(split, whole, "reads of {sizes:?} differ from one read; input {:?}", escape(&input));
        // One byte per read: the hardest split, but slow on long lines.
        if input.len() < 4096 {
            assert_eq!(parse(&input, vec![1], limit), whole, "1-byte reads differ; input {:?}", escape(&input));
        }
    });
}

/// The vectors themselves parse to the same events split any way, with no error.
#[test]
fn sse_vectors_split_invariant() {
    let seeds = vectors();
    run("sse-vectors", 200, |rng| {
        let input = rng.pick(seeds.as_slice()).as_slice();
        let whole = parse(input, vec![usize::MAX], DEFAULT_MAX_EVENT_BYTES);
        assert_eq!(whole.end, Ok(false));
        assert!(!whole.events.is_empty());
        let sizes = random_sizes(rng, input.len());
        assert_eq!(parse(input, sizes.clone(), DEFAULT_MAX_EVENT_BYTES), whole, "reads of {sizes:?}");
    });
}

/// The input for a failure message, cut to a readable length.
fn escape(input: &[u8]) -> String {
    let shown = &input[..input.len().min(600)];
    format!("{}{}", shown.escape_ascii(), if input.len() > 600 { "…(cut)" } else { "" })
}
