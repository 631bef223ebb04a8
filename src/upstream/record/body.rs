//! A reply body on its way into a capture: each read is masked (personal fields, then every
//! form of each known secret) and written out as `{"at_ms","b64"}` as soon as no secret can
//! still reach into it, so memory holds only the last few bytes, never the reply. Written to
//! a spool (memory, then an unlinked file next to the capture) because exchanges run at once
//! and a capture line must not be interleaved with another; the spool is copied into the
//! capture when the exchange ends.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::PathBuf;

use base64::Engine;
use memchr::memmem::Finder;

use super::fields::FieldMasker;

/// Kept in memory up to this, then spilled to a file.
const SPILL: usize = 256 << 10;
/// Bytes a `\uXXXX` escape may still rewrite behind the newest byte (see `FieldMasker::feed`).
const ESCAPE_HOLD: usize = 3;

pub struct Net {
    finders: Vec<(Finder<'static>, Vec<u8>)>,
    longest: usize,
}

impl Net {
    /// `(form, mask)` pairs of equal length, longest first.
    pub fn new(pairs: Vec<(String, String)>) -> Net {
        let longest = pairs.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
        let finders =
            pairs.into_iter().map(|(f, m)| (Finder::new(f.as_bytes()).into_owned(), m.into_bytes())).collect();
        Net { finders, longest }
    }

    /// Masks every match that ends at or after `new` (earlier ones were masked before).
    pub fn apply(&self, buf: &mut [u8], new: usize) {
        for (finder, mask) in &self.finders {
            let from = new.saturating_sub(mask.len() - 1);
            let hits: Vec<usize> = finder.find_iter(&buf[from..]).map(|i| from + i).collect();
            for at in hits {
                buf[at..at + mask.len()].copy_from_slice(mask);
            }
        }
    }
}

pub struct BodyCapture {
    fields: FieldMasker,
    net: Net,
    /// Bytes read but not yet written, and the reads they came in (time, length).
    window: Vec<u8>,
    reads: VecDeque<(u64, usize)>,
    spool: Spool,
}

impl BodyCapture {
    pub fn new(net: Net, sse: bool, dir: PathBuf) -> BodyCapture {
        let spool = Spool { mem: Vec::new(), file: None, dir, failed: None, entries: 0 };
        BodyCapture { fields: FieldMasker::new(sse), net, window: Vec::new(), reads: VecDeque::new(), spool }
    }

    pub fn read(&mut self, at_ms: u64, bytes: &[u8]) {
        let new = self.window.len();
        self.window.extend_from_slice(bytes);
        self.reads.push_back((at_ms, bytes.len()));
        self.fields.feed(&mut self.window, new);
        self.net.apply(&mut self.window, new);
        // A secret starting in the last `longest - 1` bytes may still be completed.
        let hold = self.net.longest.saturating_sub(1).max(ESCAPE_HOLD);
        self.emit(self.window.len().saturating_sub(hold));
    }

    /// Writes the whole reads within `window[..upto]`.
    fn emit(&mut self, upto: usize) {
        let mut done = 0;
        while let Some(&(at_ms, len)) = self.reads.front() {
            if done + len > upto {
                break;
            }
            self.spool.entry(at_ms, &self.window[done..done + len]);
            done += len;
            self.reads.pop_front();
        }
        self.window.drain(..done);
    }

    /// The body ended: the rest is written; returns the spool and the values masked by field.
    pub fn finish(mut self) -> (Spool, Vec<String>) {
        self.fields.finish(&mut self.window);
        self.emit(usize::MAX);
        (self.spool, std::mem::take(&mut self.fields.learned))
    }
}

/// The `reads` array's entries, comma-separated.
pub struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    dir: PathBuf,
    pub failed: Option<String>,
    entries: usize,
}

impl Spool {
    pub fn empty() -> Spool {
        Spool { mem: Vec::new(), file: None, dir: PathBuf::new(), failed: None, entries: 0 }
    }

    fn entry(&mut self, at_ms: u64, bytes: &[u8]) {
        let comma = if self.entries > 0 { "," } else { "" };
        self.entries += 1;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let text = format!("{comma}{{\"at_ms\":{at_ms},\"b64\":\"{b64}\"}}");
        if self.failed.is_some() {
            return;
        }
        if self.file.is_none() && self.mem.len() + text.len() > SPILL {
            match spill_file(&self.dir) {
                Ok(mut f) => match f.write_all(&self.mem) {
                    Ok(()) => {
                        self.file = Some(f);
                        self.mem = Vec::new();
                    }
                    Err(e) => self.fail(e),
                },
                Err(e) => self.fail(e),
            }
        }
        match self.file.as_mut() {
            Some(f) => {
                if let Err(e) = f.write_all(text.as_bytes()) {
                    self.fail(e);
                }
            }
            None if self.failed.is_none() => self.mem.extend_from_slice(text.as_bytes()),
            None => {}
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.failed = Some(format!("the body could not be spooled: {e}"));
        self.file = None;
        self.mem = Vec::new();
    }

    /// Copies the entries into `out`.
    pub fn copy_to(mut self, out: &mut impl Write) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.rewind()?;
            io::copy(&mut f, out)?;
        }
        out.write_all(&self.mem)
    }
}

/// A private file next to the capture (else in the temporary directory), unlinked at once:
/// only this handle reaches it.
fn spill_file(dir: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let create = |dir: &std::path::Path| {
        let path = dir.join(format!(".ustb-capture-spool-{}", crate::util::random_hex(16)));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
        let _ = std::fs::remove_file(&path);
        Ok(file)
    };
    create(dir).or_else(|_: io::Error| create(&std::env::temp_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(reads: &[&[u8]], secret: &str) -> Vec<u8> {
        let net = Net::new(vec![(secret.to_string(), "x".repeat(secret.len()))]);
        let mut body = BodyCapture::new(net, false, std::env::temp_dir());
        for r in reads {
            body.read(1, r);
        }
        let (spool, _) = body.finish();
        let mut out = b"[".to_vec();
        spool.copy_to(&mut out).unwrap();
        out.push(b']');
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(entries.len(), reads.len(), "one entry per read");
        let mut bytes = Vec::new();
        for (e, r) in entries.iter().zip(reads) {
            let b = base64::engine::general_purpose::STANDARD.decode(e["b64"].as_str().unwrap()).unwrap();
            assert_eq!(b.len(), r.len());
            bytes.extend(b);
        }
        bytes
    }

    #[test]
    fn a_secret_split_across_reads_is_masked() {
        let secret = "SECRETvalue42";
        let text = b"<p>SECRETvalue42 and SECRETvalue42</p>";
        for cut in 1..text.len() {
            for cut2 in cut..text.len() {
                let out = captured(&[&text[..cut], &text[cut..cut2], &text[cut2..]], secret);
                assert_eq!(out, b"<p>xxxxxxxxxxxxx and xxxxxxxxxxxxx</p>", "{cut} {cut2}");
            }
        }
    }

    #[test]
    fn a_long_body_spills_to_a_file() {
        let read = vec![b'a'; 64 * 1024];
        let reads: Vec<&[u8]> = (0..40).map(|_| read.as_slice()).collect();
        let out = captured(&reads, "zzzz");
        assert_eq!(out.len(), 40 * 64 * 1024);
    }

    /// Any text, cut anywhere, is masked the same way as in one read, and keeps its length.
    #[test]
    fn masking_does_not_depend_on_where_reads_end() {
        let alphabet: Vec<&str> = vec![
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "\\",
            "u",
            "5f20",
            "d83d",
            "0",
            "42",
            "-",
            "e",
            "x",
            "é",
            "张",
            " ",
            "\n",
            "\"uid\"",
            "\"token\"",
            "\"sid\":",
            "data: ",
            "SECRETvalue",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for round in 0..300 {
            let text: String = (0..next(80)).map(|_| alphabet[next(alphabet.len())]).collect();
            let sse = round % 2 == 0;
            let run = |cuts: &[usize]| {
                let net = Net::new(vec![("SECRETvalue".into(), "XXXXXXxxxxx".into())]);
                let mut body = BodyCapture::new(net, sse, std::env::temp_dir());
                let mut at = 0;
                for &cut in cuts.iter().chain([text.len()].iter()) {
                    body.read(0, &text.as_bytes()[at..cut.max(at)]);
                    at = cut.max(at);
                }
                let (spool, _) = body.finish();
                let mut out = b"[".to_vec();
                spool.copy_to(&mut out).unwrap();
                out.push(b']');
                let entries: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
                let decode = |e: &serde_json::Value| {
                    base64::engine::general_purpose::STANDARD.decode(e["b64"].as_str().unwrap()).unwrap()
                };
                entries.iter().flat_map(decode).collect::<Vec<u8>>()
            };
            let whole = run(&[]);
            assert_eq!(whole.len(), text.len());
            assert!(!String::from_utf8_lossy(&whole).contains("SECRETvalue"));
            let mut cuts: Vec<usize> = (0..next(6)).map(|_| next(text.len() + 1)).collect();
            cuts.sort();
            assert_eq!(run(&cuts), whole, "round {round}: {text:?} cut at {cuts:?}");
        }
    }
}
