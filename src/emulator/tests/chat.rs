//! The normal chat stream, its exact layout, and request validation.

use super::*;

#[test]
fn intro_stream_decodes() {
    let e = start(Config::default());
    let before = util::unix_now();
    let r = chat(&e, "请介绍你自己。");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert!(r.clean_end);
    // One event per chunk.
    for c in &r.chunks {
        let s = std::str::from_utf8(c).unwrap();
        assert!(s.starts_with("data: ") && s.ends_with("\n\n") && s.matches("\n\n").count() == 1, "{s:?}");
    }
    let payloads = r.payloads();
    assert_eq!(r.chunks.len(), payloads.len());
    let d = decode(&payloads);
    assert_eq!(d.reasoning, "好的，用户问：请介绍你自己。。");
    assert_eq!(d.content, "你好！我是北科大 AI 助手。");
    assert_eq!(d.answers, d.content);
    assert_eq!(d.finish.as_deref(), Some("stop"));
    let u = d.usage.expect("usage");
    assert_eq!(
        (u["prompt_tokens"].as_u64(), u["completion_tokens"].as_u64(), u["total_tokens"].as_u64()),
        (Some(7), Some(4), Some(11))
    );
    let first: Value = serde_json::from_str(&payloads[0]).unwrap();
    let id = first["d"]["message_id"].as_str().unwrap().to_string();
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
    let chunk: Value = serde_json::from_str(&inner(&payloads[0])).unwrap();
    assert_eq!(chunk["id"], id.as_str());
    assert_eq!(chunk["model"], "DeepSeek");
    let created = chunk["created"].as_u64().unwrap();
    assert!(created >= before && created <= util::unix_now());
    // Deterministic: the same prompt gives the same id.
    let again = decode(&chat(&e, "请介绍你自己。").payloads());
    assert_eq!(again.content, d.content);
    let p2 = chat(&e, "请介绍你自己。").payloads();
    assert_eq!(serde_json::from_str::<Value>(&p2[0]).unwrap()["d"]["id"], id.as_str());
}

#[test]
fn builder_reproduces_vectors_byte_for_byte() {
    let id = "06af20655f624a90b6a7b787baa28a47";
    let built = events::testing::full(
        id,
        1795621451,
        &["好的，", "用户问：", "请介绍你自己。", "。"],
        &["你好！", "我是", "北科大", " AI 助手。"],
        7,
    );
    assert_eq!(built, vector("stream-ustb2026.sse"));
    let built =
        events::testing::answer_only("aa06efc4ee8f4057a3ebc2732fe0c015", &["你好！", "我是", "北科大", " AI 助手。"]);
    assert_eq!(built, vector("stream-answer-only.sse"));
}

#[test]
fn live_events_have_vector_layout() {
    let e = start(Config { chunk_chars: 3, ..Config::default() });
    let payloads = chat(&e, "请介绍你自己。").payloads();
    let vec_file = vector("stream-ustb2026.sse");
    let vec_payloads: Vec<&str> = vec_file.split("\n\n").filter(|s| !s.is_empty()).map(|s| &s[6..]).collect();
    let first: Value = serde_json::from_str(&payloads[0]).unwrap();
    let id = first["d"]["id"].as_str().unwrap();
    let created = serde_json::from_str::<Value>(&inner(&payloads[0])).unwrap()["created"].to_string();
    let normalize = |p: &str| {
        p.replace(id, "06af20655f624a90b6a7b787baa28a47")
            .replace(&format!("\\\"created\\\": {created},"), "\\\"created\\\": 1795621451,")
    };
    // With 3-char pieces the first reasoning piece is the vector's `好的，`.
    assert_eq!(normalize(&payloads[0]), vec_payloads[0]);
    // The finish event does not depend on the pieces.
    assert_eq!(normalize(&payloads[payloads.len() - 2]), vec_payloads[8]);
    // Key order of every kind of event, outside and inside original_stream.
    let pairs = [(0, 0), (payloads.len() - 4, 4), (payloads.len() - 2, 8), (payloads.len() - 1, 9)];
    for (live, vec_i) in pairs {
        assert_eq!(key_sequence(&payloads[live]), key_sequence(vec_payloads[vec_i]));
        assert_eq!(key_sequence(&inner(&payloads[live])), key_sequence(&inner(vec_payloads[vec_i])));
    }
}

#[test]
fn login_is_required() {
    let e = start(Config::default());
    let fields = [("compose_id", "3"), ("content", "hi")];
    let r = request(&e, &chat_raw(&fields, None, ""));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(r.text(), vector("reply-10042.json").trim_end());
    let r = request(&e, &chat_raw(&fields, Some("easy_session=abc; cookie_vjuid_login="), ""));
    assert_eq!(r.json()["e"], 10042);

    let e = start(Config { login_token: Some("secret".into()), ..Config::default() });
    assert_eq!(request(&e, &chat_raw(&fields, Some("cookie_vjuid_login=wrong"), "")).json()["e"], 10042);
    let ok = request(&e, &chat_raw(&fields, Some("easy_session=x; cookie_vjuid_login=secret"), ""));
    assert_eq!(ok.header("content-type"), Some("text/event-stream; charset=utf-8"));

    let e = start(Config { require_login: false, ..Config::default() });
    let ok = request(&e, &chat_raw(&fields, None, ""));
    assert_eq!(decode(&ok.payloads()).finish.as_deref(), Some("stop"));
}

#[test]
fn missing_fields_and_json_body() {
    let e = start(Config::default());
    let r = request(
        &e,
        &post("/site/ai/compose_chat", "application/json", br#"{"compose_id":3,"content":"hi"}"#, Some(COOKIE), ""),
    );
    assert_eq!(r.text(), r#"{"e":1,"m":"compose_id不能为空","d":[]}"#);
    let r = request(&e, &chat_raw(&[("content", "hi")], Some(COOKIE), ""));
    assert_eq!(r.text(), r#"{"e":1,"m":"compose_id不能为空","d":[]}"#);
    let r = request(&e, &chat_raw(&[("compose_id", "3")], Some(COOKIE), ""));
    assert_eq!(r.text(), r#"{"e":1,"m":"content不能为空","d":[]}"#);
}

#[test]
fn history_rules() {
    let e = start(Config { max_context_chars: 40, ..Config::default() });
    let bad: Vec<Vec<(&str, &str)>> = vec![
        vec![("history[0][role]", "user")],
        vec![("history[0][role]", "user"), ("history[0][content]", "a")],
        vec![
            ("history[0][role]", "assistant"),
            ("history[0][content]", "a"),
            ("history[1][role]", "user"),
            ("history[1][content]", "b"),
        ],
        vec![
            ("history[0][role]", "user"),
            ("history[0][content]", "a"),
            ("history[1][role]", "user"),
            ("history[1][content]", "b"),
        ],
        vec![
            ("history[0][role]", "user"),
            ("history[0][content]", "a"),
            ("history[2][role]", "assistant"),
            ("history[2][content]", "b"),
        ],
        vec![
            ("history[0][role]", "user"),
            ("history[0][content]", ""),
            ("history[1][role]", "assistant"),
            ("history[1][content]", "b"),
        ],
        vec![
            ("history[0][role]", "system"),
            ("history[0][content]", "a"),
            ("history[1][role]", "assistant"),
            ("history[1][content]", "b"),
        ],
    ];
    let expected = vector("reply-4028.json");
    for (i, h) in bad.iter().enumerate() {
        let mut fields = vec![("compose_id", "3"), ("content", "hi")];
        fields.extend(h.iter().copied());
        assert_eq!(request(&e, &chat_raw(&fields, Some(COOKIE), "")).text(), expected.trim_end(), "case {i}");
    }
    // Valid history streams, and counts toward prompt_tokens.
    let ok_fields = [
        ("compose_id", "3"),
        ("history[0][role]", "user"),
        ("history[0][content]", "第一问"),
        ("history[1][role]", "assistant"),
        ("history[1][content]", "第一答"),
        ("content", "hi"),
    ];
    let d = decode(&request(&e, &chat_raw(&ok_fields, Some(COOKIE), "")).payloads());
    assert_eq!(d.usage.unwrap()["prompt_tokens"], 8);
    // Too long: 41 characters in total.
    let long = "长".repeat(35);
    let fields = [
        ("compose_id", "3"),
        ("content", long.as_str()),
        ("history[0][role]", "user"),
        ("history[0][content]", "abc"),
        ("history[1][role]", "assistant"),
        ("history[1][content]", "def"),
    ];
    assert_eq!(request(&e, &chat_raw(&fields, Some(COOKIE), "")).json()["e"], 4028);
}
