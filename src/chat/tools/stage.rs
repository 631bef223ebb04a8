//! From items to what the caller sees: wrapper tokens vanish when they only enclose calls
//! (`Filter`), calls become OpenAI `tool_calls` deltas in reply order (`ToolStage`), and a call
//! the model wrote only in its reasoning becomes the reply's call.

use std::collections::{HashSet, VecDeque};

use super::forms::Item;
use super::scan::Scanner;
use super::{Piece, ToolCall};
use crate::chat::decode::Delta;

/// Decides which wrapper tokens vanish: an opening one when the next thing that is not
/// whitespace is a call (or another vanishing opening), a closing one when the last thing was a
/// call (or a vanished closing). Whitespace between vanishing tokens and calls vanishes too.
/// Everything else is text, in order.
#[derive(Debug, Default)]
struct Filter {
    /// Opening tokens and whitespace waiting for what follows.
    held: Vec<String>,
    /// Whitespace after a call, waiting for what follows.
    after_call_space: String,
    /// The last thing that was not whitespace was a call or a vanished closing token.
    after_call: bool,
}

impl Filter {
    fn push(&mut self, item: Item, out: &mut Vec<Piece>) {
        match item {
            Item::Text(t) if t.trim().is_empty() => {
                if !self.held.is_empty() {
                    self.held.push(t);
                } else if self.after_call {
                    self.after_call_space.push_str(&t);
                } else {
                    text(out, &t);
                }
            }
            Item::Text(t) => {
                self.release(out);
                text(out, &t);
                self.after_call = false;
            }
            Item::Wrap { raw, open: true, .. } => {
                self.held.push(raw);
                // Wrappers around calls are a few tags deep: a pile of them is text.
                if self.held.iter().map(String::len).sum::<usize>() > MAX_HELD_WRAPPERS {
                    self.release(out);
                    self.after_call = false;
                }
            }
            Item::Call(call) => {
                self.held.clear();
                self.after_call_space.clear();
                out.push(Piece::Call(call));
                self.after_call = true;
            }
            Item::Wrap { raw, open: false, .. } => {
                if self.after_call && self.held.is_empty() {
                    self.after_call_space.clear();
                } else {
                    self.release(out);
                    text(out, &raw);
                    self.after_call = false;
                }
            }
        }
    }

    /// The reply ended: what waits is text.
    fn finish(&mut self, out: &mut Vec<Piece>) {
        self.release(out);
        *self = Filter::default();
    }

    fn release(&mut self, out: &mut Vec<Piece>) {
        text(out, &std::mem::take(&mut self.after_call_space));
        for t in self.held.drain(..) {
            text(out, &t);
        }
    }
}

/// The most opening tokens (and whitespace between them) held while waiting for a call.
const MAX_HELD_WRAPPERS: usize = 4096;

fn text(out: &mut Vec<Piece>, t: &str) {
    if t.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(Piece::Text(last)) => last.push_str(t),
        _ => out.push(Piece::Text(t.to_string())),
    }
}

/// Turns a content stream into text and calls to the declared tools, in every accepted form.
#[derive(Debug, Default)]
pub struct CallParser {
    names: HashSet<String>,
    scanner: Scanner,
    filter: Filter,
    items: Vec<Item>,
}

impl CallParser {
    pub fn new(names: impl IntoIterator<Item = String>) -> CallParser {
        CallParser { names: names.into_iter().collect(), ..CallParser::default() }
    }

    /// A parser whose forms waiting for a closer hold at most `limit` bytes.
    #[cfg(test)]
    pub fn with_limit(names: impl IntoIterator<Item = String>, limit: usize) -> CallParser {
        CallParser { scanner: Scanner::with_limit(limit), ..CallParser::new(names) }
    }

    /// Adds text; what is settled is appended to `out`.
    pub fn feed(&mut self, text: &str, out: &mut Vec<Piece>) {
        let names = &self.names;
        self.scanner.feed(text, &|n| names.contains(n), &mut self.items);
        self.flush(out);
    }

    /// The text ended: whatever is held (an unclosed form) is text.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        let names = &self.names;
        self.scanner.finish(&|n| names.contains(n), &mut self.items);
        self.flush(out);
        self.filter.finish(out);
    }

    /// The pieces of a whole `reply` fed in parts cut at `cuts` (ascending char boundaries),
    /// texts merged: what tests and fuzzers compare across cuts.
    #[cfg(any(test, fuzzing))]
    pub fn cut_and_parse(mut self, reply: &str, cuts: &[usize]) -> Vec<Piece> {
        let (mut raw, mut start) = (Vec::new(), 0);
        for &cut in cuts.iter().chain([reply.len()].iter()) {
            self.feed(&reply[start..cut], &mut raw);
            start = cut;
        }
        self.finish(&mut raw);
        let mut out = Vec::new();
        for piece in raw {
            match piece {
                Piece::Text(t) => text(&mut out, &t),
                call => out.push(call),
            }
        }
        out
    }

    fn flush(&mut self, out: &mut Vec<Piece>) {
        for item in self.items.drain(..) {
            self.filter.push(item, out);
        }
    }
}

/// Watches the reasoning (which passes unchanged) for its last group of calls: calls with
/// only whitespace and wrapper tokens between them.
#[derive(Debug, Default)]
struct ReasoningCalls {
    scanner: Scanner,
    items: Vec<Item>,
    last_group: Vec<ToolCall>,
    /// The last group may still grow.
    open: bool,
}

impl ReasoningCalls {
    fn feed(&mut self, text: &str, names: &HashSet<String>, end: bool) {
        let declared = |n: &str| names.contains(n);
        match end {
            false => self.scanner.feed(text, &declared, &mut self.items),
            true => self.scanner.finish(&declared, &mut self.items),
        }
        for item in self.items.drain(..) {
            match item {
                Item::Call(call) if self.open => self.last_group.push(call),
                Item::Call(call) => {
                    self.last_group = vec![call];
                    self.open = true;
                }
                Item::Text(t) if !t.trim().is_empty() => self.open = false,
                _ => {}
            }
        }
    }
}

/// One `tool_calls` entry of a chunk's delta: the first of a call has `id` and `name` (and
/// empty arguments), the later ones argument fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: usize,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// `call_` and 24 random hex digits.
fn call_id() -> String {
    format!("call_{}", crate::util::random_hex(24))
}

/// Sits between the decoder and the chunk writer: runs each delta's content through the
/// parser and queues the deltas to hand out (text, a call's first delta, its arguments), in
/// reply order. A `"stop"` finish becomes `"tool_calls"` once a call was made. When the answer
/// made no call but the reasoning's last markup was a call (one the history does not already
/// hold), that call is made at the end.
///
/// A delta's content is parsed `SLICE` bytes at a time, the next slice when the queue is
/// empty: one event of 16 MiB holding 700k tiny calls is never a queue of 1.4M deltas, and
/// `max_reply_bytes` or a cancel stops it between slices.
#[derive(Debug, Default)]
pub struct ToolStage {
    parser: CallParser,
    /// Calls the history already holds.
    made: Vec<ToolCall>,
    reasoning: ReasoningCalls,
    queue: VecDeque<Delta>,
    calls: usize,
    /// The last delta's content from `unread_at` on, not yet parsed, and its finish_reason.
    unread: String,
    unread_at: usize,
    finish: Option<String>,
}

/// How much content is parsed at a time.
const SLICE: usize = 64 << 10;

impl ToolStage {
    /// A stage for the declared `names`; `history` is the markup of the calls already made
    /// (`request.rs`), which the reasoning may recall without making them again.
    pub fn new(names: impl IntoIterator<Item = String>, history: &str) -> ToolStage {
        let mut parser = CallParser::new(names);
        let mut made = Vec::new();
        parser.feed(history, &mut made);
        parser.finish(&mut made);
        let made = made.into_iter().filter_map(|p| if let Piece::Call(c) = p { Some(c) } else { None }).collect();
        ToolStage { parser, made, ..ToolStage::default() }
    }

    /// Takes one delta from the decoder (after `pop` gave None: what came before is out).
    pub fn push(&mut self, mut d: Delta) {
        while self.parse_slice() {}
        if !d.reasoning.is_empty() {
            self.reasoning.feed(&d.reasoning, &self.parser.names, false);
        }
        self.unread = std::mem::take(&mut d.content);
        self.unread_at = 0;
        self.finish = d.finish_reason.take();
        self.queue.push_back(d); // reasoning, search results: first
        self.parse_slice();
    }

    /// The reply ended without a finish_reason: hand out what is held, as text.
    pub fn end(&mut self) {
        while self.parse_slice() {}
        let mut pieces = Vec::new();
        self.parser.finish(&mut pieces);
        self.queue_pieces(pieces);
        self.reasoning_calls();
    }

    /// How many deltas wait to be handed out.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The next delta that carries something.
    pub fn pop(&mut self) -> Option<Delta> {
        loop {
            match self.queue.pop_front() {
                Some(d) if d.is_empty() => {}
                Some(d) => return Some(d),
                None if self.parse_slice() => {}
                None => return None,
            }
        }
    }

    /// Parses the next slice of the unread content, and after the last one, the finish;
    /// false when there was nothing left.
    fn parse_slice(&mut self) -> bool {
        if self.unread_at == self.unread.len() && self.finish.is_none() {
            return false;
        }
        let mut end = (self.unread_at + SLICE).min(self.unread.len());
        while !self.unread.is_char_boundary(end) {
            end -= 1;
        }
        let mut pieces = Vec::new();
        self.parser.feed(&self.unread[self.unread_at..end], &mut pieces);
        self.unread_at = end;
        let last = end == self.unread.len();
        if last {
            self.unread = String::new();
            self.unread_at = 0;
            if self.finish.is_some() {
                self.parser.finish(&mut pieces);
            }
        }
        self.queue_pieces(pieces);
        if let Some(reason) = self.finish.take_if(|_| last) {
            self.reasoning_calls();
            let reason = if reason == "stop" && self.calls > 0 { "tool_calls".to_string() } else { reason };
            match self.queue.back_mut() {
                Some(last) if last.tool_calls.is_empty() => last.finish_reason = Some(reason),
                _ => self.queue.push_back(Delta { finish_reason: Some(reason), ..Delta::default() }),
            }
        }
        true
    }

    /// The reasoning's last calls, when the answer made none.
    fn reasoning_calls(&mut self) {
        self.reasoning.feed("", &self.parser.names, true);
        let calls = std::mem::take(&mut self.reasoning.last_group);
        // A group the history already holds is the model remembering, not calling.
        if self.calls == 0 && !calls.iter().all(|c| self.made.contains(c)) {
            self.queue_pieces(calls.into_iter().map(Piece::Call).collect());
        }
    }

    fn queue_pieces(&mut self, pieces: Vec<Piece>) {
        for piece in pieces {
            match piece {
                Piece::Text(t) => match self.queue.back_mut() {
                    Some(last) if last.tool_calls.is_empty() && last.finish_reason.is_none() => {
                        last.content.push_str(&t)
                    }
                    _ => self.queue.push_back(Delta { content: t, ..Delta::default() }),
                },
                Piece::Call(call) => {
                    let index = self.calls;
                    self.calls += 1;
                    let first =
                        ToolCallDelta { index, id: Some(call_id()), name: Some(call.name), arguments: String::new() };
                    let args = ToolCallDelta { index, id: None, name: None, arguments: call.arguments };
                    self.queue.push_back(Delta { tool_calls: vec![first], ..Delta::default() });
                    self.queue.push_back(Delta { tool_calls: vec![args], ..Delta::default() });
                }
            }
        }
    }
}
