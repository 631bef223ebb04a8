//! Chunks and completions must parse with the official OpenAI client types (openai-python,
//! installed by `.ci/deps.sh` into target/venv). A missing package fails this test.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

#[test]
fn output_parses_with_openai_python_types() {
    let emu = emulator();
    let c = login_client(&emu);
    let mut lines = Vec::new();
    let weather = json!({"type": "function", "function": {"name": "get_weather", "description": "天气",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}});
    let prompts = [
        "请介绍你自己。",
        "@emu:answer-only",
        "@emu:moderation",
        "@emu:think-inline",
        "web",
        // Tool calls (with text around them, and alone), and arguments that are not JSON (text).
        "@emu:tool=get_weather:{\"city\":\"北京\"} @emu:tool=get_weather:{\"city\":\"上海\"}",
        "@emu:tool=get_weather:{\"city\":\"北京\"} @emu:tool-bare",
        "@emu:tool=get_weather:{city: 北京} @emu:tool-bare @emu:answer-only",
    ];
    // Every markup the model may write its calls in (issue 17).
    let forms: Vec<String> = ustb_openai::emulator::TOOL_FORMS
        .iter()
        .map(|f| format!("@emu:tool=get_weather:{{\"city\":\"北京\"}} @emu:tool-form={f}"))
        .collect();
    for prompt in prompts.iter().copied().chain(forms.iter().map(String::as_str)) {
        let mut req = user(prompt);
        req["stream_options"] = json!({ "include_usage": true });
        req["web_search"] = json!(prompt == "web");
        if prompt.contains("@emu:tool=") {
            req["tools"] = json!([weather]);
        }
        for chunk in stream_all(&c, &req) {
            lines.push(format!("chunk {chunk}"));
        }
        lines.push(format!("completion {}", create(&c, &req).unwrap()));
    }
    assert!(lines.len() > 12);
    assert!(lines.iter().any(|l| l.contains("\"tool_calls\":[{\"index\":1,\"id\"")));
    let file = target_dir().join("openai_types_input.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let python = root().join("target/venv/bin/python");
    let out = run(Command::new(&python).arg(root().join("tests/openai_types.py")).arg(&file));
    assert_ok("openai types check (run .ci/deps.sh to install openai)", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{} documents valid", lines.len())), "{stdout}");
}
