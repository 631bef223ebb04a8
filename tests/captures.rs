//! Capture mode and replay: every emulator chat scenario is recorded with the `record` option,
//! served back byte for byte by `replay_server`, and must give the same chunks and outcome; every
//! capture in tests/vectors/captures/ (where campus users' captures go) is replayed through the
//! pull API and its output checked with openai-python's types.
//! `UPDATE_CAPTURES=1` rewrites the emulator's captures in tests/vectors/captures/.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// The chat directives of docs/PROTOCOL.md section 7 that end by themselves (normally or with
/// an error). Left out: the silent ones (they end only by a timeout), `huge-event` and
/// `endless-line` (megabytes of capture).
const SCENARIOS: &[&str] = &[
    "",
    "@emu:moderation",
    "@emu:answer-only",
    "@emu:think-inline",
    "@emu:final-e1",
    "@emu:done",
    "@emu:truncate",
    "@emu:reset",
    "@emu:malformed",
    "@emu:malformed-inner",
    "@emu:sse-error",
    "@emu:sse-4028",
    "@emu:long=500",
    "@emu:tool=get_weather:{\"city\":\"北京\"}",
    "@emu:echo-cookie-sse",
    "@emu:close-before-headers",
    "@emu:http500",
    "@emu:http502",
    "@emu:login-page",
    "@emu:json-4028",
    "@emu:json-10042",
    "@emu:redirect",
    "@emu:gzip",
    "@emu:echo-cookie-400",
    "@emu:echo-cookie-html",
    "@emu:crlf",
    "@emu:cr",
    "@emu:comments",
    "@emu:invalid-utf8",
    "@emu:split-char",
    "@emu:byte-per-write",
    "@emu:chunk-lie",
];

fn request(prompt: &str) -> Value {
    let mut req = user(&format!("你好 {prompt}"));
    req["stream_options"] = json!({ "include_usage": true });
    if prompt.contains("tool=") {
        req["tools"] = json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    }
    req
}

/// A file name for a directive: `@emu:tool=a:b` -> `tool`.
fn name(prompt: &str) -> String {
    let d = prompt.trim_start_matches("@emu:");
    let d = d.split(['=', ':']).next().unwrap();
    if d.is_empty() {
        "plain".into()
    } else {
        d.into()
    }
}

/// Chunks without what the library makes up per call (ids, timestamps).
fn stable(v: &Value) -> Value {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !["id", "created"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), stable(v)))
            .collect(),
        Value::Array(a) => a.iter().map(stable).collect(),
        other => other.clone(),
    }
}

/// The chunks and the way the stream ended: (error type, HTTP status, API code) or None.
fn outcome(options: &Value, prompt: &str) -> (Vec<Value>, Option<(Value, u16, i64)>) {
    let c = client(options).unwrap();
    let s = open(&c, &request(prompt)).unwrap();
    let (chunks, failure) = drain(&s);
    (chunks.iter().map(stable).collect(), failure.map(|f| (f.detail["type"].clone(), f.http_status, f.api_code)))
}

fn options(base_url: &str) -> Value {
    json!({ "base_url": base_url, "vjuid_login": LOGIN, "max_retries": 0, "idle_timeout_ms": 3000 })
}

#[test]
fn a_capture_of_every_emulator_scenario_replays_identically() {
    let emu = emulator();
    let dir = target_dir().join("captures");
    std::fs::create_dir_all(&dir).unwrap();
    let update = std::env::var_os("UPDATE_CAPTURES").is_some();
    for prompt in SCENARIOS {
        let file = dir.join(format!("{}.jsonl", name(prompt)));
        let _ = std::fs::remove_file(&file);
        let mut recording = options(&emu.base_url());
        recording["record"] = json!(file.to_str().unwrap());
        let original = outcome(&recording, prompt);
        let records = capture_records(&file);
        let chat: Vec<&Value> = records.iter().filter(|r| r["request"]["path"] == "/site/ai/compose_chat").collect();
        assert_eq!(chat.len(), 1, "{prompt}: one chat exchange recorded");
        let fields = chat[0]["request"]["fields"].as_array().unwrap();
        assert!(
            fields.iter().any(|f| f[0] == "content" && f[1].as_str().unwrap().contains("你好")),
            "{prompt}: {fields:?}"
        );
        let replayed = outcome(&options(&replay_server(records.clone())), prompt);
        if prompt.contains("chunk-lie") {
            // A lying chunk size is below the body bytes a capture holds: where ureq notices it
            // depends on how the reads fell, so the replay (honest chunks, then a broken one)
            // deliver more or less of the same data before the same error (so does the emulator).
            assert_eq!(replayed.1, original.1, "{prompt}: the replay ends differently");
            let n = replayed.0.len().min(original.0.len());
            assert_eq!(replayed.0[..n], original.0[..n], "{prompt}: the replay differs");
        } else {
            assert_eq!(replayed, original, "{prompt}: the replay differs");
        }
        assert!(!original.0.is_empty() || original.1.is_some(), "{prompt}: nothing happened");
        if update {
            std::fs::copy(&file, root().join("tests/vectors/captures").join(file.file_name().unwrap())).unwrap();
        }
    }
}

/// A plain reply is read the same way, with its reads in the capture, one per write.
#[test]
fn reads_keep_their_bytes_and_boundaries() {
    let emu = emulator();
    let file = target_dir().join("captures-bytes.jsonl");
    let _ = std::fs::remove_file(&file);
    let mut o = options(&emu.base_url());
    o["record"] = json!(file.to_str().unwrap());
    let (chunks, failure) = outcome(&o, "@emu:split-char");
    assert!(failure.is_none() && chunks.len() > 2);
    let records = capture_records(&file);
    let rec = records.iter().find(|r| r["request"]["path"] == "/site/ai/compose_chat").unwrap();
    assert_eq!(rec["status"], 200);
    assert_eq!(rec["end"], "eof");
    let reads = rec["reads"].as_array().unwrap();
    assert!(reads.len() >= 2, "{rec}");
    let at: Vec<u64> = reads.iter().map(|r| r["at_ms"].as_u64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");
    // split-char waits 50 ms inside a character: the reads show it.
    assert!(at.last().unwrap() - at[0] >= 40, "{at:?}");
}

#[test]
fn every_checked_in_capture_replays_and_validates_with_openai_types() {
    let dir = root().join("tests/vectors/captures");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    assert!(files.len() >= 20, "captures in {}: {}", dir.display(), files.len());
    let mut lines = Vec::new();
    for file in &files {
        lines.extend(replay_lines(file));
    }
    assert!(lines.len() > 40, "{} lines", lines.len());
    let input = target_dir().join("captures_openai_types.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let python = root().join("target/venv/bin/python");
    let out = run(Command::new(&python).arg(root().join("tests/openai_types.py")).arg(&input));
    assert_ok("openai types check of replayed captures (run .ci/deps.sh to install openai)", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{} documents valid", lines.len())), "{stdout}");
}

/// The chunks (pull API) and the whole completion of the capture's chat exchange, replayed.
fn replay_lines(file: &Path) -> Vec<String> {
    let records = capture_records(file);
    let Some(chat) = records.iter().find(|r| r["request"]["path"] == "/site/ai/compose_chat") else {
        return Vec::new();
    };
    // The prompt as captured, so directives in it apply to the request the same way.
    let content =
        chat["request"]["fields"].as_array().unwrap().iter().find(|f| f[0] == "content").map(|f| f[1].clone());
    let prompt = content.and_then(|c| c.as_str().map(String::from)).unwrap_or_default();
    let mut req = request(&prompt);
    req["messages"][0]["content"] = json!(prompt);
    let mut lines = Vec::new();
    let c = client(&options(&replay_server(records.clone()))).unwrap();
    let s = open(&c, &req).unwrap();
    for chunk in drain(&s).0 {
        lines.push(format!("chunk {chunk}"));
    }
    let c = client(&options(&replay_server(records))).unwrap();
    if let Ok(completion) = create(&c, &req) {
        lines.push(format!("completion {completion}"));
    }
    lines
}
