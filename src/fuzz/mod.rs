//! Deterministic randomized tests ("fuzzing" without a fuzzer) of the parsers that take
//! untrusted input: the SSE reader, the event decoder with the chunk writer, the request
//! normaliser, the options parser and the tool-call parser. They live inside the crate so they keep access to
//! internals that are not public.
//!
//! Every case draws from its own seeded PRNG, so a failure names a case seed that replays
//! exactly. Environment:
//! - `USTB_FUZZ_ITERS=N` multiplies each target's default number of executions (default 1);
//! - `USTB_FUZZ_SEED=S` changes the base seed (default fixed, so CI is deterministic);
//! - `USTB_FUZZ_CASE=S` runs only the case with that seed (as printed by a failure).
//!
//! Run: `cargo test --lib fuzz -- --nocapture` (prints each target's execution count).

mod decode;
mod options;
mod request;
mod sse;
mod tools;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// splitmix64: tiny, fast, and every seed (including 0) gives a good sequence.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A size skewed towards small values: mostly < 8, sometimes up to `max`.
    pub fn size(&mut self, max: usize) -> usize {
        match self.below(4) {
            0 | 1 => self.below(8.min(max + 1)),
            2 => self.below(64.min(max + 1)),
            _ => self.below(max + 1),
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Runs `case` `default_iters × USTB_FUZZ_ITERS` times, each with a fresh `Rng` whose seed is
/// derived from the base seed and the case number. A panic (a library crash or a failed
/// property) is re-raised with the case seed that replays it. Returns the execution count.
pub fn run(name: &str, default_iters: u64, mut case: impl FnMut(&mut Rng)) -> u64 {
    let started = Instant::now();
    let cases: Vec<u64> = match env_u64("USTB_FUZZ_CASE") {
        Some(seed) => vec![seed],
        None => {
            let scale = env_u64("USTB_FUZZ_ITERS").unwrap_or(1).max(1);
            let base = env_u64("USTB_FUZZ_SEED").unwrap_or(0x05EE_D0F0_0575_B000);
            let mut seeds = Rng::new(base ^ fnv(name));
            (0..default_iters.saturating_mul(scale)).map(|_| seeds.next()).collect()
        }
    };
    for &seed in &cases {
        let result = catch_unwind(AssertUnwindSafe(|| case(&mut Rng::new(seed))));
        if let Err(panic) = result {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string panic)");
            panic!("fuzz target {name}: case failed; replay with USTB_FUZZ_CASE={seed:#x}: {what}");
        }
    }
    let n = cases.len() as u64;
    println!("fuzz {name}: {n} executions in {:.2?}", started.elapsed());
    n
}

/// A stable hash of the target name, so targets draw different cases from one base seed.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01B3))
}

/// Bytes that make parsers take their rarer branches.
const SPECIAL: &[&[u8]] = &[
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b":",
    b": ",
    b"data:",
    b"data: ",
    b"event: ",
    b"id: ",
    b"retry: ",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"\xE5",
    b"\xE5\x8C",
    b"\xC0\x80",
    b"\0",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"[DONE]",
    b"<think>",
    b"</think>",
    "北".as_bytes(),
    "\u{1F600}".as_bytes(),
    b" ",
    b"\t",
];

/// 1-6 random edits of `base`: bit flips, cuts, deletions, insertions of `SPECIAL` tokens,
/// duplicated ranges, random bytes.
pub fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 => v.truncate(at),
            2 if at < v.len() => {
                let len = rng.size(64).min(v.len() - at);
                v.drain(at..at + len);
            }
            3 | 4 => {
                let token = rng.pick(SPECIAL).to_vec();
                v.splice(at..at, token);
            }
            5 if at < v.len() => {
                let len = rng.size(200).min(v.len() - at);
                let piece = v[at..at + len].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, piece);
            }
            _ => v.insert(at, rng.below(256) as u8),
        }
    }
    v
}

/// Like `mutate`, for inputs that must be `&str`: invalid UTF-8 becomes U+FFFD.
pub fn mutate_str(rng: &mut Rng, base: &str) -> String {
    String::from_utf8_lossy(&mutate(rng, base.as_bytes())).into_owned()
}

/// Short random text: ASCII, whitespace, CJK, emoji, quotes, control characters.
pub fn text(rng: &mut Rng, max_chars: usize) -> String {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        "0",
        " ",
        "  ",
        "\n",
        "\t",
        "\r",
        "字",
        "北科大",
        "\u{1F600}",
        "\"",
        "\\",
        "'",
        "<",
        ">",
        "{",
        "}",
        ":",
        ";",
        ",",
        "=",
        "\0",
        "\u{7F}",
        "\u{FEFF}",
        "é",
        "\u{200B}",
    ];
    let n = rng.size(max_chars);
    (0..n).map(|_| *rng.pick(PIECES)).collect()
}

/// The test vectors (`tests/vectors/*.sse`), the seeds of mutated inputs.
pub fn vectors() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/vectors exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tests/vectors/*.sse");
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn rng_is_deterministic_and_spread() {
    let a: Vec<u64> = (0..4).scan(Rng::new(7), |r, _| Some(r.next())).collect();
    let b: Vec<u64> = (0..4).scan(Rng::new(7), |r, _| Some(r.next())).collect();
    assert_eq!(a, b);
    let mut r = Rng::new(0);
    let mut seen = [0usize; 8];
    for _ in 0..8000 {
        seen[r.below(8)] += 1;
    }
    assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
}
