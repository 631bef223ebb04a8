//! Figures for issue 16, item 4: inputs whose cost used to grow faster than their size. Each
//! measurement runs in a fresh child process, so its peak RSS (VmHWM, reset just before the
//! call) is the call's own. Asserts nothing; prints one line per measurement.
//!
//! ```sh
//! cargo run --release --example growth                 # every row
//! cargo run --release --example growth -- models tools # some rows
//! ```
//!
//! Rows: `markup` (a stream whose content is `<tool_call>` repeated, never closed, in 4 KiB
//! events; also a cancel 1 s in), `tools` (a request with N tools), `models`
//! (`Endpoint::Models` over N entries; also a cancel 3 s in), `calls` (`chat_create` with
//! `max_reply_bytes` 1 MiB on a reply of ≈ 342k tiny tool calls, from the emulator), and two
//! single events of 15 MB, the most an event may be: `event` (the unclosed markup; a cancel
//! 50 ms in) and `event-calls` (tiny calls, streamed).

// Only its server, which answers each request with one stored response.
#[allow(dead_code)]
mod canned;

use std::process::Command;
use std::time::{Duration, Instant};

use canned::Canned;
use ustb_openai::emulator::{Config, Emulator};
use ustb_openai::{CancelToken, Client, Endpoint};

const MIB: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1], args[2].parse().unwrap(), args.get(3).map_or("", String::as_str), args.get(4));
    }
    let rows: Vec<&str> = if args.is_empty() {
        vec!["markup", "tools", "models", "calls", "event", "event-calls"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    for row in rows {
        match row {
            "markup" => {
                for size in [1_050_000, 1_210_000, 1_430_000, 2_860_000] {
                    run(row, size, "", None);
                }
                run(row, 1_430_000, "", Some("1000"));
            }
            "tools" => {
                for n in [20_000, 40_000, 80_000, 160_000] {
                    run(row, n, "", None);
                }
            }
            "models" => {
                for n in [12_500, 25_000, 50_000, 100_000] {
                    run(row, n, "", None);
                }
                run(row, 100_000, "", Some("3000"));
                // Big enough to be mid-parse after 100 ms, whatever the code.
                run(row, 300_000, "", Some("100"));
            }
            "event" => {
                run(row, 15_000_000, "", None);
                run(row, 15_000_000, "", Some("50"));
            }
            "event-calls" => run(row, 15_000_000, "", None),
            "calls" => {
                let emu = Emulator::start(Config { chunk_chars: 4096, ..Config::default() }, "127.0.0.1:0").unwrap();
                run(row, 16 * MIB, &emu.base_url(), None);
            }
            _ => panic!("unknown row {row}"),
        }
    }
}

fn run(row: &str, size: usize, url: &str, cancel_ms: Option<&str>) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--child", row, &size.to_string(), url]);
    cmd.args(cancel_ms);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    print!(
        "{row} n={size}{} {}",
        cancel_ms.map(|c| format!(" cancel_at_ms={c}")).unwrap_or_default(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Peak resident set size since the last reset (`VmHWM`), in MB.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024.0
}

fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// Cancels `token` after `ms`, and gives the instant it did.
fn cancel_later(token: CancelToken, ms: Option<&String>) -> Option<std::thread::JoinHandle<Instant>> {
    let ms: u64 = ms?.parse().unwrap();
    Some(std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        token.cancel();
        Instant::now()
    }))
}

fn child(row: &str, size: usize, url: &str, cancel_ms: Option<&String>) {
    let (outcome, started, ended, canceller) = match row {
        "markup" | "event" | "event-calls" => {
            let unit = if row == "event-calls" { r#"<tool_call>{\"name\":\"f\"}</tool_call>"# } else { "<tool_call>" };
            let event = if row == "markup" { 4096 } else { size };
            let url = Canned::start(markup_reply(unit, size, event)).url;
            let client = client(&url, "");
            let req =
                r#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#;
            let mut stream = client.chat_stream(req).unwrap();
            let canceller = cancel_later(stream.cancel_token(), cancel_ms);
            reset_peak();
            let started = Instant::now();
            let (mut chunks, mut bytes) = (0usize, 0usize);
            let outcome = loop {
                match stream.next_chunk() {
                    Ok(Some(c)) => {
                        chunks += 1;
                        bytes += c.len();
                    }
                    Ok(None) => break format!("ok chunks={chunks} chunk_bytes={bytes}"),
                    Err(e) => break format!("{} after chunks={chunks}", e.kind.name()),
                }
            };
            (outcome, started, Instant::now(), canceller)
        }
        "tools" => {
            let tools: Vec<String> =
                (0..size).map(|i| format!(r#"{{"type":"function","function":{{"name":"f{i}"}}}}"#)).collect();
            let req = format!(r#"{{"messages":[{{"role":"user","content":"x"}}],"tools":[{}]}}"#, tools.join(","));
            drop(tools);
            let client = client("http://127.0.0.1:9", "");
            reset_peak();
            let started = Instant::now();
            let outcome = match client.chat_create(&req) {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("{} request_bytes={} ({})", e.kind.name(), req.len(), cut(&e.message)),
            };
            (outcome, started, Instant::now(), None)
        }
        "models" => {
            let entries: Vec<String> = (0..size).map(|i| format!(r#"{{"label":"模型{i}","value":"m{i}"}}"#)).collect();
            let body = format!(
                r#"{{"e":0,"m":"操作成功","d":{{"model_select":{{"model_content":{{"value":[{}]}}}}}}}}"#,
                entries.join(",")
            );
            drop(entries);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let url = Canned::start([head.into_bytes(), body.into_bytes()].concat()).url;
            let client = client(&url, "");
            let token = CancelToken::default();
            let canceller = cancel_later(token.clone(), cancel_ms);
            reset_peak();
            let started = Instant::now();
            let outcome = match client.endpoint(&Endpoint::Models { compose_id: None }, &token) {
                Ok(json) => format!("ok json_bytes={}", json.len()),
                Err(e) => e.kind.name().to_string(),
            };
            (outcome, started, Instant::now(), canceller)
        }
        "calls" => {
            let client = client(url, r#","max_reply_bytes":1048576"#);
            let req = format!(
                r#"{{"messages":[{{"role":"user","content":"@emu:tool=f @emu:tool-bare @emu:long={size}"}}],"tools":[{{"type":"function","function":{{"name":"f"}}}}]}}"#
            );
            reset_peak();
            let started = Instant::now();
            let outcome = match client.chat_create(&req) {
                Ok(json) => {
                    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                    let calls = v["choices"][0]["message"]["tool_calls"].as_array().map_or(0, Vec::len);
                    format!("ok json_bytes={} calls={calls}", json.len())
                }
                Err(e) => format!("{} ({})", e.kind.name(), cut(&e.message)),
            };
            (outcome, started, Instant::now(), None)
        }
        _ => panic!("unknown row {row}"),
    };
    let secs = (ended - started).as_secs_f64();
    let peak = peak_mb();
    let cancel = match canceller.map(|h| h.join().unwrap()) {
        Some(at) if at <= ended => format!(" returned_after_cancel_ms={:.1}", (ended - at).as_secs_f64() * 1e3),
        Some(_) => " (ended before the cancel)".to_string(),
        None => String::new(),
    };
    println!("{outcome} secs={secs:.3} peak_mb={peak:.0}{cancel}");
}

fn cut(s: &str) -> String {
    s.chars().take(90).collect()
}

fn client(url: &str, extra: &str) -> Client {
    Client::from_json(&format!(r#"{{"base_url":"{url}","vjuid_login":"x","max_retries":0{extra}}}"#)).unwrap()
}

/// An answer-only event stream whose content is `unit` (JSON-escaped) repeated to about
/// `size` bytes, in events of `event` bytes, ending cleanly.
fn markup_reply(unit: &str, size: usize, event: usize) -> Vec<u8> {
    let mut content = unit.repeat(size / unit.len() + 1);
    if !unit.contains('\\') {
        content.truncate(size); // only where no escape can be cut in two
    }
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for piece in content.as_bytes().chunks(event) {
        let event = format!(
            "data: {{\"e\":0,\"m\":\"\",\"d\":{{\"answer\":\"{}\",\"ext\":[]}}}}\n\n",
            std::str::from_utf8(piece).unwrap()
        );
        out.extend_from_slice(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes());
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
