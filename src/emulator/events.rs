//! Chat events in upstream's exact layout. Events are kept as ranges into the reply text
//! and rendered one at a time, so `@emu:long=N` streams stay cheap in memory.

use std::ops::Range;

use serde_json::{json, Value};

use super::json::{ok_envelope, python};

pub(crate) struct Reply {
    pub id: String,
    pub created: u64,
    pub model: String,
    /// Attach `site_search` to the first event.
    pub search: bool,
    pub prompt_tokens: usize,
    pub reasoning: String,
    pub content: String,
    /// The answer-only text (content, or `<think>…</think>` + content).
    pub plain: String,
}

pub(crate) enum Ev {
    Reasoning(Range<usize>),
    Content(Range<usize>),
    Finish,
    /// The usage chunk; the value is completion_tokens.
    Usage(usize),
    /// Answer-only form; an empty range is a padding event.
    Plain(Range<usize>),
    /// A payload sent as is.
    Raw(String),
}

impl Ev {
    pub(crate) fn carries_content(&self) -> bool {
        match self {
            Ev::Content(_) => true,
            Ev::Plain(r) => !r.is_empty(),
            _ => false,
        }
    }
}

/// Byte ranges of consecutive `n`-character pieces.
pub(crate) fn char_ranges(text: &str, n: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (count, (i, _)) in text.char_indices().enumerate() {
        if count > 0 && count % n.max(1) == 0 {
            out.push(start..i);
            start = i;
        }
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

/// The 2026 form: reasoning deltas, content deltas, the stop chunk, the usage chunk.
pub(crate) fn full_events(reasoning: Vec<Range<usize>>, content: Vec<Range<usize>>) -> Vec<Ev> {
    let tokens = content.len();
    let mut events: Vec<Ev> = reasoning.into_iter().map(Ev::Reasoning).collect();
    events.extend(content.into_iter().map(Ev::Content));
    events.push(Ev::Finish);
    events.push(Ev::Usage(tokens));
    events
}

/// The older form, padded with empty events the way upstream pads it.
pub(crate) fn answer_only_events(pieces: Vec<Range<usize>>) -> Vec<Ev> {
    let mut events: Vec<Ev> = (0..4).map(|_| Ev::Plain(0..0)).collect();
    events.extend(pieces.into_iter().map(Ev::Plain));
    events.extend((0..2).map(|_| Ev::Plain(0..0)));
    events
}

/// The `d` object of a chat event; key order as upstream.
pub(crate) fn d_fields(answer: &str, id: &str, ext: Value) -> Value {
    json!({
        "type": "0", "answer": answer, "url": "", "message_id": id, "id": id,
        "recommend_data": [], "source": [], "ext": ext,
    })
}

impl Reply {
    /// The `data:` payload of event number `index`.
    pub(crate) fn render(&self, index: usize, ev: &Ev) -> String {
        let (answer, chunk) = match ev {
            Ev::Raw(s) => return s.clone(),
            Ev::Plain(r) => return ok_envelope(d_fields(&self.plain[r.clone()], &self.id, json!([]))).to_string(),
            Ev::Reasoning(r) => ("", self.chunk(delta("reasoning_content", &self.reasoning[r.clone()]), None)),
            Ev::Content(r) => {
                let piece = &self.content[r.clone()];
                (piece, self.chunk(delta("content", piece), None))
            }
            Ev::Finish => ("", self.chunk(vec![choice(json!({}), json!("stop"))], None)),
            Ev::Usage(tokens) => {
                let usage = json!({
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": tokens,
                    "total_tokens": self.prompt_tokens + tokens,
                });
                ("", self.chunk(vec![], Some(usage)))
            }
        };
        let mut ext = json!({ "original_stream": chunk });
        if index == 0 && self.search {
            ext["site_search"] = site_search();
        }
        ok_envelope(d_fields(answer, &self.id, ext)).to_string()
    }

    /// One `chat.completion.chunk`, serialized Python style as upstream embeds it.
    fn chunk(&self, choices: Vec<Value>, usage: Option<Value>) -> String {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            chunk["usage"] = u;
        }
        python(&chunk)
    }
}

fn delta(key: &str, text: &str) -> Vec<Value> {
    vec![choice(json!({ key: text }), Value::Null)]
}

fn choice(delta: Value, finish: Value) -> Value {
    json!({ "index": 0, "delta": delta, "finish_reason": finish })
}

fn site_search() -> Value {
    json!([{
        "title": "北京科技大学",
        "url": "https://www.ustb.edu.cn/",
        "content": "北京科技大学是教育部直属全国重点大学，首批进入国家“211工程”建设高校。",
    }])
}

#[cfg(test)]
pub(crate) mod testing {
    //! Renders streams from explicit pieces, to compare with the upstream vectors.
    use super::*;

    fn join(pieces: &[&str]) -> (String, Vec<Range<usize>>) {
        let mut text = String::new();
        let ranges = pieces
            .iter()
            .map(|p| {
                text.push_str(p);
                text.len() - p.len()..text.len()
            })
            .collect();
        (text, ranges)
    }

    fn frame(reply: &Reply, events: &[Ev]) -> String {
        events.iter().enumerate().map(|(i, ev)| format!("data: {}\n\n", reply.render(i, ev))).collect()
    }

    pub(crate) fn full(id: &str, created: u64, reasoning: &[&str], content: &[&str], prompt_tokens: usize) -> String {
        let (reasoning, r_ranges) = join(reasoning);
        let (content, c_ranges) = join(content);
        let reply = Reply {
            id: id.into(),
            created,
            model: "DeepSeek".into(),
            search: false,
            prompt_tokens,
            reasoning,
            content,
            plain: String::new(),
        };
        frame(&reply, &full_events(r_ranges, c_ranges))
    }

    pub(crate) fn answer_only(id: &str, content: &[&str]) -> String {
        let (plain, ranges) = join(content);
        let reply = Reply {
            id: id.into(),
            created: 0,
            model: String::new(),
            search: false,
            prompt_tokens: 0,
            reasoning: String::new(),
            content: String::new(),
            plain,
        };
        frame(&reply, &answer_only_events(ranges))
    }
}
