//! The streaming stage in front of the recognisers: text is fed in pieces cut anywhere, and
//! what is settled comes out as items (text, calls, wrapper tokens), the same whatever the
//! cuts. Only a possible form is held back: a short one (a tag, a token, a fence line) until
//! it is whole, a long one until its closer arrives, at most `MAX_TOOL_CALL_BYTES`.
//!
//! Linear time: a form waiting for a closer is read again only when one has arrived, and the
//! stretch searched without finding one is remembered (`Memo`), so the next form waiting
//! for the same closer (e.g. in a run of unclosed `<tool_call>` tags) starts after it.

use super::forms::{recognise, Closer, Cx, Found, Item, Memo, Wait};
use crate::limits::MAX_TOOL_CALL_BYTES;

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Where the form starts in `buf`.
    at: usize,
    wait: Wait,
}

#[derive(Debug)]
pub struct Scanner {
    buf: String,
    /// Bytes of the reply before `buf[0]`.
    base: usize,
    /// Where the next form is looked for in `buf`.
    pos: usize,
    pending: Option<Pending>,
    /// Nothing but whitespace was handed on yet.
    answer_start: bool,
    in_fence: bool,
    /// Inside a fence, nothing but whitespace since it opened.
    fence_start: bool,
    /// `buf[0]` is at the start of a line.
    line_start_at_base: bool,
    /// Where closers are known not to be.
    memo: Memo,
    /// The most a form waiting for a closer may hold (`MAX_TOOL_CALL_BYTES`; smaller in tests).
    limit: usize,
}

impl Default for Scanner {
    fn default() -> Scanner {
        Scanner {
            buf: String::new(),
            base: 0,
            pos: 0,
            pending: None,
            answer_start: true,
            in_fence: false,
            fence_start: false,
            line_start_at_base: true,
            memo: Memo::default(),
            limit: MAX_TOOL_CALL_BYTES,
        }
    }
}

impl Scanner {
    #[cfg(test)]
    pub fn with_limit(limit: usize) -> Scanner {
        Scanner { limit, ..Scanner::default() }
    }

    /// Adds text; what is settled is appended to `out`.
    pub fn feed(&mut self, text: &str, declared: &dyn Fn(&str) -> bool, out: &mut Vec<Item>) {
        self.buf.push_str(text);
        self.run(declared, false, out);
    }

    /// The text ended: whatever is held is settled (an unclosed form is text).
    pub fn finish(&mut self, declared: &dyn Fn(&str) -> bool, out: &mut Vec<Item>) {
        self.run(declared, true, out);
        *self = Scanner { limit: self.limit, ..Scanner::default() };
    }

    fn run(&mut self, declared: &dyn Fn(&str) -> bool, end: bool, out: &mut Vec<Item>) {
        loop {
            if let Some(p) = self.pending {
                match self.retry(p, declared, end, out) {
                    true => continue,
                    false => break,
                }
            }
            let rest = &self.buf.as_bytes()[self.pos..];
            let Some(k) = memchr::memchr3(b'<', b'{', b'`', rest) else {
                let text = self.buf[self.pos..].to_string();
                self.text(&text, out);
                self.pos = self.buf.len();
                break;
            };
            let at = self.pos + k;
            let text = self.buf[self.pos..at].to_string();
            self.text(&text, out);
            self.pos = at;
            match recognise(&self.buf[at..], &self.cx(at, declared, end)) {
                Found::Item(len, item) => self.item(at, len, item, out),
                Found::No => self.not_a_form(at, out),
                // Asked again at once (it may already be past its limit), then as text comes.
                Found::More(wait) => self.pending = Some(Pending { at, wait }),
            }
        }
        self.drain();
    }

    /// Asks a waiting form again if what it waits for may have come; true when it is settled.
    fn retry(&mut self, p: Pending, declared: &dyn Fn(&str) -> bool, end: bool, out: &mut Vec<Item>) -> bool {
        // A short form bounds itself; a long one is asked again once its closer came, or once
        // it holds more than its limit (it then says "not a form").
        let held = self.buf.len() - p.at;
        if let Wait::Closer(c) = p.wait {
            if !end && held <= self.limit && !self.closer_arrived(c, p.at) {
                return false;
            }
        }
        match recognise(&self.buf[p.at..], &self.cx(p.at, declared, end)) {
            Found::Item(len, item) => {
                self.pending = None;
                self.item(p.at, len, item, out);
                true
            }
            Found::No => {
                self.pending = None;
                self.not_a_form(p.at, out);
                true
            }
            Found::More(wait) => {
                self.pending = Some(Pending { wait, ..p });
                false
            }
        }
    }

    /// Whether `closer` now occurs after the form at `at`.
    fn closer_arrived(&self, closer: Closer, at: usize) -> bool {
        matches!(closer.find_memo(&self.buf[at..], self.base + at, 1, &self.memo), Ok(Some(_)))
    }

    fn not_a_form(&mut self, at: usize, out: &mut Vec<Item>) {
        let first = self.buf[at..].chars().next().map_or(1, char::len_utf8);
        let text = self.buf[at..at + first].to_string();
        self.text(&text, out);
        self.pos = at + first;
    }

    fn cx<'a>(&'a self, at: usize, declared: &'a dyn Fn(&str) -> bool, end: bool) -> Cx<'a> {
        Cx {
            declared,
            end,
            answer_start: self.answer_start,
            fence_start: self.fence_start,
            in_fence: self.in_fence,
            line_start: self.line_start(at),
            limit: self.limit,
            at: self.base + at,
            memo: &self.memo,
        }
    }

    /// Whether `buf[at]` starts a line (only spaces or tabs before it on its line).
    fn line_start(&self, at: usize) -> bool {
        match self.buf[..at].bytes().rev().find(|&b| b != b' ' && b != b'\t') {
            Some(b) => b == b'\n',
            None => self.line_start_at_base,
        }
    }

    fn item(&mut self, at: usize, len: usize, item: Item, out: &mut Vec<Item>) {
        self.pos = at + len;
        self.answer_start = false;
        self.fence_start = false;
        if let Item::Wrap { fence: true, open, .. } = item {
            self.in_fence = open;
            self.fence_start = open;
        }
        out.push(item);
    }

    fn text(&mut self, text: &str, out: &mut Vec<Item>) {
        if text.is_empty() {
            return;
        }
        if !text.trim().is_empty() {
            self.answer_start = false;
            self.fence_start = false;
        }
        match out.last_mut() {
            Some(Item::Text(t)) => t.push_str(text),
            _ => out.push(Item::Text(text.to_string())),
        }
    }

    /// Forgets what is settled once it is most of the buffer (so what is moved costs no more
    /// than the text itself), keeping the line-start state of what remains.
    fn drain(&mut self) {
        let keep = self.pending.map_or(self.pos, |p| p.at.min(self.pos));
        if keep == 0 || keep < self.buf.len() / 2 {
            return;
        }
        if let Some(b) = self.buf[..keep].bytes().rev().find(|&b| b != b' ' && b != b'\t') {
            self.line_start_at_base = b == b'\n';
        }
        self.buf.drain(..keep);
        self.base += keep;
        self.pos -= keep;
        if let Some(p) = &mut self.pending {
            p.at -= keep;
        }
    }
}
