//! Function calling on a server that has none (docs/PROTOCOL.md, "Function calling (ours)").
//!
//! Request side: OpenAI `tools` and `tool_choice` are checked, and turned into an instruction
//! in the system prefix that asks the model to answer a call with one markup,
//! `<tool_call>{"name":…,"arguments":{…}}</tool_call>`. Earlier assistant `tool_calls` are
//! rendered back into that markup, so the history reads as the model would have written it.
//!
//! Reply side: `ToolCallParser` finds the markup in the streamed content (split anywhere,
//! odd spacing and case) and `ToolStage` turns it into OpenAI `tool_calls` deltas. Reasoning
//! never goes through it.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Map, Value};

use super::decode::Delta;
use crate::error::{Error, Result};
use crate::limits::{MAX_TOOLS, MAX_TOOL_CALL_BYTES};
use crate::upstream::envelope::excerpt;

/// The label of a tool result in the history (the 2026 client's convention).
pub fn result_label(name: &str) -> String {
    format!("[工具 {name} 执行结果]")
}

// ---------------------------------------------------------------------------------------------
// Request side

/// What `tool_choice` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Auto,
    None,
    Required,
    Named(String),
}

/// The checked `tools` / `tool_choice` / `parallel_tool_calls` of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// One compact JSON line per tool: `{"name":…,"description":…,"parameters":…}`.
    lines: Vec<String>,
    pub choice: Choice,
    parallel: bool,
}

impl ToolSpec {
    /// Reads and checks the request's tool fields; None when the request has no tools.
    pub fn parse(req: &Map<String, Value>) -> Result<Option<ToolSpec>> {
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut lines = Vec::new();
        match req.get("tools") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) if list.len() > MAX_TOOLS => return Err(too_many_tools()),
            Some(Value::Array(list)) => {
                for (i, tool) in list.iter().enumerate() {
                    let (name, line) = tool_line(tool, i)?;
                    if let Some(j) = names.get(&name) {
                        return Err(Error::invalid_request(format!(
                            "tools[{j}] and tools[{i}] are both named {}; tool names must differ",
                            excerpt(&name)
                        )));
                    }
                    names.insert(name, i);
                    lines.push(line);
                }
            }
            Some(_) => return Err(Error::invalid_request("\"tools\" must be a list of {\"type\":\"function\",…}")),
        }
        let choice = choice(req.get("tool_choice"))?;
        match &choice {
            Choice::Required if names.is_empty() => {
                return Err(Error::invalid_request("\"tool_choice\" is \"required\" but \"tools\" is missing or empty"))
            }
            Choice::Named(n) if !names.contains_key(n) => {
                return Err(Error::invalid_request(format!(
                    "\"tool_choice\" names the function {}, which is not in \"tools\"",
                    excerpt(n)
                )))
            }
            _ => {}
        }
        let parallel = match req.get("parallel_tool_calls") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Error::invalid_request("\"parallel_tool_calls\" must be true or false")),
        };
        Ok((!names.is_empty()).then_some(ToolSpec { lines, choice, parallel }))
    }

    /// Whether the reply is searched for calls: there are tools and the choice is not `none`.
    pub fn parses_calls(&self) -> bool {
        self.choice != Choice::None
    }

    /// The tool-use instruction for the system prefix; None for `tool_choice: "none"`.
    pub fn instruction(&self) -> Option<String> {
        let last = match &self.choice {
            Choice::None => return None,
            Choice::Auto => {
                "- Call a tool only when it helps to answer; otherwise answer directly, without the markup.".to_string()
            }
            Choice::Required => "- You must call at least one of these tools now; do not answer directly.".to_string(),
            Choice::Named(n) => format!("- You must call the tool {n} in this reply; do not answer directly."),
        };
        let mut text = String::from(
            "## Tools\nYou can call these tools. Each line is one tool as JSON: its name, what it does, \
             and the JSON Schema of its arguments.\n",
        );
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(
            "\nTo call a tool, write exactly this markup, with arguments that follow the tool's schema:\n\
             <tool_call>{\"name\":\"TOOL_NAME\",\"arguments\":{\"PARAM\":\"VALUE\"}}</tool_call>\n\
             - One <tool_call> block per call, holding only that JSON; not in a code block.\n",
        );
        if self.parallel {
            text.push_str("- Several calls may follow one another in one reply.\n");
        } else {
            text.push_str("- Call at most one tool in a reply.\n");
        }
        text.push_str(&format!(
            "- After your calls, stop and wait: each result comes back in the next message as \"{}\" \
             followed by the result. Never make up a result.\n",
            result_label("TOOL_NAME")
        ));
        text.push_str(&last);
        Some(text)
    }
}

/// The refusal of a `tools` list over `MAX_TOOLS` entries.
pub fn too_many_tools() -> Error {
    Error::invalid_request(format!("\"tools\" has more than {MAX_TOOLS} entries; at most {MAX_TOOLS} are accepted"))
}

/// OpenAI's rule for function names.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks `tools[i]` and gives its name and its line in the instruction.
fn tool_line(tool: &Value, i: usize) -> Result<(String, String)> {
    let bad = |what: &str| Error::invalid_request(format!("tools[{i}]{what}"));
    let Value::Object(tool) = tool else {
        return Err(bad(" must be an object {\"type\":\"function\",\"function\":{…}}"));
    };
    match tool.get("type") {
        Some(Value::String(t)) if t == "function" => {}
        Some(Value::String(t)) => {
            return Err(bad(&format!(".type is {}; only \"function\" tools are supported", excerpt(t))))
        }
        _ => return Err(bad(".type must be \"function\"")),
    }
    let Some(Value::Object(f)) = tool.get("function") else {
        return Err(bad(".function must be an object with a \"name\""));
    };
    let name = match f.get("name") {
        Some(Value::String(n)) if valid_name(n) => n.clone(),
        Some(Value::String(n)) => {
            return Err(bad(&format!(".function.name {} must be 1 to 64 letters, digits, '_' or '-'", excerpt(n))))
        }
        _ => return Err(bad(".function.name must be a string")),
    };
    let mut line = json!({ "name": name });
    match f.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) => line["description"] = json!(d),
        Some(_) => return Err(bad(".function.description must be a string")),
    }
    match f.get("parameters") {
        None | Some(Value::Null) => {}
        Some(p @ Value::Object(_)) => line["parameters"] = p.clone(),
        Some(_) => return Err(bad(".function.parameters must be a JSON Schema object")),
    }
    if !matches!(f.get("strict"), None | Some(Value::Null) | Some(Value::Bool(_))) {
        return Err(bad(".function.strict must be true or false"));
    }
    Ok((name, line.to_string()))
}

fn choice(v: Option<&Value>) -> Result<Choice> {
    const EXPECTED: &str =
        "\"tool_choice\" must be \"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":…}}";
    match v {
        None | Some(Value::Null) => Ok(Choice::Auto),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Choice::Auto),
            "none" => Ok(Choice::None),
            "required" => Ok(Choice::Required),
            _ => Err(Error::invalid_request(format!("{EXPECTED}, not {}", excerpt(s)))),
        },
        Some(Value::Object(o)) => {
            let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
            match (o.get("type").and_then(Value::as_str), name) {
                (Some("function"), Some(n)) => Ok(Choice::Named(n.to_string())),
                _ => Err(Error::invalid_request(EXPECTED)),
            }
        }
        Some(_) => Err(Error::invalid_request(EXPECTED)),
    }
}

/// An assistant message's `tool_calls` (or legacy `function_call`) as the markup the model
/// would have written, one call per line; empty when it has none.
pub fn render_calls(msg: &Map<String, Value>, i: usize) -> Result<String> {
    let mut out = Vec::new();
    match msg.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (j, call) in calls.iter().enumerate() {
                let at = format!("messages[{i}].tool_calls[{j}]");
                let Value::Object(call) = call else {
                    return Err(Error::invalid_request(format!("{at} must be an object")));
                };
                if !matches!(call.get("type"), None | Some(Value::Null))
                    && call.get("type").and_then(Value::as_str) != Some("function")
                {
                    return Err(Error::invalid_request(format!("{at}.type must be \"function\"")));
                }
                out.push(render_function(call.get("function"), &format!("{at}.function"))?);
            }
        }
        Some(_) => return Err(Error::invalid_request(format!("messages[{i}].tool_calls must be a list"))),
    }
    if let Some(f) = msg.get("function_call").filter(|v| !v.is_null()) {
        out.push(render_function(Some(f), &format!("messages[{i}].function_call"))?);
    }
    Ok(out.join("\n"))
}

/// `{"name":…,"arguments":…}` → `<tool_call>…</tool_call>`. The arguments are written as they
/// were given (a JSON string literal is written encoded), so that parsing the markup gives them
/// back unchanged.
fn render_function(f: Option<&Value>, at: &str) -> Result<String> {
    let Some(Value::Object(f)) = f else {
        return Err(Error::invalid_request(format!("{at} must be an object with \"name\" and \"arguments\"")));
    };
    let name = match f.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n,
        _ => return Err(Error::invalid_request(format!("{at}.name must be a non-empty string"))),
    };
    let args = match f.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) if s.trim().is_empty() => "{}".to_string(),
        Some(Value::String(s)) if s.trim_start().starts_with('"') => Value::String(s.clone()).to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.to_string(),
        Some(_) => return Err(Error::invalid_request(format!("{at}.arguments must be a string"))),
    };
    Ok(format!("<tool_call>{{\"name\":{},\"arguments\":{args}}}</tool_call>", Value::String(name.clone())))
}

// ---------------------------------------------------------------------------------------------
// Reply side: the markup

/// One call found in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    /// As the model wrote it (JSON or not); `{}` when it wrote none.
    pub arguments: String,
}

/// What the parser hands on, in reply order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Call(ToolCall),
}

/// The tag word; any ASCII case is accepted.
const TAG_WORD: &[u8] = b"tool_call";
/// Whitespace allowed at each gap of a tag (`< / tool_call >`); more and it is not a tag.
const MAX_TAG_SPACE: usize = 3;
/// The longest tag: `<`, `/`, the word, `>` and three gaps.
const MAX_TAG_BYTES: usize = 3 + TAG_WORD.len() + 3 * MAX_TAG_SPACE;

enum Tag {
    /// A whole tag of this many bytes.
    Full(usize),
    /// The input ends while it could still be one.
    Partial,
    No,
}

/// Matches an opening (`<tool_call>`) or closing (`</tool_call>`) tag at the start of `b`,
/// which starts with `<`: up to 3 whitespace characters at each gap, any ASCII case.
fn tag_at(b: &[u8], close: bool) -> Tag {
    let space = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && *i - start < MAX_TAG_SPACE && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
        *i < b.len()
    };
    let mut i = 1;
    if !space(&mut i) {
        return Tag::Partial;
    }
    if close {
        if b[i] != b'/' {
            return Tag::No;
        }
        i += 1;
        if !space(&mut i) {
            return Tag::Partial;
        }
    }
    for &c in TAG_WORD {
        if i == b.len() {
            return Tag::Partial;
        }
        if !b[i].eq_ignore_ascii_case(&c) {
            return Tag::No;
        }
        i += 1;
    }
    if !space(&mut i) {
        return Tag::Partial;
    }
    if b[i] == b'>' {
        Tag::Full(i + 1)
    } else {
        Tag::No
    }
}

/// Finds the first tag in `b` from `from`: `Ok(Some((at, len)))` a whole tag, `Err(at)` a
/// possible tag cut off by the end of `b`, `Ok(None)` none.
fn find_tag(b: &[u8], from: usize, close: bool) -> std::result::Result<Option<(usize, usize)>, usize> {
    let mut at = from;
    while let Some(k) = memchr::memchr(b'<', &b[at..]) {
        at += k;
        match tag_at(&b[at..], close) {
            Tag::Full(n) => return Ok(Some((at, n))),
            Tag::Partial => return Err(at),
            Tag::No => at += 1,
        }
    }
    Ok(None)
}

/// Turns a content stream into text and calls. Holds back only a possible tag prefix (at most
/// 20 bytes) outside a call; inside one, up to `MAX_TOOL_CALL_BYTES` until the closing tag.
///
/// Every byte is searched once and moved a bounded number of times: what is handed on stays
/// in `held` before `start` and is dropped only once it is most of the buffer, so many calls
/// in one event, or one call given up after another, cost time linear in the text.
#[derive(Debug)]
pub struct ToolCallParser {
    /// From `start`: outside a call, a possible opening tag; inside, the opening tag and what
    /// followed. Before `start`: text already handed on.
    held: String,
    start: usize,
    /// Inside a call: the length of its opening tag (at `start`).
    open: Option<usize>,
    /// Inside a call: where in `held` the search for the closing tag resumes.
    searched: usize,
    /// The most one call's markup may hold (`MAX_TOOL_CALL_BYTES`; smaller in tests).
    limit: usize,
}

impl Default for ToolCallParser {
    fn default() -> Self {
        ToolCallParser::with_limit(MAX_TOOL_CALL_BYTES)
    }
}

impl ToolCallParser {
    fn with_limit(limit: usize) -> ToolCallParser {
        ToolCallParser { held: String::new(), start: 0, open: None, searched: 0, limit }
    }

    /// Adds text; what is settled is appended to `out`.
    pub fn feed(&mut self, text: &str, out: &mut Vec<Piece>) {
        self.held.push_str(text);
        loop {
            let b = self.held.as_bytes();
            match self.open {
                None => match find_tag(b, self.start, false) {
                    Ok(Some((at, n))) => {
                        push_text(out, &self.held[self.start..at]);
                        self.start = at;
                        self.open = Some(n);
                        self.searched = at + n;
                    }
                    Ok(None) => {
                        push_text(out, &self.held[self.start..]);
                        self.start = self.held.len();
                        break;
                    }
                    Err(at) => {
                        push_text(out, &self.held[self.start..at]);
                        self.start = at;
                        break;
                    }
                },
                Some(open) => match find_tag(b, self.searched, true) {
                    Ok(Some((at, n))) => {
                        match parse_call(&self.held[self.start + open..at]) {
                            Some(call) => out.push(Piece::Call(call)),
                            // Not a call after all: given back.
                            None => push_text(out, &self.held[self.start..at + n]),
                        }
                        self.start = at + n;
                        self.open = None;
                    }
                    found => {
                        self.searched = match found {
                            Err(at) => at,
                            _ => self.held.len(),
                        };
                        if self.held.len() - self.start > self.limit {
                            self.give_up(out);
                            continue;
                        }
                        break;
                    }
                },
            }
        }
        self.compact();
    }

    /// The reply ended: whatever is held (an unclosed call, a tag prefix) is text.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        push_text(out, &self.held[self.start..]);
        self.held.clear();
        self.start = 0;
        self.open = None;
    }

    /// A call too long to be one: its opening tag is text, and the rest is read again. So is
    /// every later opening tag too early to leave its own call room under the limit: reading
    /// resumes at the first one that has room, or outside a call. A tag holds one `<`, at its
    /// start, so the search for it may start at `room` (or a cut-off tag's length before the
    /// end) without reading the text in between again; the closing tag is known to be absent
    /// up to `searched`.
    fn give_up(&mut self, out: &mut Vec<Piece>) {
        let Some(open) = self.open.take() else { return };
        let room = self.held.len() - self.limit;
        let mut from = (self.start + open).max(room.min(self.held.len().saturating_sub(MAX_TAG_BYTES)));
        loop {
            match find_tag(self.held.as_bytes(), from, false) {
                Ok(Some((at, n))) if at < room => from = at + n,
                Ok(Some((at, n))) => {
                    push_text(out, &self.held[self.start..at]);
                    (self.start, self.open, self.searched) = (at, Some(n), self.searched.max(at + n));
                    return;
                }
                Ok(None) => {
                    push_text(out, &self.held[self.start..]);
                    self.start = self.held.len();
                    return;
                }
                Err(at) => {
                    push_text(out, &self.held[self.start..at]);
                    self.start = at;
                    return;
                }
            }
        }
    }

    /// What is held back and not yet handed on.
    #[cfg(test)]
    fn pending(&self) -> &str {
        &self.held[self.start..]
    }

    /// Drops the text handed on once it is most of the buffer: what is moved is then less
    /// than what was handed on, so moving costs no more than the text itself.
    fn compact(&mut self) {
        if self.start == self.held.len() {
            self.held.clear();
        } else if self.start > self.held.len() / 2 {
            self.held.drain(..self.start);
            self.searched = self.searched.saturating_sub(self.start);
        } else {
            return;
        }
        self.start = 0;
    }
}

fn push_text(out: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(Piece::Text(t)) => t.push_str(text),
        _ => out.push(Piece::Text(text.to_string())),
    }
}

/// The body between the tags: a JSON object with a string `name` and `arguments` (or
/// `parameters`), keys in any order. Read leniently, so that arguments that are not valid
/// JSON are kept as written; None when no name can be read (then it is not a call).
fn parse_call(body: &str) -> Option<ToolCall> {
    let s = body.trim();
    let b = s.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let (mut name, mut args) = (None, None);
    let mut i = skip_ws(b, 1);
    while i < b.len() && b[i] != b'}' {
        let key_end = string_end(b, i)?;
        let key: String = serde_json::from_str(&s[i..key_end]).ok()?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let end = value_end(b, start);
        let value = s[start..end].trim_end();
        match key.as_str() {
            "name" => name = serde_json::from_str::<String>(value).ok(),
            "arguments" | "parameters" if args.is_none() => args = Some(value),
            _ => {}
        }
        i = skip_ws(b, end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    let name = name.filter(|n| !n.trim().is_empty())?;
    let arguments = match args {
        None | Some("") | Some("null") => "{}".to_string(),
        // The arguments written as a JSON string (OpenAI's own form): its text.
        Some(a) if a.starts_with('"') => serde_json::from_str(a).unwrap_or_else(|_| a.to_string()),
        Some(a) => a.to_string(),
    };
    Some(ToolCall { name, arguments })
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The end (exclusive) of the JSON string starting at `b[i]`, if it starts and ends there.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The end (exclusive) of the value starting at `b[i]`: a string, a bracketed value (brackets
/// counted outside strings; an unbalanced one runs to the end of the body), or anything up to
/// the next `,` or `}`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i).unwrap_or(b.len()),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j).unwrap_or(b.len());
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len() // unbalanced: the rest of the body
        }
        _ => {
            let mut j = i;
            while j < b.len() && b[j] != b',' && b[j] != b'}' {
                j += 1;
            }
            j
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reply side: deltas

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
/// reply order. A `"stop"` finish becomes `"tool_calls"` once a call was made.
///
/// A delta's content is parsed `SLICE` bytes at a time, the next slice when the queue is
/// empty: one event of 16 MiB holding 700k tiny calls is never a queue of 1.4M deltas, and
/// `max_reply_bytes` or a cancel stops it between slices.
#[derive(Debug, Default)]
pub struct ToolStage {
    parser: ToolCallParser,
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
    pub fn new() -> ToolStage {
        ToolStage::default()
    }

    /// Takes one delta from the decoder (after `pop` gave None: what came before is out).
    pub fn push(&mut self, mut d: Delta) {
        while self.parse_slice() {}
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
        if end == self.unread.len() {
            self.unread = String::new();
            self.unread_at = 0;
            if self.finish.is_some() {
                self.parser.finish(&mut pieces);
            }
        }
        self.queue_pieces(pieces);
        if self.unread.is_empty() {
            if let Some(reason) = self.finish.take() {
                let reason = if reason == "stop" && self.calls > 0 { "tool_calls".to_string() } else { reason };
                match self.queue.back_mut() {
                    Some(last) if last.tool_calls.is_empty() => last.finish_reason = Some(reason),
                    _ => self.queue.push_back(Delta { finish_reason: Some(reason), ..Delta::default() }),
                }
            }
        }
        true
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn call(name: &str, args: &str) -> Piece {
        Piece::Call(ToolCall { name: name.into(), arguments: args.into() })
    }

    fn text(t: &str) -> Piece {
        Piece::Text(t.into())
    }

    /// The pieces of `reply` fed in one go.
    fn whole(reply: &str) -> Vec<Piece> {
        feed_split(reply, &[])
    }

    /// The pieces of `reply` fed in parts cut at `cuts` (byte offsets, ascending).
    fn feed_split(reply: &str, cuts: &[usize]) -> Vec<Piece> {
        let mut p = ToolCallParser::default();
        let mut out = Vec::new();
        let mut raw = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([reply.len()].iter()) {
            p.feed(&reply[start..cut], &mut raw);
            start = cut;
        }
        p.finish(&mut raw);
        // Texts settled at different times are one text.
        for piece in raw {
            match piece {
                Piece::Text(t) => push_text(&mut out, &t),
                c => out.push(c),
            }
        }
        out
    }

    /// Every reply below, cut at every char boundary (the decoder never cuts inside a
    /// character), and at every pair of boundaries for short ones, gives the unsplit result.
    fn assert_split_invariant(reply: &str) {
        let expected = whole(reply);
        let bounds: Vec<usize> = (1..reply.len()).filter(|&i| reply.is_char_boundary(i)).collect();
        for &i in &bounds {
            assert_eq!(feed_split(reply, &[i]), expected, "{reply:?} cut at {i}");
        }
        if reply.len() <= 120 {
            for (k, &i) in bounds.iter().enumerate() {
                for &j in &bounds[k + 1..] {
                    assert_eq!(feed_split(reply, &[i, j]), expected, "{reply:?} cut at {i} and {j}");
                }
            }
        }
        // One character per feed, as a trickling server would send it.
        assert_eq!(feed_split(reply, &bounds), expected, "{reply:?} one char at a time");
    }

    const REPLIES: &[&str] = &[
        "好的，我来查一下。\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"北京\"}}</tool_call>",
        "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call><tool_call>{\"name\":\"b\",\"arguments\":{\"x\":[1,{\"y\":\"}\"}]}}</tool_call>然后",
        "< TOOL_CALL >\n{ \"arguments\" : {\"q\": \"a<b\"}, \"name\" : \"search\" }\n< / Tool_Call >",
        "<tool_call>{\"name\":\"f\",\"arguments\":{city: 北京}}</tool_call>",
        "a < b <tool <tool_cal <tool_callx> <tool_call",
        "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}",
        "<tool_call>not json</tool_call> and <tool_call>{\"arguments\":{}}</tool_call>",
        "<tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}</tool_call>",
        "x</tool_call>y<    tool_call>z",
    ];

    #[test]
    fn split_anywhere_gives_the_unsplit_result() {
        for reply in REPLIES {
            assert_split_invariant(reply);
        }
    }

    #[test]
    fn what_the_markup_becomes() {
        let expected: [Vec<Piece>; 9] = [
            vec![text("好的，我来查一下。\n"), call("get_weather", "{\"city\":\"北京\"}")],
            vec![call("a", "{}"), call("b", "{\"x\":[1,{\"y\":\"}\"}]}"), text("然后")],
            vec![call("search", "{\"q\": \"a<b\"}")],
            // Not valid JSON: passed on as written.
            vec![call("f", "{city: 北京}")],
            // Prefixes that turn out not to be tags, and one cut off by the end: text.
            vec![text(REPLIES[4])],
            // Unclosed: given back whole at the end.
            vec![text(REPLIES[5])],
            // No name: given back as written; text between stays.
            vec![text(REPLIES[6])],
            // Arguments written as a JSON string: its text.
            vec![call("f", "{\"a\":1}")],
            // A closing tag alone, and too many spaces in a tag: text.
            vec![text(REPLIES[8])],
        ];
        for (reply, want) in REPLIES.iter().zip(expected) {
            assert_eq!(whole(reply), want, "{reply:?}");
        }
    }

    #[test]
    fn odd_bodies() {
        let body = |b: &str| parse_call(b);
        assert_eq!(body(r#"{"name":"f"}"#).unwrap().arguments, "{}");
        assert_eq!(body(r#"{"name":"f","arguments":null}"#).unwrap().arguments, "{}");
        assert_eq!(body(r#"{"name":"f","parameters":{"a":1}}"#).unwrap().arguments, r#"{"a":1}"#);
        assert_eq!(body(r#"{"name":"f","arguments":{"a":1}"#).unwrap().arguments, r#"{"a":1}"#);
        assert_eq!(body(r#"{"name":"f","arguments":{"a":[1}"#).unwrap().arguments, r#"{"a":[1}"#);
        assert_eq!(body(r#"{"name":"f","arguments":{"a":{"b":1}}"#).unwrap().arguments, r#"{"a":{"b":1}}"#);
        assert_eq!(body(r#" {"name": "f", "arguments": 5, "extra": true} "#).unwrap().arguments, "5");
        assert_eq!(body(r#"{"name":"f","arguments":{"s":"\"}"}}"#).unwrap().arguments, r#"{"s":"\"}"}"#);
        for no in [r#"{"name":""}"#, r#"{"name":5}"#, "[]", "", r#"{name:"f"}"#, r#"{"name""f"}"#] {
            assert_eq!(body(no), None, "{no}");
        }
    }

    #[test]
    fn a_call_longer_than_the_limit_is_text() {
        let long = format!(
            "<tool_call>{{\"name\":\"f\",\"arguments\":\"{}\"}}</tool_call>",
            "a".repeat(MAX_TOOL_CALL_BYTES + 10_000)
        );
        let mut p = ToolCallParser::default();
        let mut out = Vec::new();
        for piece in long.as_bytes().chunks(4096) {
            p.feed(std::str::from_utf8(piece).unwrap(), &mut out);
            assert!(p.pending().len() <= MAX_TOOL_CALL_BYTES + 4096);
            assert!(p.held.len() <= 2 * (MAX_TOOL_CALL_BYTES + 4096));
        }
        p.finish(&mut out);
        let all: String = out
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Call(_) => panic!("not a call"),
            })
            .collect();
        assert_eq!(all, long);
    }

    /// The parser as it was before giving up became linear (issue 16): each call given up
    /// searched and moved the whole held text again. Kept as the reference the parser must
    /// agree with.
    fn reference(reply: &str, cuts: &[usize], limit: usize) -> Vec<Piece> {
        let (mut held, mut open, mut searched, mut out) = (String::new(), None, 0, Vec::new());
        let mut start = 0;
        for &cut in cuts.iter().chain([reply.len()].iter()) {
            held.push_str(&reply[start..cut]);
            start = cut;
            loop {
                match open {
                    None => match find_tag(held.as_bytes(), 0, false) {
                        Ok(Some((at, n))) => {
                            push_text(&mut out, &held[..at]);
                            held.drain(..at);
                            (open, searched) = (Some(n), n);
                        }
                        Ok(None) => break push_text(&mut out, &std::mem::take(&mut held)),
                        Err(at) => {
                            push_text(&mut out, &held[..at]);
                            break drop(held.drain(..at));
                        }
                    },
                    Some(o) => match find_tag(held.as_bytes(), searched, true) {
                        Ok(Some((at, n))) => {
                            let raw: String = held.drain(..at + n).collect();
                            match parse_call(&raw[o..at]) {
                                Some(call) => out.push(Piece::Call(call)),
                                None => push_text(&mut out, &raw),
                            }
                            open = None;
                        }
                        found => {
                            searched = if let Err(at) = found { at } else { held.len() };
                            if held.len() <= limit {
                                break;
                            }
                            let tag: String = held.drain(..o).collect();
                            push_text(&mut out, &tag);
                            open = None;
                        }
                    },
                }
            }
        }
        push_text(&mut out, &held);
        out
    }

    #[test]
    fn giving_up_gives_what_the_reference_gives() {
        const PARTS: &[&str] = &[
            "<tool_call>",
            "</tool_call>",
            "< tool_call >",
            "{\"name\":\"f\"}",
            "{\"name\":\"g\",\"arguments\":{\"a\":\"<\"}}",
            "<tool",
            "</",
            "<",
            "x",
            "北",
        ];
        crate::fuzz::run("tools-limit", 3000, |rng| {
            let reply: String = (0..rng.size(60)).map(|_| *rng.pick(PARTS)).collect();
            let limit = 1 + rng.below(48);
            let mut cuts: Vec<usize> = (0..rng.size(16)).map(|_| rng.below(reply.len() + 1)).collect();
            cuts.retain(|&c| reply.is_char_boundary(c));
            cuts.sort_unstable();
            let mut p = ToolCallParser::with_limit(limit);
            let (mut out, mut from) = (Vec::new(), 0);
            for &cut in cuts.iter().chain([reply.len()].iter()) {
                p.feed(&reply[from..cut], &mut out);
                from = cut;
            }
            p.finish(&mut out);
            assert_eq!(merged(out), merged(reference(&reply, &cuts, limit)), "{reply:?} limit {limit} cuts {cuts:?}");
        });
    }

    fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => push_text(&mut out, &t),
                call => out.push(call),
            }
        }
        out
    }

    /// Median CPU seconds of feeding `n` bytes of `<tool_call>` repeated (never closed), in
    /// 4 KiB pieces, to a parser whose limit is `limit`.
    fn unclosed_markup_secs(n: usize, limit: usize) -> f64 {
        let reply = "<tool_call>".repeat(n / 11 + 1);
        crate::util::median_cpu_secs(5, || {
            let mut p = ToolCallParser::with_limit(limit);
            let mut out = Vec::new();
            for piece in reply.as_bytes()[..n].chunks(4096) {
                p.feed(std::str::from_utf8(piece).unwrap(), &mut out);
                out.clear();
            }
            p.finish(&mut out);
        })
    }

    #[test]
    fn unclosed_markup_past_the_limit_costs_linear_time() {
        // Each doubling from the limit up: it was ~1,000× and then 3× (every tag given up
        // searched and moved the whole held text again); now about 2×.
        let limit = 128 << 10;
        let (one, two) = (unclosed_markup_secs(limit, limit), unclosed_markup_secs(2 * limit, limit));
        eprintln!("unclosed markup, limit {limit}: {one:.4} / {two:.4} CPU s for 1 / 2 times the limit");
        // Crossing the limit adds handing the given-up text on: a little more per byte.
        assert!(two <= 3.0 * one, "{one} → {two}");
        let four = unclosed_markup_secs(4 * limit, limit);
        eprintln!("and {four:.4} CPU s for 4 times");
        assert!(four <= 2.5 * two, "{two} → {four}");
    }

    #[test]
    fn one_long_event_is_queued_a_slice_at_a_time() {
        // 20k calls in one delta were 40k deltas queued at once (a 16 MiB event of tiny calls
        // held 334 MB), whatever max_reply_bytes said.
        let unit = "<tool_call>{\"name\":\"f\"}</tool_call>";
        let mut stage = ToolStage::new();
        stage.push(Delta { content: unit.repeat(20_000), finish_reason: Some("stop".into()), ..Delta::default() });
        let most = 2 * (SLICE / unit.len() + 1) + 2;
        let (mut calls, mut finish) = (0, None);
        loop {
            assert!(stage.queue.len() <= most, "{} deltas queued", stage.queue.len());
            let Some(d) = stage.pop() else { break };
            calls += d.tool_calls.iter().filter(|c| c.id.is_some()).count();
            finish = d.finish_reason.or(finish);
        }
        assert_eq!((calls, finish.as_deref()), (20_000, Some("tool_calls")));
    }

    #[test]
    fn outside_a_call_only_a_tag_prefix_is_held() {
        let mut p = ToolCallParser::default();
        let mut out = Vec::new();
        p.feed("abc <  TOOL_c", &mut out);
        assert_eq!(out, vec![text("abc ")]);
        assert_eq!(p.pending(), "<  TOOL_c");
        p.feed("alm", &mut out);
        assert_eq!(p.pending(), "");
        assert_eq!(out, vec![text("abc <  TOOL_calm")]);
    }

    fn spec(req: Value) -> Result<Option<ToolSpec>> {
        ToolSpec::parse(req.as_object().unwrap())
    }

    fn weather() -> Value {
        json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn tools_and_choices_are_checked() {
        let tools = json!([weather()]);
        assert_eq!(spec(json!({})).unwrap(), None);
        assert_eq!(spec(json!({"tools": []})).unwrap(), None);
        assert_eq!(spec(json!({"tools": [], "tool_choice": "none"})).unwrap(), None);
        assert_eq!(spec(json!({"tools": tools})).unwrap().unwrap().choice, Choice::Auto);
        let named = json!({"type": "function", "function": {"name": "get_weather"}});
        assert_eq!(
            spec(json!({"tools": tools, "tool_choice": named})).unwrap().unwrap().choice,
            Choice::Named("get_weather".into())
        );
        let none = spec(json!({"tools": tools, "tool_choice": "none"})).unwrap().unwrap();
        assert!(!none.parses_calls() && none.instruction().is_none());
        let f = |name: &str| json!({"type": "function", "function": {"name": name}});
        let bad = [
            (json!({"tools": {}}), "\"tools\" must be a list"),
            (json!({"tools": [1]}), "tools[0] must be an object"),
            (json!({"tools": [{"type": "code_interpreter"}]}), "only \"function\" tools"),
            (json!({"tools": [{"function": {"name": "f"}}]}), "tools[0].type must be \"function\""),
            (json!({"tools": [{"type": "function"}]}), "tools[0].function must be an object"),
            (json!({"tools": [f("a b")]}), "letters, digits"),
            (json!({"tools": [f(&"x".repeat(65))]}), "letters, digits"),
            (json!({"tools": [{"type": "function", "function": {}}]}), "function.name must be a string"),
            (json!({"tools": [f("a"), f("b"), f("a")]}), "tools[0] and tools[2] are both named"),
            (json!({"tools": [{"type": "function", "function": {"name": "a", "parameters": "{}"}}]}), "JSON Schema"),
            (json!({"tools": [{"type": "function", "function": {"name": "a", "description": 1}}]}), "description"),
            (json!({"tools": [{"type": "function", "function": {"name": "a", "strict": "yes"}}]}), "strict"),
            (json!({"tools": tools, "tool_choice": "any"}), "\"tool_choice\" must be"),
            (json!({"tools": tools, "tool_choice": {"type": "function"}}), "\"tool_choice\" must be"),
            (json!({"tools": tools, "tool_choice": 1}), "\"tool_choice\" must be"),
            (
                json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
                "not in \"tools\"",
            ),
            (json!({"tool_choice": "required"}), "\"tools\" is missing or empty"),
            (json!({"tools": tools, "parallel_tool_calls": 1}), "parallel_tool_calls"),
        ];
        for (req, msg) in bad {
            let e = spec(req.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{req}");
            assert!(e.message.contains(msg), "{req}: {}", e.message);
        }
    }

    #[test]
    fn instruction_lists_the_tools_and_the_choice() {
        let tools = json!([weather(), {"type": "function", "function": {"name": "now"}}]);
        let text = |extra: Value| {
            let mut req = json!({"tools": tools});
            req.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            spec(req).unwrap().unwrap().instruction().unwrap()
        };
        let auto = text(json!({}));
        assert!(auto.contains(r#"{"name":"get_weather","description":"Current weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}"#));
        assert!(auto.contains("\n{\"name\":\"now\"}\n"));
        assert!(auto.contains("<tool_call>{\"name\":\"TOOL_NAME\""));
        assert!(auto.contains("[工具 TOOL_NAME 执行结果]"));
        assert!(auto.ends_with("otherwise answer directly, without the markup."));
        assert!(text(json!({"tool_choice": "required"}))
            .ends_with("at least one of these tools now; do not answer directly."));
        let named = text(json!({"tool_choice": {"type": "function", "function": {"name": "now"}}}));
        assert!(named.ends_with("You must call the tool now in this reply; do not answer directly."));
        assert!(text(json!({"parallel_tool_calls": false})).contains("at most one tool"));
        // The instruction of docs/PROTOCOL.md is the one the code writes.
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
        let one = spec(json!({"tools": [weather()]})).unwrap().unwrap().instruction().unwrap();
        assert!(doc.contains(&format!("```text\n{one}\n```")), "docs/PROTOCOL.md shows another instruction:\n{one}");
    }

    #[test]
    fn rendered_calls_parse_back_to_the_same_call() {
        let args = ["{\"city\":\"北京\"}", "{city: 北京}", "  {\"a\": [1, 2]}  ", "\"quoted\"", "", "[1]", "7"];
        for a in args {
            let msg = json!({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "f", "arguments": a}}]});
            let markup = render_calls(msg.as_object().unwrap(), 0).unwrap();
            let want = match a.trim() {
                "" => "{}",
                t => t,
            };
            assert_eq!(whole(&markup), vec![call("f", want)], "{a:?} → {markup}");
        }
        let msg = json!({"role": "assistant", "function_call": {"name": "g", "arguments": "{}"},
                         "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]});
        assert_eq!(
            render_calls(msg.as_object().unwrap(), 2).unwrap(),
            "<tool_call>{\"name\":\"f\",\"arguments\":{\"x\":1}}</tool_call>\n<tool_call>{\"name\":\"g\",\"arguments\":{}}</tool_call>"
        );
        let bad = [
            (json!({"tool_calls": {}}), "messages[2].tool_calls must be a list"),
            (json!({"tool_calls": [1]}), "messages[2].tool_calls[0] must be an object"),
            (json!({"tool_calls": [{"type": "x", "function": {"name": "f"}}]}), "tool_calls[0].type"),
            (json!({"tool_calls": [{"function": {"name": ""}}]}), "tool_calls[0].function.name"),
            (json!({"tool_calls": [{"function": {"name": "f", "arguments": 1}}]}), "arguments must be a string"),
            (json!({"tool_calls": [{"id": "x"}]}), "tool_calls[0].function must be an object"),
            (json!({"function_call": "f"}), "messages[2].function_call must be an object"),
        ];
        for (msg, want) in bad {
            let e = render_calls(msg.as_object().unwrap(), 2).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest);
            assert!(e.message.contains(want), "{msg}: {}", e.message);
        }
    }

    /// Deltas of a stage fed `pieces` of content and a finish.
    fn stage_run(pieces: &[&str], reasoning: &str) -> Vec<Delta> {
        let mut stage = ToolStage::new();
        let mut out = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let r = if i == 0 { reasoning.to_string() } else { String::new() };
            stage.push(Delta { content: p.to_string(), reasoning: r, ..Delta::default() });
            out.extend(std::iter::from_fn(|| stage.pop()));
        }
        stage.push(Delta { finish_reason: Some("stop".into()), ..Delta::default() });
        out.extend(std::iter::from_fn(|| stage.pop()));
        out
    }

    #[test]
    fn stage_turns_calls_into_deltas_in_order() {
        let reasoning = "想想 <tool_call>{\"name\":\"x\"}</tool_call>";
        let deltas =
            stage_run(&["先说<tool_", "call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</tool_call>", "后记"], reasoning);
        assert_eq!(deltas[0].reasoning, reasoning, "reasoning passes untouched");
        assert_eq!(deltas[0].content, "先说");
        let first = &deltas[1].tool_calls[0];
        assert_eq!((first.index, first.name.as_deref(), first.arguments.as_str()), (0, Some("f"), ""));
        assert!(first.id.as_deref().unwrap().starts_with("call_") && first.id.as_ref().unwrap().len() == 29);
        assert_eq!(
            deltas[2].tool_calls,
            vec![ToolCallDelta { index: 0, id: None, name: None, arguments: "{\"a\":1}".into() }]
        );
        assert_eq!(deltas[3].content, "后记");
        assert_eq!(deltas[4].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(deltas.len(), 5);

        // No call: the finish stays "stop"; an unclosed markup comes back before it.
        let deltas = stage_run(&["a<tool_call>{\"name\":"], "");
        assert_eq!(deltas.iter().map(|d| d.content.as_str()).collect::<String>(), "a<tool_call>{\"name\":");
        assert_eq!(deltas.last().unwrap().finish_reason.as_deref(), Some("stop"));

        // Two calls: indexes 0 and 1, distinct ids; the finish in a chunk of its own.
        let deltas = stage_run(&["<tool_call>{\"name\":\"a\"}</tool_call><tool_call>{\"name\":\"b\"}</tool_call>"], "");
        let ids: Vec<_> = deltas.iter().flat_map(|d| &d.tool_calls).filter_map(|t| t.id.clone()).collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
        assert_eq!(deltas.iter().flat_map(|d| &d.tool_calls).map(|t| t.index).collect::<Vec<_>>(), [0, 0, 1, 1]);
        let last = deltas.last().unwrap();
        assert!(last.tool_calls.is_empty() && last.content.is_empty());
        assert_eq!(last.finish_reason.as_deref(), Some("tool_calls"));
    }
}
