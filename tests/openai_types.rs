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
    for prompt in ["请介绍你自己。", "@emu:answer-only", "@emu:moderation", "@emu:think-inline", "web"] {
        let mut req = user(prompt);
        req["stream_options"] = json!({ "include_usage": true });
        req["web_search"] = json!(prompt == "web");
        for chunk in stream_all(&c, &req) {
            lines.push(format!("chunk {chunk}"));
        }
        lines.push(format!("completion {}", create(&c, &req).unwrap()));
    }
    assert!(lines.len() > 12);
    let file = target_dir().join("openai_types_input.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let python = root().join("target/venv/bin/python");
    let out = run(Command::new(&python).arg(root().join("tests/openai_types.py")).arg(&file));
    assert_ok("openai types check (run .ci/deps.sh to install openai)", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{} documents valid", lines.len())), "{stdout}");
}
