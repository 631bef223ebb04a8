//! Upstream SSE events → deltas (docs/PROTOCOL.md section 4, "Chat reply").
//!
//! Two forms exist. The 2026 form carries an OpenAI chunk as a JSON *string* in
//! `d.ext.original_stream`; that is preferred whenever present. The older form has only
//! `d.answer`, where thinking may come inline as `<think>…</think>`. In the 2026 form the stream
//! must reach a `finish_reason` or it was cut off; the older form has none and ends cleanly.

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::MAX_HELD_WHITESPACE;
use crate::upstream::envelope::excerpt;
use crate::upstream::Envelope;

/// Token counts as the server reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

/// What one event adds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    pub reasoning: String,
    pub content: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// With web search on: the pages found (`d.ext.site_search`, a list of
    /// `{title, url, content}`), which the answer cites as `[citation:N]`.
    pub search_results: Option<Value>,
    /// Calls found in the content (`chat::tools`; the decoder itself never sets them).
    pub tool_calls: Vec<super::tools::ToolCallDelta>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.reasoning.is_empty()
            && self.content.is_empty()
            && self.finish_reason.is_none()
            && self.usage.is_none()
            && self.search_results.is_none()
            && self.tool_calls.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Unknown,
    OriginalStream,
    AnswerOnly,
}

/// Where the inline-thinking splitter stands in an answer-only stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Think {
    /// Nothing but whitespace seen yet: a `<think>` here opens reasoning.
    Start,
    Inside,
    /// Plain content from here on; tags are passed through as text.
    After,
}

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

pub struct Decoder {
    form: Form,
    think: Think,
    /// Text held back because it may be the start of a tag split across events.
    pending: String,
    finished: bool,
    ended: bool,
    events: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

// The chunk inside `original_stream`: only the fields used, borrowed from the text.
#[derive(Deserialize)]
struct InnerChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<InnerChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct InnerChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<InnerDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InnerDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
}

// The fast path for an ordinary event (`e` an integer 0, `d` an object): only the fields used,
// borrowed where the text has no escapes, and no `Value` tree. Anything it does not take (an
// error code, odd types) goes the general way, `Envelope::parse`, which gives the exact error.
#[derive(Deserialize)]
struct FastEvent<'a> {
    e: i64,
    #[serde(borrow)]
    d: FastData<'a>,
}

#[derive(Deserialize)]
struct FastData<'a> {
    #[serde(default, borrow)]
    answer: Option<Cow<'a, str>>,
    #[serde(default)]
    ext: FastExt,
}

/// `d.ext`: an object at USTB, `[]` on sister sites (then it carries nothing).
#[derive(Default)]
struct FastExt {
    original_stream: Option<OriginalStream>,
    site_search: Option<Value>,
}

/// `original_stream` decoded where it lies: its text is escaped JSON, and parsing it inside
/// the visitor reads serde_json's unescaped scratch copy instead of allocating another.
struct OriginalStream(Delta);

impl<'de> Deserialize<'de> for OriginalStream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = OriginalStream;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string holding a chunk")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<OriginalStream, E> {
                inner_delta(v).map(OriginalStream).map_err(E::custom)
            }
        }
        d.deserialize_str(Text)
    }
}

/// The delta an `original_stream` chunk carries.
fn inner_delta(raw: &str) -> serde_json::Result<Delta> {
    let chunk: InnerChunk = serde_json::from_str(raw)?;
    let mut delta = Delta { usage: chunk.usage, ..Delta::default() };
    for choice in chunk.choices {
        if let Some(d) = choice.delta {
            delta.reasoning.push_str(d.reasoning_content.as_deref().unwrap_or(""));
            delta.content.push_str(d.content.as_deref().unwrap_or(""));
        }
        if let Some(reason) = choice.finish_reason {
            delta.finish_reason = Some(reason.into_owned());
        }
    }
    Ok(delta)
}

impl<'de> Deserialize<'de> for FastExt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct ExtVisitor;
        impl<'de> Visitor<'de> for ExtVisitor {
            type Value = FastExt;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object or a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FastExt::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                let mut ext = FastExt::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match &*key {
                        "original_stream" => ext.original_stream = map.next_value()?,
                        "site_search" => ext.site_search = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(ext)
            }
        }
        d.deserialize_any(ExtVisitor)
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            form: Form::Unknown,
            think: Think::Start,
            pending: String::new(),
            finished: false,
            ended: false,
            events: 0,
        }
    }

    /// True once the server marked the end (`[DONE]` or a final `e = 1` event).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Decodes one event's `data`.
    pub fn feed(&mut self, data: &str) -> Result<Delta> {
        if data.trim() == "[DONE]" {
            self.ended = true;
            return Ok(Delta::default());
        }
        if let Ok(FastEvent { e: 0, d }) = serde_json::from_str::<FastEvent>(data) {
            self.events += 1;
            let search_results = d.ext.site_search.filter(Value::is_array);
            return Ok(self.data(d.answer.as_deref(), d.ext.original_stream.map(|o| o.0), search_results));
        }
        let env = Envelope::parse(data)
            .map_err(|e| Error::protocol(format!("malformed event in the reply stream: {}", e.message)))?;
        self.events += 1;
        if env.e != 0 {
            // Sister sites close a stream with a last `e = 1` event; as the first event it
            // is a refusal like any other.
            if env.e == 1 && self.events > 1 {
                self.ended = true;
                return Ok(Delta::default());
            }
            return Err(Error::from_envelope(env.e, &env.m, None));
        }
        let d = env.d;
        let ext = d.get("ext");
        let search_results = ext.and_then(|e| e.get("site_search")).filter(|v| v.is_array()).cloned();
        let raw = ext.and_then(|e| e.get("original_stream")).and_then(Value::as_str);
        let original = match raw {
            Some(raw) => Some(inner_delta(raw).map_err(|e| {
                Error::protocol(format!("d.ext.original_stream is not a valid chunk ({e}): {}", excerpt(raw)))
            })?),
            None => None,
        };
        let answer = match d.get("answer") {
            Some(Value::String(s)) => Some(s.as_str()),
            None | Some(Value::Null) => None,
            Some(_) if original.is_some() => None, // not used in this form
            Some(_) => return Err(Error::protocol("event field d.answer is not a string")),
        };
        Ok(self.data(answer, original, search_results))
    }

    /// One event's `d`, whichever way it was parsed.
    fn data(&mut self, answer: Option<&str>, original: Option<Delta>, search_results: Option<Value>) -> Delta {
        let mut delta = match original {
            Some(delta) => {
                self.form = Form::OriginalStream;
                self.finished |= delta.finish_reason.is_some();
                delta
            }
            None => {
                if self.form == Form::Unknown {
                    self.form = Form::AnswerOnly;
                }
                self.split_think(answer.unwrap_or(""))
            }
        };
        delta.search_results = search_results;
        delta
    }

    /// Splits an answer-only increment into reasoning and content at `<think>`/`</think>`.
    fn split_think(&mut self, answer: &str) -> Delta {
        let mut text = std::mem::take(&mut self.pending);
        text.push_str(answer);
        let mut delta = Delta::default();
        let mut rest = text.as_str();
        loop {
            match self.think {
                Think::Start => {
                    let trimmed = rest.trim_start();
                    if let Some(after) = trimmed.strip_prefix(OPEN) {
                        self.think = Think::Inside;
                        rest = after;
                    } else if !trimmed.is_empty() && OPEN.starts_with(trimmed) {
                        self.pending = rest.to_string(); // maybe a split "<think>"
                        break;
                    } else if trimmed.is_empty() && rest.len() <= MAX_HELD_WHITESPACE {
                        self.pending = rest.to_string();
                        break;
                    } else {
                        self.think = Think::After;
                    }
                }
                Think::Inside => match rest.find(CLOSE) {
                    Some(i) => {
                        delta.reasoning.push_str(&rest[..i]);
                        rest = &rest[i + CLOSE.len()..];
                        self.think = Think::After;
                    }
                    None => {
                        let keep = partial_suffix(rest, CLOSE);
                        delta.reasoning.push_str(&rest[..rest.len() - keep]);
                        self.pending = rest[rest.len() - keep..].to_string();
                        break;
                    }
                },
                Think::After => {
                    delta.content.push_str(rest);
                    break;
                }
            }
        }
        delta
    }

    /// Called when the body ended cleanly. Returns held-back text, or the error that a
    /// premature end is.
    pub fn finish(&mut self, ended_mid_event: bool) -> Result<Delta> {
        if self.finished {
            return Ok(Delta::default());
        }
        match self.form {
            Form::OriginalStream => Err(Error::new(
                ErrorKind::Truncated,
                "the reply stream ended before the server sent a finish_reason (cut off)",
            )),
            Form::Unknown if !self.ended => {
                Err(Error::new(ErrorKind::Truncated, "the reply stream ended before any event"))
            }
            _ if ended_mid_event && !self.ended => {
                Err(Error::new(ErrorKind::Truncated, "the reply stream ended in the middle of an event"))
            }
            _ => {
                // Answer-only form: no finish_reason exists, a clean end is a normal "stop".
                let held = std::mem::take(&mut self.pending);
                let mut delta = Delta { finish_reason: Some("stop".into()), ..Delta::default() };
                match self.think {
                    Think::Inside => delta.reasoning = held,
                    _ => delta.content = held,
                }
                self.finished = true;
                Ok(delta)
            }
        }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`.
fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len()).rev().find(|&n| text.ends_with(&tag[..n])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::EventReader;

    fn run(events: &[&str]) -> Result<(String, String, Option<String>, Option<Usage>)> {
        let mut dec = Decoder::new();
        let (mut r, mut c, mut f, mut u) = (String::new(), String::new(), None, None);
        let mut add = |d: Delta| {
            r.push_str(&d.reasoning);
            c.push_str(&d.content);
            f = d.finish_reason.or(f.take());
            u = d.usage.or(u);
        };
        for e in events {
            add(dec.feed(e)?);
        }
        add(dec.finish(false)?);
        Ok((r, c, f, u))
    }

    fn vector_events(name: &str) -> Vec<String> {
        let raw = std::fs::read(format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut reader = EventReader::new(&raw[..]);
        let mut out = Vec::new();
        while let Some(e) = reader.next_event().unwrap() {
            out.push(e.data);
        }
        out
    }

    fn answer(text: &str) -> String {
        serde_json::json!({"e":0,"m":"操作成功","d":{"type":"0","answer":text,"ext":[]}}).to_string()
    }

    #[test]
    fn vector_ustb2026() {
        let ev = vector_events("stream-ustb2026.sse");
        let refs: Vec<&str> = ev.iter().map(String::as_str).collect();
        let (r, c, f, u) = run(&refs).unwrap();
        assert_eq!(r, "好的，用户问：请介绍你自己。。");
        assert_eq!(c, "你好！我是北科大 AI 助手。");
        assert_eq!(f.as_deref(), Some("stop"));
        assert_eq!(u, Some(Usage { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 }));
    }

    #[test]
    fn vector_answer_only_ends_normally() {
        let ev = vector_events("stream-answer-only.sse");
        let refs: Vec<&str> = ev.iter().map(String::as_str).collect();
        let (r, c, f, u) = run(&refs).unwrap();
        assert_eq!((r.as_str(), c.as_str()), ("", "你好！我是北科大 AI 助手。"));
        assert_eq!(f.as_deref(), Some("stop"));
        assert_eq!(u, None);
    }

    #[test]
    fn cut_off_2026_stream_is_truncated() {
        let ev = vector_events("stream-ustb2026.sse");
        let refs: Vec<&str> = ev[..6].iter().map(String::as_str).collect();
        assert_eq!(run(&refs).unwrap_err().kind, ErrorKind::Truncated);
        assert_eq!(run(&[]).unwrap_err().kind, ErrorKind::Truncated);
        let mut dec = Decoder::new();
        dec.feed(&answer("x")).unwrap();
        assert_eq!(dec.finish(true).unwrap_err().kind, ErrorKind::Truncated);
    }

    #[test]
    fn think_tags_split_anywhere() {
        let full = "<think>先想一想</think>答案是 42。";
        let chars: Vec<char> = full.chars().collect();
        for cut1 in 0..chars.len() {
            for cut2 in cut1..chars.len() {
                let a: String = chars[..cut1].iter().collect();
                let b: String = chars[cut1..cut2].iter().collect();
                let c: String = chars[cut2..].iter().collect();
                let (r, content, _, _) = run(&[&answer(&a), &answer(&b), &answer(&c)]).unwrap();
                assert_eq!((r.as_str(), content.as_str()), ("先想一想", "答案是 42。"), "cuts {cut1},{cut2}");
            }
        }
    }

    #[test]
    fn tags_inside_content_pass_through() {
        let (r, c, _, _) = run(&[&answer("看这个 <think> 标签"), &answer("</think> 完")]).unwrap();
        assert_eq!((r.as_str(), c.as_str()), ("", "看这个 <think> 标签</think> 完"));
        // An unclosed think block stays reasoning.
        let (r, c, _, _) = run(&[&answer("<think>想</thi")]).unwrap();
        assert_eq!((r.as_str(), c.as_str()), ("想</thi", ""));
    }

    #[test]
    fn end_markers() {
        let ev = vector_events("stream-ustb2026.sse");
        let mut refs: Vec<&str> = ev.iter().map(String::as_str).collect();
        refs.push("[DONE]");
        assert!(run(&refs).is_ok());
        let e1 = r#"{"e":1,"m":"","d":[]}"#;
        let (_, c, f, _) = run(&[&answer("好"), e1]).unwrap();
        assert_eq!((c.as_str(), f.as_deref()), ("好", Some("stop")));
        // As the first event, e = 1 is a refusal.
        assert_eq!(run(&[r#"{"e":1,"m":"compose_id不能为空","d":[]}"#]).unwrap_err().kind, ErrorKind::Api);
    }

    #[test]
    fn errors_inside_the_stream() {
        let err = run(&[r#"{"e":10042,"m":"请登录","d":[]}"#]).unwrap_err();
        assert_eq!((err.kind, err.api_code), (ErrorKind::Auth, Some(10042)));
        let err = run(&[&answer("a"), r#"{"e":4028,"m":"history参数异常","d":[]}"#]).unwrap_err();
        assert_eq!((err.kind, err.api_code), (ErrorKind::Api, Some(4028)));
        assert_eq!(run(&["{\"e\":0,"]).unwrap_err().kind, ErrorKind::Protocol);
        let bad_inner = r#"{"e":0,"m":"","d":{"answer":"","ext":{"original_stream":"{nope"}}}"#;
        assert_eq!(run(&[bad_inner]).unwrap_err().kind, ErrorKind::Protocol);
    }

    #[test]
    fn odd_tokens_are_passed_through() {
        let inner = serde_json::json!({"choices":[{"index":0,"delta":{"content":"｜DSML｜<tool>","reasoning_content":"<x/>"},"finish_reason":"stop"}]}).to_string();
        let ev = serde_json::json!({"e":0,"m":"","d":{"answer":"ignored","ext":{"original_stream":inner}}}).to_string();
        let (r, c, f, _) = run(&[&ev]).unwrap();
        assert_eq!((r.as_str(), c.as_str(), f.as_deref()), ("<x/>", "｜DSML｜<tool>", Some("stop")));
    }

    #[test]
    fn whitespace_only_answers_hold_back_a_bounded_amount() {
        let mut dec = Decoder::new();
        let event = serde_json::json!({"e": 0, "m": "", "d": {"answer": " ".repeat(1000)}}).to_string();
        let mut passed = 0;
        for _ in 0..1000 {
            passed += dec.feed(&event).unwrap().content.len();
            assert!(dec.pending.len() <= MAX_HELD_WHITESPACE, "held {}", dec.pending.len());
        }
        passed += dec.finish(false).unwrap().content.len();
        assert_eq!(passed, 1000 * 1000, "no whitespace is lost");
    }

    #[test]
    fn think_after_some_leading_whitespace_still_opens_reasoning() {
        let (r, c, _, _) = run(&[
            r#"{"e":0,"m":"","d":{"answer":"\n\n "}}"#,
            r#"{"e":0,"m":"","d":{"answer":"<thi"}}"#,
            r#"{"e":0,"m":"","d":{"answer":"nk>想</think>答"}}"#,
        ])
        .unwrap();
        assert_eq!((r.as_str(), c.as_str()), ("想", "答"));
    }
}
