//! A slow name lookup (issue 16, item 5): a cancel and `connect_timeout_ms` must cut it short
//! on every path that looks a name up (a chat stream, a platform call, the login's
//! `qr_start`), as the doctor's lookup always did.
//!
//! The slowness is real: each test runs itself again in a child process with
//! tests/c/slow_dns.c preloaded, whose `getaddrinfo` sleeps for names ending in `.slow.test`
//! and then answers 127.0.0.1 (where the emulator listens). Each cancel trial uses a new name,
//! so each meets a lookup of its own. `USTB_LOOKUP_TRIALS` (default 5) sets the trials per
//! path; the median and worst latency after the cancel (or the timeout) are printed. Timing
//! is bounded generously only: a call must return within 2 s of its cancel or timeout, where
//! the lookup takes 4 s.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::ptr;
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use ustb_openai::emulator::Emulator;
use ustb_openai::ffi::*;

/// How long the shim's lookup takes.
const LOOKUP: Duration = Duration::from_secs(4);
/// A call must return within this of its cancel or timeout.
const BOUND: Duration = Duration::from_secs(2);
/// Set in the child process that runs a test under the shim.
const CHILD: &str = "USTB_SLOW_LOOKUP_CHILD";
const LOG: &str = "USTB_SLOW_DNS_LOG";

fn trials() -> usize {
    std::env::var("USTB_LOOKUP_TRIALS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(5).max(1)
}

/// The shim, built once.
fn shim() -> &'static PathBuf {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let so = target_dir().join("libustb_slow_dns.so");
        let out = run(Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(root().join("tests/c/slow_dns.c"))
            .arg("-ldl"));
        assert_ok("compiling the slow lookup shim", &out);
        so
    })
}

/// In the child: true (run the test). In the parent: runs `test` in a child process under
/// the shim, checks that it passed, prints its figures, and returns false.
fn under_shim(test: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let log = std::env::temp_dir().join(format!("ustb-slow-dns-{}-{test}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let out = run(Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("LD_PRELOAD", shim())
        .env("USTB_SLOW_DNS_MS", LOOKUP.as_millis().to_string())
        .env(LOG, &log));
    let _ = std::fs::remove_file(&log);
    assert_ok(test, &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("test result: ok. 1 passed"), "the child ran no test:\n{stdout}");
    // The figures (the harness may have begun the line with the test's name).
    for line in stdout.lines().filter_map(|l| l.find("slow lookup,").map(|at| &l[at..])) {
        println!("{line}");
    }
    false
}

/// A base URL naming a slow name (`tag.slow.test`) at the emulator's port.
fn slow_url(emu: &Emulator, tag: &str) -> String {
    let port = emu.base_url().rsplit(':').next().unwrap().to_string();
    format!("http://{tag}.slow.test:{port}")
}

fn slow_client(emu: &Emulator, tag: &str, extra: Value) -> Client {
    let mut options = json!({ "base_url": slow_url(emu, tag), "vjuid_login": LOGIN, "max_retries": 0 });
    options.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    client(&options).unwrap()
}

/// A login whose SSO (and SIS) is the slow name; the chat host is the emulator itself.
fn slow_login(emu: &Emulator, tag: &str, extra: Value) -> Login {
    let url = slow_url(emu, tag);
    let mut options = json!({ "base_url": emu.base_url(), "sso_base_url": url, "sis_base_url": url, "max_retries": 0 });
    options.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let opts = cstring(&options.to_string());
    let (mut l, mut err) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { ustb_login_new(opts.as_ptr(), &mut l, &mut err) }, err).unwrap();
    Login(l)
}

/// The three paths that look a name up, each run to its end: its status and message.
#[derive(Clone, Copy, Debug)]
enum Path {
    Stream,
    WebInfo,
    QrStart,
}

/// What a trial holds: the handle to call and the way to cancel it.
enum Call {
    /// The client is held so the stream is not its last user.
    Stream {
        _client: Client,
        stream: Stream,
    },
    WebInfo(Client, Canceller),
    QrStart(Login, Canceller),
}

fn status_of(st: ustb_status, err: *mut ustb_error) -> (ustb_status, String) {
    match check(st, err) {
        Ok(st) => (st, String::new()),
        Err(f) => (f.status, f.message),
    }
}

impl Call {
    fn new(path: Path, emu: &Emulator, tag: &str, extra: Value) -> Call {
        match path {
            Path::Stream => {
                let c = slow_client(emu, tag, extra);
                let s = open(&c, &user("hi")).unwrap();
                Call::Stream { _client: c, stream: s }
            }
            Path::WebInfo => Call::WebInfo(slow_client(emu, tag, extra), Canceller::new()),
            Path::QrStart => Call::QrStart(slow_login(emu, tag, extra), Canceller::new()),
        }
    }

    fn run(&self) -> (ustb_status, String) {
        let mut err = ptr::null_mut();
        match self {
            Call::Stream { stream: s, .. } => {
                drain(s).1.map_or((ustb_status::USTB_END_OF_STREAM, String::new()), |f| (f.status, f.message))
            }
            Call::WebInfo(c, cancel) => {
                let mut out = ptr::null_mut();
                let st = unsafe { ustb_client_web_info(c.0, cancel.ptr(), &mut out, &mut err) };
                if st == ustb_status::USTB_OK {
                    unsafe { take_string(out) };
                }
                status_of(st, err)
            }
            Call::QrStart(l, cancel) => status_of(unsafe { ustb_login_qr_start(l.0, cancel.ptr(), &mut err) }, err),
        }
    }

    fn cancel(&self) {
        match self {
            Call::Stream { stream: s, .. } => unsafe { ustb_chat_stream_cancel(s.0) },
            Call::WebInfo(_, c) | Call::QrStart(_, c) => unsafe { ustb_canceller_cancel(c.ptr()) },
        }
    }
}

/// Runs `call` on a worker while `after` runs here; returns its outcome and when it
/// returned, or None if it had not returned `3 × LOOKUP` after that.
fn on_worker(call: &Arc<Call>, after: impl FnOnce()) -> Option<((ustb_status, String), Instant)> {
    let (tx, rx) = mpsc::channel();
    let worker = call.clone();
    thread::spawn(move || {
        let outcome = worker.run();
        let _ = tx.send((outcome, Instant::now()));
    });
    after();
    rx.recv_timeout(LOOKUP * 3).ok()
}

fn median_and_worst(mut latencies: Vec<Duration>) -> (Duration, Duration) {
    latencies.sort();
    (latencies[latencies.len() / 2], *latencies.last().unwrap())
}

/// Cancels `path` 50-500 ms into its lookup, `trials()` times, each with a new name.
fn cancel_during_lookup(path: Path) {
    let emu = emulator();
    let mut rng = Rng(16 + path as u64);
    let mut latencies = Vec::new();
    for i in 0..trials() {
        let call = Arc::new(Call::new(path, &emu, &format!("cancel{i}"), json!({ "connect_timeout_ms": 20_000 })));
        let delay = Duration::from_millis(50 + rng.below(451));
        let mut cancelled_at = Instant::now();
        let done = on_worker(&call, || {
            thread::sleep(delay);
            cancelled_at = Instant::now();
            call.cancel();
        });
        let ((status, message), returned_at) = done.unwrap_or_else(|| panic!("{path:?}: hung after a cancel"));
        let latency = returned_at.saturating_duration_since(cancelled_at);
        assert_eq!(status, ustb_status::USTB_CANCELLED, "{path:?}, trial {i}: {message}");
        assert!(latency < BOUND, "{path:?}, trial {i}: returned {latency:?} after the cancel");
        latencies.push(latency);
    }
    let (median, worst) = median_and_worst(latencies);
    println!(
        "slow lookup, cancel {path:?}: {} trials, a {LOOKUP:?} lookup cancelled 50-500 ms in; latency median {median:?}, worst {worst:?}",
        trials()
    );
}

#[test]
fn a_cancel_cuts_a_slow_lookup_short_in_a_stream() {
    if under_shim("a_cancel_cuts_a_slow_lookup_short_in_a_stream") {
        cancel_during_lookup(Path::Stream);
    }
}

#[test]
fn a_cancel_cuts_a_slow_lookup_short_in_web_info() {
    if under_shim("a_cancel_cuts_a_slow_lookup_short_in_web_info") {
        cancel_during_lookup(Path::WebInfo);
    }
}

#[test]
fn a_cancel_cuts_a_slow_lookup_short_in_qr_start() {
    if under_shim("a_cancel_cuts_a_slow_lookup_short_in_qr_start") {
        cancel_during_lookup(Path::QrStart);
    }
}

/// `connect_timeout_ms` (200) ends each path's lookup with `USTB_TIMEOUT` naming the lookup,
/// `trials()` times with new names, and the doctor's `dns` step the same way (the same lookup).
#[test]
fn connect_timeout_bounds_a_slow_lookup() {
    if !under_shim("connect_timeout_bounds_a_slow_lookup") {
        return;
    }
    const TIMEOUT: Duration = Duration::from_millis(200);
    let emu = emulator();
    let limit = json!({ "connect_timeout_ms": TIMEOUT.as_millis() as u64 });
    for path in [Path::Stream, Path::WebInfo, Path::QrStart] {
        let mut overshoots = Vec::new();
        for i in 0..trials() {
            let call = Arc::new(Call::new(path, &emu, &format!("timeout{i}"), limit.clone()));
            let started = Instant::now();
            let done = on_worker(&call, || {});
            let ((status, message), returned_at) = done.unwrap_or_else(|| panic!("{path:?}: hung"));
            let took = returned_at - started;
            assert_eq!(status, ustb_status::USTB_TIMEOUT, "{path:?}, trial {i}: {message}");
            assert!(message.contains("name lookup") && message.contains("connect_timeout_ms"), "{path:?}: {message}");
            assert!(took < TIMEOUT + BOUND, "{path:?}, trial {i}: took {took:?}");
            overshoots.push(took.saturating_sub(TIMEOUT));
        }
        let (median, worst) = median_and_worst(overshoots);
        println!(
            "slow lookup, connect_timeout_ms {} {path:?}: {} trials; returned after the timeout by median {median:?}, worst {worst:?}",
            TIMEOUT.as_millis(),
            trials()
        );
    }
    let c = slow_client(&emu, "doctor", limit);
    let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
    let started = Instant::now();
    check(unsafe { ustb_client_doctor(c.0, ptr::null(), NONE, &mut out, &mut err) }, err).unwrap();
    let report: Value = serde_json::from_str(&unsafe { take_string(out) }).unwrap();
    let dns = &report["checks"][0];
    assert_eq!((&dns["name"], &dns["verdict"]), (&json!("dns"), &json!("fail")), "{report}");
    assert!(dns["detail"].as_str().unwrap().contains("no answer within connect_timeout_ms (200 ms)"), "{report}");
    assert!(started.elapsed() < TIMEOUT + BOUND, "the doctor took {:?}", started.elapsed());
}

/// Retries after a lookup timed out wait for the lookup already running: the resolver is
/// asked once, not once per attempt (abandoned lookups do not pile up).
#[test]
fn retries_wait_for_the_lookup_already_running() {
    if !under_shim("retries_wait_for_the_lookup_already_running") {
        return;
    }
    let emu = emulator();
    let call = Call::new(Path::WebInfo, &emu, "retried", json!({ "connect_timeout_ms": 300, "max_retries": 2 }));
    let (status, message) = call.run();
    assert_eq!(status, ustb_status::USTB_TIMEOUT, "{message}");
    let log = std::fs::read_to_string(std::env::var_os(LOG).unwrap()).unwrap_or_default();
    assert_eq!(log.lines().filter(|l| *l == "retried.slow.test").count(), 1, "lookups made:\n{log}");
}
