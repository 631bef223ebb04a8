//! `POST /site/ai/compose_chat`: validation, the deterministic reply, and fault directives.
//!
//! Directives (`@emu:NAME` anywhere in the prompt; the reply text still echoes the prompt
//! as is). Content: moderation, answer-only, think-inline, final-e1, done, truncate, reset,
//! silent, silent-headers (silence before the head), headers-then-silent, malformed,
//! malformed-inner, sse-error (10042 in a `data:` line), sse-4028, huge-event (one ~8 MB
//! event), endless-line, long=N, tool=NAME:ARGS (a tool call in the content; several may be
//! given), tool-bare (no text before the calls), tool-form=FORM (the calls in another markup:
//! `toolforms.rs`). A prompt holding a tool result (`[工具 NAME 执行结果]` and a line break) is answered
//! from that result. Whole replies and the wire (`faults.rs`): close-before-headers,
//! http500, http502, login-page, json-4028, json-10042, redirect, gzip, echo-cookie-400,
//! echo-cookie-html, echo-cookie-sse, crlf, cr, comments, invalid-utf8, split-char,
//! byte-per-write, chunk-lie, length-short, length-long, huge-header, bad-session-cookie.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use super::events::{answer_only_events, char_ranges, d_fields, full_events, Ev, Reply};
use super::faults::{self, Wire};
use super::http::{self, Request};
use super::json::{error_envelope, ok_envelope};
use super::toolforms;
use super::util::{stable_id, unix_now};
use super::{Next, Shared};

const INTRO: &str = "你好！我是北科大 AI 助手。";
const INTRO_PROMPT: &str = "请介绍你自己。";
const REFUSAL: &str = "抱歉，我无法回答这个问题，让我们换个话题再聊聊吧";
const STALL: Duration = Duration::from_secs(60);
const MAX_LONG: usize = 16 * 1024 * 1024;
/// `@emu:huge-event` content bytes; the event carries them twice (answer and
/// original_stream), so it is about 8 MB.
const HUGE_CONTENT: usize = 4 * 1024 * 1024;

pub(crate) fn compose_chat(sh: &Shared, req: &Request, out: &TcpStream, close: bool) -> io::Result<Next> {
    let fail = |code, msg| reply_json(out, &error_envelope(code, msg), close);
    if !sh.authorized(req) {
        return fail(10042, "请登录");
    }
    let Some(form) = &req.form else {
        return fail(1, "compose_id不能为空");
    };
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let Some(compose_id) = field("compose_id") else {
        return fail(1, "compose_id不能为空");
    };
    let Some(prompt) = field("content") else {
        return fail(1, "content不能为空");
    };
    let Ok(history) = parse_history(form) else {
        return fail(4028, "history参数异常");
    };
    let context = prompt.chars().count() + history.iter().map(|c| c.chars().count()).sum::<usize>();
    if context >= sh.config.max_context_chars {
        return fail(4028, "history参数异常");
    }

    let dir = Directives::parse(prompt);
    let session = field("session_id").or_else(|| field("sess_id"));
    if let Some(reply) = faults::whole_reply(|n| dir.has(n), req, out, close) {
        return reply;
    }
    if dir.has("silent-headers") {
        sh.stall(out, STALL);
        return Ok(Next::Close);
    }
    if dir.has("headers-then-silent") {
        return faults::headers_then_silence(sh, out, STALL);
    }
    if dir.has("endless-line") {
        return faults::endless_line(sh, out);
    }
    if dir.has("moderation") {
        sh.record_chat(session, compose_id, prompt, REFUSAL);
        return reply_json(out, &ok_envelope(d_fields(REFUSAL, "", json!([]))), close);
    }

    let mut reply = build_reply(prompt, context, &dir, &field);
    let n = sh.config.chunk_chars.max(1);
    let error_event = if dir.has("sse-error") {
        Some(error_envelope(10042, "请登录").to_string())
    } else if dir.has("sse-4028") {
        Some(error_envelope(4028, "history参数异常").to_string())
    } else if dir.has("echo-cookie-sse") {
        Some(faults::echo_cookie_event(req))
    } else {
        None
    };
    let mut events = if let Some(ev) = &error_event {
        vec![Ev::Raw(ev.clone())]
    } else if dir.has("answer-only") || dir.has("final-e1") || dir.has("think-inline") {
        // think-inline carries the reasoning even with deep_search=2: it exists to test tag parsing.
        reply.plain = if dir.has("think-inline") {
            format!("<think>{}</think>{}", reply.reasoning, reply.content)
        } else {
            reply.content.clone()
        };
        answer_only_events(char_ranges(&reply.plain, n))
    } else {
        let thinking = matches!(field("deep_search"), None | Some("1"));
        let reasoning = if thinking { char_ranges(&reply.reasoning, n) } else { Vec::new() };
        let content_n = if dir.has("huge-event") { usize::MAX } else { n };
        full_events(reasoning, char_ranges(&reply.content, content_n))
    };
    if error_event.is_none() {
        sh.record_chat(session, compose_id, prompt, &reply.content);
    }
    if dir.has("final-e1") {
        events.push(Ev::Raw(error_envelope(1, "").to_string()));
    }
    let first_content = events.iter().position(Ev::carries_content).unwrap_or(0);
    if dir.has("malformed") {
        events.insert(first_content + 1, Ev::Raw(r#"{"e":0,"m":"#.to_string()));
    }
    if dir.has("malformed-inner") {
        let broken = format!(r#"{{"id": "{}", "object": "chat.completion.chunk", "#, reply.id);
        let ev = ok_envelope(d_fields("", &reply.id, json!({ "original_stream": broken })));
        events.insert(first_content + 1, Ev::Raw(ev.to_string()));
    }
    let mut end = End::Clean;
    if dir.has("silent") {
        events.truncate(1);
        end = End::Silent;
    } else if dir.has("reset") || dir.has("truncate") {
        events.truncate(first_content + 1);
        end = if dir.has("reset") { End::Reset } else { End::Clean };
    } else if dir.has("done") {
        events.push(Ev::Raw("[DONE]".to_string()));
    }
    let eol = if dir.has("crlf") {
        "\r\n"
    } else if dir.has("cr") {
        "\r"
    } else {
        "\n"
    };
    let wire = Wire::from_directives(|n| dir.has(n));
    send_stream(sh, out, &reply, &events, eol, end, close, &wire)
}

fn reply_json(out: &TcpStream, body: &Value, close: bool) -> io::Result<Next> {
    http::respond(out, 200, "application/json; charset=utf-8", &[], body.to_string().as_bytes(), close)?;
    Ok(Next::Keep)
}

/// History contents, if the `history[i][role|content]` fields are valid: i = 0,1,…
/// contiguous, roles strictly user/assistant alternating and ending with assistant, no
/// empty content.
fn parse_history(form: &[(String, String)]) -> Result<Vec<&str>, ()> {
    let mut slots: Vec<(Option<&str>, Option<&str>)> = Vec::new();
    for (name, value) in form {
        let Some(rest) = name.strip_prefix("history[") else {
            continue;
        };
        let (idx, key) = rest.split_once("][").ok_or(())?;
        let key = key.strip_suffix(']').ok_or(())?;
        if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) || (idx.len() > 1 && idx.starts_with('0')) {
            return Err(());
        }
        let i: usize = idx.parse().map_err(|_| ())?;
        if i >= form.len() {
            return Err(()); // cannot be contiguous
        }
        if slots.len() <= i {
            slots.resize(i + 1, (None, None));
        }
        let slot = match key {
            "role" => &mut slots[i].0,
            "content" => &mut slots[i].1,
            _ => return Err(()),
        };
        if slot.replace(value.as_str()).is_some() {
            return Err(());
        }
    }
    if slots.len() & 1 == 1 {
        return Err(());
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| match slot {
            (Some(role), Some(content)) if role == ["user", "assistant"][i % 2] && !content.is_empty() => Ok(content),
            _ => Err(()),
        })
        .collect()
}

struct Directives(Vec<String>);

impl Directives {
    fn parse(prompt: &str) -> Directives {
        let names = prompt
            .match_indices("@emu:")
            .map(|(i, m)| {
                let rest = &prompt[i + m.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '=' | '_')))
                    .unwrap_or(rest.len());
                rest[..end].to_string()
            })
            .collect();
        Directives(names)
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    /// The value of the first `NAME=VALUE` directive for `prefix` (`"NAME="`).
    fn value(&self, prefix: &str) -> Option<&str> {
        self.0.iter().find_map(|n| n.strip_prefix(prefix))
    }

    fn long(&self) -> Option<usize> {
        self.0.iter().find_map(|n| n.strip_prefix("long=")?.parse::<usize>().ok()).map(|n| n.min(MAX_LONG))
    }
}

/// `@emu:tool=NAME:ARGS` directives, in order: ARGS is a JSON value, or when it is not JSON
/// but starts with `{`, the text up to the first `}` (to script arguments that are not valid
/// JSON); `{}` when `:ARGS` is left out.
fn tool_directives(prompt: &str) -> Vec<(String, String)> {
    const MARK: &str = "@emu:tool=";
    prompt
        .match_indices(MARK)
        .filter_map(|(i, _)| {
            let rest = &prompt[i + MARK.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(rest.len());
            let name = &rest[..end];
            let args = match rest[end..].strip_prefix(':') {
                None => "{}",
                Some(raw) => {
                    let mut values = serde_json::Deserializer::from_str(raw).into_iter::<Value>();
                    match values.next() {
                        Some(Ok(_)) => &raw[..values.byte_offset()],
                        _ if raw.starts_with('{') => &raw[..raw.find('}').map_or(raw.len(), |j| j + 1)],
                        _ => "{}",
                    }
                }
            };
            (!name.is_empty()).then(|| (name.to_string(), args.trim().to_string()))
        })
        .collect()
}

/// The last tool result in the prompt, `[工具 NAME 执行结果]\n…`: (NAME, the result).
fn tool_result(prompt: &str) -> Option<(&str, &str)> {
    let end = prompt.rfind(" 执行结果]\n")?;
    let start = prompt[..end].rfind("[工具 ")?;
    let name = &prompt[start + "[工具 ".len()..end];
    Some((name, &prompt[end + " 执行结果]\n".len()..]))
}

/// The reply is a function of the prompt (plus the request's switches).
fn build_reply<'a>(prompt: &str, context: usize, dir: &Directives, field: &impl Fn(&str) -> Option<&'a str>) -> Reply {
    let calls = tool_directives(prompt);
    let form = dir.value("tool-form=").unwrap_or("ours");
    let mut reasoning = format!("好的，用户问：{prompt}。");
    let mut content = if !calls.is_empty() {
        // What a model writes: the library's instruction followed (`ours`), or another form.
        let lead = if dir.has("tool-bare") { "" } else { "好的，我来调用工具。\n" };
        let markup = toolforms::render(form, &calls).unwrap_or_else(|| format!("(unknown tool-form {form})"));
        if form == "reasoning" {
            reasoning.push_str(&markup);
            format!("{lead}请稍候。")
        } else {
            format!("{lead}{markup}")
        }
    } else if let Some((name, result)) = tool_result(prompt) {
        let head: String = result.chars().take(200).collect();
        format!("根据工具 {name} 的结果：{head}")
    } else if prompt == INTRO_PROMPT {
        INTRO.to_string()
    } else {
        let head: String = prompt.chars().take(200).collect();
        format!("{INTRO}你说：「{head}」")
    };
    if let Some(min) = dir.long() {
        let unit = content.clone();
        let unit_chars = unit.chars().count();
        let mut chars = unit_chars;
        while chars < min {
            content.push_str(&unit);
            chars += unit_chars;
        }
    }
    if dir.has("huge-event") {
        let unit = content.clone();
        while content.len() < HUGE_CONTENT {
            content.push_str(&unit);
        }
    }
    let search = field("internet_search") == Some("1");
    if search {
        content.push_str("[citation:1]");
    }
    Reply {
        id: stable_id(prompt),
        created: unix_now(),
        model: field("model_name").unwrap_or("DeepSeek").to_string(),
        search,
        prompt_tokens: context,
        reasoning,
        content,
        plain: String::new(),
    }
}

enum End {
    /// The terminating chunk; the connection stays usable.
    Clean,
    /// Drop the connection without the terminating chunk.
    Reset,
    /// Go quiet (60 s, or until the client leaves or we stop), then drop the connection.
    Silent,
}

#[allow(clippy::too_many_arguments)]
fn send_stream(
    sh: &Shared,
    sock: &TcpStream,
    reply: &Reply,
    events: &[Ev],
    eol: &str,
    end: End,
    close: bool,
    wire: &Wire,
) -> io::Result<Next> {
    let first_content = events.iter().position(Ev::carries_content);
    let frame = |i: usize, ev: &Ev| wire.frame(&reply.render(i, ev), eol, Some(i) == first_content);
    if let Some(length) = wire.length {
        let body: Vec<u8> = events.iter().enumerate().flat_map(|(i, ev)| frame(i, ev)).collect();
        let sse = "text/event-stream; charset=utf-8";
        let len = length.of(body.len());
        http::respond_with_length(sock, 200, sse, &wire.extra_headers, &body, len, true)?;
        return Ok(Next::Close);
    }
    let mut trickle = faults::Trickle(sock);
    let mut plain = sock;
    let out: &mut dyn Write = if wire.byte_per_write { &mut trickle } else { &mut plain };
    http::start_event_stream(&mut *out, &wire.extra_headers, close)?;
    for (i, ev) in events.iter().enumerate() {
        if i > 0 && !sh.config.delay.is_zero() {
            thread::sleep(sh.config.delay);
        }
        let event = frame(i, ev);
        if wire.split_char && Some(i) == first_content {
            faults::write_split_chunk(&mut *out, &event)?;
        } else if wire.lying_chunk && first_content.map(|c| c + 1) == Some(i) {
            http::write_chunk_sized(&mut *out, &event, event.len() - 5)?;
        } else {
            http::write_chunk(&mut *out, &event)?;
        }
    }
    match end {
        End::Clean => {
            http::end_chunks(&mut *out)?;
            // After a lying chunk the connection's framing is lost.
            Ok(if wire.lying_chunk { Next::Close } else { Next::Keep })
        }
        End::Reset => {
            let _ = sock.shutdown(Shutdown::Both);
            Ok(Next::Close)
        }
        End::Silent => {
            sh.stall(sock, STALL);
            let _ = sock.shutdown(Shutdown::Both);
            Ok(Next::Close)
        }
    }
}
