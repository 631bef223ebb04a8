//! Benchmark of the C API (issue 8). Prints figures beside their floors; asserts nothing.
//!
//!   make bench            (release build, Python venv, then: bench target/release/ustb-emulator)
//!   BENCH_RUNS=9 make bench      more runs per median (default 7)
//!   BENCH_SCALE=0.1 make bench   smaller streams and fewer requests (default 1)
//!
//! Replies are captured once from the real emulator (a child process) and replayed by a canned
//! server in this process (canned.rs), so every throughput figure reads the same bytes and none
//! waits for the emulator. Floors over those bytes: raw (socket read, no parsing), SSE (split
//! only, in memory) and decode (split + decode + OpenAI chunk JSON, in memory). The Python
//! client users have today reads the same canned stream in the same run (seed_client.py), and
//! so does each host wrapper's own bench program (wrappers.rs: Go, Node, C#, Python).
//! Memory figures come from child processes streaming from the real emulator (memory.rs).

mod canned;
mod capi;
mod memory;
mod wrappers;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::ptr;
use std::time::{Duration, Instant};

use canned::{Canned, Capture};
use capi::Shared;
use ustb_openai::__bench::{decode_chunks, sse_events};
use ustb_openai::ffi::*;

/// The venv `make bench` creates (BENCH_PYTHON overrides).
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-venv/bin/python");
const SEED_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python/bench/seed_client.py");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return memory::child(&args[2], &args[3], &args[4]);
    }
    let emulator = args.get(1).cloned().unwrap_or_else(|| "target/release/ustb-emulator".into());
    let runs = env_num("BENCH_RUNS", 7.0).max(1.0) as usize;
    let scale = env_num("BENCH_SCALE", 1.0);
    let scaled = |n: f64| ((n * scale) as usize).max(1);
    let started = Instant::now();
    let mut t = Table::default();
    println!("ustb-openai {} benchmark: medians of {runs} runs, BENCH_SCALE={scale}", env!("CARGO_PKG_VERSION"));

    // The reference stream: 2-character deltas, one event per delta.
    let (mut emu, emu_url) = start_emulator(&emulator, 2);
    let emu_addr = emu_url.trim_start_matches("http://").to_string();
    let long = format!("@emu:long={}", scaled(200_000.0));
    let main = Stream::capture(&emu_addr, &long);
    println!(
        "stream `{long}` (emulator --chunk-chars 2): {} events, {:.1} MB on the wire, {:.0} bytes per event",
        main.events,
        main.cap.response.len() as f64 / 1e6,
        main.cap.response.len() as f64 / main.events as f64
    );

    throughput(&mut t, &main, runs);
    answer_only(&mut t, &main, &emu_addr, &long, runs);
    concurrency(&mut t, &emu_addr, scaled(20_000.0), runs);
    sequential(&mut t, &emu_addr, scaled(1000.0), runs);
    first_chunk(&mut t, &emu_addr, scaled(50.0).max(10));
    cancel(&mut t, &emu_url);
    let _ = emu.kill();
    let _ = emu.wait();
    memory_figures(&mut t, &emulator, scale);

    println!();
    t.print();
    println!("\nwhole run: {:.0} s", started.elapsed().as_secs_f64());
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64(), out)
}

/// Wall and calling-thread CPU seconds of repeated runs of one reader.
#[derive(Default)]
struct Runs {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Runs {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        let out = f();
        self.cpu.push(thread_cpu() - cpu);
        self.wall.push(wall.elapsed().as_secs_f64());
        out
    }

    fn wall(&self) -> f64 {
        median(self.wall.clone())
    }

    fn cpu(&self) -> f64 {
        median(self.cpu.clone())
    }
}

/// CPU seconds (user + system) of the calling thread: the library reads and decodes on it, so
/// this is its cost, whatever else the shared machine runs meanwhile.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// How many times faster `a` is than `b`: (by wall time, by CPU time).
fn ratio(a: &Runs, b: &Runs) -> (f64, f64) {
    (b.wall() / a.wall(), b.cpu() / a.cpu())
}

fn show((wall, cpu): (f64, f64)) -> String {
    format!("{wall:.2}× (CPU {cpu:.2}×)")
}

/// Starts `ustb-emulator --chunk-chars N` and returns it with its base URL.
fn start_emulator(path: &str, chunk_chars: usize) -> (Child, String) {
    let mut emu = Command::new(path)
        .args(["--chunk-chars", &chunk_chars.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {path}: {e}"));
    let mut line = String::new();
    BufReader::new(emu.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().trim_start_matches("ustb-emulator listening on ").to_string();
    (emu, url)
}

/// A captured stream, served by its own canned server.
struct Stream {
    prompt: String,
    cap: Capture,
    events: usize,
    server: Canned,
}

impl Stream {
    fn capture(emu_addr: &str, prompt: &str) -> Stream {
        let cap = canned::capture(emu_addr, prompt);
        let events = sse_events(&cap.body);
        let server = Canned::start(cap.response.clone());
        Stream { prompt: prompt.to_string(), cap, events, server }
    }

    fn wire_mb(&self) -> f64 {
        self.cap.response.len() as f64 / 1e6
    }
}

/// Item 1-4: floors, library (pull and callback) and the Python client, on the same bytes.
fn throughput(t: &mut Table, s: &Stream, runs: usize) {
    let c = capi::client(&s.server.url);
    let req = capi::request(&s.prompt);
    capi::pull(c, &req); // warm-up
    let (mut raw, mut sse, mut dec, mut pull, mut cb) = Default::default();
    let mut chunks = (0, 0, 0);
    for _ in 0..runs {
        // Interleaved, so the machine's noise touches every figure alike.
        Runs::time(&mut raw, || canned::raw_read(&s.server.addr, &s.prompt, s.cap.response.len()));
        Runs::time(&mut sse, || sse_events(&s.cap.body));
        chunks.0 = Runs::time(&mut dec, || decode_chunks(&s.cap.body)).0;
        chunks.1 = Runs::time(&mut pull, || capi::pull(c, &req)).0;
        chunks.2 = Runs::time(&mut cb, || capi::for_each(c, &req));
    }
    unsafe { ustb_client_free(c) };
    let (py, py_events) = python(s, runs);
    let (wire, body) = (s.wire_mb(), s.cap.body.len() as f64 / 1e6);
    println!(
        "chunks per reply: decode floor {}, pull {}, callback {}, Python {py_events} (events {})",
        chunks.0, chunks.1, chunks.2, s.events
    );
    t.section(&format!(
        "Stream: {} events, {:.1} MB on the wire ({:.0} B/event), loopback, canned server",
        s.events,
        wire,
        s.cap.response.len() as f64 / s.events as f64
    ));
    t.speed("floor: raw socket read (events/s)", s.events, &raw, wire, String::new(), "", "");
    t.speed("floor: SSE split, in memory (events/s)", s.events, &sse, body, String::new(), "", "");
    t.speed("floor: decode, in memory (chunks/s)", chunks.0, &dec, body, String::new(), "", "");
    let (vs_dec, vs_py) = (ratio(&pull, &dec), ratio(&pull, &py));
    t.speed(
        "library pull API (chunks/s)",
        chunks.1,
        &pull,
        wire,
        format!("{} decode floor; {} Python", show(vs_dec), show(vs_py)),
        "≥ 0.70× decode, ≥ 9× Python",
        verdict(vs_dec.1 >= 0.7 && vs_py.1 >= 9.0),
    );
    let vs_pull = ratio(&cb, &pull);
    t.speed(
        "library callback API (chunks/s)",
        chunks.2,
        &cb,
        wire,
        format!("{} decode floor; {} pull", show(ratio(&cb, &dec)), show(vs_pull)),
        "≥ 1× pull",
        verdict(vs_pull.1 >= 1.0),
    );
    t.speed("Python seed client: httpx + httpx-sse + pydantic (chunks/s)", py_events, &py, wire, String::new(), "", "");
    host_wrappers(t, s, runs);
}

/// Each host wrapper's own bench program (wrappers.rs) on the same canned stream, beside the C
/// pull API measured just before and just after it, so the machine's drift between hosts
/// cancels out. The CPU form counts the wrapper's whole process (its GC and worker threads
/// too) against the pull reader's thread: the C API reads on the calling thread, starting none.
fn host_wrappers(t: &mut Table, s: &Stream, runs: usize) {
    let started = Instant::now();
    // At most 5 runs each: Node reads the full stream in ~7 s here, and the whole wrapper part
    // (builds included) should stay well under 3 minutes.
    let runs = runs.min(5);
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| PYTHON.into());
    let c = capi::client(&s.server.url);
    let req = capi::request(&s.prompt);
    let pull = |r: &mut Runs| (0..runs).map(|_| r.time(|| capi::pull(c, &req)).0).last().unwrap();
    for host in &wrappers::HOSTS {
        let name = format!("host wrapper: {} — {} (chunks/s)", host.name, host.api);
        let mut reference = Runs::default();
        pull(&mut reference);
        let measured = wrappers::measure(host, &s.server.url, runs, &python);
        let pulled = pull(&mut reference);
        match measured {
            Ok(m) => {
                println!("{}: {} chunks, {} chunks/s", host.name, m.chunks, fmt_rate(m.rate));
                t.row(&name, fmt_rate(m.rate), beside_pull(&m, pulled, &reference), "", "");
            }
            Err(why) => {
                println!("{}: not measured: {why}", host.name);
                t.row(&name, "not measured".into(), format!("not measured: {why}"), "", "");
            }
        }
    }
    unsafe { ustb_client_free(c) };
    println!("host wrappers: {:.0} s, builds included", started.elapsed().as_secs_f64());
}

/// A wrapper's figures beside the C pull API's (`pulled` chunks per reply, timed in `pull`).
fn beside_pull(m: &wrappers::Measured, pulled: usize, pull: &Runs) -> String {
    let (rate, cpu) = (pulled as f64 / pull.wall(), pulled as f64 / pull.cpu());
    let count = if m.chunks == pulled {
        format!("{} chunks, as the C API", m.chunks)
    } else {
        format!("{} chunks ≠ the C API's {pulled}", m.chunks)
    };
    format!(
        "CPU {} chunks/s; {} the C pull API ({} chunks/s, CPU {}, around it); \
         +{:.2} µs (CPU +{:.2} µs) per chunk; {count}",
        fmt_rate(m.cpu_rate),
        show((m.rate / rate, m.cpu_rate / cpu)),
        fmt_rate(rate),
        fmt_rate(cpu),
        1e6 / m.rate - 1e6 / rate,
        1e6 / m.cpu_rate - 1e6 / cpu
    )
}

/// Per-stream seconds (wall and CPU) and events per stream of the Python seed client.
fn python(s: &Stream, runs: usize) -> (Runs, usize) {
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| PYTHON.into());
    let out = Command::new(&python)
        .args([SEED_CLIENT, &s.server.url, &s.prompt, &runs.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (make bench creates it): {e}"));
    assert!(out.status.success(), "seed_client.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("seed_client.py output");
    let list = |k: &str| v[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    (Runs { wall: list("wall_s"), cpu: list("cpu_s") }, v["events"].as_u64().unwrap() as usize)
}

/// Item 3: the answer-only form and `<think>` splitting, beside the 2026 form's pull rate.
fn answer_only(t: &mut Table, main: &Stream, emu_addr: &str, long: &str, runs: usize) {
    let c = capi::client(&main.server.url);
    let main_req = capi::request(&main.prompt);
    for variant in ["answer-only", "think-inline"] {
        let s = Stream::capture(emu_addr, &format!("{long} @emu:{variant}"));
        let vc = capi::client(&s.server.url);
        let req = capi::request(&s.prompt);
        capi::pull(vc, &req);
        let (mut dec, mut pull, mut base) = Default::default();
        let mut chunks = (0, 0, 0);
        for _ in 0..runs {
            chunks.0 = Runs::time(&mut dec, || decode_chunks(&s.cap.body)).0;
            chunks.1 = Runs::time(&mut pull, || capi::pull(vc, &req)).0;
            chunks.2 = Runs::time(&mut base, || capi::pull(c, &main_req)).0;
        }
        unsafe { ustb_client_free(vc) };
        // Per chunk, so the two forms (different event sizes) compare fairly.
        let per_chunk = |r: &Runs, n: usize| Runs {
            wall: r.wall.iter().map(|x| x / n as f64).collect(),
            cpu: r.cpu.iter().map(|x| x / n as f64).collect(),
        };
        let vs_main = ratio(&per_chunk(&pull, chunks.1), &per_chunk(&base, chunks.2));
        t.speed(
            &format!("{variant} ({} events, {:.1} MB): library pull (chunks/s)", s.events, s.wire_mb()),
            chunks.1,
            &pull,
            s.wire_mb(),
            format!(
                "{} decode floor ({} chunks/s); {} the 2026 form ({} chunks/s)",
                show(ratio(&pull, &dec)),
                rate(chunks.0 as f64, dec.wall()),
                show(vs_main),
                rate(chunks.2 as f64, base.wall())
            ),
            "≥ 1× 2026 form",
            verdict(vs_main.1 >= 1.0),
        );
    }
    unsafe { ustb_client_free(c) };
}

/// Item 7: N threads streaming at once on one client.
fn concurrency(t: &mut Table, emu_addr: &str, chars: usize, runs: usize) {
    let s = Stream::capture(emu_addr, &format!("@emu:long={chars}"));
    let c = Shared(capi::client(&s.server.url));
    let req = capi::request(&s.prompt);
    let each = capi::pull(c.0, &req).0;
    t.section(&format!("Concurrent streams on one client: {} events each ({:.1} MB)", s.events, s.wire_mb()));
    let mut single = 0.0;
    for threads in [1, 8, 64] {
        let mut rates = vec![];
        for _ in 0..runs {
            let (secs, total) = timed(|| {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        let req = req.clone();
                        // `{ c }`: capture the Send wrapper, not its raw pointer field.
                        std::thread::spawn(move || capi::pull({ c }.0, &req).0)
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("a stream failed")).sum::<usize>()
            });
            assert_eq!(total, threads * each, "every stream complete");
            rates.push(total as f64 / secs);
        }
        let agg = median(rates);
        if threads == 1 {
            single = agg;
        }
        t.row(
            &format!("{threads} stream(s): aggregate chunks/s"),
            fmt_rate(agg),
            format!("{:.2}× one stream", agg / single),
            "all complete; ≥ 1× one stream",
            verdict(agg >= single * 0.999),
        );
    }
    unsafe { ustb_client_free(c.0) };
}

/// Item 6: short requests back to back on one client; TCP connections counted at the server.
fn sequential(t: &mut Table, emu_addr: &str, n: usize, runs: usize) {
    let s = Stream::capture(emu_addr, "hi");
    let req = capi::request("hi");
    let mut rates = vec![];
    let mut accepts = 0;
    for _ in 0..runs {
        let c = capi::client(&s.server.url);
        let before = s.server.accepts();
        let (secs, _) = timed(|| {
            (0..n).for_each(|_| {
                capi::pull(c, &req);
            })
        });
        accepts = accepts.max(s.server.accepts() - before);
        rates.push(n as f64 / secs);
        unsafe { ustb_client_free(c) };
    }
    t.section(&format!("{n} sequential short requests on one client ({} events each)", s.events));
    t.row(
        "canned server: requests/s",
        fmt_rate(median(rates)),
        format!("TCP connections accepted: {accepts} (the most in any of {runs} runs)"),
        "≤ 8 connections (pool size)",
        verdict(accepts <= 8),
    );
    // The same against the real emulator (in this process), which counts its own accepts.
    let emu = ustb_openai::emulator::Emulator::start(
        ustb_openai::emulator::Config { chunk_chars: 2, ..Default::default() },
        "127.0.0.1:0",
    )
    .unwrap();
    let c = capi::client(&emu.base_url());
    let (secs, _) = timed(|| {
        (0..n).for_each(|_| {
            capi::pull(c, &req);
        })
    });
    unsafe { ustb_client_free(c) };
    let accepted = emu.connections_accepted();
    t.row(
        "emulator (in process, one run): requests/s",
        fmt_rate(n as f64 / secs),
        format!("TCP connections the emulator accepted: {accepted}"),
        "≤ 8 connections (pool size)",
        verdict(accepted <= 8),
    );
    emu.stop();
}

/// Item 8: open → first chunk in hand, against a raw socket's first byte; both connect anew.
fn first_chunk(t: &mut Table, emu_addr: &str, rounds: usize) {
    let s = Stream::capture(emu_addr, "hi");
    let req = capi::request("hi");
    let (mut raw, mut lib) = (vec![], vec![]);
    for _ in 0..rounds {
        raw.push(canned::raw_read(&s.server.addr, "hi", s.cap.response.len()).0);
        let c = capi::client(&s.server.url);
        lib.push(capi::first_chunk(c, &req));
        unsafe { ustb_client_free(c) };
    }
    let added: Vec<f64> = lib.iter().zip(&raw).map(|(l, r)| (l - r) * 1e3).collect();
    let (raw, lib, added) = (median(raw) * 1e3, median(lib) * 1e3, median(added));
    t.section(&format!("Latency (median of {rounds}, each on a new client and connection)"));
    t.row(
        "first chunk: library, open → first chunk (ms)",
        format!("{lib:.3}"),
        format!("raw socket: connect → first byte {raw:.3} ms; library adds {added:.3} ms (median of the differences)"),
        "adds < 1 ms",
        verdict(added < 1.0),
    );
}

/// Cancel latency on a silent server (the real emulator): cancel → next() returns.
fn cancel(t: &mut Table, emu_url: &str) {
    let c = capi::client(emu_url);
    let silent = capi::request("@emu:silent");
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
        lat.push(done.duration_since(t).as_secs_f64() * 1e3);
        unsafe { ustb_chat_stream_free(s) };
    }
    unsafe { ustb_client_free(c) };
    let max = lat.iter().cloned().fold(0.0, f64::max);
    t.row(
        "cancel on a silent server → next() returns (ms)",
        format!("{:.3}", median(lat)),
        format!("max {max:.3} ms of 20"),
        "< 100 ms",
        verdict(max < 100.0),
    );
}

/// Item 5: RSS while streaming a ~100 MB reply, and the peak of `ustb_chat_create` of a
/// ~10 MB reply, each in a fresh child process reading the real emulator.
fn memory_figures(t: &mut Table, emulator: &str, scale: f64) {
    let (mut emu, url) = start_emulator(emulator, 160);
    let addr = url.trim_start_matches("http://").to_string();
    let mb = |b: f64| b / (1 << 20) as f64;
    let long = format!("@emu:long={}", (16_000_000.0 * scale) as usize);
    let wire = canned::capture(&addr, &long).response.len() as f64;
    let get = |v: &[(String, f64)], k: &str| v.iter().find(|(n, _)| n == k).map(|p| p.1).unwrap();
    let st = memory::run_child("stream", &url, &long);
    let sampled = get(&st, "sampled_max") - get(&st, "base");
    let peak = get(&st, "peak") - get(&st, "base");
    t.section("Memory (child process, real emulator --chunk-chars 160)");
    t.row(
        &format!("stream {:.0} MB on the wire ({} chunks): RSS growth (MiB)", wire / 1e6, get(&st, "chunks")),
        format!("{:.2}", mb(sampled)),
        format!(
            "statm sampled every 4,096 chunks; peak (VmHWM) − start: {:.2} MiB; start {:.1} MiB",
            mb(peak),
            mb(get(&st, "base"))
        ),
        "< 8 MB",
        verdict(sampled.max(peak) < 8e6),
    );
    let long = format!("@emu:long={}", (5_400_000.0 * scale) as usize);
    let cr = memory::run_child("create", &url, &long);
    let content = get(&cr, "content_len");
    let peak = get(&cr, "peak") - get(&cr, "base");
    t.row(
        &format!("ustb_chat_create of a {:.1} MB reply: peak RSS growth ÷ reply", content / 1e6),
        format!("{:.2}×", peak / content),
        format!(
            "peak (VmHWM) − RSS before = {:.1} MiB; reply = message content; JSON {:.1} MB",
            mb(peak),
            get(&cr, "json_len") / 1e6
        ),
        "< 4×",
        verdict(peak / content < 4.0),
    );
    let _ = emu.kill();
    let _ = emu.wait();
}

fn rate(n: f64, secs: f64) -> String {
    fmt_rate(n / secs)
}

fn fmt_rate(r: f64) -> String {
    let s = format!("{:.0}", r);
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The closing table, in Markdown so BENCHMARKS.md can take it as is.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    fn section(&mut self, title: &str) {
        self.rows.push([format!("**{title}**"), String::new(), String::new(), String::new(), String::new()]);
    }

    fn row(&mut self, name: &str, value: String, beside: String, target: &str, verdict: &str) {
        self.rows.push([name.into(), value, beside, target.into(), verdict.into()]);
    }

    /// A throughput row: chunks/s by wall time, then MB/s and chunks per CPU-second.
    #[allow(clippy::too_many_arguments)]
    fn speed(&mut self, name: &str, n: usize, r: &Runs, mb: f64, more: String, target: &str, verdict: &str) {
        let sep = if more.is_empty() { "" } else { "; " };
        let beside = format!("{:.0} MB/s; CPU {} chunks/s{sep}{more}", mb / r.wall(), rate(n as f64, r.cpu()));
        self.row(name, rate(n as f64, r.wall()), beside, target, verdict);
    }

    fn print(&self) {
        println!("| figure | value | beside it (floors, ratios) | target | |");
        println!("|---|--:|---|---|---|");
        for r in &self.rows {
            println!("| {} | {} | {} | {} | {} |", r[0], r[1], r[2], r[3], r[4]);
        }
    }
}
