//! Function calling through the C ABI against the emulator (docs/PROTOCOL.md section 4.6):
//! `tools` in the request, `<tool_call>` markup in the reply turned into OpenAI `tool_calls`,
//! and a two-step loop whose history goes back as text.

mod common;

use std::ptr;

use common::*;
use serde_json::{json, Value};
use ustb_openai::emulator::{Config, Emulator};
use ustb_openai::ffi::*;

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather", "description": "查询城市天气",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

fn now_tool() -> Value {
    json!({"type": "function", "function": {"name": "now", "description": "现在的时间"}})
}

/// A request for `prompt` with both tools.
fn with_tools(prompt: &str) -> Value {
    let mut req = user(prompt);
    req["tools"] = json!([weather_tool(), now_tool()]);
    req
}

const TWO_CALLS: &str = "北京天气和时间？@emu:tool=get_weather:{\"city\": \"北京\"} @emu:tool=now";

/// A streamed call as an OpenAI client assembles it: (id, name, arguments).
type Call = (String, String, String);

/// The calls of a stream, checking each `tool_calls` delta's shape on the way: the first of a
/// call has index, id, type and name with empty arguments, the later ones index and
/// arguments only, and no chunk mixes them with text.
fn assembled(chunks: &[Value]) -> Vec<Call> {
    let mut calls: Vec<Call> = Vec::new();
    for chunk in chunks {
        let Some(choice) = chunk["choices"].get(0) else { continue };
        let Some(list) = choice["delta"].get("tool_calls") else { continue };
        assert!(choice["delta"].get("reasoning_content").is_none(), "{chunk}");
        assert!(choice["delta"]["content"].as_str().unwrap_or("").is_empty(), "{chunk}");
        for d in list.as_array().unwrap() {
            let index = d["index"].as_u64().unwrap() as usize;
            let f = &d["function"];
            match d.get("id") {
                Some(id) => {
                    assert_eq!(index, calls.len(), "calls are numbered from 0: {chunk}");
                    assert_eq!(d["type"], "function");
                    assert_eq!(f["arguments"], "", "the first delta of a call has empty arguments");
                    let id = id.as_str().unwrap();
                    assert!(id.starts_with("call_") && id.len() == 29, "{id}");
                    calls.push((id.to_string(), f["name"].as_str().unwrap().to_string(), String::new()));
                }
                None => {
                    assert!(d.get("type").is_none() && f.get("name").is_none(), "{chunk}");
                    calls[index].2.push_str(f["arguments"].as_str().unwrap());
                }
            }
        }
    }
    calls
}

/// Names and arguments only (ids are random).
fn named(calls: &[Call]) -> Vec<(&str, &str)> {
    calls.iter().map(|(_, n, a)| (n.as_str(), a.as_str())).collect()
}

#[test]
fn streamed_calls_are_openai_tool_call_deltas() {
    let mut first: Option<(String, Vec<(String, String)>)> = None;
    // From one character per event (every tag split at every place) to the whole reply in one.
    for chunk_chars in [1, 2, 3, 4, 5, 7, 11, 10_000] {
        let emu = Emulator::start(Config { chunk_chars, ..Config::default() }, "127.0.0.1:0").unwrap();
        let c = login_client(&emu);
        let chunks = stream_all(&c, &with_tools(TWO_CALLS));
        let (reasoning, content, finish) = texts(&chunks);
        let calls = assembled(&chunks);
        assert_eq!(content, "好的，我来调用工具。\n", "chunk_chars {chunk_chars}: text around the calls passes");
        assert_eq!(named(&calls), [("get_weather", "{\"city\":\"北京\"}"), ("now", "{}")], "chunk_chars {chunk_chars}");
        assert_ne!(calls[0].0, calls[1].0);
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        let finishing: Vec<_> = chunks.iter().filter(|c| c["choices"][0]["finish_reason"].is_string()).collect();
        assert_eq!(finishing.len(), 1);
        // The emulator's reasoning echoes the prompt, whose instruction shows the markup: it
        // stays text there and is never a call.
        assert!(
            reasoning.contains("<tool_call>{\"name\":\"TOOL_NAME\",\"arguments\":{\"PARAM\":\"VALUE\"}}</tool_call>")
        );
        let result = (content, named(&calls).iter().map(|(n, a)| (n.to_string(), a.to_string())).collect());
        match &first {
            None => first = Some(result),
            Some(f) => assert_eq!(&result, f, "chunk_chars {chunk_chars} gives what chunk_chars 1 gave"),
        }
    }
}

#[test]
fn odd_arguments_unclosed_markup_and_tool_choice_none() {
    let emu = emulator();
    let c = login_client(&emu);

    // Arguments that are not a JSON object: not a call (arguments are always an object), so the
    // markup comes back as text.
    let chunks = stream_all(&c, &with_tools("@emu:tool=get_weather:{city: 北京}"));
    assert!(assembled(&chunks).is_empty());
    assert!(texts(&chunks).1.ends_with("<tool_call>{\"name\":\"get_weather\",\"arguments\":{city: 北京}}</tool_call>"));

    // tool_choice "none": no instruction, and markup in the reply is text.
    let mut req = with_tools("@emu:tool=now");
    req["tool_choice"] = json!("none");
    let chunks = stream_all(&c, &req);
    let (_, content, finish) = texts(&chunks);
    assert_eq!(content, "好的，我来调用工具。\n<tool_call>{\"name\":\"now\",\"arguments\":{}}</tool_call>");
    assert!(assembled(&chunks).is_empty());
    assert_eq!(finish.as_deref(), Some("stop"));
    let sent = last_chat_form(&emu);
    assert!(!field(&sent, "content").contains("## Tools"), "no instruction with tool_choice none");
    // Without tools, the same.
    let (_, content, _) = texts(&stream_all(&c, &user("@emu:tool=now")));
    assert!(content.ends_with("</tool_call>"));

    // Unclosed markup: a tool whose description holds an opening tag, echoed by the emulator
    // (its answer quotes the first 200 characters of the prompt, where the instruction lists
    // the tools). The markup never closes, so it comes back as text at the end, whole.
    let mut req = user("你好");
    req["tools"] = json!([{"type": "function", "function": {"name": "t", "description": "用 <tool_call> 调用"}}]);
    let chunks = stream_all(&c, &req);
    let (_, content, finish) = texts(&chunks);
    let prompt = field(&last_chat_form(&emu), "content");
    let head: String = prompt.chars().take(200).collect();
    assert!(head.contains("<tool_call> 调用"), "the echo holds the opening tag: {head}");
    assert_eq!(content, format!("你好！我是北科大 AI 助手。你说：「{head}」"));
    assert!(assembled(&chunks).is_empty());
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_eq!(create(&c, &req).unwrap()["choices"][0]["message"]["content"], content.as_str());
}

#[test]
fn create_returns_message_tool_calls() {
    let emu = emulator();
    let c = login_client(&emu);
    let calls_of = |v: &Value| -> Vec<(String, String)> {
        v["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert_eq!(t["type"], "function");
                assert!(t["id"].as_str().unwrap().starts_with("call_"));
                (t["function"]["name"].as_str().unwrap().into(), t["function"]["arguments"].as_str().unwrap().into())
            })
            .collect()
    };
    let want = vec![("get_weather".to_string(), "{\"city\":\"北京\"}".to_string()), ("now".into(), "{}".into())];

    let v = create(&c, &with_tools(TWO_CALLS)).unwrap();
    assert_eq!(calls_of(&v), want);
    assert_eq!(v["choices"][0]["message"]["content"], "好的，我来调用工具。\n", "the text around the calls");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");

    // Only calls (and the line break between them): content is null, as OpenAI sends it.
    let v = create(&c, &with_tools(&format!("{TWO_CALLS} @emu:tool-bare"))).unwrap();
    assert_eq!(calls_of(&v), want);
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");

    // The cancellable whole-reply call gives the same.
    let s = open(&c, &with_tools(TWO_CALLS)).unwrap();
    let mut out = ptr::null_mut();
    let mut err = ptr::null_mut();
    let st = unsafe { ustb_chat_stream_collect(s.0, &mut out, &mut err) };
    check(st, err).unwrap();
    let v: Value = serde_json::from_str(&unsafe { take_string(out) }).unwrap();
    assert_eq!(calls_of(&v), want);

    // No call: no tool_calls field, finish stop.
    let v = create(&c, &with_tools("你好")).unwrap();
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[test]
fn a_two_step_loop_keeps_the_history_alternating() {
    let emu = emulator();
    let c = login_client(&emu);
    let question = "北京天气？@emu:tool=get_weather:{\"city\": \"北京\"}";
    let mut messages =
        vec![json!({"role": "system", "content": "你是助手。"}), json!({"role": "user", "content": question})];
    let request = |messages: &[Value]| json!({"model": "deepseek-r1", "messages": messages, "tools": [weather_tool()]});

    // Step 1: the model asks for the tool.
    let v = create(&c, &request(&messages)).unwrap();
    let message = v["choices"][0]["message"].clone();
    let call = &message["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["city"], "北京");

    // Step 2: the program runs it and sends the result back; the model answers.
    messages.push(message.clone());
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "晴，25°C"}));
    let v = create(&c, &request(&messages)).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "根据工具 get_weather 的结果：晴，25°C");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());

    // What went on the wire: user / assistant (the call as markup, as the model wrote it) in
    // the history, the instruction and the result in the content.
    let form = last_chat_form(&emu);
    assert_eq!(field(&form, "history[0][role]"), "user");
    assert_eq!(field(&form, "history[0][content]"), question);
    assert_eq!(field(&form, "history[1][role]"), "assistant");
    assert_eq!(
        field(&form, "history[1][content]"),
        "好的，我来调用工具。\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"北京\"}}</tool_call>"
    );
    assert!(form.iter().all(|(k, _)| !k.starts_with("history[2]")));
    let content = field(&form, "content");
    assert!(content.starts_with("你是助手。\n## Tools\n"), "{content}");
    assert!(content.ends_with("without the markup.\n\n[工具 get_weather 执行结果]\n晴，25°C"), "{content}");

    // The same second step, streamed.
    let chunks = stream_all(&c, &request(&messages));
    let (_, text, finish) = texts(&chunks);
    assert_eq!((text.as_str(), finish.as_deref()), ("根据工具 get_weather 的结果：晴，25°C", Some("stop")));
    assert!(assembled(&chunks).is_empty());
}

#[test]
fn bad_tools_are_refused_before_any_traffic() {
    let emu = emulator();
    let c = login_client(&emu);
    let cases = [
        (json!({"tools": "get_weather"}), "\"tools\" must be a list"),
        (json!({"tools": [{"type": "retrieval"}]}), "only \"function\" tools"),
        (json!({"tools": [{"type": "function", "function": {"name": "get weather"}}]}), "letters, digits"),
        (json!({"tools": [weather_tool(), weather_tool()]}), "both named"),
        (json!({"tools": [weather_tool()], "tool_choice": "always"}), "\"tool_choice\" must be"),
        (
            json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "now"}}}),
            "not in",
        ),
        (json!({"tool_choice": "required"}), "missing or empty"),
    ];
    for (extra, message) in cases {
        let mut req = user("你好");
        req.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        for failure in [open(&c, &req).err(), create(&c, &req).err()] {
            let f = failure.expect("refused");
            assert_eq!(f.status, ustb_status::USTB_INVALID_REQUEST, "{req}");
            assert!(f.message.contains(message), "{req}: {}", f.message);
        }
    }
    // A malformed earlier call in the history, likewise.
    let req = json!({"messages": [{"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "x", "content": "r"}]});
    let f = create(&c, &req).unwrap_err();
    assert_eq!(f.status, ustb_status::USTB_INVALID_REQUEST);
    assert!(f.message.contains("messages[1].tool_calls[0].function.name"), "{}", f.message);
    assert!(emu.requests().iter().all(|r| r.path != "/site/ai/compose_chat"), "nothing was sent");
}

/// The form of the last chat the emulator received.
fn last_chat_form(emu: &Emulator) -> Vec<(String, String)> {
    emu.requests().into_iter().rev().find(|r| r.path == "/site/ai/compose_chat").expect("a chat was sent").form
}

fn field(form: &[(String, String)], name: &str) -> String {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no field {name}"))
}

/// What a reply gave: its calls (name, arguments), its text and its finish_reason.
type Outcome = (Vec<(String, String)>, String, String);

/// The calls and the text of one reply read three ways: pull, push (callback) and create.
fn three_ways(c: &Client, req: &Value) -> [Outcome; 3] {
    let pulled = stream_all(c, req);
    let pull = (
        named(&assembled(&pulled)).iter().map(|(n, a)| (n.to_string(), a.to_string())).collect(),
        texts(&pulled).1,
        texts(&pulled).2.unwrap_or_default(),
    );
    let pushed = stream_callback(c, req);
    let push = (
        named(&assembled(&pushed)).iter().map(|(n, a)| (n.to_string(), a.to_string())).collect(),
        texts(&pushed).1,
        texts(&pushed).2.unwrap_or_default(),
    );
    let v = create(c, req).unwrap();
    let m = &v["choices"][0]["message"];
    let calls = m["tool_calls"].as_array().map_or(Vec::new(), |l| {
        l.iter()
            .map(|t| {
                (
                    t["function"]["name"].as_str().unwrap().to_string(),
                    t["function"]["arguments"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    });
    let whole = (
        calls,
        m["content"].as_str().unwrap_or("").to_string(),
        v["choices"][0]["finish_reason"].as_str().unwrap().to_string(),
    );
    [pull, push, whole]
}

/// Every chunk of a push-style stream (`ustb_chat_stream_callback`).
fn stream_callback(c: &Client, req: &Value) -> Vec<Value> {
    unsafe extern "C" fn keep(
        userdata: *mut std::ffi::c_void,
        chunk: *const std::ffi::c_char,
        len: usize,
    ) -> std::ffi::c_int {
        let bytes = std::slice::from_raw_parts(chunk.cast::<u8>(), len);
        (*(userdata as *mut Vec<Value>)).push(serde_json::from_slice(bytes).unwrap());
        0
    }
    let mut chunks: Vec<Value> = Vec::new();
    let mut err = ptr::null_mut();
    let req = cstring(&req.to_string());
    let st = unsafe {
        ustb_chat_stream_callback(
            c.0,
            req.as_ptr(),
            Some(keep),
            &mut chunks as *mut Vec<Value> as *mut std::ffi::c_void,
            &mut err,
        )
    };
    check(st, err).unwrap();
    chunks
}

/// Issue 17: each markup the model is known to write (the emulator's `@emu:tool-form=FORM`)
/// gives the same two calls through pull, push and create, from one character per event to
/// the whole reply at once; the reasoning form too (the answer then holds only text).
#[test]
fn every_tool_call_form_gives_the_same_calls_every_way() {
    let want =
        vec![("get_weather".to_string(), "{\"city\":\"北京\"}".to_string()), ("now".to_string(), "{}".to_string())];
    for chunk_chars in [1, 3, 10_000] {
        let emu = Emulator::start(Config { chunk_chars, ..Config::default() }, "127.0.0.1:0").unwrap();
        let c = login_client(&emu);
        for form in ustb_openai::emulator::TOOL_FORMS {
            // The bare-JSON form is one call, alone.
            let (prompt, want) = match *form {
                "json" => (format!("@emu:tool=now @emu:tool-bare @emu:tool-form={form}"), vec![want[1].clone()]),
                _ => (format!("{TWO_CALLS} @emu:tool-form={form}"), want.clone()),
            };
            let text = match *form {
                "json" => "",
                "reasoning" => "好的，我来调用工具。\n请稍候。",
                _ => "好的，我来调用工具。\n",
            };
            for (how, got) in ["pull", "push", "create"].iter().zip(three_ways(&c, &with_tools(&prompt))) {
                assert_eq!(
                    got,
                    (want.clone(), text.to_string(), "tool_calls".to_string()),
                    "{form}, {how}, chunk_chars {chunk_chars}"
                );
            }
        }
    }
}

#[test]
fn a_reply_of_many_tiny_calls_stops_at_max_reply_bytes() {
    // 342k calls of `{}` under a 1 MiB cap came back whole: 33 MB of JSON, 779 MB held to
    // write it. Calls now count as they are written, so the JSON stays near the cap.
    let emu = Emulator::start(Config { chunk_chars: 4096, ..Config::default() }, "127.0.0.1:0").unwrap();
    let cap = 16 << 10;
    let c =
        client(&json!({"base_url": emu.base_url(), "vjuid_login": LOGIN, "max_retries": 0, "max_reply_bytes": cap}))
            .unwrap();
    let calls = |n: usize| {
        let mut req = user(&format!("@emu:tool=f @emu:tool-bare @emu:long={}", n * 50));
        req["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
        req
    };
    let refused = create(&c, &calls(2000)).err().map(|f| f.status);
    assert_eq!(refused, Some(ustb_status::USTB_TOO_LARGE), "2000 calls under a cap of {cap} bytes");
    let v = create(&c, &calls(100)).unwrap();
    assert_eq!(v["choices"][0]["message"]["tool_calls"].as_array().unwrap().len(), 100);
    assert!(v.to_string().len() <= cap + 1024, "{} bytes of JSON under a cap of {cap}", v.to_string().len());
}

#[test]
fn a_cancel_stops_the_calls_of_one_long_event() {
    // One event of 4 MiB holding 84k calls was parsed and queued whole; a cancel then let
    // every queued call out, since only the next read looked at it.
    let emu = emulator();
    let c = login_client(&emu);
    let mut req = user("@emu:tool=f @emu:tool-bare @emu:huge-event");
    req["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
    let s = open(&c, &req).unwrap();
    while next(&s).unwrap().unwrap()["choices"][0]["delta"].get("tool_calls").is_none() {}
    unsafe { ustb_chat_stream_cancel(s.0) };
    assert_eq!(next(&s).err().map(|f| f.status), Some(ustb_status::USTB_CANCELLED));
}
