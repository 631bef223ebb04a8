//! Personal fields masked in JSON text as it is read: the value of every key `is_secret_key`
//! names (a string, a number, or every string and number inside an object or array) is
//! masked in place, whatever its length or escaping, keeping its length, class and escapes so
//! the text parses the same way. One pass, a byte at a time, so a reply of any size costs the
//! same per byte and a value split across reads is still masked. In an event stream each
//! line is read on its own (a broken event does not hide the next one's fields).

use super::is_secret_key;

/// Deeper nesting is followed by count only (its keys are not told apart from values).
const MAX_TRACKED_DEPTH: usize = 1024;
/// A key longer than this is not one of ours; a value longer than this is not learned.
const MAX_KEY: usize = 64;
const MAX_LEARNED: usize = 256;
/// Values learned per reply and per capture file: each is searched for in every later byte.
pub const MAX_LEARNED_VALUES: usize = 16;

#[derive(Default)]
pub struct FieldMasker {
    /// `true` for an object, `false` for an array.
    stack: Vec<bool>,
    untracked: usize,
    /// In an object, the next string is a key.
    expect_key: bool,
    /// The last key was a secret one and its value comes next.
    secret_next: bool,
    last_key_secret: bool,
    /// The depth at which a secret key's object or array began: all values inside are masked.
    masked_from: Option<usize>,
    token: Token,
    /// The raw text of the key, or of the masked value, being read.
    raw: Vec<u8>,
    sse: bool,
    /// Masked string and number values (as read, unescaped), for the byte search.
    pub learned: Vec<String>,
}

#[derive(Default)]
enum Token {
    #[default]
    None,
    Str {
        key: bool,
        masked: bool,
        esc: Esc,
        /// The replacement character being written over a multi-byte character.
        utf8: Option<(&'static [u8], usize)>,
    },
    Num {
        masked: bool,
        first: bool,
    },
    Word,
}

#[derive(Default, Clone, Copy)]
enum Esc {
    #[default]
    No,
    Backslash,
    Hex(u8, u16),
}

impl FieldMasker {
    pub fn new(sse: bool) -> FieldMasker {
        FieldMasker { sse, ..FieldMasker::default() }
    }

    /// Masks `buf[from..]`. A `\uXXXX` escape is rewritten when its last digit arrives, so the
    /// caller keeps the 3 bytes before `from` writable.
    pub fn feed(&mut self, buf: &mut [u8], from: usize) {
        for i in from..buf.len() {
            self.byte(buf, i);
        }
    }

    /// The text ended: an escape cut short loses its digits.
    pub fn finish(&mut self, buf: &mut [u8]) {
        if let Token::Str { masked: true, esc: Esc::Hex(n, _), .. } = self.token {
            let n = usize::from(n);
            let len = buf.len();
            buf[len - n..].fill(b'0');
        }
    }

    fn depth(&self) -> usize {
        self.stack.len() + self.untracked
    }

    fn in_object(&self) -> bool {
        self.untracked == 0 && self.stack.last() == Some(&true)
    }

    fn masking(&self) -> bool {
        self.secret_next || self.masked_from.is_some()
    }

    fn byte(&mut self, buf: &mut [u8], i: usize) {
        let b = buf[i];
        match &mut self.token {
            Token::Str { .. } => return self.string_byte(buf, i),
            Token::Num { masked, first } => {
                if b.is_ascii_digit() {
                    if *masked {
                        buf[i] = if *first { b'1' } else { b'0' };
                        self.raw.push(b);
                    }
                    *first = false;
                    return;
                }
                if matches!(b, b'.' | b'e' | b'E' | b'+' | b'-') {
                    return;
                }
                let masked = *masked;
                self.token = Token::None;
                self.value_done(masked);
            }
            Token::Word if b.is_ascii_alphanumeric() => return,
            Token::Word => {
                self.token = Token::None;
                self.value_done(false);
            }
            Token::None => {}
        }
        self.structural(buf, i);
    }

    fn structural(&mut self, buf: &mut [u8], i: usize) {
        let b = buf[i];
        match b {
            b'{' | b'[' => {
                if self.secret_next && self.masked_from.is_none() {
                    self.masked_from = Some(self.depth());
                }
                if self.stack.len() < MAX_TRACKED_DEPTH && self.untracked == 0 {
                    self.stack.push(b == b'{');
                } else {
                    self.untracked += 1;
                }
                self.secret_next = false;
                self.expect_key = b == b'{';
            }
            b'}' | b']' => {
                if self.untracked > 0 {
                    self.untracked -= 1;
                } else {
                    self.stack.pop();
                }
                if self.masked_from == Some(self.depth()) {
                    self.masked_from = None;
                }
                self.value_done(false);
            }
            b':' if self.in_object() => {
                self.expect_key = false;
                self.secret_next = std::mem::take(&mut self.last_key_secret);
            }
            b',' if self.in_object() => {
                self.expect_key = true;
                (self.secret_next, self.last_key_secret) = (false, false);
            }
            b'"' => {
                let key = self.in_object() && self.expect_key;
                let masked = !key && self.masking();
                self.raw.clear();
                self.token = Token::Str { key, masked, esc: Esc::No, utf8: None };
            }
            b'-' | b'0'..=b'9' => {
                self.raw.clear();
                self.token = Token::Num { masked: self.masking(), first: true };
                self.byte(buf, i);
            }
            b'\n' | b'\r' if self.sse => {
                *self = FieldMasker { learned: std::mem::take(&mut self.learned), ..FieldMasker::new(true) }
            }
            b if b.is_ascii_alphabetic() => self.token = Token::Word,
            _ => {}
        }
    }

    /// A value ended; a masked one is learned.
    fn value_done(&mut self, masked: bool) {
        self.secret_next = false;
        if self.in_object() {
            self.expect_key = false;
        }
        if masked && self.raw.len() <= MAX_LEARNED {
            let v = unescape(&self.raw).filter(|v| v.len() >= crate::redact::MIN_SECRET);
            if let Some(v) = v.filter(|v| self.learned.len() < MAX_LEARNED_VALUES && !self.learned.contains(v)) {
                self.learned.push(v);
            }
        }
    }

    fn string_byte(&mut self, buf: &mut [u8], i: usize) {
        let b = buf[i];
        let Token::Str { key, masked, esc, utf8 } = &mut self.token else { return };
        let (key, masked) = (*key, *masked);
        // Bounded: a longer key or value is neither compared nor learned.
        if (key || masked) && self.raw.len() <= MAX_LEARNED {
            self.raw.push(b);
        }
        match *esc {
            Esc::Backslash => {
                *esc = if b == b'u' { Esc::Hex(0, 0) } else { Esc::No };
                return;
            }
            Esc::Hex(n, value) => match (b as char).to_digit(16) {
                Some(h) => {
                    let value = value << 4 | h as u16;
                    *esc = if n == 3 { Esc::No } else { Esc::Hex(n + 1, value) };
                    if n == 3 && masked {
                        buf[i - 3..=i].copy_from_slice(format!("{:04x}", mask_unit(value)).as_bytes());
                    }
                    return;
                }
                None => *esc = Esc::No,
            },
            Esc::No => {}
        }
        match b {
            b'"' => {
                if self.raw.last() == Some(&b'"') {
                    self.raw.pop();
                }
                self.token = Token::None;
                if key {
                    self.last_key_secret =
                        self.raw.len() <= MAX_KEY && unescape(&self.raw).is_some_and(|k| is_secret_key(&k));
                } else {
                    self.value_done(masked);
                }
            }
            b'\\' => *esc = Esc::Backslash,
            b'\n' | b'\r' if self.sse => self.structural(buf, i),
            _ if !masked => {}
            0..=0x7f => {
                buf[i] = mask_ascii(b);
                *utf8 = None;
            }
            0x80..=0xbf => {
                buf[i] = match utf8 {
                    Some((with, at)) if *at < with.len() => {
                        *at += 1;
                        with[*at - 1]
                    }
                    _ => 0x80,
                };
            }
            _ => {
                let with: &'static [u8] = match b {
                    0xc0..=0xdf => "ß".as_bytes(),
                    0xe0..=0xef => "某".as_bytes(),
                    _ => "𠀀".as_bytes(),
                };
                buf[i] = with[0];
                *utf8 = Some((with, 1));
            }
        }
    }
}

/// Letters become x/X, digits 0; other ASCII stays (it carries structure, not identity).
pub fn mask_ascii(b: u8) -> u8 {
    match b {
        b'a'..=b'z' => b'x',
        b'A'..=b'Z' => b'X',
        b'0'..=b'9' => b'0',
        b => b,
    }
}

/// A `\uXXXX` code unit masked like the character it stands for (a surrogate pair becomes
/// U+20000, as a 4-byte character does).
fn mask_unit(u: u16) -> u16 {
    match u {
        0..=0x7f => u16::from(mask_ascii(u as u8)),
        0xd800..=0xdbff => 0xd840,
        0xdc00..=0xdfff => 0xdc00,
        0x80..=0x7ff => 0xdf,
        _ => 0x67d0,
    }
}

/// The text of a JSON string's inside, or None if it is not one.
fn unescape(raw: &[u8]) -> Option<String> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(String::from);
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).ok()
}

/// `text` (a string's inside, escapes and all) masked as a secret field's value would be.
pub fn mask_escaped(text: &str) -> String {
    let mut m = FieldMasker::new(false);
    m.token = Token::Str { key: false, masked: true, esc: Esc::No, utf8: None };
    let mut buf = text.as_bytes().to_vec();
    m.feed(&mut buf, 0);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` masked when fed in pieces of `step` bytes.
    fn masked(text: &str, step: usize, sse: bool) -> (String, Vec<String>) {
        let mut m = FieldMasker::new(sse);
        let mut buf = Vec::new();
        for piece in text.as_bytes().chunks(step) {
            let from = buf.len();
            buf.extend_from_slice(piece);
            m.feed(&mut buf, from);
        }
        m.finish(&mut buf);
        (String::from_utf8(buf).unwrap(), m.learned)
    }

    #[test]
    fn fields_are_masked_in_every_shape_and_split() {
        let text = r#"{"d":{"user_name":"\u5f20\u5927\u660e","email":"zhang\/x@ustb.edu.cn","uid":42,"nickname":"王","x":"王","phone":["13800001111",{"n":-1.5e3}],"user\u005fnumber":"U1","e":0},"m":"ok"}"#;
        let want = r#"{"d":{"user_name":"\u67d0\u67d0\u67d0","email":"xxxxx\/x@xxxx.xxx.xx","uid":10,"nickname":"某","x":"王","phone":["00000000000",{"n":-1.0e0}],"user\u005fnumber":"X0","e":0},"m":"ok"}"#;
        for step in [1, 2, 3, 7, text.len()] {
            let (out, learned) = masked(text, step, false);
            assert_eq!(out, want, "step {step}");
            assert_eq!(learned, ["张大明", "zhang/x@ustb.edu.cn", "13800001111"], "step {step}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["d"]["user_name"], "某某某");
        }
    }

    #[test]
    fn event_lines_are_read_one_by_one() {
        // A key's verdict is used once: text that only looks like JSON after it is left alone.
        assert_eq!(masked("{\"sid\":\"ab12\"} {width: 42}", 4, false).0, "{\"sid\":\"xx00\"} {width: 42}");
        let text = "data: {\"broken\":\"\ndata: {\"token\":\"abcd\"}\n\n";
        assert_eq!(masked(text, 5, true).0, "data: {\"broken\":\"\ndata: {\"token\":\"xxxx\"}\n\n");
        // Multi-byte characters keep their UTF-8 length; escapes stay escapes.
        assert_eq!(mask_escaped("a\\\"é\\n\\ud83d\\ude00"), "x\\\"ß\\n\\ud840\\udc00");
    }
}
