//! Benchmark of the C API against the in-process emulator. Prints figures; asserts nothing.
//!
//!   make bench   (builds in release mode and runs: bench target/release/ustb-emulator)
//!
//! The emulator runs as a child process so that the RSS figures are the library's alone.
//!
//! Machines here are shared and noisy: each figure is a median of repeated runs, and speed is
//! reported as a ratio to a raw-socket baseline measured in the same run.

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ptr;
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ustb_openai::ffi::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4
}

/// CPU seconds (user + system) this process has used; the emulator is another process.
fn cpu_secs() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn request(prompt: &str) -> CString {
    CString::new(serde_json::json!({ "messages": [{ "role": "user", "content": prompt }] }).to_string()).unwrap()
}

fn client(url: &str) -> *mut ustb_client {
    let opts = CString::new(format!("{{\"base_url\":\"{url}\",\"vjuid_login\":\"bench\"}}")).unwrap();
    let mut c = ptr::null_mut();
    let st = unsafe { ustb_client_new(opts.as_ptr(), &mut c, ptr::null_mut()) };
    assert_eq!(st, ustb_status::USTB_OK);
    c
}

/// Streams one reply through the pull API; returns (chunks, bytes of chunk JSON).
fn pull(c: *mut ustb_client, req: &CString) -> (usize, usize) {
    let mut s = ptr::null_mut();
    unsafe {
        assert_eq!(ustb_chat_stream_open(c, req.as_ptr(), &mut s, ptr::null_mut()), ustb_status::USTB_OK);
        let (mut n, mut bytes) = (0, 0);
        loop {
            let mut chunk = ptr::null_mut();
            let mut len = 0;
            match ustb_chat_stream_next(s, &mut chunk, &mut len, ptr::null_mut()) {
                ustb_status::USTB_OK => {
                    n += 1;
                    bytes += len;
                    ustb_string_free(chunk);
                }
                ustb_status::USTB_END_OF_STREAM => break,
                other => panic!("stream failed: {other:?}"),
            }
        }
        ustb_chat_stream_free(s);
        (n, bytes)
    }
}

/// The same chat over a plain socket, reading the body to the end without decoding.
fn raw(url: &str, prompt: &str) -> usize {
    let addr = url.trim_start_matches("http://");
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n{prompt}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"compose_id\"\r\n\r\n3\r\n--{boundary}--\r\n"
    );
    let mut sock = TcpStream::connect(addr).unwrap();
    write!(
        sock,
        "POST /site/ai/compose_chat HTTP/1.1\r\nHost: {addr}\r\nCookie: cookie_vjuid_login=bench\r\n\
         Connection: close\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    loop {
        match sock.read(&mut buf).unwrap() {
            0 => return total,
            n => total += n,
        }
    }
}

fn main() {
    let runs = 7;
    let emulator = std::env::args().nth(1).unwrap_or_else(|| "target/release/ustb-emulator".into());
    let mut emu = Command::new(&emulator)
        .args(["--chunk-chars", "16"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {emulator}: {e}"));
    let mut line = String::new();
    BufReader::new(emu.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().trim_start_matches("ustb-emulator listening on ").to_string();
    let c = client(&url);
    println!("ustb-openai {} benchmark (medians of {runs} runs)", env!("CARGO_PKG_VERSION"));

    // 1. Throughput of a long streamed reply: library pull API vs. reading the raw bytes.
    let chars = 1_000_000;
    let prompt = format!("@emu:long={chars}");
    let req = request(&prompt);
    pull(c, &req); // warm-up
    let mut lib_t = Vec::new();
    let mut lib_cpu = Vec::new();
    let mut raw_t = Vec::new();
    let mut chunks = 0;
    let mut raw_bytes = 0;
    for _ in 0..runs {
        let (t, cpu) = (Instant::now(), cpu_secs());
        chunks = pull(c, &req).0;
        lib_t.push(t.elapsed().as_secs_f64());
        lib_cpu.push(cpu_secs() - cpu);
        let t = Instant::now();
        raw_bytes = raw(&url, &prompt);
        raw_t.push(t.elapsed().as_secs_f64());
    }
    let (lib, base) = (median(lib_t), median(raw_t));
    println!(
        "long reply ({chars} chars, {chunks} chunks, {:.1} MB on the wire): library {:.1} ms ({:.0} chunks/s), raw socket read {:.1} ms; library/raw = {:.2}",
        raw_bytes as f64 / 1e6,
        lib * 1e3,
        chunks as f64 / lib,
        base * 1e3,
        lib / base
    );
    let cpu = median(lib_cpu);
    println!(
        "library CPU for that reply: {:.1} ms = {:.2} µs per chunk, {:.1} ms per MB received (the rest is waiting for the server)",
        cpu * 1e3,
        cpu * 1e6 / chunks as f64,
        cpu * 1e3 / (raw_bytes as f64 / 1e6)
    );

    // 2. Small replies back to back on one client (kept-alive connection).
    let small = request("hi");
    let mut per = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..100 {
            pull(c, &small);
        }
        per.push(t.elapsed().as_secs_f64() / 100.0);
    }
    println!("small reply, whole request: {:.3} ms median per request (100 in a row, one client)", median(per) * 1e3);

    // 3. Cancel latency: from ustb_chat_stream_cancel to next() returning on a silent server.
    let silent = request("@emu:silent");
    let mut lat = Vec::new();
    for _ in 0..20 {
        let mut s = ptr::null_mut();
        unsafe { ustb_chat_stream_open(c, silent.as_ptr(), &mut s, ptr::null_mut()) };
        let handle = s as usize;
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            unsafe { ustb_chat_stream_cancel(handle as *const ustb_chat_stream) };
            t
        });
        let st = loop {
            let mut chunk = ptr::null_mut();
            let st = unsafe { ustb_chat_stream_next(s, &mut chunk, ptr::null_mut(), ptr::null_mut()) };
            if st != ustb_status::USTB_OK {
                break st;
            }
            unsafe { ustb_string_free(chunk) };
        };
        let done = Instant::now();
        let t = canceller.join().unwrap();
        assert_eq!(st, ustb_status::USTB_CANCELLED);
        lat.push(done.duration_since(t).as_secs_f64());
        unsafe { ustb_chat_stream_free(s) };
    }
    let max = lat.iter().cloned().fold(0.0, f64::max);
    println!(
        "cancel latency on a silent server: median {:.3} ms, max {:.3} ms (20 runs; target < 100 ms)",
        median(lat) * 1e3,
        max * 1e3
    );

    // 4. Memory: streaming does not hold the reply. RSS after a 1M and a 8M-char reply.
    let before = rss_kib();
    pull(c, &request("@emu:long=1000000"));
    let after_1m = rss_kib();
    pull(c, &request("@emu:long=8000000"));
    let after_8m = rss_kib();
    println!(
        "memory: RSS {before} KiB at start, {after_1m} KiB after a 1M-char stream, {after_8m} KiB after an 8M-char stream (growth 1M→8M: {} KiB)",
        after_8m as i64 - after_1m as i64
    );
    unsafe { ustb_client_free(c) };
    let _ = emu.kill();
    let _ = emu.wait();
}
