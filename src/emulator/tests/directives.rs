//! `@emu:` fault directives and request switches.

use super::*;

#[test]
fn stream_directives() {
    let e = start(Config::default());
    let run = |p: &str| chat(&e, p);

    let done = run("a @emu:done").payloads();
    assert_eq!(done.last().unwrap(), "[DONE]");
    assert_eq!(decode(&done[..done.len() - 1]).finish.as_deref(), Some("stop"));

    let crlf = run("a @emu:crlf");
    assert!(crlf.chunks.iter().all(|c| c.ends_with(b"}\r\n\r\n") && c.starts_with(b"data: ")));
    let cr = run("a @emu:cr");
    assert!(cr.chunks.iter().all(|c| c.ends_with(b"}\r\r") && !c.contains(&b'\n')));

    let m = run("a @emu:moderation");
    assert_eq!(m.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(m.text(), vector("reply-moderation.json").trim_end());

    let ao = run("abc @emu:answer-only").payloads();
    assert!(ao.iter().all(|p| !p.contains("original_stream") && p.ends_with(r#""ext":[]}}"#)));
    let ev: Vec<Value> = ao.iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    assert_eq!((ev[0]["d"]["answer"].as_str(), ev[1]["d"]["answer"].as_str()), (Some(""), Some("")));
    assert_eq!(decode(&ao).answers, "你好！我是北科大 AI 助手。你说：「abc @emu:answer-only」");

    let ti = run("q @emu:think-inline").payloads();
    let answers = decode(&ti).answers;
    assert_eq!(
        answers,
        "<think>好的，用户问：q @emu:think-inline。</think>你好！我是北科大 AI 助手。你说：「q @emu:think-inline」"
    );
    let pieces: Vec<String> = ti
        .iter()
        .map(|p| serde_json::from_str::<Value>(p).unwrap()["d"]["answer"].as_str().unwrap().to_string())
        .collect();
    assert!(!pieces.iter().any(|p| p.contains("<think>")), "the tag is split across events");

    let fe = run("q @emu:final-e1").payloads();
    assert_eq!(fe.last().unwrap(), r#"{"e":1,"m":"","d":[]}"#);
    assert!(decode(&fe[..fe.len() - 1]).answers.starts_with("你好！"));

    let mf = run("q @emu:malformed").payloads();
    let pos = mf.iter().position(|p| p == r#"{"e":0,"m":"#).expect("malformed event");
    assert!(inner(&mf[pos - 1]).contains("\"content\": "));
    let rest: Vec<String> = mf.iter().enumerate().filter(|(i, _)| *i != pos).map(|(_, p)| p.clone()).collect();
    assert_eq!(decode(&rest).finish.as_deref(), Some("stop"));

    let mi = run("q @emu:malformed-inner").payloads();
    let bad = mi.iter().filter(|p| serde_json::from_str::<Value>(&inner(p)).is_err()).count();
    assert_eq!(bad, 1);

    let se = run("q @emu:sse-error");
    assert_eq!(se.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(se.payloads(), vec![r#"{"e":10042,"m":"请登录","d":[]}"#.to_string()]);

    let h5 = run("q @emu:http500");
    assert_eq!(h5.status, 500);
    assert!(h5.header("content-type").unwrap().starts_with("text/html") && h5.text().contains("<html>"));

    let long = decode(&run("q @emu:long=500").payloads()).content;
    assert!(long.chars().count() >= 500 && long.starts_with("你好！我是北科大"));
}

#[test]
fn search_thinking_and_model_fields() {
    let e = start(Config::default());
    let fields = [
        ("compose_id", "3"),
        ("content", "北科大在哪"),
        ("internet_search", "1"),
        ("deep_search", "2"),
        ("model_name", "DeepSeek-R1"),
    ];
    let payloads = request(&e, &chat_raw(&fields, Some(COOKIE), "")).payloads();
    let first: Value = serde_json::from_str(&payloads[0]).unwrap();
    let hit = &first["d"]["ext"]["site_search"][0];
    assert!(hit["title"].is_string() && hit["url"].is_string() && hit["content"].is_string());
    let d = decode(&payloads);
    assert_eq!(d.reasoning, "");
    assert!(d.content.ends_with("[citation:1]"));
    let chunk: Value = serde_json::from_str(&inner(&payloads[0])).unwrap();
    assert_eq!(chunk["model"], "DeepSeek-R1");
}

#[test]
fn tool_directives_and_tool_results() {
    let e = start(Config::default());
    let content = |p: &str| decode(&chat(&e, p).payloads()).content;

    let one = chat(&e, "天气？@emu:tool=get_weather:{\"city\": \"北京\"} 谢谢").payloads();
    assert_eq!(
        decode(&one).content,
        "好的，我来调用工具。\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\": \"北京\"}}</tool_call>"
    );
    let pieces: Vec<String> = one.iter().map(|p| inner(p)).collect();
    assert!(!pieces.iter().any(|p| p.contains("<tool_call>")), "the markup is split across events");

    assert_eq!(
        content("@emu:tool=a @emu:tool=b-2:[1,2] @emu:tool=c:{x: y} z"),
        "好的，我来调用工具。\n<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\
         \n<tool_call>{\"name\":\"b-2\",\"arguments\":[1,2]}</tool_call>\
         \n<tool_call>{\"name\":\"c\",\"arguments\":{x: y}}</tool_call>"
    );
    assert_eq!(
        content("@emu:tool=a @emu:tool=b @emu:tool-bare"),
        "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"b\",\"arguments\":{}}</tool_call>"
    );
    assert_eq!(
        content("说明 \"[工具 X 执行结果]\"\n\n[工具 get_weather 执行结果]\n晴，25°C"),
        "根据工具 get_weather 的结果：晴，25°C"
    );
    // No line break after the label: not a result.
    assert!(content("[工具 X 执行结果] x").starts_with("你好！我是北科大 AI 助手。你说："));
}
