//! The forms a call may come in, each read by a small recogniser of its own. A recogniser
//! looks at the text from a possible start (`<`, `{` or a fence's backtick) and says what is
//! there: an item (a call, or a wrapper token that may vanish around calls), nothing of its
//! form, or "more text needed" and what that text must bring (`Wait`).
//!
//! Recognisers only ever accept declared tool names, so ordinary text that looks like markup
//! stays text. Each form ends at the *first* closer of its kind after its start; `scan.rs`
//! finds closers incrementally, so a long unclosed form is never read again from its start.

mod fence;
mod invoke;
mod special;
mod tagged;

use super::ToolCall;

/// What the recognisers are told besides the text.
pub struct Cx<'a> {
    pub declared: &'a dyn Fn(&str) -> bool,
    /// No more text will come: "more" is not an answer.
    pub end: bool,
    /// Only whitespace came before, in the whole answer (a bare JSON call may start here).
    pub answer_start: bool,
    /// Inside a fence that so far holds only whitespace (a JSON call may start here).
    pub fence_start: bool,
    /// Inside a fence (a line of three backticks closes it).
    pub in_fence: bool,
    /// At the start of a line (a fence may start here).
    pub line_start: bool,
    /// Where the form starts in the reply (what `memo` is counted in).
    pub at: usize,
    /// Where closers are known not to be: searches skip it and add to it.
    pub memo: &'a Memo,
    /// The most a form waiting for a closer may hold before it: past that it is text.
    pub limit: usize,
}

/// A recognised piece of the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Text(String),
    Call(ToolCall),
    /// A wrapper's opening or closing token (`<tool_calls>`, a fence line, DeepSeek's
    /// begin/end tokens) as written: it vanishes when it only encloses calls.
    Wrap {
        raw: String,
        open: bool,
        fence: bool,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The first `usize` bytes are this item.
    Item(usize, Item),
    More(Wait),
    No,
}

/// What a form still waiting for text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A short form (a tag, a token): asked again as text arrives, up to `MAX_TAG_BYTES`.
    Short,
    /// Asked again only once this closer has arrived (or at the end).
    Closer(Closer),
}

/// For each closer, a stretch of the reply where none starts (offsets from the reply's start):
/// what searches for closers learnt, so that no stretch is searched twice, even when forms
/// waiting for different closers take turns.
pub type Memo = std::cell::Cell<[Option<(usize, usize)>; 5]>;

/// The closers forms wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    /// A closing tag of the call family: `</tool_call>`, `</tool_calls>`, `</calls>`, …
    CallTag,
    /// `</invoke>`.
    Invoke,
    /// DeepSeek's `<｜tool▁call▁end｜>`.
    SpecialCallEnd,
    /// Three backticks.
    Fence,
    /// The end of the answer.
    End,
}

impl Closer {
    /// The byte every occurrence starts with (`None`: only the end).
    pub fn first_byte(self) -> Option<u8> {
        match self {
            Closer::CallTag | Closer::Invoke | Closer::SpecialCallEnd => Some(b'<'),
            Closer::Fence => Some(b'`'),
            Closer::End => None,
        }
    }

    /// Whether an occurrence starts `s` (which starts with `first_byte`).
    pub fn at(self, s: &str) -> super::markup::Lex<()> {
        use super::markup::{call_word, tag, Lex};
        match self {
            Closer::CallTag | Closer::Invoke => match tag(s) {
                Lex::Done(t)
                    if t.close && (if self == Closer::Invoke { t.is("invoke") } else { call_word(t.name) }) =>
                {
                    Lex::Done(())
                }
                Lex::More => Lex::More,
                _ => Lex::No,
            },
            Closer::SpecialCallEnd => match special::token(s) {
                Lex::Done((special::Token::CallEnd, _)) => Lex::Done(()),
                Lex::More => Lex::More,
                _ => Lex::No,
            },
            Closer::Fence => match s.as_bytes() {
                [b'`', b'`', b'`', ..] => Lex::Done(()),
                b if b.len() < 3 && b.iter().all(|&c| c == b'`') => Lex::More,
                _ => Lex::No,
            },
            Closer::End => Lex::No,
        }
    }

    /// `find` for a form that starts at `at` in the reply, skipping what `memo` knows holds
    /// no such closer and adding what this search learns. (The form's own opening is never a
    /// closer of its kind, so the stretch learnt starts at the form.)
    pub fn find_memo(self, s: &str, at: usize, from: usize, memo: &Memo) -> Result<Option<usize>, usize> {
        let mut known = memo.get();
        let slot = &mut known[self as usize];
        let from = match *slot {
            Some((f, u)) if f <= at && u > at => from.max((u - at).min(s.len())),
            _ => from,
        };
        let found = self.find(s, from);
        let free_to = match found {
            Ok(Some(_)) => return found,
            Ok(None) => s.len(),
            Err(cut) => cut,
        };
        let (start, end) = (at, at + free_to);
        *slot = Some(match *slot {
            Some((f, u)) if f <= start && start <= u => (f, end.max(u)),
            _ => (start, end),
        });
        memo.set(known);
        found
    }

    /// The first occurrence in `s` from `from`: `Ok(Some(at))`, `Err(at)` where one may be
    /// cut off by the end, `Ok(None)` none.
    pub fn find(self, s: &str, from: usize) -> Result<Option<usize>, usize> {
        let Some(first) = self.first_byte() else { return Ok(None) };
        let b = s.as_bytes();
        let mut at = from;
        while let Some(k) = memchr::memchr(first, &b[at..]) {
            at += k;
            match self.at(&s[at..]) {
                super::markup::Lex::Done(()) => return Ok(Some(at)),
                super::markup::Lex::More => return Err(at),
                super::markup::Lex::No => at += 1,
            }
        }
        Ok(None)
    }
}

/// Everything a reply may hold at the start of `s`, in the order the forms are tried.
pub fn recognise(s: &str, cx: &Cx) -> Found {
    let found = match s.as_bytes().first() {
        Some(b'<') => match special::recognise(s, cx) {
            Found::No => match invoke::recognise(s, cx) {
                Found::No => tagged::recognise(s, cx),
                found => found,
            },
            found => found,
        },
        Some(b'{') => fence::json(s, cx),
        Some(b'`') => fence::recognise(s, cx),
        _ => Found::No,
    };
    match found {
        Found::More(_) if cx.end => Found::No,
        found => found,
    }
}

/// A whole form that ends at `closer`: `done(closer_at)` reads it once the closer is there.
fn until(s: &str, from: usize, closer: Closer, cx: &Cx, done: impl FnOnce(usize) -> Found) -> Found {
    // Whether a form is too long depends on where its closer is, never on how much text
    // came after it in one piece: the same result however the reply is cut.
    match closer.find_memo(s, cx.at, from, cx.memo) {
        Ok(Some(at)) if at <= cx.limit => done(at),
        Err(at) if at <= cx.limit && !cx.end => Found::More(Wait::Closer(closer)),
        Ok(None) if s.len() <= cx.limit && !cx.end => Found::More(Wait::Closer(closer)),
        _ => Found::No,
    }
}

/// What the recognisers' tests pass: `declared` names, nothing before the form.
#[cfg(test)]
fn test_cx(declared: &'static dyn Fn(&str) -> bool, end: bool) -> Cx<'static> {
    Cx {
        declared,
        end,
        answer_start: false,
        fence_start: false,
        in_fence: false,
        line_start: false,
        at: 0,
        memo: Box::leak(Box::default()),
        limit: crate::limits::MAX_TOOL_CALL_BYTES,
    }
}
