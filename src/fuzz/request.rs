//! The request normaliser: random OpenAI requests never panic; each is refused as
//! InvalidArgument/InvalidRequest or becomes a form PROTOCOL.md section 2 allows (history
//! alternates user/assistant and ends with assistant; the newest user text is `content`).

use serde_json::{json, Map, Value};

use super::{mutate_str, run, text, Rng};
use crate::chat::request::{parse, Defaults, Role, UpstreamRequest};
use crate::error::ErrorKind;
use crate::limits::MAX_CONTEXT_CHARS;

fn any_scalar(rng: &mut Rng) -> Value {
    rng.pick(&[
        Value::Null,
        json!(true),
        json!(0),
        json!(-3),
        json!(7),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!("7"),
        json!("x"),
        json!([]),
        json!({}),
    ])
    .clone()
}

/// `odd`: also values the normaliser must refuse; otherwise only well-formed ones.
fn role(rng: &mut Rng, odd: bool) -> Value {
    match rng.below(20) {
        0 if odd => any_scalar(rng),
        1 if odd => json!(*rng.pick(&["wizard", "", "User"])),
        0 | 1 => json!(*rng.pick(&["function", "developer"])),
        2 | 3 => json!("system"),
        4 | 5 => json!("tool"),
        6..=12 => json!("user"),
        _ => json!("assistant"),
    }
}

fn part(rng: &mut Rng, odd: bool) -> Value {
    match rng.below(12) {
        0 if odd => json!({ "type": "image_url", "image_url": { "url": "http://x/a.png" } }),
        1 => json!({ "type": "refusal", "refusal": text(rng, 5) }),
        2 if odd => json!({ "text": text(rng, 5) }),
        3 if odd => json!({ "type": "text", "text": any_scalar(rng) }),
        4 if odd => any_scalar(rng),
        5 => json!({ "type": "input_text", "text": text(rng, 10) }),
        _ => json!({ "type": "text", "text": text(rng, 10) }),
    }
}

fn content(rng: &mut Rng, odd: bool) -> Option<Value> {
    match rng.below(12) {
        0 => None,
        1 => Some(Value::Null),
        2 if odd => Some(any_scalar(rng)),
        3 | 4 => Some(Value::Array((0..rng.size(4)).map(|_| part(rng, odd)).collect())),
        5 => Some(json!(*rng.pick(&["", " ", "\n\t "]))),
        _ => Some(json!(text(rng, 20))),
    }
}

fn message(rng: &mut Rng, i: usize, odd: bool) -> Value {
    if odd && rng.one_in(40) {
        return any_scalar(rng);
    }
    let mut m = Map::new();
    if !(odd && rng.one_in(40)) {
        m.insert("role".into(), role(rng, odd));
    }
    if let Some(c) = content(rng, odd) {
        m.insert("content".into(), c);
    }
    if rng.one_in(4) {
        let calls = json!([{ "id": format!("c{i}"), "type": "function", "function": { "name": text(rng, 6), "arguments": "{}" } }]);
        m.insert("tool_calls".into(), if odd && rng.one_in(5) { any_scalar(rng) } else { calls });
    }
    if rng.one_in(3) {
        let id = if odd && rng.one_in(5) { any_scalar(rng) } else { json!(format!("c{}", rng.below(i + 1))) };
        m.insert("tool_call_id".into(), id);
    }
    if rng.one_in(6) {
        m.insert("name".into(), if odd && rng.one_in(3) { any_scalar(rng) } else { json!(text(rng, 6)) });
    }
    Value::Object(m)
}

fn request(rng: &mut Rng) -> Value {
    let odd = rng.one_in(2);
    let mut r = Map::new();
    let messages = match rng.below(30) {
        0 if odd => Some(any_scalar(rng)),
        1 if odd => None,
        _ => Some(Value::Array((0..rng.size(24)).map(|i| message(rng, i, odd)).collect())),
    };
    if let Some(m) = messages {
        r.insert("messages".into(), m);
    }
    let fields = [
        "model",
        "compose_id",
        "stream_options",
        "thinking_budget",
        "deep_thinking",
        "web_search",
        "stream",
        "temperature",
        "tools",
    ];
    if rng.one_in(4) {
        // Function calling: well-formed tools, a choice that may name a missing one.
        let tool =
            |name: &str| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}});
        r.insert("tools".into(), json!([tool("f"), tool("g_2")]));
        let choice = rng.pick(&["auto", "none", "required", "f", "h"]).to_string();
        let choice = match choice.as_str() {
            "f" | "h" => json!({"type": "function", "function": {"name": choice}}),
            _ => json!(choice),
        };
        r.insert("tool_choice".into(), choice);
    }
    for _ in 0..rng.size(if odd { 5 } else { 0 }) {
        let key = rng.pick(&fields).to_string();
        let value = match (key.as_str(), rng.below(3)) {
            ("stream_options", 0) => json!({ "include_usage": any_scalar(rng) }),
            ("model", 0) => json!(*rng.pick(&["deepseek-r1", "DeepSeek", "Qwen", " "])),
            (_, 1) => json!(rng.one_in(2)),
            _ => any_scalar(rng),
        };
        r.insert(key, value);
    }
    Value::Object(r)
}

/// The normalised form obeys the upstream rules.
fn check_form(r: &UpstreamRequest, original: &Value) {
    for (i, (role, text)) in r.history.iter().enumerate() {
        let want = if i % 2 == 0 { Role::User } else { Role::Assistant };
        assert_eq!(*role, want, "history[{i}] breaks the user/assistant alternation: {:?}", r.history);
        assert!(!text.trim().is_empty(), "history[{i}] is empty");
    }
    assert!(r.history.len() % 2 == 0, "history must end with assistant: {:?}", r.history);
    assert!(!r.content.trim().is_empty(), "content is empty");
    let chars = r.content.chars().count() + r.history.iter().map(|(_, t)| t.chars().count()).sum::<usize>();
    // System texts are joined with separators, so allow a little slack over the checked total.
    assert!(chars < MAX_CONTEXT_CHARS + 1000, "{chars} characters passed the limit");
    assert!(r.compose_id.parse::<u64>().is_ok_and(|n| n > 0), "compose_id {:?}", r.compose_id);
    assert!(!r.model_name.trim().is_empty());
    assert_eq!(r.form_fields().len(), 8 + 2 * r.history.len());
    // The newest message, when it is a plain user text, ends the content.
    let last = original["messages"].as_array().and_then(|m| m.last());
    if let Some(Value::String(t)) = last.filter(|m| m["role"] == "user").map(|m| &m["content"]) {
        if !t.trim().is_empty() {
            assert!(
                r.content.ends_with(t.as_str()),
                "content {:?} does not end with the last user text {t:?}",
                r.content
            );
        }
    }
}

/// Checks one request; true if it was accepted.
fn check(json_text: &str, original: &Value) -> bool {
    let defaults = Defaults { compose_id: "3".into(), model: "DeepSeek".into() };
    match parse(json_text, &defaults) {
        Ok(r) => {
            check_form(&r, original);
            true
        }
        Err(e) => {
            assert!(matches!(e.kind, ErrorKind::InvalidArgument | ErrorKind::InvalidRequest), "{e:?}");
            false
        }
    }
}

#[test]
fn request_normaliser() {
    let mut accepted = 0;
    let n = run("request", 8000, |rng| {
        let req = request(rng);
        let raw = req.to_string();
        let ok = match rng.below(8) {
            0 => check(&mutate_str(rng, &raw), &Value::Null),
            1 if rng.one_in(50) => {
                // Deep nesting and a context at the limit: refused, not a stack overflow or a hang.
                let depth = 1000 + rng.below(100_000);
                check(&format!("{{\"messages\":{}{}}}", "[".repeat(depth), "]".repeat(depth)), &Value::Null);
                let long = "字".repeat(MAX_CONTEXT_CHARS - 2 + rng.below(4));
                let big = json!({ "messages": [{ "role": "user", "content": long }] });
                check(&big.to_string(), &big)
            }
            _ => check(&raw, &req),
        };
        accepted += ok as u64;
    });
    // The generator must reach both outcomes, or the alternation check proves little.
    println!("fuzz request: {accepted} of {n} accepted");
    assert!(accepted > n / 10 && accepted < n * 9 / 10, "{accepted} of {n} accepted");
}
