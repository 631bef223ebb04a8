//! The SSE reader: never panics, and gives the same events however the input is split.
//! The first byte picks the read size (1..=256), the rest is the stream.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use ustb_openai::sse::{EventReader, ReadError};

/// Hands out `data` in reads of at most `size` bytes.
struct Reads<'a> {
    data: &'a [u8],
    size: usize,
}

impl Read for Reads<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.size.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn events(data: &[u8], size: usize) -> (Vec<ustb_openai::sse::Event>, Option<String>) {
    let mut r = EventReader::with_limit(Reads { data, size }, 1 << 16);
    let mut out = Vec::new();
    loop {
        match r.next_event() {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return (out, None),
            Err(ReadError::Parse(e)) => return (out, Some(e.kind.name().to_string())),
            Err(ReadError::Io(e)) => panic!("in-memory reads never fail: {e}"),
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else { return };
    let whole = events(data, usize::MAX);
    assert_eq!(events(data, 1 + first as usize), whole);
});
