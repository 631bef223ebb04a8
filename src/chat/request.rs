//! OpenAI chat-completions JSON → the upstream form (docs/PROTOCOL.md section 3, "Chat request").
//!
//! Upstream knows only `user` and `assistant` turns that alternate and end with the newest user
//! text, so: system/developer texts are joined and put before that text; content parts are
//! flattened; a `tool` result becomes a user turn and an assistant's `tool_calls` its markup
//! (`chat::tools`, which also adds the tool-use instruction to the system texts); empty turns and
//! leading assistant turns are dropped; same-role neighbours are merged. Whatever cannot be made
//! to fit is refused here, before any network traffic.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::tools::{self, ToolSpec};
use crate::error::{Error, Result};

#[cfg(test)]
use crate::limits::MAX_TOOLS;
use crate::limits::{MAX_CONTEXT_CHARS, MAX_REQUEST_BYTES};
use crate::upstream::envelope::excerpt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// What the client fills in when the request does not say.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub compose_id: String,
    pub model: String,
}

/// A request ready for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    /// The newest user text, with any system text before it.
    pub content: String,
    /// Earlier turns, oldest first: user, assistant, user, …, assistant.
    pub history: Vec<(Role, String)>,
    pub compose_id: String,
    pub model_name: String,
    pub deep_thinking: bool,
    pub web_search: bool,
    pub thinking_budget: u32,
    pub include_usage: bool,
    /// The request has tools (and `tool_choice` is not `none`): the reply's content is searched
    /// for calls.
    pub parse_tool_calls: bool,
    /// The declared tool names: the only calls the reply side recognises.
    pub tool_names: Vec<String>,
    /// The calls earlier assistant messages made, as markup: a call the reasoning merely
    /// recalls is not made again.
    pub history_calls: String,
}

impl UpstreamRequest {
    /// The multipart fields, in the order the web page sends them; `chat_only_id` is fresh.
    pub fn form_fields(&self) -> Vec<(String, String)> {
        let mut f = Vec::with_capacity(8 + 2 * self.history.len());
        f.push(("content".to_string(), self.content.clone()));
        for (i, (role, text)) in self.history.iter().enumerate() {
            f.push((format!("history[{i}][role]"), role.as_str().to_string()));
            f.push((format!("history[{i}][content]"), text.clone()));
        }
        let switch = |on: bool| if on { "1" } else { "2" }.to_string();
        f.push(("compose_id".into(), self.compose_id.clone()));
        f.push(("model_name".into(), self.model_name.clone()));
        f.push(("deep_search".into(), switch(self.deep_thinking)));
        f.push(("internet_search".into(), switch(self.web_search)));
        f.push(("thinking_budget".into(), self.thinking_budget.to_string()));
        f.push(("chat_only_id".into(), chat_only_id()));
        f.push(("auth_tag".into(), String::new()));
        f
    }
}

/// 32 hex digits of a random (v4-style) UUID followed by milliseconds since the epoch.
pub fn chat_only_id() -> String {
    format!("{}{}", crate::util::random_hex(32), crate::util::unix_millis())
}

/// Maps OpenAI-style model names onto the upstream's; other names pass through unchanged.
pub fn upstream_model(name: &str) -> &str {
    match name.to_ascii_lowercase().as_str() {
        "deepseek-r1" | "deepseek-chat" | "deepseek-reasoner" | "deepseek" => "DeepSeek",
        _ => name,
    }
}

/// Parses and normalises a chat-completions request.
pub fn parse(json: &str, defaults: &Defaults) -> Result<UpstreamRequest> {
    if json.len() > MAX_REQUEST_BYTES {
        return Err(Error::invalid_request(format!(
            "the request JSON is {} bytes; at most {MAX_REQUEST_BYTES} are accepted",
            json.len()
        )));
    }
    let Some(req) = super::request_json::parse_object(json)? else {
        return Err(Error::invalid_request("request must be a JSON object"));
    };
    let tools = ToolSpec::parse(&req)?;
    let instruction = tools.as_ref().and_then(ToolSpec::instruction);
    let (content, history) = normalise(messages(&req)?, instruction)?;

    let model = match req.get("model") {
        None | Some(Value::Null) => defaults.model.clone(),
        Some(Value::String(s)) if !s.trim().is_empty() => upstream_model(s.trim()).to_string(),
        Some(_) => return Err(Error::invalid_request("\"model\" must be a non-empty string")),
    };
    let compose_id = match req.get("compose_id") {
        None | Some(Value::Null) => defaults.compose_id.clone(),
        Some(v) => compose_id(v)?,
    };
    let include_usage = match req.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => opt_bool(o, "include_usage", "stream_options.include_usage")?.unwrap_or(false),
        Some(_) => return Err(Error::invalid_request("\"stream_options\" must be an object")),
    };
    let thinking_budget = match req.get("thinking_budget") {
        None | Some(Value::Null) => 1000,
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= u32::MAX as u64)
            .ok_or_else(|| Error::invalid_request("\"thinking_budget\" must be a non-negative integer"))?
            as u32,
    };
    Ok(UpstreamRequest {
        content,
        history,
        compose_id,
        model_name: model,
        deep_thinking: opt_bool(&req, "deep_thinking", "deep_thinking")?.unwrap_or(true),
        web_search: opt_bool(&req, "web_search", "web_search")?.unwrap_or(false),
        thinking_budget,
        include_usage,
        parse_tool_calls: tools.as_ref().is_some_and(|t| t.parses_calls()),
        tool_names: tools.map(|t| t.names).unwrap_or_default(),
        history_calls: history_calls(&req),
    })
}

/// Accepts `3` or `"3"`: ids are small positive integers upstream.
pub fn compose_id(v: &Value) -> Result<String> {
    let id = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match id {
        Some(id) if id > 0 => Ok(id.to_string()),
        _ => Err(Error::invalid_request("\"compose_id\" must be a positive integer")),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str, label: &str) -> Result<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Error::invalid_request(format!("\"{label}\" must be true or false"))),
    }
}

/// The markup of every call the history's assistant messages made (checked by `messages`).
fn history_calls(req: &Map<String, Value>) -> String {
    let list = req.get("messages").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let assistant = |m: &&Map<String, Value>| m.get("role").and_then(Value::as_str) == Some("assistant");
    let calls = list.iter().enumerate().filter_map(|(i, m)| Some((i, m.as_object()?))).filter(|(_, m)| assistant(m));
    calls.filter_map(|(i, m)| tools::render_calls(m, i).ok()).collect::<Vec<_>>().join("\n")
}

/// One message reduced to an upstream role (None = system) and its text.
type Turn = (Option<Role>, String);

fn messages(req: &Map<String, Value>) -> Result<Vec<Turn>> {
    let list = match req.get("messages") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => return Err(Error::invalid_request("\"messages\" is empty")),
        Some(_) => return Err(Error::invalid_request("\"messages\" must be an array")),
        None => return Err(Error::invalid_request("\"messages\" is missing")),
    };
    let mut turns = Vec::with_capacity(list.len());
    let mut total_chars = 0usize;
    let mut seen_user = false;
    let mut tool_names: Option<HashMap<&str, &str>> = None;
    for (i, msg) in list.iter().enumerate() {
        let Value::Object(msg) = msg else {
            return Err(Error::invalid_request(format!("messages[{i}] must be an object")));
        };
        let role = match msg.get("role") {
            Some(Value::String(r)) => r.as_str(),
            _ => return Err(Error::invalid_request(format!("messages[{i}].role must be a string"))),
        };
        let text = flatten(msg.get("content"), i)?;
        let turn = match role {
            "system" | "developer" => (None, text),
            "user" => (Some(Role::User), text),
            "assistant" => {
                let calls = tools::render_calls(msg, i)?;
                let text = match (text.trim().is_empty(), calls.is_empty()) {
                    (_, true) => text,
                    (true, false) => calls,
                    (false, false) => format!("{}\n{calls}", text.trim_end()),
                };
                (Some(Role::Assistant), text)
            }
            "tool" | "function" => {
                let names = tool_names.get_or_insert_with(|| tool_call_names(list));
                (Some(Role::User), tool_result(msg, names, &text))
            }
            other => {
                return Err(Error::invalid_request(format!(
                    "messages[{i}].role {} is not one of system, developer, user, assistant, tool",
                    excerpt(other)
                )))
            }
        };
        // Checked as the texts are read, so an oversized request fails before more work.
        // Assistant turns before the first user turn are dropped later: not counted.
        seen_user |= turn.0 == Some(Role::User);
        let dropped = turn.0 == Some(Role::Assistant) && !seen_user;
        if !dropped && !turn.1.trim().is_empty() {
            total_chars += turn.1.chars().count();
            if total_chars >= MAX_CONTEXT_CHARS {
                return Err(Error::invalid_request(format!(
                    "the conversation has at least {total_chars} characters; the server refuses {MAX_CONTEXT_CHARS} or more"
                )));
            }
        }
        turns.push(turn);
    }
    Ok(turns)
}

/// Tool call id → function name, over every assistant message's `tool_calls`.
fn tool_call_names(all: &[Value]) -> HashMap<&str, &str> {
    all.iter()
        .filter_map(|m| m.get("tool_calls")?.as_array())
        .flatten()
        .filter_map(|c| Some((c.get("id")?.as_str()?, c.get("function")?.get("name")?.as_str()?)))
        .collect()
}

/// A string, null, or a list of `{"type":"text","text":…}` parts (joined with "\n").
fn flatten(content: Option<&Value>, i: usize) -> Result<String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str);
                match (kind, part.get("text")) {
                    (Some("text") | Some("input_text"), Some(Value::String(t))) => texts.push(t.as_str()),
                    (Some(kind @ ("text" | "input_text")), _) => {
                        return Err(Error::invalid_request(format!(
                            "messages[{i}].content[{j}] of type {} needs a string \"text\"",
                            excerpt(kind)
                        )))
                    }
                    (Some("refusal"), _) => {}
                    (Some(kind), _) => {
                        return Err(Error::invalid_request(format!(
                            "messages[{i}].content[{j}] is of type {}; this server accepts text only",
                            excerpt(kind)
                        )))
                    }
                    (None, _) => {
                        return Err(Error::invalid_request(format!("messages[{i}].content[{j}] has no \"type\"")))
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        Some(_) => {
            Err(Error::invalid_request(format!("messages[{i}].content must be a string, null or a list of parts")))
        }
    }
}

/// `[工具 NAME 执行结果]\n…`, naming the tool by `name`, or by the assistant tool call the
/// result answers (`tool_call_id`), else by the id itself.
fn tool_result(msg: &Map<String, Value>, names: &HashMap<&str, &str>, text: &str) -> String {
    let call_id = msg.get("tool_call_id").and_then(Value::as_str);
    let by_call = call_id.and_then(|id| names.get(id).copied());
    let name = msg.get("name").and_then(Value::as_str).or(by_call).or(call_id).unwrap_or("tool");
    format!("{}\n{text}", tools::result_label(name))
}

/// `instruction` (the tool-use text) goes after the request's own system texts.
fn normalise(turns: Vec<Turn>, instruction: Option<String>) -> Result<(String, Vec<(Role, String)>)> {
    let mut systems: Vec<String> = Vec::new();
    let mut merged: Vec<(Role, String)> = Vec::new();
    for (role, text) in turns {
        if text.trim().is_empty() {
            continue;
        }
        match role {
            None => systems.push(text),
            Some(role) => match merged.last_mut() {
                Some((last, prev)) if *last == role => {
                    prev.push('\n');
                    prev.push_str(&text);
                }
                None if role == Role::Assistant => {} // nothing before it to answer
                _ => merged.push((role, text)),
            },
        }
    }
    systems.extend(instruction);
    let Some((last_role, last_text)) = merged.pop() else {
        return Err(Error::invalid_request("the conversation has no user message with text"));
    };
    if last_role != Role::User {
        return Err(Error::invalid_request(
            "the last message must be from the user (the server answers only a user turn)",
        ));
    }
    let content = if systems.is_empty() { last_text } else { format!("{}\n\n{}", systems.join("\n"), last_text) };
    // Exactly what the server counts: the texts as sent, with the separators merging added.
    let sent = content.chars().count() + merged.iter().map(|(_, t)| t.chars().count()).sum::<usize>();
    if sent >= MAX_CONTEXT_CHARS {
        return Err(Error::invalid_request(format!(
            "the conversation is {sent} characters as sent; the server refuses {MAX_CONTEXT_CHARS} or more"
        )));
    }
    Ok((content, merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn defaults() -> Defaults {
        Defaults { compose_id: "3".into(), model: "DeepSeek".into() }
    }

    fn norm(messages: Value) -> Result<UpstreamRequest> {
        parse(&json!({ "model": "deepseek-r1", "messages": messages }).to_string(), &defaults())
    }

    fn hist(r: &UpstreamRequest) -> Vec<(&str, &str)> {
        r.history.iter().map(|(role, t)| (role.as_str(), t.as_str())).collect()
    }

    #[test]
    fn single_user_message() {
        let r = norm(json!([{ "role": "user", "content": "请介绍你自己。" }])).unwrap();
        assert_eq!(r.content, "请介绍你自己。");
        assert!(r.history.is_empty());
        assert_eq!(r.model_name, "DeepSeek");
        assert_eq!(r.compose_id, "3");
        assert!(r.deep_thinking && !r.web_search && !r.include_usage);
    }

    #[test]
    fn systems_prefix_the_last_user_text() {
        let r = norm(json!([
            { "role": "system", "content": "你是助教。" },
            { "role": "developer", "content": "用中文。" },
            { "role": "user", "content": "hi" },
        ]))
        .unwrap();
        assert_eq!(r.content, "你是助教。\n用中文。\n\nhi");
    }

    #[test]
    fn merge_drop_and_alternate() {
        let r = norm(json!([
            { "role": "assistant", "content": "欢迎" },
            { "role": "user", "content": "a" },
            { "role": "user", "content": "" },
            { "role": "user", "content": "b" },
            { "role": "assistant", "content": "c" },
            { "role": "assistant", "content": "d" },
            { "role": "user", "content": "e" },
        ]))
        .unwrap();
        assert_eq!(hist(&r), [("user", "a\nb"), ("assistant", "c\nd")]);
        assert_eq!(r.content, "e");
    }

    #[test]
    fn parts_are_flattened_and_tools_become_user_text() {
        let r = norm(json!([
            { "role": "user", "content": [{ "type": "text", "text": "几点" }, { "type": "text", "text": "了" }] },
            { "role": "assistant", "content": null,
              "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "clock", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": "c1", "content": "12:00" },
        ]))
        .unwrap();
        // The assistant turn shows the call as the model would have written it.
        assert_eq!(
            hist(&r),
            [("user", "几点\n了"), ("assistant", "<tool_call>{\"name\":\"clock\",\"arguments\":{}}</tool_call>")]
        );
        assert_eq!(r.content, "[工具 clock 执行结果]\n12:00");
        assert!(!r.parse_tool_calls);
    }

    #[test]
    fn tools_add_an_instruction_after_the_system_texts() {
        let tool = json!({"type": "function", "function": {"name": "clock", "description": "现在几点"}});
        let req = |choice: Value| {
            parse(
                &json!({"messages": [{"role": "system", "content": "你是助教。"}, {"role": "user", "content": "几点了"}],
                        "tools": [tool], "tool_choice": choice})
                .to_string(),
                &defaults(),
            )
            .unwrap()
        };
        let auto = req(Value::Null);
        assert!(auto.parse_tool_calls);
        assert!(auto.content.starts_with("你是助教。\n## Tools\n"), "{}", auto.content);
        assert!(auto.content.contains("{\"name\":\"clock\",\"description\":\"现在几点\"}\n"));
        assert!(auto.content.ends_with("without the markup.\n\n几点了"), "{}", auto.content);
        let none = req(json!("none"));
        assert!(!none.parse_tool_calls);
        assert_eq!(none.content, "你是助教。\n\n几点了");
        assert!(req(json!("required")).content.contains("at least one of these tools"));
        // A bad tool is refused like any other bad request.
        let bad = json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]});
        assert_eq!(parse(&bad.to_string(), &defaults()).unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn a_two_step_tool_loop_alternates() {
        let r = norm(json!([
            { "role": "user", "content": "北京和上海天气？" },
            { "role": "assistant", "content": "我查一下。", "tool_calls": [
                { "id": "c1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"北京\"}" } },
                { "id": "c2", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"上海\"}" } }] },
            { "role": "tool", "tool_call_id": "c1", "content": "晴" },
            { "role": "tool", "tool_call_id": "c2", "content": "雨" },
        ]))
        .unwrap();
        assert_eq!(
            hist(&r),
            [
                ("user", "北京和上海天气？"),
                (
                    "assistant",
                    "我查一下。\n<tool_call>{\"name\":\"weather\",\"arguments\":{\"city\":\"北京\"}}</tool_call>\n\
                     <tool_call>{\"name\":\"weather\",\"arguments\":{\"city\":\"上海\"}}</tool_call>"
                )
            ]
        );
        assert_eq!(r.content, "[工具 weather 执行结果]\n晴\n[工具 weather 执行结果]\n雨");
        let bad = norm(json!([{ "role": "user", "content": "x" },
            { "role": "assistant", "tool_calls": [{ "function": {} }] }, { "role": "user", "content": "y" }]));
        assert_eq!(bad.unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn refusals_before_the_network() {
        let cases = [
            json!([{ "role": "assistant", "content": "x" }]),
            json!([{ "role": "user", "content": "x" }, { "role": "assistant", "content": "y" }]),
            json!([{ "role": "system", "content": "only system" }]),
            json!([{ "role": "user", "content": "   " }]),
            json!([{ "role": "wizard", "content": "x" }]),
            json!([{ "role": "user", "content": 5 }]),
            json!([{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "x" } }] }]),
            json!([]),
            json!("hello"),
        ];
        for c in cases {
            let err = norm(c.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidRequest, "{c}: {err}");
        }
        assert_eq!(parse("{not json", &defaults()).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(parse("[]", &defaults()).unwrap_err().kind, ErrorKind::InvalidRequest);
        let long = "字".repeat(MAX_CONTEXT_CHARS);
        assert_eq!(norm(json!([{ "role": "user", "content": long }])).unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn ustb_fields_and_aliases() {
        let r = parse(
            &json!({ "model": "deepseek-chat", "messages": [{ "role": "user", "content": "x" }],
                     "deep_thinking": false, "web_search": true, "thinking_budget": 64,
                     "compose_id": "7", "temperature": 0.2, "stream_options": { "include_usage": true } })
            .to_string(),
            &defaults(),
        )
        .unwrap();
        assert_eq!((r.model_name.as_str(), r.compose_id.as_str()), ("DeepSeek", "7"));
        assert!(!r.deep_thinking && r.web_search && r.include_usage);
        let fields = r.form_fields();
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("deep_search"), Some("2"));
        assert_eq!(get("internet_search"), Some("1"));
        assert_eq!(get("thinking_budget"), Some("64"));
        assert_eq!(get("auth_tag"), Some(""));
        let bad = json!({ "messages": [{ "role": "user", "content": "x" }], "web_search": "yes" });
        assert_eq!(parse(&bad.to_string(), &defaults()).unwrap_err().kind, ErrorKind::InvalidRequest);
        assert_eq!(upstream_model("Qwen"), "Qwen");
    }

    #[test]
    fn form_field_order_and_fresh_chat_only_id() {
        let r = norm(json!([
            { "role": "user", "content": "a" }, { "role": "assistant", "content": "b" }, { "role": "user", "content": "c" },
        ]))
        .unwrap();
        let names: Vec<String> = r.form_fields().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "content",
                "history[0][role]",
                "history[0][content]",
                "history[1][role]",
                "history[1][content]",
                "compose_id",
                "model_name",
                "deep_search",
                "internet_search",
                "thinking_budget",
                "chat_only_id",
                "auth_tag"
            ]
        );
        let a = chat_only_id();
        assert_ne!(a, chat_only_id());
        assert!(a.len() >= 32 + 13 && a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn many_tool_messages_are_checked_in_linear_time() {
        // 40k tool results answering 40k calls: this took minutes when each result searched
        // every message for its call. Run on a worker with a deadline far above linear cost.
        let mut messages = vec![json!({"role": "user", "content": "go"})];
        let calls: Vec<Value> = (0..40_000)
            .map(|i| json!({"id": format!("c{i}"), "type": "function", "function": {"name": "f", "arguments": "{}"}}))
            .collect();
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
        for i in 0..40_000 {
            messages.push(json!({"role": "tool", "tool_call_id": format!("c{i}"), "content": "1"}));
        }
        let body = json!({ "messages": messages }).to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(parse(&body, &defaults()).map(|r| r.content.len()));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("parse finishes (linear)");
        // 40k results of "[工具 f 执行结果]\n1" exceed the context: refused, before any traffic.
        assert_eq!(got.unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn too_many_tools_are_refused_before_the_rest_is_read() {
        let tool = |i: usize| json!({"type": "function", "function": {"name": format!("f{i}")}});
        let request = |n: usize| {
            let tools: Vec<Value> = (0..n).map(tool).collect();
            json!({"tools": tools, "messages": [{"role": "user", "content": "x"}]}).to_string()
        };
        assert!(parse(&request(MAX_TOOLS), &defaults()).unwrap().parse_tool_calls);
        // 20k tools took 0.5 s and 40k 2.3 s (each name compared with all before it), and
        // were refused only for the instruction's length.
        for n in [MAX_TOOLS + 1, 20_000] {
            let e = parse(&request(n), &defaults()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest);
            assert!(e.message.contains(&format!("at most {MAX_TOOLS}")), "{}", e.message);
        }
        // Refused at the 129th entry: what follows is never read (here it is not even JSON).
        let body = request(MAX_TOOLS + 1);
        let cut = body.find(&format!("\"f{MAX_TOOLS}\"")).unwrap() + 8;
        let e = parse(&format!("{}!!! not JSON", &body[..cut]), &defaults()).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidRequest, super::tools::too_many_tools().message.as_str())
        );
        // Other shapes still get their own messages.
        assert_eq!(parse("{\"messages\": [", &defaults()).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(parse(" [1] ", &defaults()).unwrap_err().kind, ErrorKind::InvalidRequest);
        assert_eq!(parse("[1", &defaults()).unwrap_err().kind, ErrorKind::InvalidArgument);
        let not_a_list = json!({"tools": {"a": [1]}, "messages": [{"role": "user", "content": "x"}]}).to_string();
        assert!(parse(&not_a_list, &defaults()).unwrap_err().message.contains("must be a list"));
        let null = json!({"tools": null, "messages": [{"role": "user", "content": "x"}]}).to_string();
        assert!(!parse(&null, &defaults()).unwrap().parse_tool_calls);
    }

    #[test]
    fn oversized_request_json_is_refused_before_parsing() {
        let body =
            format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}", "a".repeat(MAX_REQUEST_BYTES));
        let e = parse(&body, &defaults()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.len() < 200);
    }

    #[test]
    fn the_limit_counts_separators_as_the_server_does() {
        // 222,999 characters of text, 223,001 as sent ("\n\n" joins system and user).
        let r = norm(json!([
            {"role": "system", "content": "s".repeat(111_500)},
            {"role": "user", "content": "u".repeat(111_499)},
        ]));
        assert_eq!(r.unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn dropped_leading_assistant_turns_do_not_count_toward_the_limit() {
        let r = norm(json!([
            {"role": "assistant", "content": "a".repeat(MAX_CONTEXT_CHARS)},
            {"role": "user", "content": "u"},
        ]));
        assert_eq!(r.unwrap().content, "u");
    }
}
