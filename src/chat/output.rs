//! Deltas → OpenAI `chat.completion.chunk` JSON, and the aggregate `chat.completion`.

use serde::Serialize;

use super::decode::{Delta, Usage};
use super::tools::ToolCallDelta;

/// Writes the chunks of one stream: same id and created throughout, `role` in the first delta,
/// and (with `include_usage`) one last chunk with `"choices": []` and the usage.
///
/// Chunks are written straight into a buffer: the part every chunk shares is rendered once,
/// and only a delta's own texts are escaped per chunk (with serde_json's string writer). The
/// keys come in openai-python's order: id, object, created, model, system_fingerprint,
/// choices[{index, delta{role, content, reasoning_content, tool_calls}, logprobs,
/// finish_reason}], usage.
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    role_sent: bool,
    /// `{"id":…,"object":"chat.completion.chunk",…,"system_fingerprint":null,"choices":`
    head: Vec<u8>,
}

impl ChunkWriter {
    pub fn new(model: &str, include_usage: bool) -> ChunkWriter {
        let id = format!("chatcmpl-{}", crate::util::random_hex(29));
        let created = crate::util::unix_secs();
        let mut head = br#"{"id":"#.to_vec();
        json_into(&mut head, &id);
        head.extend_from_slice(format!(r#","object":"chat.completion.chunk","created":{created},"model":"#).as_bytes());
        json_into(&mut head, model);
        head.extend_from_slice(br#","system_fingerprint":null,"choices":"#);
        ChunkWriter { id, created, model: model.to_string(), include_usage, role_sent: false, head }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn created(&self) -> u64 {
        self.created
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The chunk for one delta's text, finish_reason and search results, or None if it
    /// carries none of them.
    #[cfg(any(test, fuzzing))]
    pub fn delta_chunk(&mut self, d: &Delta) -> Option<String> {
        let mut out = Vec::new();
        self.delta_chunk_into(d, &mut out).then(|| into_string(out))
    }

    /// `delta_chunk` written into `out` (cleared first); false when there is no chunk.
    pub fn delta_chunk_into(&mut self, d: &Delta, out: &mut Vec<u8>) -> bool {
        out.clear();
        if d.reasoning.is_empty()
            && d.content.is_empty()
            && d.finish_reason.is_none()
            && d.search_results.is_none()
            && d.tool_calls.is_empty()
        {
            return false;
        }
        let first = !self.role_sent;
        self.role_sent = true;
        out.extend_from_slice(&self.head);
        out.extend_from_slice(br#"[{"index":0,"delta":{"#);
        let mut sep: &[u8] = b"";
        if first {
            out.extend_from_slice(br#""role":"assistant""#);
            sep = b",";
        }
        // OpenAI's first delta has `"content": ""`; later ones only what they carry.
        if first || !d.content.is_empty() {
            out.extend_from_slice(sep);
            out.extend_from_slice(br#""content":"#);
            json_into(out, &d.content);
            sep = b",";
        }
        if !d.reasoning.is_empty() {
            out.extend_from_slice(sep);
            out.extend_from_slice(br#""reasoning_content":"#);
            json_into(out, &d.reasoning);
            sep = b",";
        }
        if !d.tool_calls.is_empty() {
            out.extend_from_slice(sep);
            out.extend_from_slice(br#""tool_calls":"#);
            tool_calls_into(out, &d.tool_calls);
        }
        out.extend_from_slice(br#"},"logprobs":null,"finish_reason":"#);
        match &d.finish_reason {
            Some(reason) => json_into(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]");
        if self.include_usage {
            out.extend_from_slice(br#","usage":null"#);
        }
        // USTB extension: web search results, in the chunk that brings them.
        if let Some(results) = &d.search_results {
            out.extend_from_slice(br#","search_results":"#);
            json_into(out, results);
        }
        out.push(b'}');
        true
    }

    /// The final usage chunk, when the request asked for it and the server reported usage.
    #[cfg(any(test, fuzzing))]
    pub fn usage_chunk(&self, usage: Option<Usage>) -> Option<String> {
        let mut out = Vec::new();
        self.usage_chunk_into(usage, &mut out).then(|| into_string(out))
    }

    /// `usage_chunk` written into `out` (cleared first); false when there is none.
    pub fn usage_chunk_into(&self, usage: Option<Usage>, out: &mut Vec<u8>) -> bool {
        out.clear();
        match (self.include_usage, usage) {
            (true, Some(u)) => {
                out.extend_from_slice(&self.head);
                out.extend_from_slice(br#"[],"usage":"#);
                json_into(out, &u);
                out.push(b'}');
                true
            }
            _ => false,
        }
    }
}

/// OpenAI's `tool_calls` deltas: `{index, id, type, function{name, arguments}}` for a call's
/// first, `{index, function{arguments}}` for its argument fragments.
fn tool_calls_into(out: &mut Vec<u8>, calls: &[ToolCallDelta]) {
    out.push(b'[');
    for (i, call) in calls.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!(r#"{{"index":{}"#, call.index).as_bytes());
        if let Some(id) = &call.id {
            out.extend_from_slice(br#","id":"#);
            json_into(out, id);
            out.extend_from_slice(br#","type":"function""#);
        }
        out.extend_from_slice(br#","function":{"#);
        if let Some(name) = &call.name {
            out.extend_from_slice(br#""name":"#);
            json_into(out, name);
            out.push(b',');
        }
        out.extend_from_slice(br#""arguments":"#);
        json_into(out, &call.arguments);
        out.extend_from_slice(b"}}");
    }
    out.push(b']');
}

/// Appends `value` as JSON (strings escaped as serde_json escapes them).
fn json_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("writing JSON into memory cannot fail");
}

#[cfg(any(test, fuzzing))]
fn into_string(json: Vec<u8>) -> String {
    String::from_utf8(json).expect("serde_json writes UTF-8")
}

/// The texts of a chunk's first choice: (content, reasoning_content, finish_reason), each None
/// when absent or null. For hosts without a JSON parser (C, C++).
pub fn chunk_delta(chunk_json: &str) -> crate::Result<(Option<String>, Option<String>, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(chunk_json)
        .map_err(|e| crate::Error::invalid_argument(format!("chunk is not valid JSON: {e}")))?;
    let choices = v
        .get("choices")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| crate::Error::invalid_argument("chunk has no \"choices\" list"))?;
    let Some(choice) = choices.first() else {
        return Ok((None, None, None)); // the usage chunk
    };
    let not_a_chunk = || crate::Error::invalid_argument("chunk's choices[0] is not a choice object");
    if !choice.is_object() {
        return Err(not_a_chunk());
    }
    let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(str::to_string);
    let delta = choice.get("delta").or_else(|| choice.get("message"));
    if delta.is_some_and(|d| !d.is_object()) {
        return Err(not_a_chunk());
    }
    Ok((
        text(delta.and_then(|d| d.get("content"))),
        text(delta.and_then(|d| d.get("reasoning_content"))),
        text(choice.get("finish_reason")),
    ))
}

/// Sums a whole reply for the non-stream call.
#[derive(Default)]
pub struct Completion {
    pub reasoning: String,
    pub content: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub search_results: Option<serde_json::Value>,
    /// Each call, in order, as `message.tool_calls` lists it.
    tool_calls: Vec<CallJson>,
    tool_call_bytes: usize,
}

/// `{id, type: "function", function: {name, arguments}}`.
#[derive(Serialize)]
struct CallJson {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionJson,
}

#[derive(Serialize)]
struct FunctionJson {
    name: String,
    arguments: String,
}

/// What a call adds to the `chat.completion` JSON besides its id, name and arguments: a
/// reply of many tiny calls is mostly this, so it counts toward `max_reply_bytes`.
const CALL_JSON_BYTES: usize = r#"{"id":"","type":"function","function":{"name":"","arguments":""}},"#.len();

impl Completion {
    /// Adds a delta's texts, calls and finish_reason (usage is set by the caller, once).
    pub fn add(&mut self, d: Delta) {
        self.reasoning.push_str(&d.reasoning);
        self.content.push_str(&d.content);
        for call in d.tool_calls {
            self.tool_call_bytes += call.arguments.len();
            if let (Some(id), Some(name)) = (call.id, call.name) {
                self.tool_call_bytes += CALL_JSON_BYTES + id.len() + name.len();
                let function = FunctionJson { name, arguments: call.arguments };
                self.tool_calls.push(CallJson { id, kind: "function", function });
            } else if let Some(c) = self.tool_calls.get_mut(call.index) {
                c.function.arguments.push_str(&call.arguments);
            }
        }
        if d.finish_reason.is_some() {
            self.finish_reason = d.finish_reason;
        }
        if d.search_results.is_some() {
            self.search_results = d.search_results;
        }
    }

    /// What the completion holds, in bytes: content, reasoning, and each call as it is
    /// written in the JSON (id, name, arguments and the keys around them).
    pub fn bytes(&self) -> usize {
        self.content.len() + self.reasoning.len() + self.tool_call_bytes
    }

    /// `chat.completion` JSON; `reasoning_content` is null when the model did not think;
    /// `tool_calls` is present only when the model made calls, and then `content` is null
    /// unless there was text (not only whitespace) around them; `search_results` (a USTB
    /// extension) is present only when the server sent some. Written straight from the
    /// completion, without a copy of it.
    pub fn to_json(&self, id: &str, created: u64, model: &str) -> String {
        let calls = !self.tool_calls.is_empty();
        let message = MessageJson {
            role: "assistant",
            content: if calls && self.content.trim().is_empty() { None } else { Some(&self.content) },
            reasoning_content: if self.reasoning.is_empty() { None } else { Some(&self.reasoning) },
            refusal: None,
            tool_calls: &self.tool_calls,
        };
        let finish_reason = self.finish_reason.as_deref().unwrap_or("stop");
        let json = CompletionJson {
            id,
            object: "chat.completion",
            created,
            model,
            system_fingerprint: None,
            choices: [ChoiceJson { index: 0, message, logprobs: None, finish_reason }],
            usage: self.usage,
            search_results: self.search_results.as_ref(),
        };
        serde_json::to_string(&json).expect("writing JSON into memory cannot fail")
    }
}

/// `chat.completion`, keys in openai-python's order.
#[derive(Serialize)]
struct CompletionJson<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: Option<()>,
    choices: [ChoiceJson<'a>; 1],
    usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search_results: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct ChoiceJson<'a> {
    index: u32,
    message: MessageJson<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct MessageJson<'a> {
    role: &'static str,
    content: Option<&'a str>,
    reasoning_content: Option<&'a str>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [CallJson],
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn delta(r: &str, c: &str, f: Option<&str>) -> Delta {
        Delta { reasoning: r.into(), content: c.into(), finish_reason: f.map(Into::into), ..Delta::default() }
    }

    /// The hand-written chunks equal serde_json's rendering of the same object, key order too.
    #[test]
    fn chunks_are_exactly_what_serde_json_would_write() {
        use serde_json::json;
        for include_usage in [false, true] {
            let mut w = ChunkWriter::new("Deep\"Seek", include_usage);
            let (id, created) = (w.id().to_string(), w.created());
            let head = |choices: Value| {
                json!({"id": id, "object": "chat.completion.chunk", "created": created,
                       "model": "Deep\"Seek", "system_fingerprint": null, "choices": choices})
            };
            let mut search = delta("", "", None);
            search.search_results = Some(json!([{"title": "t", "url": "u", "content": "c"}]));
            let call = |id: Option<&str>, name: Option<&str>, args: &str| {
                let mut d = delta("", "", None);
                d.tool_calls = vec![ToolCallDelta {
                    index: 1,
                    id: id.map(Into::into),
                    name: name.map(Into::into),
                    arguments: args.into(),
                }];
                d
            };
            let cases = [
                (
                    delta("想\n\u{1}", "", None),
                    json!({"role": "assistant", "content": "", "reasoning_content": "想\n\u{1}"}),
                    Value::Null,
                ),
                (delta("", "答\"", None), json!({"content": "答\""}), Value::Null),
                (delta("", "", Some("stop")), json!({}), json!("stop")),
                (search, json!({}), Value::Null),
                (
                    call(Some("call_1"), Some("f\""), ""),
                    json!({"tool_calls": [{"index": 1, "id": "call_1", "type": "function",
                                           "function": {"name": "f\"", "arguments": ""}}]}),
                    Value::Null,
                ),
                (
                    call(None, None, "{\"a\": \"北\"}"),
                    json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"a\": \"北\"}"}}]}),
                    Value::Null,
                ),
            ];
            for (i, (d, expected_delta, finish)) in cases.into_iter().enumerate() {
                let mut expected =
                    head(json!([{"index": 0, "delta": expected_delta, "logprobs": null, "finish_reason": finish}]));
                if include_usage {
                    expected["usage"] = Value::Null;
                }
                if let Some(results) = &d.search_results {
                    expected["search_results"] = results.clone();
                }
                assert_eq!(w.delta_chunk(&d).unwrap(), expected.to_string(), "case {i}");
            }
            let usage = Usage { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
            let mut expected = head(json!([]));
            expected["usage"] = json!(usage);
            assert_eq!(w.usage_chunk(Some(usage)), include_usage.then(|| expected.to_string()));
        }
    }

    #[test]
    fn chunks_share_id_and_created_and_role_comes_first() {
        let mut w = ChunkWriter::new("DeepSeek", true);
        let a: Value = serde_json::from_str(&w.delta_chunk(&delta("想", "", None)).unwrap()).unwrap();
        let b: Value = serde_json::from_str(&w.delta_chunk(&delta("", "答", None)).unwrap()).unwrap();
        let c: Value = serde_json::from_str(&w.delta_chunk(&delta("", "", Some("stop"))).unwrap()).unwrap();
        let usage = Usage { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
        let u: Value = serde_json::from_str(&w.usage_chunk(Some(usage)).unwrap()).unwrap();
        assert!(w.delta_chunk(&Delta::default()).is_none());
        for v in [&a, &b, &c, &u] {
            assert_eq!(v["id"], a["id"]);
            assert_eq!(v["created"], a["created"]);
            assert_eq!(v["object"], "chat.completion.chunk");
            assert_eq!(v["model"], "DeepSeek");
        }
        assert!(a["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(
            a["choices"][0]["delta"],
            serde_json::json!({"role":"assistant","content":"","reasoning_content":"想"})
        );
        assert_eq!(b["choices"][0]["delta"], serde_json::json!({"content":"答"}));
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        assert_eq!(c["choices"][0]["logprobs"], Value::Null);
        assert_eq!(b["usage"], Value::Null);
        assert_eq!(u["choices"], serde_json::json!([]));
        assert_eq!(u["usage"]["total_tokens"], 3);
    }

    #[test]
    fn no_usage_field_unless_asked() {
        let mut w = ChunkWriter::new("DeepSeek", false);
        let a: Value = serde_json::from_str(&w.delta_chunk(&delta("", "x", None)).unwrap()).unwrap();
        assert!(a.get("usage").is_none());
        assert!(w.usage_chunk(Some(Usage::default())).is_none());
    }

    #[test]
    fn chunk_delta_reads_back_what_was_written() {
        let mut w = ChunkWriter::new("DeepSeek", true);
        let chunk = w.delta_chunk(&delta("想", "答\"", Some("stop"))).unwrap();
        let got = chunk_delta(&chunk).unwrap();
        assert_eq!(got, (Some("答\"".into()), Some("想".into()), Some("stop".into())));
        let usage = w.usage_chunk(Some(Usage::default())).unwrap();
        assert_eq!(chunk_delta(&usage).unwrap(), (None, None, None));
        assert!(chunk_delta("{").is_err());
        assert!(chunk_delta(r#"{"choices":[1]}"#).is_err());
        assert!(chunk_delta(r#"{"choices":[{"delta":"x"}]}"#).is_err());
        assert!(chunk_delta("{}").is_err());
    }

    #[test]
    fn completion_json() {
        let mut c = Completion::default();
        c.add(delta("想", "答", None));
        c.add(delta("", "案", Some("stop")));
        let v: Value = serde_json::from_str(&c.to_json("chatcmpl-x", 5, "DeepSeek")).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "答案");
        assert_eq!(v["choices"][0]["message"]["reasoning_content"], "想");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"], Value::Null);
        assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    }

    #[test]
    fn completion_with_tool_calls() {
        let call = |index, id: Option<&str>, args: &str| Delta {
            tool_calls: vec![ToolCallDelta {
                index,
                id: id.map(Into::into),
                name: id.map(|_| "f".into()),
                arguments: args.into(),
            }],
            ..Delta::default()
        };
        let mut c = Completion::default();
        c.add(call(0, Some("call_a"), ""));
        c.add(call(0, None, "{\"x\""));
        c.add(call(0, None, ":1}"));
        c.add(call(1, Some("call_b"), ""));
        c.add(call(1, None, "raw"));
        c.add(delta("", "\n", Some("tool_calls")));
        // Each call counts as it is written: its id, name, arguments and the keys around them.
        assert_eq!(c.bytes(), 2 * (CALL_JSON_BYTES + "call_a".len() + "f".len()) + 10 + 1);
        let v: Value = serde_json::from_str(&c.to_json("chatcmpl-x", 5, "DeepSeek")).unwrap();
        let message = &v["choices"][0]["message"];
        assert_eq!(message["content"], Value::Null);
        assert_eq!(
            message["tool_calls"],
            serde_json::json!([
                {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                {"id": "call_b", "type": "function", "function": {"name": "f", "arguments": "raw"}},
            ])
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        c.add(delta("", "text", None));
        let v: Value = serde_json::from_str(&c.to_json("chatcmpl-x", 5, "DeepSeek")).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "\ntext");
    }

    fn first_call(index: usize, id: &str) -> Delta {
        let call = ToolCallDelta { index, id: Some(id.into()), name: Some("f".into()), arguments: String::new() };
        Delta { tool_calls: vec![call], ..Delta::default() }
    }

    fn arguments(index: usize, args: &str) -> Delta {
        let call = ToolCallDelta { index, id: None, name: None, arguments: args.into() };
        Delta { tool_calls: vec![call], ..Delta::default() }
    }

    #[test]
    fn completion_json_is_what_serde_json_would_write() {
        use serde_json::json;
        let mut c = Completion::default();
        c.add(delta("想\u{1}", "答\"", None));
        c.add(first_call(0, "call_a"));
        c.add(arguments(0, "{\"a\":\"北\"}"));
        c.add(delta("", "", Some("tool_calls")));
        c.usage = Some(Usage { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
        c.search_results = Some(json!([{"title": "t"}]));
        let expected = json!({
            "id": "chatcmpl-x", "object": "chat.completion", "created": 5, "model": "Deep\"Seek",
            "system_fingerprint": null,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "答\"", "reasoning_content": "想\u{1}",
                "refusal": null, "tool_calls": [{"id": "call_a", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":\"北\"}"}}]}, "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            "search_results": [{"title": "t"}],
        });
        assert_eq!(c.to_json("chatcmpl-x", 5, "Deep\"Seek"), expected.to_string());
    }

    #[test]
    fn many_tiny_calls_count_what_their_json_costs() {
        // 342k calls of `{}` counted 3 bytes each: under a 1 MiB `max_reply_bytes`, a 33 MB
        // JSON (and 779 MB held to write it). Now the count covers the JSON.
        let mut c = Completion::default();
        for i in 0..1000 {
            c.add(first_call(i, &format!("call_{}", crate::util::random_hex(24))));
            c.add(arguments(i, "{}"));
        }
        let json = c.to_json("chatcmpl-x", 5, "DeepSeek");
        assert!(json.len() <= c.bytes() + 300, "{} bytes of JSON, {} counted", json.len(), c.bytes());
    }
}
