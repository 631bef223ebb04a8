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

/// A record `replay_server` serves once: a 200 JSON reply of `body` in one write.
fn json_record(path: &str, body: &[u8]) -> Value {
    use base64::Engine;
    json!({
        "request": { "method": "GET", "path": path },
        "status": 200,
        "headers": [["content-type", "application/json; charset=utf-8"]],
        "reads": [{ "at_ms": 0, "b64": base64::engine::general_purpose::STANDARD.encode(body) }],
        "end": "eof",
    })
}

const SESSIONS_PATH: &str = "/site/voom/session_list?page=1&pageSize=100";

/// A session list of `n` entries shaped like the real one: each names the user by `uid`.
fn sessions_reply(n: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "id": i, "sess_id": format!("{i:032x}"), "uid": 100231, "compose_id": { "id": 3 },
                "create_time": "2025-03-01 10:00:00", "last_content": format!("问题 {i}"), "is_delete": 0 })
        })
        .collect();
    json!({ "e": 0, "m": "", "d": items }).to_string().into_bytes()
}

/// CPU seconds of this thread (the client reads and records on the calling thread; other
/// processes' load does not count).
fn thread_cpu() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// CPU seconds for `ustb_client_sessions` on a reply of `n` entries (median of `runs`),
/// recorded to `file` or not.
fn sessions_seconds(n: usize, runs: usize, file: Option<&Path>) -> f64 {
    let body = sessions_reply(n);
    let url = replay_server((0..runs).map(|_| json_record(SESSIONS_PATH, &body)).collect());
    let mut times = Vec::new();
    for _ in 0..runs {
        let mut o = options(&url);
        if let Some(file) = file {
            let _ = std::fs::remove_file(file);
            o["record"] = json!(file.to_str().unwrap());
        }
        let c = client(&o).unwrap();
        let (mut out, mut err) = (std::ptr::null_mut(), std::ptr::null_mut());
        let started = thread_cpu();
        let st = unsafe { ustb_openai::ffi::ustb_client_sessions(c.0, 1, 100, NONE, &mut out, &mut err) };
        times.push(thread_cpu() - started);
        check(st, err).unwrap();
        let text = unsafe { take_string(out) };
        assert!(text.len() > body.len() / 2);
    }
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// Recording a long session list costs a small multiple of the call itself (it was quadratic:
/// every entry's uid was searched for in the whole reply). The growth with size is checked by
/// `upstream::record::tests::redaction_time_is_linear`. `USTB_CAPTURE_ENTRIES=5000,10000,20000,40000`
/// prints the issue's figures.
#[test]
fn recording_a_session_list_costs_a_small_multiple_of_the_call() {
    let file = target_dir().join("captures-sessions.jsonl");
    let sizes: Vec<usize> = std::env::var("USTB_CAPTURE_ENTRIES")
        .map(|s| s.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![8000]);
    for &n in &sizes {
        let with = sessions_seconds(n, 3, Some(&file));
        let without = sessions_seconds(n, 3, None);
        println!(
            "{n} entries ({} bytes): {with:.3} s with record, {without:.3} s without (CPU)",
            sessions_reply(n).len()
        );
        assert!(with < 4.0 * without, "{n} entries: {with:.3} s with record, {without:.3} s without");
    }
    // The capture holds the list, redacted: the uid of every entry is masked.
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 1);
    let body = capture_body(&capture_records(&file)[0]);
    assert!(!body.contains("100231") && body.contains("\"uid\":100000"), "{}", &body[..300]);
}

/// The body bytes of a capture record, joined.
fn capture_body(record: &Value) -> String {
    use base64::Engine;
    let mut bytes = Vec::new();
    for read in record["reads"].as_array().unwrap() {
        bytes.extend(base64::engine::general_purpose::STANDARD.decode(read["b64"].as_str().unwrap()).unwrap());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Peak resident set size since the last reset, in bytes (`VmHWM`; reset through clear_refs).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap();
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

/// Recording a long stream holds no whole reply: in a child process (so the peak is the
/// client's alone), the peak RSS grows by less than a quarter of the stream while a 32 MB
/// stream (`USTB_RECORD_STREAM_MB` to change, up to about 65) is read with `record` on.
#[test]
fn recording_a_long_stream_holds_no_whole_reply() {
    const CHILD: &str = "USTB_RECORD_CHILD_URL";
    let mb: usize = std::env::var("USTB_RECORD_STREAM_MB").map_or(32, |v| v.parse().unwrap());
    // One event per 3000 characters, each about 9 KB on the wire (the text is in it twice).
    let prompt = format!("@emu:long={}", mb * 1_000_000 / 3);
    if let Ok(url) = std::env::var(CHILD) {
        let mut o = options(&url);
        let file = std::env::var("USTB_RECORD_CHILD_FILE").unwrap();
        if std::env::var_os("USTB_RECORD_CHILD_OFF").is_none() {
            o["record"] = json!(file);
        }
        let c = client(&o).unwrap();
        stream_all(&c, &request("@emu:long=100000")); // warm-up: pool, buffers
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let base = peak_rss();
        let s = open(&c, &request(&prompt)).unwrap();
        let mut chunks = 0;
        while next(&s).unwrap().is_some() {
            chunks += 1; // counted, not kept: the peak is the library's
        }
        println!("figures: growth={} chunks={chunks}", peak_rss() - base);
        return;
    }
    let emu = emulator_with(ustb_openai::emulator::Config { chunk_chars: 3000, ..Default::default() });
    let file = target_dir().join("captures-memory.jsonl");
    let child = |record: bool| {
        let _ = std::fs::remove_file(&file);
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "recording_a_long_stream_holds_no_whole_reply", "--nocapture"])
            .env(CHILD, emu.base_url())
            .env("USTB_RECORD_CHILD_FILE", &file);
        if !record {
            cmd.env("USTB_RECORD_CHILD_OFF", "1");
        }
        let out = run(&mut cmd);
        assert_ok("the child", &out);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = stdout.lines().find_map(|l| l.strip_prefix("figures: ")).unwrap_or_else(|| panic!("{stdout}"));
        let growth: u64 = line.split_whitespace().find_map(|kv| kv.strip_prefix("growth=")).unwrap().parse().unwrap();
        growth
    };
    let without = child(false);
    let with = child(true);
    // The stream's size on the wire: the capture holds it in base64 (4 bytes per 3).
    let last = std::fs::read_to_string(&file).unwrap().lines().last().unwrap().len() as u64;
    let wire = last * 3 / 4;
    println!(
        "a {:.1} MB stream: peak RSS growth {:.1} MiB with record, {:.1} MiB without",
        wire as f64 / 1e6,
        with as f64 / 1048576.0,
        without as f64 / 1048576.0
    );
    // The emulator's `long` stops at 16 Mi characters (about 65 MB here).
    assert!(wire as usize > (mb * 900_000).min(60_000_000), "the stream is {wire} bytes");
    assert!(with < wire / 4, "recording held {with} bytes for a {wire}-byte stream");
}

/// A `record` path that is not a regular file is refused at once (a FIFO without a reader
/// would block the open forever), and a new capture file is private (it holds prompts).
#[test]
fn record_paths_other_than_files_are_refused_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = target_dir().join("captures-paths");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    for path in [fifo.to_str().unwrap(), dir.to_str().unwrap(), "/dev/null"] {
        let (tx, rx) = std::sync::mpsc::channel();
        let options = json!({ "base_url": "http://127.0.0.1:9", "record": path });
        std::thread::spawn(move || tx.send(client(&options).err()).unwrap());
        let refused = rx.recv_timeout(std::time::Duration::from_secs(5));
        let Ok(Some(f)) = refused else {
            // Unblock the open the library is stuck in, so the test ends.
            let _ = std::fs::File::open(&fifo);
            panic!("{path}: not refused within 5 s ({refused:?})");
        };
        assert_eq!(f.status, ustb_openai::ffi::ustb_status::USTB_INVALID_ARGUMENT, "{path}");
        assert!(f.message.contains("not a regular file"), "{path}: {}", f.message);
    }
    let file = dir.join("capture.jsonl");
    drop(client(&json!({ "base_url": "http://127.0.0.1:9", "record": file.to_str().unwrap() })).unwrap());
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

/// Streams read at once on one client each leave one whole line (bodies are spooled, not
/// written into the capture as they come).
#[test]
fn concurrent_exchanges_leave_whole_lines() {
    let emu = emulator_with(ustb_openai::emulator::Config { chunk_chars: 500, ..Default::default() });
    let file = target_dir().join("captures-concurrent.jsonl");
    let _ = std::fs::remove_file(&file);
    let mut o = options(&emu.base_url());
    o["record"] = json!(file.to_str().unwrap());
    let c = client(&o).unwrap();
    let streams: Vec<Stream> = (0..6).map(|_| open(&c, &request("@emu:long=200000")).unwrap()).collect();
    // Read in turns, so every body is under way at the same time.
    let mut open_streams: Vec<&Stream> = streams.iter().collect();
    while !open_streams.is_empty() {
        open_streams.retain(|s| next(s).unwrap().is_some());
    }
    drop(streams);
    let records = capture_records(&file);
    let chats: Vec<&Value> = records.iter().filter(|r| r["request"]["path"] == "/site/ai/compose_chat").collect();
    assert_eq!(chats.len(), 6);
    for r in chats {
        assert_eq!(r["end"], "eof");
        let body = capture_body(r);
        assert!(body.len() > 300_000 && body.ends_with("\n\n"), "{} bytes", body.len());
    }
}
