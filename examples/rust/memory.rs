//! Memory probes. Each runs in a fresh child process (`bench --child …`) so its RSS holds only
//! the library and this small program: no captured replies, no canned server, no emulator.

use std::process::Command;

use crate::capi;

/// Resident set size now, in bytes (`/proc/self/statm`).
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as u64 }
}

/// Peak resident set size since the last `reset_peak`, in bytes (`VmHWM` in /proc/self/status).
/// Not getrusage's ru_maxrss: that one keeps the parent's peak across fork and exec.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// Resets the peak to the current RSS (Linux ≥ 4.0: `5` into /proc/self/clear_refs).
pub fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS via /proc/self/clear_refs");
}

/// Runs `bench --child KIND URL PROMPT` and returns its `name=value` figures.
pub fn run_child(kind: &str, url: &str, prompt: &str) -> Vec<(String, f64)> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).args(["--child", kind, url, prompt]).output().unwrap();
    assert!(out.status.success(), "child {kind} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The child's side: prints `name=value` figures for `kind` on stdout.
pub fn child(kind: &str, url: &str, prompt: &str) {
    let c = capi::client(url);
    match kind {
        "stream" => stream(c, prompt),
        "create" => create(c, prompt),
        _ => panic!("unknown child {kind}"),
    }
}

/// RSS while streaming: sampled every 4,096 chunks, and the peak (VmHWM).
fn stream(c: *mut ustb_openai::ffi::ustb_client, prompt: &str) {
    capi::pull(c, &capi::request("@emu:long=100000")); // warm-up: pool, buffers, threads
    reset_peak();
    let base = rss();
    let mut sampled = base;
    let (chunks, bytes) = capi::pull_watching(c, &capi::request(prompt), |_| sampled = sampled.max(rss()));
    let end = rss();
    println!("base={base} sampled_max={sampled} end={end} peak={} chunks={chunks} chunk_bytes={bytes}", peak_rss());
}

/// Peak RSS of `ustb_chat_create`, read before the result is copied or parsed.
fn create(c: *mut ustb_openai::ffi::ustb_client, prompt: &str) {
    capi::create(c, &capi::request("hi"), |_| ()); // warm-up
    reset_peak();
    let base = rss();
    let (peak, json_len, content_len) = capi::create(c, &capi::request(prompt), |json| {
        let peak = peak_rss();
        let v: serde_json::Value = serde_json::from_slice(json).expect("completion JSON");
        let content = v["choices"][0]["message"]["content"].as_str().unwrap_or("").len();
        (peak, json.len(), content)
    });
    println!("base={base} peak={peak} json_len={json_len} content_len={content_len}");
}
