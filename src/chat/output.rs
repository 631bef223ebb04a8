//! Deltas → OpenAI `chat.completion.chunk` JSON, and the aggregate `chat.completion`.

use serde::Serialize;

use super::decode::{Delta, Usage};

/// Writes the chunks of one stream: same id and created throughout, `role` in the first delta,
/// and (with `include_usage`) one last chunk with `"choices": []` and the usage.
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    role_sent: bool,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: Option<&'a str>,
    choices: &'a [ChunkChoice<'a>],
    /// Present only when `include_usage` asked for it: null until the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
    /// USTB extension: web search results, in the chunk that brings them.
    #[serde(skip_serializing_if = "Option::is_none")]
    search_results: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: ChunkDelta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct ChunkDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
}

impl ChunkWriter {
    pub fn new(model: &str, include_usage: bool) -> ChunkWriter {
        ChunkWriter {
            id: format!("chatcmpl-{}", crate::util::random_hex(29)),
            created: crate::util::unix_secs(),
            model: model.to_string(),
            include_usage,
            role_sent: false,
        }
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
    pub fn delta_chunk(&mut self, d: &Delta) -> Option<String> {
        let mut out = Vec::new();
        self.delta_chunk_into(d, &mut out).then(|| into_string(out))
    }

    /// `delta_chunk` written into `out` (cleared first); false when there is no chunk.
    pub fn delta_chunk_into(&mut self, d: &Delta, out: &mut Vec<u8>) -> bool {
        out.clear();
        if d.reasoning.is_empty() && d.content.is_empty() && d.finish_reason.is_none() && d.search_results.is_none() {
            return false;
        }
        let role = (!self.role_sent).then_some("assistant");
        self.role_sent = true;
        let delta = ChunkDelta {
            role,
            // OpenAI's first delta has `"content": ""`; later ones only what they carry.
            content: if d.content.is_empty() && role.is_none() { None } else { Some(d.content.as_str()) },
            reasoning_content: (!d.reasoning.is_empty()).then_some(d.reasoning.as_str()),
        };
        let choice = ChunkChoice { index: 0, delta, logprobs: None, finish_reason: d.finish_reason.as_deref() };
        self.render(out, std::slice::from_ref(&choice), None, d.search_results.as_ref());
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
                self.render(out, &[], Some(u), None);
                true
            }
            _ => false,
        }
    }

    fn render<'a>(
        &'a self,
        out: &mut Vec<u8>,
        choices: &'a [ChunkChoice<'a>],
        usage: Option<Usage>,
        search_results: Option<&'a serde_json::Value>,
    ) {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: None,
            choices,
            usage: self.include_usage.then_some(usage),
            search_results,
        };
        serde_json::to_writer(out, &chunk).expect("chunk serialises");
    }
}

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
}

impl Completion {
    /// Adds a delta's texts and finish_reason (usage is set by the caller, once).
    pub fn add(&mut self, d: Delta) {
        self.reasoning.push_str(&d.reasoning);
        self.content.push_str(&d.content);
        if d.finish_reason.is_some() {
            self.finish_reason = d.finish_reason;
        }
        if d.search_results.is_some() {
            self.search_results = d.search_results;
        }
    }

    /// `chat.completion` JSON; `reasoning_content` is null when the model did not think;
    /// `search_results` (a USTB extension) is present only when the server sent some.
    pub fn to_json(&self, id: &str, created: u64, model: &str) -> String {
        let mut v = serde_json::json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": null,
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": self.content,
                    "reasoning_content": if self.reasoning.is_empty() { None } else { Some(&self.reasoning) },
                    "refusal": null,
                },
                "logprobs": null,
                "finish_reason": self.finish_reason.as_deref().unwrap_or("stop"),
            }],
            "usage": self.usage,
        });
        if let Some(results) = &self.search_results {
            v["search_results"] = results.clone();
        }
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn delta(r: &str, c: &str, f: Option<&str>) -> Delta {
        Delta { reasoning: r.into(), content: c.into(), finish_reason: f.map(Into::into), ..Delta::default() }
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
    }
}
